//! Which nodes may announce an address, and why the others may not.

use std::collections::BTreeMap;
use std::fmt;

use super::NodeName;

/// The Kubernetes label that takes a node out of every external load balancer.
pub const EXCLUDE_FROM_EXTERNAL_LOAD_BALANCERS: &str =
    "node.kubernetes.io/exclude-from-external-load-balancers";

/// A node's labels.
pub type Labels = BTreeMap<String, String>;

/// What the election knows about one node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeState {
    /// The node's speaker is alive in the membership group.
    pub alive: bool,
    /// The labels of the Node object.
    pub labels: Labels,
    /// Why the Node object says the node may not announce (see [`Ineligible`]'s node
    /// states), if it does.
    pub unhealthy: Option<Ineligible>,
}

/// Why a node may not announce an address. Checked in this order, so the first that applies
/// is the one reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Ineligible {
    /// The node's speaker is not alive in the membership group.
    NotAlive,
    /// The Node's `Ready` condition is False or Unknown.
    NodeNotReady,
    /// The Node's `NetworkUnavailable` condition is True.
    NetworkUnavailable,
    /// The Node carries the `node.kubernetes.io/out-of-service` taint.
    OutOfService,
    /// The Node is cordoned (`spec.unschedulable`) and the speaker is set to hand its
    /// addresses over then.
    Unschedulable,
    /// The node carries the exclude-from-external-load-balancers label.
    ExcludedByLabel,
    /// The node does not match the L2Advertisement node selectors.
    NodeSelectorMismatch,
    /// The node has no interface up that may announce the address.
    NoUsableInterface,
    /// The Service has `externalTrafficPolicy: Local` and no ready endpoint on the node.
    NoReadyEndpoint,
}

impl Ineligible {
    /// Every reason, for pre-registering metric label values.
    pub const ALL: [Ineligible; 9] = [
        Ineligible::NotAlive,
        Ineligible::NodeNotReady,
        Ineligible::NetworkUnavailable,
        Ineligible::OutOfService,
        Ineligible::Unschedulable,
        Ineligible::ExcludedByLabel,
        Ineligible::NodeSelectorMismatch,
        Ineligible::NoUsableInterface,
        Ineligible::NoReadyEndpoint,
    ];

    /// The reason as a condition reason and metric label (CamelCase, stable).
    pub fn label(self) -> &'static str {
        match self {
            Ineligible::NotAlive => "NotAlive",
            Ineligible::NodeNotReady => "NodeNotReady",
            Ineligible::NetworkUnavailable => "NetworkUnavailable",
            Ineligible::OutOfService => "OutOfService",
            Ineligible::Unschedulable => "Unschedulable",
            Ineligible::ExcludedByLabel => "ExcludedByLabel",
            Ineligible::NodeSelectorMismatch => "NodeSelectorMismatch",
            Ineligible::NoUsableInterface => "NoUsableInterface",
            Ineligible::NoReadyEndpoint => "NoReadyEndpoint",
        }
    }

    /// The reason in words, for condition messages and events.
    pub fn describe(self) -> &'static str {
        match self {
            Ineligible::NotAlive => "speaker not alive",
            Ineligible::NodeNotReady => "node not Ready",
            Ineligible::NetworkUnavailable => "node network unavailable",
            Ineligible::OutOfService => "node out of service (taint)",
            Ineligible::Unschedulable => "node cordoned",
            Ineligible::ExcludedByLabel => "labelled exclude-from-external-load-balancers",
            Ineligible::NodeSelectorMismatch => "not selected by the L2Advertisement",
            Ineligible::NoUsableInterface => "no usable interface",
            Ineligible::NoReadyEndpoint => "no ready endpoint (externalTrafficPolicy: Local)",
        }
    }
}

impl fmt::Display for Ineligible {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// What one address asks of the node that announces it. The caller evaluates the
/// L2Advertisement selectors, the node's interfaces and the Service's endpoints.
pub trait Requirements {
    /// Whether the L2Advertisements that cover the address select this node.
    fn selects(&self, node: &NodeName, labels: &Labels) -> bool;

    /// Whether the node has an interface up on which the address may be announced.
    fn has_usable_interface(&self, node: &NodeName) -> bool;

