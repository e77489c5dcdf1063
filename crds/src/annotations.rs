//! Service annotations ferrolb reads, and what a Service asks for through them.
//!
//! ferrolb's own names win over MetalLB's `metallb.io/*`, which win over the older
//! `metallb.universe.tf/*`, so MetalLB users can switch without editing their Services. An
//! annotation present with an empty (or all-space) value counts as absent.

use std::collections::BTreeMap;
use std::net::IpAddr;

use k8s_openapi::api::core::v1::Service;

use crate::address::{IpFamily, parse_ip};

/// Requested addresses: comma list, at most one per family.
pub const LOAD_BALANCER_IPS: &str = "ferrolb.io/loadBalancerIPs";
/// Requested pool, by name.
pub const ADDRESS_POOL: &str = "ferrolb.io/address-pool";
/// Sharing key: Services with the same key may share an address.
pub const ALLOW_SHARED_IP: &str = "ferrolb.io/allow-shared-ip";

/// MetalLB's current name for [`LOAD_BALANCER_IPS`].
pub const METALLB_LOAD_BALANCER_IPS: &str = "metallb.io/loadBalancerIPs";
/// MetalLB's current name for [`ADDRESS_POOL`].
pub const METALLB_ADDRESS_POOL: &str = "metallb.io/address-pool";
/// MetalLB's current name for [`ALLOW_SHARED_IP`].
pub const METALLB_ALLOW_SHARED_IP: &str = "metallb.io/allow-shared-ip";

/// MetalLB's legacy name for [`LOAD_BALANCER_IPS`].
pub const METALLB_LEGACY_LOAD_BALANCER_IPS: &str = "metallb.universe.tf/loadBalancerIPs";
/// MetalLB's legacy name for [`ADDRESS_POOL`].
pub const METALLB_LEGACY_ADDRESS_POOL: &str = "metallb.universe.tf/address-pool";
/// MetalLB's legacy name for [`ALLOW_SHARED_IP`].
pub const METALLB_LEGACY_ALLOW_SHARED_IP: &str = "metallb.universe.tf/allow-shared-ip";

/// Names read for requested IPs, in precedence order.
pub const LOAD_BALANCER_IPS_NAMES: [&str; 3] = [
    LOAD_BALANCER_IPS,
    METALLB_LOAD_BALANCER_IPS,
    METALLB_LEGACY_LOAD_BALANCER_IPS,
];
/// Names read for the requested pool, in precedence order.
pub const ADDRESS_POOL_NAMES: [&str; 3] = [
    ADDRESS_POOL,
    METALLB_ADDRESS_POOL,
    METALLB_LEGACY_ADDRESS_POOL,
];
/// Names read for the sharing key, in precedence order.
pub const ALLOW_SHARED_IP_NAMES: [&str; 3] = [
    ALLOW_SHARED_IP,
    METALLB_ALLOW_SHARED_IP,
    METALLB_LEGACY_ALLOW_SHARED_IP,
];

/// Where `spec.loadBalancerIP` is named in errors.
pub const SPEC_LOAD_BALANCER_IP: &str = "spec.loadBalancerIP";

/// What a Service asks of the allocator through annotations and `spec.loadBalancerIP`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ServiceRequest {
    /// Requested addresses, at most one per family, in the order written.
    pub ips: Vec<IpAddr>,
    /// Requested pool name.
    pub pool: Option<String>,
    /// Sharing key.
    pub sharing_key: Option<String>,
}

/// A value that cannot be used; each variant names where it came from (`origin`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// An item is not an IP address.
    #[error("{origin}: \"{item}\" is not an IP address (write e.g. 192.168.100.240 or fd00::10)")]
    NotAnIp {
        /// Annotation name or `spec.loadBalancerIP`.
        origin: String,
        /// The offending item.
        item: String,
    },
    /// Two addresses of the same family.
    #[error("{origin}: \"{value}\" lists two {family} addresses; give at most one per family")]
    SameFamilyTwice {
        /// Annotation name.
        origin: String,
        /// The whole value.
        value: String,
        /// The repeated family.
        family: IpFamily,
    },
    /// The annotation and `spec.loadBalancerIP` ask for different addresses.
    #[error("{origin} ({value}) and spec.loadBalancerIP ({spec}) disagree: set only one of them")]
    ConflictsWithSpec {
        /// Annotation name.
        origin: String,
        /// Annotation value.
        value: String,
        /// `spec.loadBalancerIP`.
        spec: String,
    },
}

impl RequestError {
    /// The annotation (or field) the error is about.
    pub fn origin(&self) -> &str {
        match self {
            RequestError::NotAnIp { origin, .. }
            | RequestError::SameFamilyTwice { origin, .. }
            | RequestError::ConflictsWithSpec { origin, .. } => origin,
        }
    }
}

fn first_set<'a>(
    annotations: &'a BTreeMap<String, String>,
    names: &[&'static str],
) -> Option<(&'static str, &'a str)> {
    names.iter().find_map(|name| {
        annotations
            .get(*name)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
            .map(|v| (*name, v))
    })
}

fn parse_ip_list(source: &str, value: &str) -> Result<Vec<IpAddr>, RequestError> {
    let mut ips: Vec<IpAddr> = Vec::new();
    for item in value.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let ip = parse_ip(item).ok_or_else(|| RequestError::NotAnIp {
            origin: source.to_string(),
            item: item.to_string(),
        })?;
        if ips.iter().any(|o| IpFamily::of(*o) == IpFamily::of(ip)) {
            return Err(RequestError::SameFamilyTwice {
                origin: source.to_string(),
                value: value.to_string(),
                family: IpFamily::of(ip),
            });
        }
        ips.push(ip);
    }
    Ok(ips)
}

/// Read a Service's request from its annotations and `spec.loadBalancerIP`.
///
/// Requested IPs come from the first IP annotation set; `spec.loadBalancerIP` is used when none
/// is, and must agree with it (be one of its addresses) when both are set.
pub fn read_request(
    annotations: &BTreeMap<String, String>,
    load_balancer_ip: Option<&str>,
) -> Result<ServiceRequest, RequestError> {
    let spec_ip = load_balancer_ip.map(str::trim).filter(|s| !s.is_empty());
    let ips = match (first_set(annotations, &LOAD_BALANCER_IPS_NAMES), spec_ip) {
        (Some((name, value)), spec) => {
            let ips = parse_ip_list(name, value)?;
            if let Some(spec) = spec {
                let agrees = parse_ip(spec).is_some_and(|s| ips.contains(&s));
                if !agrees {
                    return Err(RequestError::ConflictsWithSpec {
                        origin: name.to_string(),
                        value: value.to_string(),
                        spec: spec.to_string(),
                    });
                }
            }
            ips
        }
        (None, Some(spec)) => parse_ip_list(SPEC_LOAD_BALANCER_IP, spec)?,
        (None, None) => Vec::new(),
    };
    let pool = first_set(annotations, &ADDRESS_POOL_NAMES).map(|(_, v)| v.to_string());
    let sharing_key = first_set(annotations, &ALLOW_SHARED_IP_NAMES).map(|(_, v)| v.to_string());
    Ok(ServiceRequest {
        ips,
        pool,
        sharing_key,
    })
}

/// [`read_request`] on a Service object.
pub fn service_request(service: &Service) -> Result<ServiceRequest, RequestError> {
    let empty = BTreeMap::new();
    let annotations = service.metadata.annotations.as_ref().unwrap_or(&empty);
    let spec_ip = service
        .spec
        .as_ref()
        .and_then(|s| s.load_balancer_ip.as_deref());
    read_request(annotations, spec_ip)
}
