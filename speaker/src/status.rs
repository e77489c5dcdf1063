//! The `ferrolb.io/Announced` condition on Services and the `NodeAssigned` events.
//!
//! Every speaker writes with the same field manager, so whichever speaker owns an address now
//! replaces what the previous owner wrote. A speaker writes only the Services it is
//! responsible for (see [`conditions`]) and only when the condition would change.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferrolb_crds::conditions::{SERVICE_ANNOUNCED, announced, announcer};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::{Api, Client};
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::election::NodeName;
use crate::metrics::{Metrics, ReasonLabels};
use crate::view::plan::Plan;
use crate::view::service::{ServiceRef, ServiceView, said};
use crate::view::store::Stores;
use crate::wire::{Conflict, MacAddr};

/// The field manager every speaker writes with.
pub const FIELD_MANAGER: &str = "ferrolb-speaker";
/// The event reason when a node starts announcing a Service's addresses.
pub const NODE_ASSIGNED: &str = "NodeAssigned";
/// The event reason when the owner defended an address against another host's claim.
pub const ADDRESS_DEFENDED: &str = "AddressDefended";
/// A write is not repeated within this time while the cache catches up with it.
const REWRITE_AFTER: Duration = Duration::from_secs(5);
/// Condition writes (each with its event) in flight at once.
const WRITES_IN_FLIGHT: usize = 16;

/// What one Service's condition should say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desired {
    /// The Service, `namespace/name`.
    pub service: ServiceRef,
    /// Whether every address is announced.
    pub announced: bool,
    /// A reason from [`announced`].
    pub reason: &'static str,
    /// The sentence shown to users.
    pub message: String,
    /// An address is announced but was defended against another host (a Warning event).
    pub defended: bool,
}

impl Desired {
    /// A digest of what the condition says, to remember recent writes by.
    fn digest(&self) -> u64 {
        said(self.reason, &self.message) ^ u64::from(self.announced)
    }
}

/// What this node found out about the addresses it owns.
#[derive(Debug, Clone, Default)]
pub struct Verdicts {
    /// Addresses still being probed.
    pub probing: BTreeSet<IpAddr>,
    /// Addresses found in use by another host, with the other host and the interface.
    pub conflicts: BTreeMap<IpAddr, (Conflict, String)>,
    /// Addresses announced and defended against another host's claim (RFC 5227 2.4).
    pub defended: BTreeMap<IpAddr, (Conflict, String)>,
    /// Nodes whose kernel answers ARP for Service addresses itself (IPVS without strictARP).
    pub kernel_answers_arp: BTreeSet<NodeName>,
    /// The hardware address of each interface this node answers on: what clients see.
    pub macs: BTreeMap<String, MacAddr>,
}

/// What [`conditions`] found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Conditions {
    /// The conditions to write: those that do not already say what they should.
    pub changed: Vec<Desired>,
    /// How many of the Services this speaker is responsible for are not announced (whether
    /// their condition already says so or not): across all speakers, every such Service once.
    pub unannounced: usize,
}

