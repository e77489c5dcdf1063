//! This node's side of the plan: which addresses it announces, probing them first when they
//! are new, bursting gratuitous announcements on takeover, and handling conflicts as RFC 5227
//! section 2.4 says: a claim by another host found while probing gives the address up; one
//! found while announcing is defended once, and only a second within [`DEFEND_INTERVAL`] makes
//! this node withdraw.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc::UnboundedSender;

use super::links::Links;
use crate::announce::{self, Announcer, Job};
use crate::election::NodeName;
use crate::metrics::Metrics;
use crate::socket::{Link, SharedTable};
use crate::view::plan::Plan;
use crate::wire::multicast::solicited_node;
use crate::wire::{Conflict, MacAddr};

/// A second conflict within this time of the first is not defended: the address is
/// withdrawn (RFC 5227's DEFEND_INTERVAL).
pub const DEFEND_INTERVAL: Duration = Duration::from_secs(10);
/// A conflicting address is probed again after this long.
pub const CONFLICT_RETRY: Duration = Duration::from_secs(30);
/// A claim from an unknown MAC is confirmed as a conflict only if it is still unknown after
/// this long: a speaker that just joined may claim an address before its report (with its
/// MACs) arrives.
pub const CONFIRM_AFTER: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Probing,
    Announced,
    /// Found in use by another host, since [`Owned::since`].
    Conflict,
}

/// One owned address. A node may own thousands, so this is kept small.
#[derive(Debug)]
struct Owned {
    interface: Arc<str>,
    phase: Phase,
    /// The probe is over (it may still wait for a suspected conflict to be judged).
    probed: bool,
    /// The interval of periodic gratuitous announcements.
    every: Option<Duration>,
    /// When the last periodic announcement went out or, in conflict, since when.
    since: Instant,
    /// When another host last claimed it (and this node defended it).
    last_conflict: Option<Instant>,
    /// Keeps the solicited-node group joined while the address is announced (IPv6).
    _group: Option<std::net::UdpSocket>,
}

/// The addresses of one pass that start a probe or a burst, by link: the announcer gets one
/// job per link.
#[derive(Default)]
struct Batches(Vec<(Arc<Link>, Vec<IpAddr>)>);

impl Batches {
    fn push(&mut self, link: Arc<Link>, ip: IpAddr) {
        match self.0.iter_mut().find(|(l, _)| l.name == link.name) {
            Some((_, ips)) => ips.push(ip),
            None => self.0.push((link, vec![ip])),
        }
    }

    fn send(self, announcer: &Announcer, job: fn(Arc<Link>, Vec<IpAddr>) -> Job) {
        for (link, ips) in self.0 {
            announcer.send(job(link, ips));
        }
    }
}

/// The addresses this node owns and where each stands.
pub struct Addresses {
    me: NodeName,
    owned: BTreeMap<IpAddr, Owned>,
    conflicts: BTreeMap<IpAddr, (Conflict, String)>,
    defended: BTreeMap<IpAddr, (Conflict, String)>,
    suspected: BTreeMap<IpAddr, (Conflict, String, Instant)>,
    peer_macs: BTreeSet<MacAddr>,
    table: SharedTable,
    metrics: Arc<Metrics>,
    announcer: Announcer,
}

fn join_group(ip: Ipv6Addr, index: u32) -> std::io::Result<std::net::UdpSocket> {
    let socket = std::net::UdpSocket::bind((Ipv6Addr::UNSPECIFIED, 0))?;
    socket.join_multicast_v6(&solicited_node(ip), index)?;
    Ok(socket)
}

impl Addresses {
    /// Nothing owned yet.
    pub fn new(
        me: NodeName,
        table: SharedTable,
        metrics: Arc<Metrics>,
        probe_done: UnboundedSender<Vec<IpAddr>>,
    ) -> Self {
        let announcer = Announcer::start(table.clone(), metrics.clone(), probe_done);
        Addresses {
            me,
            owned: BTreeMap::new(),
            conflicts: BTreeMap::new(),
            defended: BTreeMap::new(),
            suspected: BTreeMap::new(),
            peer_macs: BTreeSet::new(),
            table,
            metrics,
            announcer,
        }
    }

    /// Addresses this node owns but found in use by another host, with the interface.
    pub fn conflicts(&self) -> &BTreeMap<IpAddr, (Conflict, String)> {
        &self.conflicts
    }

    /// Addresses this node announces and defended against another host's claim, with the
    /// last such claim and the interface.
    pub fn defended(&self) -> &BTreeMap<IpAddr, (Conflict, String)> {
        &self.defended
    }

