//! One election per address: who announces it, on which interface, or why nobody does.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use ferrolb_crds::conditions::announced;
use ferrolb_crds::{IPAddressPool, L2Advertisement};
use k8s_openapi::api::core::v1::Node;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::ResourceExt;

use super::objects::{node_health, pool_of, pool_ranges, ready_nodes, slice_service};
use super::service::ServiceView;
use crate::election::{Election, Ineligible, Labels, NodeName, NodeState, Requirements};
use crate::membership::group::PeerReport;

/// The objects the plan is computed from.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Every Service ferrolb serves that holds an address, by `namespace/name`.
    pub services: Vec<Arc<ServiceView>>,
    /// Every EndpointSlice.
    pub slices: Vec<Arc<EndpointSlice>>,
    /// Every Node.
    pub nodes: Vec<Arc<Node>>,
    /// Every IPAddressPool.
    pub pools: Vec<Arc<IPAddressPool>>,
    /// Deleted pools that Services still hold addresses of, as last seen (see
    /// [`super::pools::DeletedPools`]).
    pub deleted_pools: Vec<Arc<IPAddressPool>>,
    /// Every L2Advertisement.
    pub ads: Vec<Arc<L2Advertisement>>,
    /// Cordoned nodes hand their addresses over (the speaker's
    /// `--cordoned-nodes-hand-over`).
    pub cordoned_hand_over: bool,
}

/// Who is alive and what their interfaces are.
#[derive(Debug, Clone, Copy)]
pub struct Liveness<'a> {
    /// Speakers alive in the group, this one included when it takes part.
    pub alive: &'a BTreeSet<NodeName>,
    /// The interfaces each speaker reported (this one's included).
    pub reports: &'a BTreeMap<NodeName, PeerReport>,
}

/// The outcome for one address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    /// The node that announces it.
    pub owner: Option<NodeName>,
    /// The owner's interface that answers, when its report is known.
    pub interface: Option<Arc<str>>,
    /// A reason of `ferrolb.io/Announced`.
    pub reason: &'static str,
    /// Why, in words, when nobody announces (empty when someone does).
    pub message: String,
    /// Resend gratuitous announcements this often (the shortest interval of the matching
    /// advertisements), besides the takeover burst.
    pub gratuitous_interval: Option<std::time::Duration>,
}

/// The assignment of every address held by a Service ferrolb serves, by address.
///
/// A sorted list rather than a tree: a pass builds one for every address in the cluster, and
/// the list takes half the memory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan(Vec<(IpAddr, Assignment)>);

impl Plan {
    /// The assignment of `ip`, if a Service holds it.
    pub fn get(&self, ip: &IpAddr) -> Option<&Assignment> {
        self.0
            .binary_search_by(|(a, _)| a.cmp(ip))
            .ok()
            .map(|i| &self.0[i].1)
    }

    /// Every address and its assignment, by address.
    pub fn iter(&self) -> impl Iterator<Item = (&IpAddr, &Assignment)> {
        self.0.iter().map(|(ip, a)| (ip, a))
    }
}

impl FromIterator<(IpAddr, Assignment)> for Plan {
    /// Sorted by address; of two assignments for one address the first is kept.
    fn from_iter<I: IntoIterator<Item = (IpAddr, Assignment)>>(iter: I) -> Self {
        let mut all: Vec<(IpAddr, Assignment)> = iter.into_iter().collect();
        // Stable: of two assignments for one address the first is kept.
        all.sort_by_key(|(ip, _)| *ip);
        all.dedup_by_key(|(ip, _)| *ip);
        all.shrink_to_fit();
        Plan(all)
    }
}

impl<const N: usize> From<[(IpAddr, Assignment); N]> for Plan {
    fn from(all: [(IpAddr, Assignment); N]) -> Self {
        all.into_iter().collect()
    }
}

impl std::ops::Index<&IpAddr> for Plan {
    type Output = Assignment;

    fn index(&self, ip: &IpAddr) -> &Assignment {
        self.get(ip)
            .unwrap_or_else(|| panic!("{ip} is not in the plan"))
    }
}

/// The interface `node` would answer on for `ip` under the advertisements that select it, or
/// `None` if it has none. Interfaces listed by an advertisement come first; without a list the
/// first interface (by name) whose subnet contains the address.
pub fn interface_for(
    report: &PeerReport,
    ip: IpAddr,
    ads: &[&L2Advertisement],
) -> Option<Arc<str>> {
    let subnet_rule = ads.iter().any(|a| a.spec.interfaces.is_empty());
    if subnet_rule {
        let on_link = report
            .interfaces
            .iter()
            .find(|(_, nets)| nets.iter().any(|n| n.contains(&ip)))
            .map(|(name, _)| name.clone());
        if on_link.is_some() {
            return on_link;
        }
    }
    let listed: BTreeSet<&String> = ads.iter().flat_map(|a| a.spec.interfaces.iter()).collect();
    listed
        .into_iter()
        .find_map(|name| report.interfaces.get_key_value(name.as_str()))
        .map(|(name, _)| name.clone())
}

