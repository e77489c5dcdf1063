//! The plan from hand-built objects: one owner per address, and the reasons when none.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use ferrolb_crds::conditions::{announced, origin};
use ferrolb_crds::{IPAddressPool, IPAddressPoolSpec, L2Advertisement, L2AdvertisementSpec};
use k8s_openapi::api::core::v1::{
    LoadBalancerIngress, LoadBalancerStatus, Node, Service, ServiceSpec, ServiceStatus,
};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use super::plan::{Liveness, Snapshot, plan};
use super::service::ServiceView;
use crate::election::{EXCLUDE_FROM_EXTERNAL_LOAD_BALANCERS, NodeName};
use crate::membership::group::PeerReport;

const VIP: &str = "192.168.100.240";

fn mk_node(name: &str, labels: &[(&str, &str)]) -> Arc<Node> {
    let mut node = Node::default();
    node.metadata.name = Some(name.to_owned());
    node.metadata.labels = Some(
        labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    );
    Arc::new(node)
}

fn mk_svc(local: bool) -> Arc<ServiceView> {
    let mut svc = Service::default();
    svc.metadata.name = Some("web".to_owned());
    svc.metadata.namespace = Some("default".to_owned());
    svc.spec = Some(ServiceSpec {
        type_: Some("LoadBalancer".to_owned()),
        external_traffic_policy: local.then(|| "Local".to_owned()),
        ..Default::default()
    });
    svc.status = Some(ServiceStatus {
        load_balancer: Some(LoadBalancerStatus {
            ingress: Some(vec![LoadBalancerIngress {
                ip: Some(VIP.to_owned()),
                ..Default::default()
            }]),
        }),
        ..Default::default()
    });
    Arc::new(ServiceView::project(&svc, None).expect("served"))
}

/// A Service whose `ferrolb.io/Allocated` condition says its address came from `pool`.
fn mk_svc_from(pool: &str) -> Arc<ServiceView> {
    let mut view = (*mk_svc(false)).clone();
    let message = origin::from_pool(VIP.parse().expect("ip"), pool);
    let ip = VIP.parse().expect("ip");
    assert_eq!(origin::parse(&message).next(), Some((ip, pool)));
    view.origins = [(ip, Arc::from(pool))].into();
    Arc::new(view)
}

fn mk_pool() -> Arc<IPAddressPool> {
    mk_named_pool("pool", "192.168.100.240-192.168.100.249", &[])
}

fn mk_named_pool(name: &str, range: &str, labels: &[(&str, &str)]) -> Arc<IPAddressPool> {
    let mut pool = IPAddressPool::new(
        name,
        IPAddressPoolSpec {
            addresses: vec![range.to_owned()],
            auto_assign: true,
            avoid_buggy_ips: false,
            service_allocation: None,
        },
    );
    pool.metadata.labels = Some(
        labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    );
    Arc::new(pool)
}

/// An advertisement for the nodes of `zone` that selects pools by name or by label.
fn mk_zone_ad(
    name: &str,
    zone: &str,
    pools: &[&str],
    pool_label: Option<(&str, &str)>,
) -> Arc<L2Advertisement> {
    let mut ad = (*mk_ad(Some(("zone", zone)))).clone();
    ad.metadata.name = Some(name.to_owned());
    ad.spec.ip_address_pools = pools.iter().map(|p| (*p).to_owned()).collect();
    ad.spec.ip_address_pool_selectors = pool_label
        .map(|(k, v)| LabelSelector {
            match_labels: Some(BTreeMap::from([(k.to_owned(), v.to_owned())])),
            ..Default::default()
        })
        .into_iter()
        .collect();
    Arc::new(ad)
}

fn mk_ad(node_selector: Option<(&str, &str)>) -> Arc<L2Advertisement> {
    let node_selectors = node_selector
        .map(|(k, v)| LabelSelector {
            match_labels: Some(BTreeMap::from([(k.to_owned(), v.to_owned())])),
            ..Default::default()
        })
        .into_iter()
        .collect();
    Arc::new(L2Advertisement::new(
        "l2",
        L2AdvertisementSpec {
            node_selectors,
            ..Default::default()
        },
    ))
}

fn mk_slice(node: &str, ready: bool) -> Arc<EndpointSlice> {
    let mut slice = EndpointSlice::default();
    slice.metadata.name = Some("web-1".to_owned());
    slice.metadata.namespace = Some("default".to_owned());
    slice.metadata.labels = Some(BTreeMap::from([(
        "kubernetes.io/service-name".to_owned(),
        "web".to_owned(),
    )]));
    slice.endpoints = vec![Endpoint {
        addresses: vec!["10.0.0.1".to_owned()],
        node_name: Some(node.to_owned()),
        conditions: Some(EndpointConditions {
            ready: Some(ready),
            ..Default::default()
        }),
        ..Default::default()
    }];
    Arc::new(slice)
}

