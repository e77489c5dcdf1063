//! `L2Advertisement`: which pools are announced in layer-2 mode (ARP/NDP), from which nodes and
//! on which interfaces.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, LabelSelector};
use kube::{CustomResource, ResourceExt};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::conditions::object;
use crate::validation::{self, IFNAME_MAX};
use crate::{IPAddressPool, selector};

/// Announce the addresses of some pools with ARP (IPv4) and NDP (IPv6).
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "ferrolb.io",
    version = "v1alpha1",
    kind = "L2Advertisement",
    plural = "l2advertisements",
    shortname = "l2adv",
    category = "ferrolb",
    doc = "An L2Advertisement: which pools are announced with ARP/NDP, from which nodes and on which interfaces.",
    status = "L2AdvertisementStatus",
    printcolumn = r#"{"name":"Pools","type":"string","jsonPath":".spec.ipAddressPools"}"#,
    printcolumn = r#"{"name":"Pool Selectors","type":"string","jsonPath":".spec.ipAddressPoolSelectors","priority":1}"#,
    printcolumn = r#"{"name":"Interfaces","type":"string","jsonPath":".spec.interfaces"}"#,
    printcolumn = r#"{"name":"Node Selectors","type":"string","jsonPath":".spec.nodeSelectors","priority":1}"#,
    printcolumn = r#"{"name":"Pools Selected","type":"string","jsonPath":".status.conditions[?(@.type==\"PoolsSelected\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct L2AdvertisementSpec {
    /// Pools, by name, whose addresses are announced. With ipAddressPoolSelectors empty too:
    /// every pool.
    #[serde(
        default,
        rename = "ipAddressPools",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schemars(schema_with = "validation::object_names")]
    pub ip_address_pools: Vec<String>,

    /// Pools, by label, whose addresses are announced (in addition to ipAddressPools).
    #[serde(
        default,
        rename = "ipAddressPoolSelectors",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schemars(schema_with = "validation::label_selectors")]
    pub ip_address_pool_selectors: Vec<LabelSelector>,

    /// Nodes, by label, that may announce; one match is enough. Empty: every node.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "validation::label_selectors")]
    pub node_selectors: Vec<LabelSelector>,

    /// Interfaces that may answer. Empty: the interfaces whose subnet contains the address.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "validation::interface_names")]
    pub interfaces: Vec<String>,

    /// Resend gratuitous ARP / unsolicited NA for owned addresses at this interval (30s, 1m).
    /// Unset: only on takeover.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "validation::interval")]
    pub gratuitous_interval: Option<String>,
}

/// What the controller observed about an advertisement: `Valid` and `PoolsSelected`.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct L2AdvertisementStatus {
    /// `Valid` (False names the bad field) and `PoolsSelected` (which pools it announces, or
    /// why none: a named pool that does not exist, selectors that match no pool).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
}

impl L2AdvertisementSpec {
    /// The gratuitous announcement interval, if set and valid.
    pub fn gratuitous_interval(&self) -> Option<Result<Duration, IntervalError>> {
        self.gratuitous_interval.as_deref().map(parse_interval)
    }

    /// Whether the speakers can use this advertisement as it is; the error names the field.
    /// The schema refuses the same mistakes when the object is written; this guards against
    /// objects stored before (or without) those rules.
    pub fn validate(&self) -> Result<(), AdvertisementError> {
        selector::check_all("spec.nodeSelectors", &self.node_selectors)
            .map_err(AdvertisementError::Selector)?;
        selector::check_all(
            "spec.ipAddressPoolSelectors",
            &self.ip_address_pool_selectors,
        )
        .map_err(AdvertisementError::Selector)?;
        if let Some(Err(e)) = self.gratuitous_interval() {
            return Err(AdvertisementError::Interval(e));
        }
        if let Some(index) = self.interfaces.iter().position(|n| n.len() > IFNAME_MAX) {
            return Err(AdvertisementError::Interface {
                index,
                name: self.interfaces[index].clone(),
            });
        }
        Ok(())
    }
}