    /// Tells the responders which MACs belong to other speakers.
    pub fn set_peer_macs(&mut self, macs: BTreeSet<MacAddr>) {
        if let Ok(mut t) = self.table.write()
            && t.peer_macs != macs
        {
            t.peer_macs = macs.clone();
        }
        self.peer_macs = macs;
    }

    /// Judges suspected conflicts: dismissed once the MAC turns out to be a speaker's,
    /// confirmed once it stayed unknown for [`CONFIRM_AFTER`].
    fn judge(&mut self, links: &Links) {
        let now = Instant::now();
        let suspected = std::mem::take(&mut self.suspected);
        let mut cleared = Vec::new();
        for (ip, (conflict, interface, since)) in suspected {
            if self.peer_macs.contains(&conflict.mac) || !self.owned.contains_key(&ip) {
                let probed = self
                    .owned
                    .get(&ip)
                    .is_some_and(|o| o.phase == Phase::Probing && o.probed);
                if probed {
                    cleared.push(ip);
                }
            } else if now - since >= CONFIRM_AFTER {
                self.confirm(interface, conflict, since, links);
            } else {
                self.suspected.insert(ip, (conflict, interface, since));
            }
        }
        self.probe_done(cleared, links);
    }

    /// Brings the owned addresses in line with `plan`. `fresh` says whether an address was
    /// never announced before (so it is probed first).
    pub fn apply(&mut self, plan: &Plan, links: &Links, fresh: impl Fn(IpAddr) -> bool) {
        // The plan is a sorted list: what this node should announce is read from it, not
        // copied out of it.
        let me = self.me.clone();
        let wanted = |a: &crate::view::plan::Assignment| {
            a.interface
                .as_ref()
                .filter(|i| a.owner.as_ref() == Some(&me) && links.get(i).is_some())
                .cloned()
        };
        let gone: Vec<IpAddr> = self
            .owned
            .iter()
            .filter(|(ip, o)| plan.get(ip).and_then(&wanted).as_ref() != Some(&o.interface))
            .map(|(ip, _)| *ip)
            .collect();
        for ip in gone {
            self.release(ip);
        }
        self.judge(links);
        let now = Instant::now();
        let expired: Vec<IpAddr> = self
            .owned
            .iter()
            .filter(|(_, o)| o.phase == Phase::Conflict && now - o.since >= CONFLICT_RETRY)
            .map(|(ip, _)| *ip)
            .collect();
        for ip in expired {
            self.owned.remove(&ip);
            self.conflicts.remove(&ip);
            self.defended.remove(&ip);
        }
        for (ip, o) in &mut self.owned {
            o.every = plan.get(ip).and_then(|a| a.gratuitous_interval);
        }
        let (mut probes, mut bursts) = (Batches::default(), Batches::default());
        for (ip, a) in plan.iter() {
            let ip = *ip;
            if self.owned.contains_key(&ip) {
                continue;
            }
            let Some(interface) = wanted(a) else {
                continue;
            };
            let Some(link) = links.get(&interface) else {
                continue;
            };
            let group = match ip {
                IpAddr::V6(v6) => match join_group(v6, link.index) {
                    Ok(s) => Some(s),
                    Err(e) => {
                        tracing::warn!(%ip, interface = %interface, error = %e, "joining the solicited-node group failed");
                        None
                    }
                },
                IpAddr::V4(_) => None,
            };
            let probe = fresh(ip);
            self.owned.insert(
                ip,
                Owned {
                    interface: interface.clone(),
                    phase: if probe {
                        Phase::Probing
                    } else {
                        Phase::Announced
                    },
                    probed: !probe,
                    every: a.gratuitous_interval,
                    since: Instant::now(),
                    last_conflict: None,
                    _group: group,
                },
            );
            if probe {
                tracing::info!(%ip, interface = %interface, "probing a new address before announcing it");
                probes.push(link, ip);
            } else {
                self.start_announcing(ip, link, &mut bursts);
            }
        }
        probes.send(&self.announcer, Job::Probe);
        bursts.send(&self.announcer, Job::Burst);
        self.metrics.owned_addresses.set(
            i64::try_from(
                self.owned
                    .values()
                    .filter(|o| o.phase == Phase::Announced)
                    .count(),
            )
            .unwrap_or(i64::MAX),
        );
    }

    fn start_announcing(&mut self, ip: IpAddr, link: Arc<Link>, bursts: &mut Batches) {
        tracing::info!(%ip, interface = %link.name, "announcing");
        if let Ok(mut t) = self.table.write() {
            t.owned.insert(ip, link.name.clone());
        }
        bursts.push(link, ip);
    }