fn three_nodes() -> Vec<Arc<Node>> {
    vec![
        mk_node("node1", &[("zone", "a")]),
        mk_node("node2", &[("zone", "b")]),
        mk_node("node3", &[("zone", "b")]),
    ]
}

fn all_alive() -> BTreeSet<NodeName> {
    ["node1", "node2", "node3"].map(NodeName::from).into()
}

fn run(snapshot: &Snapshot, alive: &BTreeSet<NodeName>) -> super::plan::Assignment {
    let reports = BTreeMap::<NodeName, PeerReport>::new();
    let p = plan(
        snapshot,
        Liveness {
            alive,
            reports: &reports,
        },
    );
    p[&VIP.parse().unwrap()].clone()
}

#[test]
fn one_owner_and_it_moves_when_it_dies() {
    let snapshot = Snapshot {
        services: vec![mk_svc(false)],
        nodes: three_nodes(),
        pools: vec![mk_pool()],
        ads: vec![mk_ad(None)],
        ..Default::default()
    };
    let first = run(&snapshot, &all_alive());
    let owner = first.owner.clone().unwrap();
    assert_eq!(first.reason, announced::ANNOUNCED);
    let mut alive = all_alive();
    alive.remove(&owner);
    let second = run(&snapshot, &alive);
    assert_ne!(second.owner.unwrap(), owner);
}

#[test]
fn without_an_advertisement_nobody_announces() {
    let snapshot = Snapshot {
        services: vec![mk_svc(false)],
        nodes: three_nodes(),
        pools: vec![mk_pool()],
        ..Default::default()
    };
    let a = run(&snapshot, &all_alive());
    assert_eq!(a.owner, None);
    assert_eq!(a.reason, announced::NO_MATCHING_ADVERTISEMENT);
}

#[test]
fn node_selectors_and_the_exclude_label_are_obeyed() {
    let mut nodes = three_nodes();
    nodes[0] = mk_node(
        "node1",
        &[("zone", "a"), (EXCLUDE_FROM_EXTERNAL_LOAD_BALANCERS, "")],
    );
    let snapshot = Snapshot {
        services: vec![mk_svc(false)],
        nodes,
        pools: vec![mk_pool()],
        ads: vec![mk_ad(Some(("zone", "a")))],
        ..Default::default()
    };
    let a = run(&snapshot, &all_alive());
    assert_eq!(a.owner, None);
    assert_eq!(a.reason, announced::NO_ELIGIBLE_NODE);
}

#[test]
fn local_policy_follows_ready_endpoints() {
    let mut snapshot = Snapshot {
        services: vec![mk_svc(true)],
        nodes: three_nodes(),
        pools: vec![mk_pool()],
        ads: vec![mk_ad(None)],
        slices: vec![mk_slice("node3", true)],
        ..Default::default()
    };
    assert_eq!(
        run(&snapshot, &all_alive()).owner,
        Some(NodeName::from("node3"))
    );
    snapshot.slices = vec![mk_slice("node3", false)];
    let a = run(&snapshot, &all_alive());
    assert_eq!(a.owner, None);
    assert_eq!(a.reason, announced::NO_READY_ENDPOINT);
}

#[test]
fn the_plan_finds_every_address_whatever_the_order_it_was_built_in() {
    use super::plan::{Assignment, Plan};
    let assignment = |reason: &'static str| Assignment {
        owner: None,
        interface: None,
        reason,
        message: String::new(),
        gratuitous_interval: None,
    };
    let ips: Vec<std::net::IpAddr> = ["192.168.100.242", "fd00::1", "192.168.100.240"]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
    let plan: Plan = ips
        .iter()
        .map(|ip| (*ip, assignment(announced::ANNOUNCED)))
        .chain([(ips[0], assignment(announced::NO_ELIGIBLE_NODE))])
        .collect();
    for ip in &ips {
        assert_eq!(plan.get(ip).map(|a| a.reason), Some(announced::ANNOUNCED));
    }
    assert_eq!(plan.get(&"192.168.100.241".parse().unwrap()), None);
    let order: Vec<_> = plan.iter().map(|(ip, _)| *ip).collect();
    let mut sorted = ips.clone();
    sorted.sort();
    assert_eq!(order, sorted);
}

fn zone_of(owner: Option<NodeName>) -> &'static str {
    match owner.as_ref().map(NodeName::as_str) {
        Some("node1") => "a",
        Some("node2" | "node3") => "b",
        _ => "nobody",
    }
}