/// The conditions this speaker (`me`) is responsible for: a Service's condition is written by
/// the owner of its first announced address or, when nobody announces any, by `fallback` (the
/// first live speaker by name). `conflicts` are the addresses this node owns but found in use
/// by another host; a Service with an address this node is still `probing` waits for the
/// probe's verdict. Conditions that already say what they should are left out of `changed`,
/// and still counted in `unannounced`.
pub fn conditions(
    me: &NodeName,
    fallback: Option<&NodeName>,
    services: &[Arc<ServiceView>],
    plan: &Plan,
    mine: &Verdicts,
) -> Conditions {
    let Verdicts {
        probing,
        conflicts,
        defended,
        kernel_answers_arp,
        macs,
    } = mine;
    let mut out = Vec::with_capacity(services.len());
    let mut unannounced = 0;
    for svc in services {
        let assigned: Vec<(IpAddr, &crate::view::plan::Assignment)> = svc
            .ips
            .iter()
            .filter_map(|ip| plan.get(ip).map(|a| (*ip, a)))
            .collect();
        if assigned.is_empty() {
            continue;
        }
        let writer = assigned
            .iter()
            .find_map(|(_, a)| a.owner.as_ref())
            .or(fallback);
        if writer != Some(me) {
            continue;
        }
        if assigned
            .iter()
            .any(|(ip, a)| a.owner.as_ref() == Some(me) && probing.contains(ip))
        {
            continue;
        }
        let mut failure: Option<(&'static str, String)> = None;
        let mut parts = Vec::new();
        let mut was_defended = false;
        for (ip, a) in &assigned {
            match (&a.owner, conflicts.get(ip)) {
                (Some(owner), Some((c, iface))) if owner == me => {
                    failure.get_or_insert((
                        announced::ADDRESS_CONFLICT,
                        format!(
                            "{ip} is in use by another host (MAC {}) seen on {owner} interface {iface}; not announced",
                            c.mac
                        ),
                    ));
                }
                (Some(owner), _) if ip.is_ipv4() && !kernel_answers_arp.is_empty() => {
                    let nodes: Vec<&str> =
                        kernel_answers_arp.iter().map(NodeName::as_str).collect();
                    failure.get_or_insert((
                        announced::KERNEL_ANSWERS_ARP,
                        format!(
                            "{ip} is announced by node {owner}, but the kernel of node(s) {} \
                             answers ARP for it too: kube-proxy runs in IPVS mode without \
                             strictARP (the address is on kube-ipvs0 and arp_ignore is 0); set \
                             strictARP: true in kube-proxy's configuration",
                            nodes.join(", ")
                        ),
                    ));
                }
                (Some(owner), _) => {
                    let interface = a.interface.as_deref().unwrap_or("unknown");
                    let mac = macs
                        .get(interface)
                        .filter(|_| owner == me)
                        .map(MacAddr::to_string);
                    let mut part = announcer::words(owner.as_str(), interface, mac.as_deref());
                    if owner == me
                        && let Some((c, _)) = defended.get(ip)
                    {
                        was_defended = true;
                        part.push_str(&format!(
                            ", defended against another host claiming it (MAC {})",
                            c.mac
                        ));
                    }
                    parts.push((ip, part));
                }
                (None, _) => {
                    failure.get_or_insert((a.reason, format!("{ip}: {}", a.message)));
                }
            }
        }
        let (announced, reason, message) = match failure {
            Some((reason, message)) => (false, reason, message),
            // One address: the Service's address is said elsewhere, the message needs no
            // address; several: each part says which address it is about.
            None if parts.len() == 1 => (true, announced::ANNOUNCED, parts.remove(0).1),
            None => {
                let each: Vec<String> = parts
                    .iter()
                    .map(|(ip, part)| format!("{ip} {part}"))
                    .collect();
                (true, announced::ANNOUNCED, each.join("; "))
            }
        };
        let wanted = Desired {
            service: svc.key.clone(),
            announced,
            reason,
            message,
            defended: announced && was_defended,
        };
        unannounced += usize::from(!wanted.announced);
        if !is_current(svc, &wanted) {
            out.push(wanted);
        }
    }
    out.shrink_to_fit();
    Conditions {
        changed: out,
        unannounced,
    }
}

fn status_word(b: bool) -> &'static str {
    if b { "True" } else { "False" }
}

/// Whether the Service already says `d` (timestamps aside).
pub fn is_current(svc: &ServiceView, d: &Desired) -> bool {
    svc.announced
        .as_ref()
        .is_some_and(|c| c.status == Some(d.announced) && c.said == said(d.reason, &d.message))
}

