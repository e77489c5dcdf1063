//! `IPAddressPool`: a set of addresses ferrolb may hand out to Services, and which Services may
//! get them.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, LabelSelector};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::address::{AddressError, AddressRange};
use crate::validation;

/// Addresses ferrolb may assign to Services of `type: LoadBalancer`.
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "ferrolb.io",
    version = "v1alpha1",
    kind = "IPAddressPool",
    plural = "ipaddresspools",
    shortname = "ipp",
    category = "ferrolb",
    doc = "An IPAddressPool: addresses ferrolb may assign to Services of type LoadBalancer, and which Services may get them.",
    status = "IPAddressPoolStatus",
    printcolumn = r#"{"name":"Addresses","type":"string","jsonPath":".spec.addresses"}"#,
    printcolumn = r#"{"name":"Auto Assign","type":"boolean","jsonPath":".spec.autoAssign","priority":1}"#,
    printcolumn = r#"{"name":"IPv4 Assigned","type":"integer","jsonPath":".status.assignedIPv4"}"#,
    printcolumn = r#"{"name":"IPv4 Available","type":"string","jsonPath":".status.availableIPv4"}"#,
    printcolumn = r#"{"name":"IPv6 Assigned","type":"integer","jsonPath":".status.assignedIPv6"}"#,
    printcolumn = r#"{"name":"IPv6 Available","type":"string","jsonPath":".status.availableIPv6"}"#,
    printcolumn = r#"{"name":"Overlapping","type":"string","jsonPath":".status.conditions[?(@.type==\"Overlapping\")].status","priority":1}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct IPAddressPoolSpec {
    /// CIDRs (192.168.100.240/28, fd00::/120), ranges (192.168.100.240-192.168.100.249,
    /// fd00::10-fd00::1f) or single addresses this pool hands out. A CIDR must be a network
    /// address: host bits set are rejected, not widened.
    #[schemars(schema_with = "validation::address_list")]
    pub addresses: Vec<String>,

    /// May hand out addresses to Services that did not ask for this pool (by annotation or
    /// requested IP). Default true.
    #[serde(default = "default_true")]
    pub auto_assign: bool,

    /// Never hand out IPv4 addresses ending in .0 or .255, which some consumer routers drop.
    #[serde(default, rename = "avoidBuggyIPs")]
    pub avoid_buggy_ips: bool,

    /// Restrict the pool to some Services and order it against other pools. Unset: any Service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_allocation: Option<ServiceAllocation>,
}

fn default_true() -> bool {
    true
}

/// Which Services a pool serves, and its precedence.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceAllocation {
    /// Lower numbers are tried first among the pools that select a Service. Unset: after every
    /// pool with a priority. Ties are broken by pool name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i32>,

    /// Namespaces whose Services this pool serves (in addition to namespaceSelectors).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "validation::object_names")]
    pub namespaces: Vec<String>,

    /// Namespaces, by label, whose Services this pool serves (in addition to namespaces).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "validation::label_selectors")]
    pub namespace_selectors: Vec<LabelSelector>,

    /// Services, by label, this pool serves; one match is enough.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "validation::label_selectors")]
    pub service_selectors: Vec<LabelSelector>,
}

/// What the controller observed about a pool.
///
/// Available counts are decimal strings because an IPv6 pool can hold more addresses than an
/// int64 (a /64 has 2^64); they saturate at 2^128-1.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IPAddressPoolStatus {
    /// IPv4 addresses of this pool held by at least one Service.
    #[serde(
        default,
        rename = "assignedIPv4",
        skip_serializing_if = "Option::is_none"
    )]
    pub assigned_ipv4: Option<i64>,
    /// IPv4 addresses of this pool still free (decimal).
    #[serde(
        default,
        rename = "availableIPv4",
        skip_serializing_if = "Option::is_none"
    )]
    pub available_ipv4: Option<String>,
    /// IPv6 addresses of this pool held by at least one Service.
    #[serde(
        default,
        rename = "assignedIPv6",
        skip_serializing_if = "Option::is_none"
    )]
    pub assigned_ipv6: Option<i64>,
    /// IPv6 addresses of this pool still free (decimal; may exceed int64).
    #[serde(
        default,
        rename = "availableIPv6",
        skip_serializing_if = "Option::is_none"
    )]
    pub available_ipv6: Option<String>,
    /// `Valid` and `Overlapping` (naming the other pools).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
}

impl IPAddressPoolSpec {
    /// Parse every entry of `addresses`, in order.
    pub fn ranges(&self) -> Result<Vec<AddressRange>, AddressError> {
        if self.addresses.is_empty() {
            return Err(AddressError::NoAddresses);
        }
        self.addresses
            .iter()
            .map(|a| AddressRange::parse(a))
            .collect()
    }
}
