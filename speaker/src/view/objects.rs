//! What the plan reads from Kubernetes objects: which Services ferrolb serves, their addresses,
//! where their ready endpoints are, and what pools and advertisements select.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};

use ferrolb_crds::{IPAddressPool, L2Advertisement};
use k8s_openapi::api::core::v1::{Node, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::ResourceExt;
use kube::core::{Selector, SelectorExt};

use crate::election::NodeName;

/// The label an EndpointSlice carries with its Service's name.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// A Service as `namespace/name`.
pub fn service_key(svc: &Service) -> String {
    format!("{}/{}", svc.namespace().unwrap_or_default(), svc.name_any())
}

pub use ferrolb_crds::service::{ingress_ips, is_served as served};

/// Whether the Service keeps external traffic on nodes with a local endpoint.
pub fn is_local(svc: &Service) -> bool {
    svc.spec
        .as_ref()
        .and_then(|s| s.external_traffic_policy.as_deref())
        == Some("Local")
}

/// The nodes with a ready endpoint of `svc`, from its EndpointSlices.
pub fn ready_nodes<'a>(
    svc: &Service,
    slices: impl IntoIterator<Item = &'a EndpointSlice>,
) -> BTreeSet<NodeName> {
    let namespace = svc.namespace();
    let name = svc.name_any();
    slices
        .into_iter()
        .filter(|s| s.namespace() == namespace && s.labels().get(SERVICE_NAME_LABEL) == Some(&name))
        .flat_map(|s| s.endpoints.iter())
        // An absent `ready` means ready (the API's documented default).
        .filter(|e| e.conditions.as_ref().and_then(|c| c.ready) != Some(false))
        .filter_map(|e| e.node_name.as_deref().map(NodeName::from))
        .collect()
}

/// Whether `selector` matches `labels`; a malformed selector matches nothing.
pub fn selects(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    Selector::try_from(selector.clone()).is_ok_and(|s| s.matches(labels))
}

/// The pool holding `ip`: the first by name among the valid pools that contain it.
pub fn pool_of<'a>(pools: &'a [&'a IPAddressPool], ip: IpAddr) -> Option<&'a IPAddressPool> {
    pools
        .iter()
        .copied()
        .filter(|p| {
            p.spec
                .ranges()
                .is_ok_and(|ranges| ranges.iter().any(|r| r.contains(ip)))
        })
        .min_by_key(|p| p.name_any())
}

/// Whether the advertisement announces the addresses of `pool`.
pub fn advertises(ad: &L2Advertisement, pool: &IPAddressPool) -> bool {
    let spec = &ad.spec;
    if spec.ip_address_pools.is_empty() && spec.ip_address_pool_selectors.is_empty() {
        return true;
    }
    let name = pool.name_any();
    spec.ip_address_pools.contains(&name)
        || spec
            .ip_address_pool_selectors
            .iter()
            .any(|s| selects(s, pool.labels()))
}

/// Whether the advertisement lets the node with `labels` announce.
pub fn selects_node(ad: &L2Advertisement, labels: &BTreeMap<String, String>) -> bool {
    ad.spec.node_selectors.is_empty() || ad.spec.node_selectors.iter().any(|s| selects(s, labels))
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

/// Whether the Node's `Ready` condition is True.
pub fn is_ready(node: &Node) -> bool {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
        .any(|c| c.type_ == "Ready" && c.status == "True")
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