/// The server-side-apply body; the transition time is kept while the status is unchanged.
pub fn apply_body(svc: &ServiceView, d: &Desired, now: Timestamp) -> Value {
    let status = status_word(d.announced);
    let since = svc
        .announced
        .as_ref()
        .filter(|c| c.status == Some(d.announced))
        .map_or(Time(now), |c| c.since.clone());
    let condition = Condition {
        type_: SERVICE_ANNOUNCED.to_owned(),
        status: status.to_owned(),
        reason: d.reason.to_owned(),
        message: d.message.clone(),
        last_transition_time: since,
        observed_generation: svc.generation,
    };
    json!({"apiVersion": "v1", "kind": "Service", "status": {"conditions": [condition]}})
}

/// Writes the desired conditions as they change, until the sender is dropped.
pub async fn write_loop(
    client: Client,
    stores: Stores,
    node: NodeName,
    mut desired: watch::Receiver<Arc<Vec<Desired>>>,
    metrics: Arc<Metrics>,
) {
    let reporter = Reporter {
        controller: FIELD_MANAGER.to_owned(),
        instance: Some(node.to_string()),
    };
    // What was written lately (as a digest), so a write is not repeated while the cache
    // catches up.
    let mut written: HashMap<ServiceRef, (u64, Instant)> = HashMap::new();
    let mut retry = tokio::time::interval(Duration::from_secs(2));
    loop {
        tokio::select! {
            changed = desired.changed() => if changed.is_err() { return },
            _ = retry.tick() => {}
        }
        written.retain(|_, (_, at)| at.elapsed() < REWRITE_AFTER);
        if written.capacity() > 4 * written.len().max(16) {
            written.shrink_to_fit();
        }
        let wanted = desired.borrow_and_update().clone();
        let due: Vec<(Arc<ServiceView>, usize)> = wanted
            .iter()
            .enumerate()
            .filter_map(|(i, d)| {
                let svc = stores.service(d.service.as_str())?;
                let recent = written
                    .get(&d.service)
                    .is_some_and(|(w, _)| *w == d.digest());
                (!is_current(&svc, d) && !recent).then_some((svc, i))
            })
            .collect();
        // Several writes in flight: after a failover a node takes over thousands of Services,
        // and one write at a time would leave their conditions stale for many seconds.
        let mut outcomes = futures::stream::iter(due)
            .map(|(svc, i)| {
                let (client, reporter, wanted) = (&client, &reporter, wanted.clone());
                async move { (i, write(client, reporter, &svc, &wanted[i]).await) }
            })
            .buffer_unordered(WRITES_IN_FLIGHT);
        while let Some((i, outcome)) = outcomes.next().await {
            let d = &wanted[i];
            metrics
                .status_writes
                .get_or_create(&ReasonLabels {
                    reason: outcome.to_owned(),
                })
                .inc();
            if outcome == "ok" {
                written.insert(d.service.clone(), (d.digest(), Instant::now()));
            }
        }
    }
}