/// An advertisement as one pass reads it: which of the pass's nodes it lets announce and its
/// gratuitous interval, evaluated once per pass rather than once per address.
struct Selected<'a> {
    ad: &'a L2Advertisement,
    nodes: BTreeSet<&'a NodeName>,
    interval: Option<Duration>,
}

impl<'a> Selected<'a> {
    fn new(ad: &'a L2Advertisement, labels: &'a BTreeMap<NodeName, Labels>) -> Self {
        Selected {
            ad,
            nodes: labels
                .iter()
                .filter(|(_, l)| ad.selects_node(l))
                .map(|(n, _)| n)
                .collect(),
            interval: ad.spec.gratuitous_interval().and_then(Result::ok),
        }
    }
}

/// What the election of one address needs. Every node it asks about is one of the pass's
/// nodes (the election is built from the same labels).
struct Needs<'a> {
    ip: IpAddr,
    ads: &'a [&'a Selected<'a>],
    reports: &'a BTreeMap<NodeName, PeerReport>,
    ready: Option<BTreeSet<NodeName>>,
}

impl Needs<'_> {
    fn ads_for(&self, node: &NodeName) -> Vec<&L2Advertisement> {
        self.ads
            .iter()
            .filter(|s| s.nodes.contains(node))
            .map(|s| s.ad)
            .collect()
    }

    fn interface(&self, node: &NodeName) -> Option<Arc<str>> {
        let report = self.reports.get(node)?;
        interface_for(report, self.ip, &self.ads_for(node))
    }
}

impl Requirements for Needs<'_> {
    fn selects(&self, node: &NodeName, _labels: &Labels) -> bool {
        self.ads.iter().any(|s| s.nodes.contains(node))
    }

    fn has_usable_interface(&self, node: &NodeName) -> bool {
        // A speaker whose report has not arrived yet is given the benefit of the doubt: its
        // report follows within a second and every speaker then agrees again.
        !self.reports.contains_key(node) || self.interface(node).is_some()
    }

    fn has_ready_endpoint(&self, node: &NodeName) -> bool {
        self.ready.as_ref().is_none_or(|r| r.contains(node))
    }
}

fn unannounced(reason: &'static str, message: String) -> Assignment {
    Assignment {
        owner: None,
        interface: None,
        reason,
        message,
        gratuitous_interval: None,
    }
}

