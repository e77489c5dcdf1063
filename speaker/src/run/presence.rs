//! Each speaker's Lease in the API server: the second signal, besides SWIM, that a speaker is
//! alive (see `membership::quorum`). A speaker renews its own Lease every second and reads
//! everyone's; a Lease counts as renewing while its `renewTime` keeps changing, judged by this
//! speaker's own clock (so clocks that disagree between nodes do not matter).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::{ListParams, Patch, PatchParams};
use kube::{Api, Client};
use serde_json::json;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::election::NodeName;

/// How often a speaker renews its Lease and reads the others'.
pub const RENEW_EVERY: Duration = Duration::from_secs(1);
/// A Lease whose `renewTime` has not changed for this long is not renewing.
pub const FRESH_FOR: Duration = Duration::from_secs(3);
/// Without an answer to a renewal for this long, the API server counts as unreachable.
pub const API_GRACE: Duration = Duration::from_secs(2);
/// The label on every speaker Lease.
pub const LEASE_LABEL: &str = "ferrolb.io/speaker-presence";
/// The field manager of the renewals.
const FIELD_MANAGER: &str = "ferrolb-speaker";

/// What the Leases say.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Presence {
    /// The speakers whose Lease is renewing (as last seen while the API server answered).
    pub renewing: BTreeSet<NodeName>,
    /// The API server answers this speaker's renewals (even if it refuses them).
    pub api_reached: bool,
}

/// The name of a speaker's Lease.
pub fn lease_name(node: &NodeName) -> String {
    format!("ferrolb-speaker-{node}")
}

/// When each Lease's `renewTime` was last seen to change.
#[derive(Debug, Default)]
struct Observed(BTreeMap<NodeName, (Option<MicroTime>, Instant)>);

impl Observed {
    /// Records the Leases just listed; returns the nodes whose Lease is renewing.
    fn update(&mut self, leases: &[Lease], now: Instant) -> BTreeSet<NodeName> {
        let mut seen = BTreeSet::new();
        for lease in leases {
            let Some(holder) = lease
                .spec
                .as_ref()
                .and_then(|s| s.holder_identity.as_deref())
            else {
                continue;
            };
            let node = NodeName::from(holder);
            let renewed = lease.spec.as_ref().and_then(|s| s.renew_time.clone());
            match self.0.get(&node) {
                Some((last, _)) if *last == renewed => {}
                // Renewed, or seen for the first time (then given one freshness period).
                _ => {
                    self.0.insert(node.clone(), (renewed, now));
                }
            }
            seen.insert(node);
        }
        self.0.retain(|node, _| seen.contains(node));
        self.0
            .iter()
            .filter(|(_, (_, at))| now.duration_since(*at) < FRESH_FOR)
            .map(|(node, _)| node.clone())
            .collect()
    }
}

/// Renews this speaker's Lease and reads the others', once a second.
struct Renewer {
    api: Api<Lease>,
    me: NodeName,
    observed: Observed,
    last_renewed: Option<Instant>,
    renewing: BTreeSet<NodeName>,
    warned: bool,
}

impl Renewer {
    /// One round: renew, read, and say what the Leases say now.
    async fn round(&mut self) -> Presence {
        match tokio::time::timeout(RENEW_EVERY, renew(&self.api, &self.me)).await {
            Ok(Ok(())) => {
                self.last_renewed = Some(Instant::now());
                self.warned = false;
            }
            Ok(Err(e)) => {
                // Refused (RBAC missing, say): the API server answered, so it is reached.
                if matches!(e, kube::Error::Api(_)) {
                    self.last_renewed = Some(Instant::now());
                }
                if !self.warned {
                    tracing::warn!(error = %e, "renewing this speaker's Lease failed");
                    self.warned = true;
                }
            }
            Err(_) => {}
        }
        let params = ListParams::default().labels(LEASE_LABEL);
        if let Ok(Ok(list)) = tokio::time::timeout(RENEW_EVERY, self.api.list(&params)).await {
            self.renewing = self.observed.update(&list.items, Instant::now());
        }
        Presence {
            renewing: self.renewing.clone(),
            api_reached: self.last_renewed.is_some_and(|t| t.elapsed() < API_GRACE),
        }
    }
}

/// Renews this speaker's Lease once and reads the others', then keeps doing so every second;
/// the receiver starts with that first reading and sees each change.
pub async fn start(client: Client, namespace: &str, me: NodeName) -> watch::Receiver<Presence> {
    let mut renewer = Renewer {
        api: Api::namespaced(client, namespace),
        me,
        observed: Observed::default(),
        last_renewed: None,
        renewing: BTreeSet::new(),
        warned: false,
    };
    let (tx, rx) = watch::channel(renewer.round().await);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(RENEW_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        while !tx.is_closed() {
            tick.tick().await;
            let now = renewer.round().await;
            tx.send_if_modified(|p| {
                let changed = *p != now;
                if changed {
                    *p = now;
                }
                changed
            });
        }
    });
    rx
}

async fn renew(api: &Api<Lease>, me: &NodeName) -> kube::Result<()> {
    let name = lease_name(me);
    let body = json!({
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": name, "labels": {LEASE_LABEL: "true"}},
        "spec": {
            "holderIdentity": me.as_str(),
            "leaseDurationSeconds": FRESH_FOR.as_secs(),
            "renewTime": MicroTime(Timestamp::now()),
        }
    });
    let params = PatchParams::apply(FIELD_MANAGER).force();
    api.patch(&name, &params, &Patch::Apply(body)).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::coordination::v1::LeaseSpec;

    fn lease(node: &str, renewed_secs: i64) -> Lease {
        Lease {
            spec: Some(LeaseSpec {
                holder_identity: Some(node.to_owned()),
                renew_time: Some(MicroTime(
                    Timestamp::from_second(renewed_secs).expect("time"),
                )),
                ..LeaseSpec::default()
            }),
            ..Lease::default()
        }
    }

    fn names(set: &BTreeSet<NodeName>) -> Vec<&str> {
        set.iter().map(NodeName::as_str).collect()
    }

    #[test]
    fn a_lease_counts_while_its_renew_time_keeps_changing() {
        let mut observed = Observed::default();
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        assert_eq!(
            names(&observed.update(&[lease("a", 10), lease("b", 10)], at(0))),
            ["a", "b"]
        );
        // a keeps renewing, b stopped: b drops out once FRESH_FOR has passed since it changed.
        assert_eq!(
            names(&observed.update(&[lease("a", 12), lease("b", 10)], at(2))),
            ["a", "b"]
        );
        assert_eq!(
            names(&observed.update(&[lease("a", 14), lease("b", 10)], at(4))),
            ["a"]
        );
        // b renews again: back at once. A deleted Lease is forgotten.
        assert_eq!(
            names(&observed.update(&[lease("a", 15), lease("b", 11)], at(5))),
            ["a", "b"]
        );
        assert_eq!(names(&observed.update(&[lease("b", 12)], at(6))), ["b"]);
    }
}