async fn write(
    client: &Client,
    reporter: &Reporter,
    svc: &ServiceView,
    d: &Desired,
) -> &'static str {
    let key = &d.service;
    let api: Api<Service> = Api::namespaced(client.clone(), svc.namespace());
    let body = apply_body(svc, d, Timestamp::now());
    let params = PatchParams::apply(FIELD_MANAGER).force();
    if let Err(e) = api
        .patch_status(svc.name(), &params, &Patch::Apply(body))
        .await
    {
        tracing::warn!(service = %key, error = %e, "writing the Announced condition failed");
        return "error";
    }
    tracing::info!(service = %key, announced = d.announced, reason = %d.reason, message = %d.message, "Announced condition updated");
    let event = Event {
        type_: if d.announced && !d.defended {
            EventType::Normal
        } else {
            EventType::Warning
        },
        reason: if d.defended {
            ADDRESS_DEFENDED.to_owned()
        } else if d.announced {
            NODE_ASSIGNED.to_owned()
        } else {
            d.reason.to_owned()
        },
        note: Some(d.message.clone()),
        action: "Announce".to_owned(),
        secondary: None,
    };
    // A Recorder per event: kube's Recorder remembers every event it sent for six minutes (to
    // count repeats), megabytes when thousands of Services change owner at once. Conditions are
    // written only when they change, so there are no repeats to count.
    let recorder = Recorder::new(client.clone(), reporter.clone());
    if let Err(e) = recorder.publish(&event, &svc.object_ref()).await {
        tracing::debug!(service = %key, error = %e, "event not recorded");
    }
    "ok"
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::view::plan::Assignment;
    use crate::view::service::Announced;

    /// The conditions to write.
    fn desired(
        me: &NodeName,
        fallback: Option<&NodeName>,
        services: &[Arc<ServiceView>],
        plan: &Plan,
        mine: &Verdicts,
    ) -> Vec<Desired> {
        conditions(me, fallback, services, plan, mine).changed
    }

    fn mk_view(ip: IpAddr) -> Arc<ServiceView> {
        Arc::new(ServiceView {
            key: ServiceRef::new("default", "web"),
            uid: None,
            generation: Some(2),
            local: false,
            ips: [ip].into(),
            origins: Box::default(),
            announced: None,
        })
    }

    fn mk_plan(owner: Option<&str>) -> (Vec<Arc<ServiceView>>, Plan, IpAddr) {
        let ip: IpAddr = "192.168.100.240".parse().unwrap();
        let assignment = Assignment {
            owner: owner.map(NodeName::from),
            interface: owner.map(|_| "eth0".into()),
            reason: if owner.is_some() {
                announced::ANNOUNCED
            } else {
                announced::NO_ELIGIBLE_NODE
            },
            message: "no eligible node among 3".to_owned(),
            gratuitous_interval: None,
        };
        (vec![mk_view(ip)], Plan::from([(ip, assignment)]), ip)
    }

    #[test]
    fn the_owner_writes_node_and_interface() {
        let (services, plan, _) = mk_plan(Some("node2"));
        let me = NodeName::from("node2");
        let d = desired(&me, None, &services, &plan, &Verdicts::default());
        assert_eq!(d.len(), 1);
        assert!(d[0].announced);
        assert_eq!(d[0].message, "announced by node node2 on interface eth0");
        let other = NodeName::from("node1");
        assert!(desired(&other, Some(&other), &services, &plan, &Verdicts::default()).is_empty());
    }

    #[test]
    fn the_owner_names_the_mac_clients_see() {
        let (services, plan, _) = mk_plan(Some("node2"));
        let me = NodeName::from("node2");
        let verdicts = Verdicts {
            macs: BTreeMap::from([
                ("eth0".to_owned(), MacAddr::new(2, 0, 0, 0, 0, 0x20)),
                ("eth1".to_owned(), MacAddr::new(2, 0, 0, 0, 0, 0x21)),
            ]),
            ..Default::default()
        };
        let d = desired(&me, None, &services, &plan, &verdicts);
        assert_eq!(
            d[0].message,
            "announced by node node2 on interface eth0 (MAC 02:00:00:00:00:20)"
        );
        let read: Vec<_> = announcer::parse(&d[0].message).collect();
        assert_eq!(
            (read[0].node, read[0].interface, read[0].mac),
            ("node2", "eth0", Some("02:00:00:00:00:20"))
        );
    }

    #[test]
    fn a_condition_that_already_says_it_is_left_out() {
        let (mut services, plan, _) = mk_plan(Some("node2"));
        let me = NodeName::from("node2");
        let d = desired(&me, None, &services, &plan, &Verdicts::default());
        let since = Time(Timestamp::from_second(1_700_000_000).expect("time"));
        let mut view = (*services[0]).clone();
        view.announced = Some(Announced {
            status: Some(true),
            said: said(d[0].reason, &d[0].message),
            since: since.clone(),
        });
        services[0] = Arc::new(view);
        assert!(desired(&me, None, &services, &plan, &Verdicts::default()).is_empty());
        // Rewritten (another message), the status and so the transition time stay.
        let mut other = d[0].clone();
        other.message = "192.168.100.240 announced by node node2 on interface eth1".to_owned();
        let body = apply_body(&services[0], &other, Timestamp::now());
        let condition = &body["status"]["conditions"][0];
        assert_eq!(condition["lastTransitionTime"], serde_json::json!(since));
        assert_eq!(condition["observedGeneration"], 2);
        assert_eq!(condition["reason"], announced::ANNOUNCED);
    }

    #[test]
    fn without_owner_the_fallback_writes_the_reason() {
        let (services, plan, _) = mk_plan(None);
        let me = NodeName::from("node1");
        let d = desired(&me, Some(&me), &services, &plan, &Verdicts::default());
        assert_eq!(d[0].reason, announced::NO_ELIGIBLE_NODE);
        assert!(!d[0].announced);
        let node2 = NodeName::from("node2");
        assert!(desired(&node2, Some(&me), &services, &plan, &Verdicts::default()).is_empty());
    }

    #[test]
    fn conflicts_and_probes_are_reported_by_the_owner() {
        let (services, plan, ip) = mk_plan(Some("node2"));
        let me = NodeName::from("node2");
        let probing = Verdicts {
            probing: BTreeSet::from([ip]),
            ..Default::default()
        };
        assert!(desired(&me, None, &services, &plan, &probing).is_empty());
        let mac = MacAddr::new(2, 0, 0, 0, 0, 0x50);
        let conflict = Verdicts {
            conflicts: BTreeMap::from([(ip, (Conflict { ip, mac }, "eth0".to_owned()))]),
            ..Default::default()
        };
        let d = desired(&me, None, &services, &plan, &conflict);
        assert_eq!(d[0].reason, announced::ADDRESS_CONFLICT);
        // Not announced: counted once, by its one writer.
        assert_eq!(
            conditions(&me, None, &services, &plan, &conflict).unannounced,
            1
        );
        assert!(
            d[0].message.contains("02:00:00:00:00:50"),
            "{}",
            d[0].message
        );
    }

    #[test]
    fn a_defended_address_stays_announced_and_says_against_whom() {
        let (services, plan, ip) = mk_plan(Some("node2"));
        let me = NodeName::from("node2");
        let mac = MacAddr::new(2, 0, 0, 0, 0, 0x51);
        let defended = Verdicts {
            defended: BTreeMap::from([(ip, (Conflict { ip, mac }, "eth0".to_owned()))]),
            ..Default::default()
        };
        let d = desired(&me, None, &services, &plan, &defended);
        assert_eq!((d[0].announced, d[0].reason), (true, announced::ANNOUNCED));
        assert!(d[0].defended);
        assert!(
            d[0].message
                .starts_with("announced by node node2 on interface eth0, defended")
                && d[0].message.contains("02:00:00:00:00:51"),
            "{}",
            d[0].message
        );
        let plain = desired(&me, None, &services, &plan, &Verdicts::default());
        assert!(!plain[0].defended);
    }

    #[test]
    fn a_node_whose_kernel_answers_arp_is_named() {
        let (services, plan, _) = mk_plan(Some("node2"));
        let me = NodeName::from("node2");
        let verdicts = Verdicts {
            kernel_answers_arp: BTreeSet::from([NodeName::from("node3")]),
            ..Default::default()
        };
        let d = desired(&me, None, &services, &plan, &verdicts);
        assert_eq!(
            (d[0].announced, d[0].reason),
            (false, announced::KERNEL_ANSWERS_ARP)
        );
        assert!(
            d[0].message.contains("node(s) node3") && d[0].message.contains("strictARP"),
            "{}",
            d[0].message
        );
    }
}
