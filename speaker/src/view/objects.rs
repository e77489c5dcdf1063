//! What the plan reads from Kubernetes objects: which Services ferrolb serves, their addresses,
//! where their ready endpoints are, and what pools and advertisements select.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};

use ferrolb_crds::{AddressRange, IPAddressPool};
use k8s_openapi::api::core::v1::Node;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::ResourceExt;

use crate::election::{Ineligible, NodeName};

/// The label an EndpointSlice carries with its Service's name.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// The Service (`namespace`, `name`) an EndpointSlice belongs to, from its label.
pub fn slice_service(slice: &EndpointSlice) -> Option<(&str, &str)> {
    let namespace = slice.metadata.namespace.as_deref()?;
    let name = slice.metadata.labels.as_ref()?.get(SERVICE_NAME_LABEL)?;
    Some((namespace, name))
}

/// The nodes with a ready endpoint of the Service `namespace/name`, from its EndpointSlices.
pub fn ready_nodes<'a>(
    namespace: &str,
    name: &str,
    slices: impl IntoIterator<Item = &'a EndpointSlice>,
) -> BTreeSet<NodeName> {
    slices
        .into_iter()
        .filter(|s| slice_service(s) == Some((namespace, name)))
        .flat_map(|s| s.endpoints.iter())
        // An absent `ready` means ready (the API's documented default).
        .filter(|e| e.conditions.as_ref().and_then(|c| c.ready) != Some(false))
        .filter_map(|e| e.node_name.as_deref().map(NodeName::from))
        .collect()
}

/// The valid pools with their parsed ranges, by name: what [`pool_of`] searches.
pub fn pool_ranges<'a>(pools: &[&'a IPAddressPool]) -> Vec<(&'a IPAddressPool, Vec<AddressRange>)> {
    let mut parsed: Vec<_> = pools
        .iter()
        .filter_map(|p| Some((*p, p.spec.ranges().ok()?)))
        .collect();
    parsed.sort_by_key(|(p, _)| p.name_any());
    parsed
}

/// The pool holding `ip`: the first by name among the valid pools that contain it.
pub fn pool_of<'a>(
    pools: &[(&'a IPAddressPool, Vec<AddressRange>)],
    ip: IpAddr,
) -> Option<&'a IPAddressPool> {
    pools
        .iter()
        .find(|(_, ranges)| ranges.iter().any(|r| r.contains(ip)))
        .map(|(p, _)| *p)
}

/// The node's InternalIP to use for membership: IPv4 if it has one.
pub fn internal_ip(node: &Node) -> Option<IpAddr> {
    let ips: Vec<IpAddr> = node
        .status
        .as_ref()?
        .addresses
        .as_ref()?
        .iter()
        .filter(|a| a.type_ == "InternalIP")
        .filter_map(|a| a.address.parse().ok())
        .collect();
    ips.iter().find(|ip| ip.is_ipv4()).or(ips.first()).copied()
}

/// The taint that marks a node shut down for good (non-graceful node shutdown).
pub const OUT_OF_SERVICE_TAINT: &str = "node.kubernetes.io/out-of-service";

/// Why the Node object says the node may not announce, if it does: `Ready` False or Unknown
/// (an absent condition counts as ready), `NetworkUnavailable` True, the out-of-service taint,
/// and, when `cordoned_hands_over`, `spec.unschedulable`.
pub fn node_health(node: &Node, cordoned_hands_over: bool) -> Option<Ineligible> {
    let condition = |type_: &str| {
        node.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .into_iter()
            .flatten()
            .find(|c| c.type_ == type_)
            .map(|c| c.status.as_str())
    };
    let spec = node.spec.as_ref();
    if matches!(condition("Ready"), Some("False" | "Unknown")) {
        Some(Ineligible::NodeNotReady)
    } else if condition("NetworkUnavailable") == Some("True") {
        Some(Ineligible::NetworkUnavailable)
    } else if spec
        .and_then(|s| s.taints.as_ref())
        .is_some_and(|t| t.iter().any(|t| t.key == OUT_OF_SERVICE_TAINT))
    {
        Some(Ineligible::OutOfService)
    } else if cordoned_hands_over && spec.and_then(|s| s.unschedulable) == Some(true) {
        Some(Ineligible::Unschedulable)
    } else {
        None
    }
}

/// Every node's membership address.
pub fn membership_addrs<'a>(
    nodes: impl IntoIterator<Item = &'a Node>,
    port: u16,
) -> BTreeMap<NodeName, SocketAddr> {
    nodes
        .into_iter()
        .filter_map(|n| {
            let ip = internal_ip(n)?;
            Some((NodeName::from(n.name_any()), SocketAddr::new(ip, port)))
        })
        .collect()
}
