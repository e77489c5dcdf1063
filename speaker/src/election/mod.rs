//! Election: which node announces each address.
//!
//! Every speaker holds the same view (the Node objects, their labels, and who is alive in the
//! membership group) and computes the same answer on its own: among the nodes eligible for an
//! address, the one ranked first by a rendezvous hash of (node, address) owns it. No messages
//! are exchanged to agree, and losing a node moves only the addresses it owned.

mod eligibility;
pub mod rendezvous;

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

#[cfg(test)]
pub use eligibility::AnyNode;
pub use eligibility::{
    EXCLUDE_FROM_EXTERNAL_LOAD_BALANCERS, Ineligible, Labels, NodeState, Requirements, check,
};

/// The name of a Kubernetes Node, which is also the speaker's identity in the group.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct NodeName(Arc<str>);

impl NodeName {
    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<String> for NodeName {
    fn from(name: String) -> Self {
        NodeName(name.into())
    }
}

impl From<&str> for NodeName {
    fn from(name: &str) -> Self {
        NodeName(name.into())
    }
}

impl fmt::Display for NodeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The view every speaker elects from: the known nodes and their state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Election {
    nodes: BTreeMap<NodeName, NodeState>,
}

impl Election {
    /// An election with no nodes.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a node or replace its state.
    pub fn apply(&mut self, node: NodeName, state: NodeState) {
        self.nodes.insert(node, state);
    }

    /// Forget a node (its Node object was deleted).
    pub fn delete(&mut self, node: &NodeName) {
        self.nodes.remove(node);
    }

    /// Record whether a node's speaker is alive; returns false if the node is unknown.
    #[cfg(test)]
    pub fn set_alive(&mut self, node: &NodeName, alive: bool) -> bool {
        match self.nodes.get_mut(node) {
            Some(state) => {
                state.alive = alive;
                true
            }
            None => false,
        }
    }

    /// The known nodes and their state, by name.
    pub fn nodes(&self) -> impl Iterator<Item = (&NodeName, &NodeState)> {
        self.nodes.iter()
    }

    /// Elect the owner of `address` among the nodes that meet `requirements`.
    pub fn decide(&self, address: IpAddr, requirements: &(impl Requirements + ?Sized)) -> Outcome {
        let mut eligible = Vec::new();
        let mut ineligible = BTreeMap::new();
        for (node, state) in &self.nodes {
            match check(node, state, requirements) {
                Ok(()) => eligible.push(node),
                Err(reason) => {
                    ineligible.insert(node.clone(), reason);
                }
            }
        }
        let ranking = rendezvous::ranking(address, eligible)
            .into_iter()
            .cloned()
            .collect();
        Outcome {
            ranking,
            ineligible,
        }
    }
}

impl FromIterator<(NodeName, NodeState)> for Election {
    fn from_iter<I: IntoIterator<Item = (NodeName, NodeState)>>(nodes: I) -> Self {
        Election {
            nodes: nodes.into_iter().collect(),
        }
    }
}

/// The result of one election: who announces, who could take over, and why the rest cannot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The eligible nodes, best first; the first is the owner.
    pub ranking: Vec<NodeName>,
    /// The nodes that may not announce the address, with the first reason for each.
    pub ineligible: BTreeMap<NodeName, Ineligible>,
}

impl Outcome {
    /// The node that announces the address, if any is eligible.
    pub fn owner(&self) -> Option<&NodeName> {
        self.ranking.first()
    }

    /// Whether `node` announces the address.
    #[cfg(test)]
    pub fn is_owner(&self, node: &NodeName) -> bool {
        self.owner() == Some(node)
    }

    /// A condition reason: `Elected`, or why nobody announces (`NoNodes`, the one reason every
    /// node shares, or `NoEligibleNode` when they differ).
    pub fn reason(&self) -> &'static str {
        if self.owner().is_some() {
            return "Elected";
        }
        let mut reasons = self.ineligible.values();
        match reasons.next() {
            None => "NoNodes",
            Some(first) if reasons.all(|r| r == first) => first.label(),
            Some(_) => "NoEligibleNode",
        }
    }

    /// A condition message an operator can act on, naming nodes grouped by reason.
    pub fn explain(&self) -> String {
        const NAMED: usize = 3;
        let total = self.ranking.len() + self.ineligible.len();
        let mut message = match self.owner() {
            Some(owner) => format!(
                "{owner} announces ({} of {total} nodes eligible)",
                self.ranking.len()
            ),
            None if total == 0 => return "no nodes known".to_owned(),
            None => format!("no eligible node among {total}"),
        };
        let mut by_reason: BTreeMap<Ineligible, Vec<&NodeName>> = BTreeMap::new();
        for (node, reason) in &self.ineligible {
            by_reason.entry(*reason).or_default().push(node);
        }
        for (i, (reason, nodes)) in by_reason.iter().enumerate() {
            message.push_str(if i == 0 { ": " } else { "; " });
            let names: Vec<&str> = nodes.iter().take(NAMED).map(|n| n.as_str()).collect();
            message.push_str(&format!(
                "{} {} ({}",
                nodes.len(),
                reason.describe(),
                names.join(", ")
            ));
            if nodes.len() > NAMED {
                message.push_str(&format!(", and {} more", nodes.len() - NAMED));
            }
            message.push(')');
        }
        message
    }
}

#[cfg(test)]
mod tests;
