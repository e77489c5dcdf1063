use super::*;

fn mk_node(alive: bool, labels: &[(&str, &str)]) -> NodeState {
    let labels = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    NodeState {
        alive,
        labels,
        unhealthy: None,
    }
}

fn mk_election(nodes: &[(&str, NodeState)]) -> Election {
    nodes
        .iter()
        .map(|(name, state)| (NodeName::from(*name), state.clone()))
        .collect()
}

fn vip() -> IpAddr {
    "192.168.100.240".parse().unwrap()
}

/// Node selectors `zone=a`, and `externalTrafficPolicy: Local` with pods on the listed nodes.
struct ZoneA<'a> {
    pods_on: Option<&'a [&'a str]>,
}

impl Requirements for ZoneA<'_> {
    fn selects(&self, _node: &NodeName, labels: &Labels) -> bool {
        labels.get("zone").is_some_and(|zone| zone == "a")
    }
    fn has_usable_interface(&self, _node: &NodeName) -> bool {
        true
    }
    fn has_ready_endpoint(&self, node: &NodeName) -> bool {
        self.pods_on
            .is_none_or(|pods| pods.contains(&node.as_str()))
    }
}

#[test]
fn the_best_ranked_live_node_owns() {
    let election = mk_election(&[
        ("node-a", mk_node(true, &[])),
        ("node-b", mk_node(true, &[])),
        ("node-c", mk_node(true, &[])),
    ]);
    let outcome = election.decide(vip(), &AnyNode);
    // The ranking pinned in rendezvous::tests::ranks_by_score.
    assert_eq!(outcome.owner(), Some(&NodeName::from("node-a")));
    assert!(outcome.is_owner(&NodeName::from("node-a")));
    assert_eq!(outcome.ranking.len(), 3);
    assert_eq!(outcome.reason(), "Elected");
    assert_eq!(
        outcome.explain(),
        "node-a announces (3 of 3 nodes eligible)"
    );
}

#[test]
fn the_runner_up_takes_over() {
    let mut election = mk_election(&[
        ("node-a", mk_node(true, &[])),
        ("node-b", mk_node(true, &[])),
        ("node-c", mk_node(true, &[])),
    ]);
    assert!(election.set_alive(&NodeName::from("node-a"), false));
    assert!(!election.set_alive(&NodeName::from("node-z"), false));
    let outcome = election.decide(vip(), &AnyNode);
    assert_eq!(outcome.owner(), Some(&NodeName::from("node-c")));
    assert_eq!(
        outcome.ineligible[&NodeName::from("node-a")],
        Ineligible::NotAlive
    );
    assert_eq!(
        outcome.explain(),
        "node-c announces (2 of 3 nodes eligible): 1 speaker not alive (node-a)"
    );
    election.delete(&NodeName::from("node-a"));
    assert_eq!(election.nodes().count(), 2);
    assert_eq!(
        election.decide(vip(), &AnyNode).owner(),
        Some(&NodeName::from("node-c"))
    );
}

#[test]
fn eligibility_table() {
    let election = mk_election(&[
        ("node-a", mk_node(true, &[("zone", "b")])),
        (
            "node-b",
            mk_node(
                true,
                &[("zone", "a"), (EXCLUDE_FROM_EXTERNAL_LOAD_BALANCERS, "")],
            ),
        ),
        ("node-c", mk_node(false, &[("zone", "a")])),
        ("node-d", mk_node(true, &[("zone", "a")])),
        ("node-e", mk_node(true, &[("zone", "a")])),
    ]);
    let cluster = ZoneA { pods_on: None };
    let outcome = election.decide(vip(), &cluster);
    let owners: Vec<&str> = outcome.ranking.iter().map(NodeName::as_str).collect();
    assert_eq!(owners.len(), 2);
    assert!(owners.contains(&"node-d") && owners.contains(&"node-e"));
    let reasons: Vec<(&str, Ineligible)> = outcome
        .ineligible
        .iter()
        .map(|(n, r)| (n.as_str(), *r))
        .collect();
    assert_eq!(
        reasons,
        [
            ("node-a", Ineligible::NodeSelectorMismatch),
            ("node-b", Ineligible::ExcludedByLabel),
            ("node-c", Ineligible::NotAlive),
        ]
    );

    let local = ZoneA {
        pods_on: Some(&["node-e"]),
    };
    let outcome = election.decide(vip(), &local);
    assert_eq!(outcome.owner(), Some(&NodeName::from("node-e")));
    assert_eq!(
        outcome.ineligible[&NodeName::from("node-d")],
        Ineligible::NoReadyEndpoint
    );
}

#[test]
fn explains_why_nobody_announces() {
    let election = mk_election(&[
        ("node-a", mk_node(true, &[("zone", "b")])),
        ("node-b", mk_node(true, &[("zone", "a")])),
        ("node-c", mk_node(true, &[("zone", "a")])),
    ]);
    let outcome = election.decide(vip(), &ZoneA { pods_on: Some(&[]) });
    assert_eq!(outcome.owner(), None);
    assert_eq!(outcome.reason(), "NoEligibleNode");
    assert_eq!(
        outcome.explain(),
        "no eligible node among 3: 1 not selected by the L2Advertisement (node-a); \
         2 no ready endpoint (externalTrafficPolicy: Local) (node-b, node-c)"
    );
}

#[test]
fn a_shared_reason_is_the_condition_reason() {
    let names = ["n1", "n2", "n3", "n4", "n5"];
    let election: Election = names
        .iter()
        .map(|n| (NodeName::from(*n), mk_node(false, &[])))
        .collect();
    let outcome = election.decide(vip(), &AnyNode);
    assert_eq!(outcome.reason(), "NotAlive");
    assert_eq!(
        outcome.explain(),
        "no eligible node among 5: 5 speaker not alive (n1, n2, n3, and 2 more)"
    );
}

#[test]
fn no_nodes() {
    let outcome = Election::new().decide(vip(), &AnyNode);
    assert_eq!(outcome.owner(), None);
    assert_eq!(outcome.reason(), "NoNodes");
    assert_eq!(outcome.explain(), "no nodes known");
}

#[test]
fn each_address_has_its_own_owner() {
    let election: Election = (0..5)
        .map(|i| (NodeName::from(format!("node-{i}")), mk_node(true, &[])))
        .collect();
    let owners: std::collections::BTreeSet<NodeName> = (240..250u8)
        .filter_map(|last| {
            election
                .decide(IpAddr::from([192, 168, 100, last]), &AnyNode)
                .owner()
                .cloned()
        })
        .collect();
    // Ten addresses over five nodes land on more than one node.
    assert!(owners.len() > 1, "{owners:?}");
}