    fn release(&mut self, ip: IpAddr) {
        if let Some(o) = self.owned.remove(&ip) {
            tracing::info!(%ip, interface = %o.interface, "no longer announcing");
        }
        self.conflicts.remove(&ip);
        self.defended.remove(&ip);
        self.suspected.remove(&ip);
        if let Ok(mut t) = self.table.write() {
            t.owned.remove(&ip);
            t.probing.remove(&ip);
        }
    }

    /// Probes ended: announce each address unless a conflict showed up meanwhile.
    pub fn probe_done(&mut self, ips: Vec<IpAddr>, links: &Links) {
        let mut bursts = Batches::default();
        for ip in ips {
            let Some(o) = self.owned.get_mut(&ip) else {
                continue;
            };
            if o.phase != Phase::Probing {
                continue;
            }
            o.probed = true;
            if self.suspected.contains_key(&ip) {
                continue;
            }
            o.phase = Phase::Announced;
            let interface = o.interface.clone();
            match links.get(&interface) {
                Some(link) => self.start_announcing(ip, link, &mut bursts),
                None => self.release(ip),
            }
        }
        bursts.send(&self.announcer, Job::Burst);
    }

    /// A host claims an owned address: unless it is a known speaker, suspect a conflict.
    pub fn conflict(&mut self, interface: String, conflict: Conflict) {
        if self.peer_macs.contains(&conflict.mac) || !self.owned.contains_key(&conflict.ip) {
            return;
        }
        self.suspected
            .entry(conflict.ip)
            .or_insert((conflict, interface, Instant::now()));
    }

    /// Another host claimed an owned address at `seen`. While probing, the address is given
    /// up. While announcing, the first claim is answered with one announcement and the
    /// address kept; a second within [`DEFEND_INTERVAL`] of the last makes this node stop
    /// announcing it. Both are reported.
    fn confirm(&mut self, interface: String, conflict: Conflict, seen: Instant, links: &Links) {
        let ip = conflict.ip;
        let Some(o) = self.owned.get_mut(&ip) else {
            return;
        };
        let defend = match o.phase {
            Phase::Conflict => return,
            Phase::Probing => false,
            Phase::Announced => o
                .last_conflict
                .is_none_or(|last| seen.saturating_duration_since(last) >= DEFEND_INTERVAL),
        };
        o.last_conflict = Some(seen);
        if defend {
            tracing::warn!(%ip, mac = %conflict.mac, interface = %interface, "address conflict: another host claims this address; defending it with one announcement");
            if let Some(link) = links.get(&o.interface) {
                announce::send_gratuitous(&link, ip, &self.metrics);
            }
            self.count_conflict("defended");
            self.defended.insert(ip, (conflict, interface));
            return;
        }
        tracing::warn!(%ip, mac = %conflict.mac, interface = %interface, "address conflict: another host uses this address; not announcing it");
        o.phase = Phase::Conflict;
        o.since = Instant::now();
        self.count_conflict("withdrawn");
        if let Ok(mut t) = self.table.write() {
            t.owned.remove(&ip);
        }
        self.defended.remove(&ip);
        self.conflicts.insert(ip, (conflict, interface));
    }

    fn count_conflict(&self, outcome: &str) {
        self.metrics
            .conflicts
            .get_or_create(&crate::metrics::OutcomeLabels {
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    /// Addresses this node owns and is still probing: their condition waits for the probe.
    pub fn probing(&self) -> BTreeSet<IpAddr> {
        self.owned
            .iter()
            .filter(|(_, o)| o.phase == Phase::Probing)
            .map(|(ip, _)| *ip)
            .collect()
    }

    /// Sends the periodic gratuitous announcements that are due (L2Advertisement
    /// `gratuitousInterval`).
    pub fn refresh(&mut self, links: &Links) {
        let now = Instant::now();
        for (ip, o) in &mut self.owned {
            let due = o.every.is_some_and(|every| now - o.since >= every);
            if o.phase == Phase::Announced && due {
                if let Some(link) = links.get(&o.interface) {
                    announce::send_gratuitous(&link, *ip, &self.metrics);
                }
                o.since = now;
            }
        }
    }

    /// Announces every address this node answers for again, as after a takeover: clients and
    /// switches that learnt another node's MAC for them while this speaker was declared down
    /// learn this node's again.
    pub fn reannounce(&mut self, links: &Links) {
        let mut bursts = Batches::default();
        for (ip, o) in &self.owned {
            if o.phase != Phase::Announced {
                continue;
            }
            if let Some(link) = links.get(&o.interface) {
                bursts.push(link, *ip);
            }
        }
        bursts.send(&self.announcer, Job::Burst);
    }

    /// Stops answering for everything.
    pub fn release_all(&mut self) {
        let all: Vec<IpAddr> = self.owned.keys().copied().collect();
        for ip in all {
            self.release(ip);
        }
    }
}
