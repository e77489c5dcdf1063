//! The plan from hand-built objects: one owner per address, and the reasons when none.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use ferrolb_crds::conditions::announced;
use ferrolb_crds::{IPAddressPool, IPAddressPoolSpec, L2Advertisement, L2AdvertisementSpec};
use k8s_openapi::api::core::v1::{
    LoadBalancerIngress, LoadBalancerStatus, Node, Service, ServiceSpec, ServiceStatus,
};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use super::plan::{Liveness, Snapshot, plan};
use super::service::ServiceView;
use crate::election::{EXCLUDE_FROM_EXTERNAL_LOAD_BALANCERS, NodeName};
use crate::swim::PeerReport;

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

fn mk_pool() -> Arc<IPAddressPool> {
    Arc::new(IPAddressPool::new(
        "pool",
        IPAddressPoolSpec {
            addresses: vec!["192.168.100.240-192.168.100.249".to_owned()],
            auto_assign: true,
            avoid_buggy_ips: false,
            service_allocation: None,
        },
    ))
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