#[test]
fn overlapping_pools_announce_under_the_pool_the_controller_allocated_from() {
    // Both pools hold the address; "a-first" comes first by name.
    let pools = vec![
        mk_named_pool("a-first", "192.168.100.0/24", &[]),
        mk_named_pool("z-second", "192.168.100.240-192.168.100.249", &[]),
    ];
    let ads = vec![
        mk_zone_ad("in-a", "a", &["a-first"], None),
        mk_zone_ad("in-b", "b", &["z-second"], None),
    ];
    let mut snapshot = Snapshot {
        services: vec![mk_svc_from("z-second")],
        nodes: three_nodes(),
        pools,
        ads,
        ..Default::default()
    };
    assert_eq!(zone_of(run(&snapshot, &all_alive()).owner), "b");
    snapshot.services = vec![mk_svc_from("a-first")];
    assert_eq!(zone_of(run(&snapshot, &all_alive()).owner), "a");
    // A status that names no pool (written by an older controller): the first by name.
    snapshot.services = vec![mk_svc(false)];
    assert_eq!(zone_of(run(&snapshot, &all_alive()).owner), "a");
}

#[test]
fn a_deleted_or_invalid_pool_keeps_its_addresses_announced() {
    let labelled = mk_named_pool(
        "pool",
        "192.168.100.240-192.168.100.249",
        &[("tier", "web")],
    );
    let by_label = mk_zone_ad("by-label", "b", &[], Some(("tier", "web")));
    let by_name = mk_zone_ad("by-name", "b", &["pool"], None);

    // Invalid: the object is there, its ranges do not parse; its advertisements still apply.
    let mut invalid = (*labelled).clone();
    invalid.spec.addresses = vec!["192.168.100.249-192.168.100.240".to_owned()];
    let mut snapshot = Snapshot {
        services: vec![mk_svc_from("pool")],
        nodes: three_nodes(),
        pools: vec![Arc::new(invalid)],
        ads: vec![by_label.clone()],
        ..Default::default()
    };
    let a = run(&snapshot, &all_alive());
    assert_eq!((a.reason, zone_of(a.owner)), (announced::ANNOUNCED, "b"));

    // Deleted, as last seen: selected by its labels still.
    snapshot.pools = Vec::new();
    snapshot.deleted_pools = vec![labelled];
    let a = run(&snapshot, &all_alive());
    assert_eq!((a.reason, zone_of(a.owner)), (announced::ANNOUNCED, "b"));

    // Deleted before this speaker saw it: its name still selects it, its labels cannot.
    snapshot.deleted_pools = Vec::new();
    let a = run(&snapshot, &all_alive());
    assert_eq!(a.owner, None);
    assert_eq!(a.reason, announced::NO_MATCHING_ADVERTISEMENT);
    assert!(
        a.message.contains("pool pool") && a.message.contains("deleted"),
        "{}",
        a.message
    );
    snapshot.ads = vec![by_label, by_name];
    let a = run(&snapshot, &all_alive());
    assert_eq!((a.reason, zone_of(a.owner)), (announced::ANNOUNCED, "b"));

    // Without the controller naming a pool, an address in no valid pool is not announced.
    snapshot.services = vec![mk_svc(false)];
    let a = run(&snapshot, &all_alive());
    assert_eq!(a.reason, announced::NO_MATCHING_ADVERTISEMENT);
    assert_eq!(a.message, format!("{VIP} is in no IPAddressPool"));
}

fn with_ready(node: &Arc<Node>, status: &str) -> Arc<Node> {
    let mut node = (**node).clone();
    node.status = Some(k8s_openapi::api::core::v1::NodeStatus {
        conditions: Some(vec![k8s_openapi::api::core::v1::NodeCondition {
            type_: "Ready".to_owned(),
            status: status.to_owned(),
            ..Default::default()
        }]),
        ..Default::default()
    });
    Arc::new(node)
}

#[test]
fn a_node_not_ready_hands_over_unless_no_node_is_ready() {
    let nodes = three_nodes();
    let mut snapshot = Snapshot {
        services: vec![mk_svc(false)],
        nodes: nodes.iter().map(|n| with_ready(n, "Unknown")).collect(),
        pools: vec![mk_pool()],
        ads: vec![mk_ad(None)],
        ..Default::default()
    };
    // Every node NotReady: the API server lost its kubelets; the addresses stay announced.
    let a = run(&snapshot, &all_alive());
    assert_eq!(a.reason, announced::ANNOUNCED);
    // One Ready node: it takes every address.
    snapshot.nodes[1] = with_ready(&nodes[1], "True");
    assert_eq!(
        run(&snapshot, &all_alive()).owner,
        Some(NodeName::from("node2"))
    );
    snapshot.nodes[1] = with_ready(&nodes[1], "False");
    snapshot.nodes[2] = with_ready(&nodes[2], "True");
    assert_eq!(
        run(&snapshot, &all_alive()).owner,
        Some(NodeName::from("node3"))
    );
}