impl L2Advertisement {
    /// Whether this advertisement announces the addresses of `pool`. One that names no pool and
    /// has no pool selector announces every pool.
    pub fn selects_pool(&self, pool: &IPAddressPool) -> bool {
        self.selects_pool_with(pool.metadata.name.as_deref(), pool.labels())
    }

    /// [`Self::selects_pool`] for a pool known by its name and labels only (one deleted
    /// before it was seen has no labels).
    pub fn selects_pool_with(&self, name: Option<&str>, labels: &BTreeMap<String, String>) -> bool {
        let spec = &self.spec;
        if spec.ip_address_pools.is_empty() && spec.ip_address_pool_selectors.is_empty() {
            return true;
        }
        name.is_some_and(|name| spec.ip_address_pools.iter().any(|n| n == name))
            || spec
                .ip_address_pool_selectors
                .iter()
                .any(|s| selector::matches(s, labels))
    }

    /// Whether this advertisement lets the node with `labels` announce: one matching
    /// `nodeSelectors` entry is enough, and none means every node.
    pub fn selects_node(&self, labels: &BTreeMap<String, String>) -> bool {
        let selectors = &self.spec.node_selectors;
        selectors.is_empty() || selectors.iter().any(|s| selector::matches(s, labels))
    }
}

/// Why the speakers cannot use an advertisement as it is.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AdvertisementError {
    /// A node or pool selector cannot be evaluated (the message names the field).
    #[error("{0}")]
    Selector(String),
    /// `spec.gratuitousInterval` does not parse or is out of range.
    #[error("spec.gratuitousInterval: {0}")]
    Interval(IntervalError),
    /// An interface name is longer than Linux allows.
    #[error("spec.interfaces[{index}]: \"{name}\" is longer than {IFNAME_MAX} characters")]
    Interface {
        /// Its position in `spec.interfaces`.
        index: usize,
        /// The name.
        name: String,
    },
}

impl AdvertisementError {
    /// The reason of the advertisement's `Valid` False condition.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Selector(_) => object::INVALID_SELECTOR,
            Self::Interval(_) => object::INVALID_INTERVAL,
            Self::Interface { .. } => object::INVALID_INTERFACE,
        }
    }
}

/// Why a gratuitous interval string was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IntervalError {
    /// Not a sequence of `<digits><unit>` with unit ms, s, m or h.
    #[error("\"{0}\" is not a duration such as 30s, 2m or 1m30s (units ms, s, m, h)")]
    Malformed(String),
    /// Outside 1s..=1h.
    #[error("\"{0}\" must be between 1s and 1h")]
    OutOfRange(String),
}

/// Parse a duration like `30s` or `1m30s` (units ms, s, m, h), within 1s..=1h: the same grammar
/// and bounds as the schema's CEL rule.
pub fn parse_interval(s: &str) -> Result<Duration, IntervalError> {
    let malformed = || IntervalError::Malformed(s.to_string());
    if s.is_empty() {
        return Err(malformed());
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(malformed());
        }
        // All digits, so the only failure is overflow.
        let n: u64 = rest[..digits]
            .parse()
            .map_err(|_| IntervalError::OutOfRange(s.to_string()))?;
        rest = &rest[digits..];
        let (unit, len) = if rest.starts_with("ms") {
            (Duration::from_millis(1), 2)
        } else if rest.starts_with('s') {
            (Duration::from_secs(1), 1)
        } else if rest.starts_with('m') {
            (Duration::from_secs(60), 1)
        } else if rest.starts_with('h') {
            (Duration::from_secs(3600), 1)
        } else {
            return Err(malformed());
        };
        rest = &rest[len..];
        let part = u32::try_from(n)
            .ok()
            .and_then(|n| unit.checked_mul(n))
            .ok_or_else(|| IntervalError::OutOfRange(s.to_string()))?;
        total = total
            .checked_add(part)
            .ok_or_else(|| IntervalError::OutOfRange(s.to_string()))?;
    }
    if total < Duration::from_secs(1) || total > Duration::from_secs(3600) {
        return Err(IntervalError::OutOfRange(s.to_string()));
    }
    Ok(total)
}