/// Computes the assignment of every address of every Service in the snapshot.
pub fn plan(snapshot: &Snapshot, live: Liveness<'_>) -> Plan {
    let labels: BTreeMap<NodeName, Labels> = snapshot
        .nodes
        .iter()
        .map(|n| (NodeName::from(n.name_any()), n.labels().clone()))
        .collect();
    let mut health: BTreeMap<&str, Option<Ineligible>> = snapshot
        .nodes
        .iter()
        .map(|n| {
            let name = n.metadata.name.as_deref().unwrap_or_default();
            (name, node_health(n, snapshot.cordoned_hand_over))
        })
        .collect();
    // When no node is Ready the API server has lost its kubelets, not the nodes their network
    // (as the node lifecycle controller assumes in a full disruption): Ready is not heeded then.
    if !health.is_empty()
        && health
            .values()
            .all(|h| *h == Some(Ineligible::NodeNotReady))
    {
        health.values_mut().for_each(|h| *h = None);
    }
    let election: Election = labels
        .iter()
        .map(|(name, labels)| {
            let state = NodeState {
                alive: live.alive.contains(name),
                labels: labels.clone(),
                unhealthy: health.get(name.as_str()).copied().flatten(),
            };
            (name.clone(), state)
        })
        .collect();
    // Every (address, Service) pair, grouped by address: no list per address is built.
    let mut holders: Vec<(IpAddr, &ServiceView)> = snapshot
        .services
        .iter()
        .flat_map(|svc| svc.ips.iter().map(move |ip| (*ip, &**svc)))
        .collect();
    // In place: a sort with a scratch buffer would copy the list once more.
    holders.sort_unstable_by(|a, b| (a.0, &a.1.key).cmp(&(b.0, &b.1.key)));
    // Each Service's slices, found once: a pass must not scan every slice per Service.
    let mut slices: BTreeMap<(&str, &str), Vec<&EndpointSlice>> = BTreeMap::new();
    if snapshot.services.iter().any(|s| s.local) {
        for slice in &snapshot.slices {
            if let Some(service) = slice_service(slice) {
                slices.entry(service).or_default().push(slice);
            }
        }
    }
    let pools: Vec<&IPAddressPool> = snapshot.pools.iter().map(|p| &**p).collect();
    let pools = pool_ranges(&pools);
    // Selectors are matched once per pass: per pool and per node, not per address.
    let selected: Vec<Selected> = snapshot
        .ads
        .iter()
        .map(|a| Selected::new(a, &labels))
        .collect();
    let deleted: BTreeSet<&str> = snapshot
        .deleted_pools
        .iter()
        .map(|p| p.metadata.name.as_deref().unwrap_or_default())
        .collect();
    // Every pool by name, valid or not, and the deleted ones Services still hold addresses of:
    // an address keeps the advertisements of the pool it was taken from.
    let ads_of: BTreeMap<&str, Vec<&Selected>> = snapshot
        .pools
        .iter()
        .chain(&snapshot.deleted_pools)
        .map(|p| {
            let ads = selected.iter().filter(|s| s.ad.selects_pool(p)).collect();
            (p.metadata.name.as_deref().unwrap_or_default(), ads)
        })
        .collect();
    // The holders are sorted by address, so the assignments come out sorted and unique: the
    // plan is built at its final size, not grown and sorted again.
    let mut assignments = Vec::with_capacity(holders.chunk_by(|a, b| a.0 == b.0).count());
    assignments.extend(holders.chunk_by(|a, b| a.0 == b.0).map(|group| {
        let ip = group[0].0;
        let services = group.iter().map(|(_, svc)| *svc);
        // The pool the controller says it gave the address from; else the first containing it.
        let named = group
            .iter()
            .find_map(|(_, svc)| svc.origin(ip))
            .map(|p| &**p);
        let Some(pool) = named.or_else(|| {
            pool_of(&pools, ip).map(|p| p.metadata.name.as_deref().unwrap_or_default())
        }) else {
            let message = format!("{ip} is in no IPAddressPool");
            return (
                ip,
                unannounced(announced::NO_MATCHING_ADVERTISEMENT, message),
            );
        };
        let unseen;
        let ads = match ads_of.get(pool) {
            Some(ads) => ads.as_slice(),
            None => {
                // Deleted before this speaker started: only its name is known.
                let no_labels = BTreeMap::new();
                unseen = selected
                    .iter()
                    .filter(|s| s.ad.selects_pool_with(Some(pool), &no_labels))
                    .collect::<Vec<_>>();
                unseen.as_slice()
            }
        };
        if ads.is_empty() {
            let message = if !ads_of.contains_key(pool) {
                format!(
                    "no L2Advertisement names pool {pool} (of {ip}); the pool was deleted \
                     before this speaker started, so selectors by label cannot match it"
                )
            } else if deleted.contains(pool) {
                format!("no L2Advertisement selects pool {pool} (of {ip}; the pool was deleted)")
            } else {
                format!("no L2Advertisement selects pool {pool} (of {ip})")
            };
            return (
                ip,
                unannounced(announced::NO_MATCHING_ADVERTISEMENT, message),
            );
        }
        // With several Services sharing the address, a Local one needs its endpoints.
        let ready = services.filter(|s| s.local).fold(None, |acc, s| {
            let own = slices.get(&(s.namespace(), s.name()));
            let nodes = ready_nodes(s.namespace(), s.name(), own.into_iter().flatten().copied());
            Some(match acc {
                None => nodes,
                Some(prev) => &prev & &nodes,
            })
        });
        let gratuitous_interval = ads.iter().filter_map(|s| s.interval).min();
        let needs = Needs {
            ip,
            ads,
            reports: live.reports,
            ready,
        };
        let outcome = election.decide(ip, &needs);
        let assignment = match outcome.owner() {
            Some(owner) => Assignment {
                owner: Some(owner.clone()),
                interface: needs.interface(owner),
                reason: announced::ANNOUNCED,
                // Only a reason for nobody announcing is shown; none is built per address.
                message: String::new(),
                gratuitous_interval,
            },
            None => {
                let reason = if outcome.reason() == Ineligible::NoReadyEndpoint.label() {
                    announced::NO_READY_ENDPOINT
                } else {
                    announced::NO_ELIGIBLE_NODE
                };
                unannounced(reason, outcome.explain())
            }
        };
        (ip, assignment)
    }));
    Plan(assignments)
}