    /// Whether the node may receive the traffic: always, unless the Service has
    /// `externalTrafficPolicy: Local` and no ready endpoint there.
    fn has_ready_endpoint(&self, node: &NodeName) -> bool;
}

/// Requirements every node meets, for tests of the other rules.
#[cfg(test)]
#[derive(Debug, Clone, Copy, Default)]
pub struct AnyNode;

#[cfg(test)]
impl Requirements for AnyNode {
    fn selects(&self, _node: &NodeName, _labels: &Labels) -> bool {
        true
    }
    fn has_usable_interface(&self, _node: &NodeName) -> bool {
        true
    }
    fn has_ready_endpoint(&self, _node: &NodeName) -> bool {
        true
    }
}

/// Whether `node` may announce an address with `requirements`, or the first reason it may not.
pub fn check(
    node: &NodeName,
    state: &NodeState,
    requirements: &(impl Requirements + ?Sized),
) -> Result<(), Ineligible> {
    if !state.alive {
        Err(Ineligible::NotAlive)
    } else if let Some(reason) = state.unhealthy {
        Err(reason)
    } else if state
        .labels
        .contains_key(EXCLUDE_FROM_EXTERNAL_LOAD_BALANCERS)
    {
        Err(Ineligible::ExcludedByLabel)
    } else if !requirements.selects(node, &state.labels) {
        Err(Ineligible::NodeSelectorMismatch)
    } else if !requirements.has_usable_interface(node) {
        Err(Ineligible::NoUsableInterface)
    } else if !requirements.has_ready_endpoint(node) {
        Err(Ineligible::NoReadyEndpoint)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Rules;

    impl Requirements for Rules {
        fn selects(&self, _node: &NodeName, labels: &Labels) -> bool {
            labels.get("zone").is_some_and(|zone| zone == "a")
        }
        fn has_usable_interface(&self, node: &NodeName) -> bool {
            node.as_str() != "no-nic"
        }
        fn has_ready_endpoint(&self, node: &NodeName) -> bool {
            node.as_str() != "no-pod"
        }
    }

    fn state(alive: bool, labels: &[(&str, &str)]) -> NodeState {
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

    #[test]
    fn reasons_in_order() {
        let zone_a = [("zone", "a")];
        let table = [
            ("n", state(true, &zone_a), Ok(())),
            ("n", state(false, &zone_a), Err(Ineligible::NotAlive)),
            // Dead and excluded: being dead is reported first.
            (
                "n",
                state(false, &[(EXCLUDE_FROM_EXTERNAL_LOAD_BALANCERS, "")]),
                Err(Ineligible::NotAlive),
            ),
            (
                "n",
                state(
                    true,
                    &[
                        ("zone", "a"),
                        (EXCLUDE_FROM_EXTERNAL_LOAD_BALANCERS, "false"),
                    ],
                ),
                Err(Ineligible::ExcludedByLabel),
            ),
            (
                "n",
                state(true, &[("zone", "b")]),
                Err(Ineligible::NodeSelectorMismatch),
            ),
            (
                "no-nic",
                state(true, &zone_a),
                Err(Ineligible::NoUsableInterface),
            ),
            (
                "no-pod",
                state(true, &zone_a),
                Err(Ineligible::NoReadyEndpoint),
            ),
            (
                "n",
                NodeState {
                    unhealthy: Some(Ineligible::OutOfService),
                    ..state(true, &[(EXCLUDE_FROM_EXTERNAL_LOAD_BALANCERS, "")])
                },
                Err(Ineligible::OutOfService),
            ),
            (
                "n",
                NodeState {
                    unhealthy: Some(Ineligible::NodeNotReady),
                    ..state(false, &zone_a)
                },
                Err(Ineligible::NotAlive),
            ),
        ];
        for (name, state, expected) in table {
            assert_eq!(
                check(&NodeName::from(name), &state, &Rules),
                expected,
                "{name} {state:?}"
            );
        }
    }

    #[test]
    fn any_node_admits_live_unlabelled_nodes() {
        assert_eq!(
            check(&NodeName::from("n"), &state(true, &[]), &AnyNode),
            Ok(())
        );
    }

    #[test]
    fn labels_are_distinct() {
        let labels: std::collections::BTreeSet<_> =
            Ineligible::ALL.iter().map(|r| r.label()).collect();
        assert_eq!(labels.len(), Ineligible::ALL.len());
    }
}
