//! The membership group at the edge: foca driven over a UDP socket, with every datagram sealed
//! by the group's key.
//!
//! Besides SWIM itself, each speaker periodically sends its members a small [`PeerReport`]
//! (its interfaces and their networks and MACs, authenticated like SWIM): every speaker then
//! knows which nodes have a usable interface for an address, so all compute the same election,
//! and it can tell a frame sent by another speaker from one sent by a foreign host.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::num::{NonZeroU32, NonZeroUsize};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use foca::{AccumulatingRuntime, Foca, NoCustomBroadcast, OwnedNotification, PostcardCodec, Timer};
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot, watch};

use crate::election::NodeName;
use crate::membership::SpeakerId;
use crate::membership::config::swim_config;
use crate::membership::envelope::{KeyRing, MAX_DATAGRAM_LEN, MAX_PAYLOAD_LEN};
use crate::metrics::{KeyLabels, KeyRole, Metrics, ReasonLabels};
use crate::wire::MacAddr;

/// First payload byte of a SWIM datagram.
const KIND_SWIM: u8 = 0;
/// First payload byte of a [`PeerReport`] datagram (postcard, as foca's own messages).
const KIND_REPORT: u8 = 2;
/// First payload byte of a report in JSON, as speakers of earlier releases send it; still read,
/// so that a rolling upgrade keeps the older speakers' interfaces known.
const KIND_REPORT_JSON: u8 = 1;
/// How often a speaker re-announces itself to its seeds while alone, and sends its report.
const REPORT_PERIOD: Duration = Duration::from_millis(500);

type Swim = Foca<SpeakerId, PostcardCodec, StdRng, NoCustomBroadcast>;

/// What a speaker tells its peers about its node's interfaces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerReport {
    /// The node.
    pub node: NodeName,
    /// Interfaces that are up, by name, with their networks (`192.168.100.11/24`).
    pub interfaces: BTreeMap<Arc<str>, Vec<ipnet::IpNet>>,
    /// The hardware addresses of those interfaces.
    pub macs: BTreeSet<MacAddr>,
    /// The node's kernel answers ARP for Service addresses itself (kube-proxy in IPVS mode
    /// without `strictARP`).
    #[serde(default)]
    pub kernel_answers_arp: bool,
}

impl PeerReport {
    /// The report as sent: postcard, the encoding of the SWIM messages themselves.
    pub fn encode(&self) -> Result<Vec<u8>, postcard::Error> {
        postcard::to_stdvec(self)
    }

    /// A received report; `kind` is the payload's first byte (2: postcard, 1: the JSON of
    /// earlier releases).
    pub fn decode(kind: u8, data: &[u8]) -> Option<Self> {
        match kind {
            KIND_REPORT => postcard::from_bytes(data).ok(),
            _ => serde_json::from_slice(data).ok(),
        }
    }
}

/// The group as this speaker sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupView {
    /// Other speakers alive in the group.
    pub members: BTreeSet<NodeName>,
    /// This speaker has been accepted into the group at least once since it started.
    pub joined: bool,
    /// The last report of each member.
    pub reports: BTreeMap<NodeName, PeerReport>,
    /// How often the group declared this speaker down and it rejoined (after its process was
    /// paused, or starved of CPU): meanwhile another speaker may have announced its addresses.
    pub rejoins: u64,
}

/// Why the membership socket could not start.
#[derive(Debug, thiserror::Error)]
pub enum SwimError {
    /// Binding the UDP socket failed.
    #[error("binding the membership socket on {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// A handle on the running membership task.
#[derive(Debug, Clone)]
pub struct Group {
    view: watch::Receiver<GroupView>,
    leave: mpsc::Sender<oneshot::Sender<()>>,
}

impl Group {
    /// The current view; `changed()` on the receiver wakes on every change.
    pub fn view(&self) -> watch::Receiver<GroupView> {
        self.view.clone()
    }

    /// Leaves the group: peers are told this speaker is down. Returns once the news is sent.
    pub async fn leave(&self) {
        let (tx, rx) = oneshot::channel();
        if self.leave.send(tx).await.is_ok() {
            let _ = tokio::time::timeout(Duration::from_millis(200), rx).await;
        }
    }
}

/// Where to find the other speakers and what to tell them.
#[derive(Debug)]
pub struct SwimSetup {
    /// This speaker's node.
    pub node: NodeName,
    /// The address to bind (the node's InternalIP and the membership port).
    pub bind: SocketAddr,
    /// The group's keys, kept current from the key file.
    pub keys: watch::Receiver<KeyRing>,
    /// The other nodes and their membership addresses, kept current from Node objects.
    pub seeds: watch::Receiver<BTreeMap<NodeName, SocketAddr>>,
    /// This node's report, kept current from its interfaces.
    pub report: watch::Receiver<PeerReport>,
}

/// Binds the socket and starts the membership task.
pub async fn start(setup: SwimSetup, metrics: Arc<Metrics>) -> Result<Group, SwimError> {
    let socket = UdpSocket::bind(setup.bind)
        .await
        .map_err(|source| SwimError::Bind {
            addr: setup.bind,
            source,
        })?;
    let generation = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let identity = SpeakerId::new(setup.node.clone(), setup.bind, generation);
    let size = NonZeroU32::new(u32::try_from(setup.seeds.borrow().len() + 1).unwrap_or(u32::MAX))
        .unwrap_or(NonZeroU32::MIN);
    let mut config = swim_config(size);
    // One payload byte says whether a datagram is SWIM or a report.
    config.max_packet_size =
        NonZeroUsize::new(MAX_PAYLOAD_LEN - 1).unwrap_or(config.max_packet_size);
    let rng = StdRng::seed_from_u64(generation ^ u64::from(std::process::id()));
    let swim = Foca::new(identity, config, rng, PostcardCodec);
    let (view_tx, view_rx) = watch::channel(GroupView::default());
    let (leave_tx, leave_rx) = mpsc::channel(1);
    let driver = Driver {
        swim,
        runtime: AccumulatingRuntime::new(),
        socket,
        keys: setup.keys,
        seeds: setup.seeds,
        report: setup.report,
        view: view_tx,
        state: GroupView::default(),
        metrics,
        left: false,
        report_due: false,
    };
    tokio::spawn(driver.run(leave_rx));
    Ok(Group {
        view: view_rx,
        leave: leave_tx,
    })
}

struct Driver {
    swim: Swim,
    runtime: AccumulatingRuntime<SpeakerId>,
    socket: UdpSocket,
    keys: watch::Receiver<KeyRing>,
    seeds: watch::Receiver<BTreeMap<NodeName, SocketAddr>>,
    report: watch::Receiver<PeerReport>,
    view: watch::Sender<GroupView>,
    state: GroupView,
    metrics: Arc<Metrics>,
    left: bool,
    /// A member came up: send it this node's report now rather than at the next tick.
    report_due: bool,
}

impl Driver {
    async fn run(mut self, mut leave: mpsc::Receiver<oneshot::Sender<()>>) {
        let (timer_tx, mut timers) = mpsc::unbounded_channel::<Timer<SpeakerId>>();
        let mut tick = tokio::time::interval(REPORT_PERIOD);
        let mut buf = vec![0u8; MAX_DATAGRAM_LEN + 1];
        self.announce_to_seeds();
        loop {
            tokio::select! {
                received = self.socket.recv_from(&mut buf) => match received {
                    Ok((len, from)) => self.receive(&buf[..len], from),
                    Err(e) => tracing::debug!(error = %e, "membership socket receive failed"),
                },
                Some(timer) = timers.recv() => {
                    if !self.left {
                        let _ = self.swim.handle_timer(timer, &mut self.runtime);
                    }
                }
                // A changed report (an interface lost its carrier) goes out at once: peers
                // take over its addresses on it.
                Ok(()) = self.report.changed() => {
                    // Seen now; `send_report` reads the latest.
                    self.report.mark_unchanged();
                    self.report_due = !self.left;
                }
                _ = tick.tick() => {
                    if !self.left {
                        if self.swim.num_members() == 0 {
                            self.announce_to_seeds();
                        }
                        self.send_report().await;
                    }
                }
                reply = leave.recv() => {
                    let Some(reply) = reply else { return };
                    if !self.left {
                        self.left = true;
                        let _ = self.swim.leave_cluster(&mut self.runtime);
                        self.flush(&timer_tx).await;
                    }
                    let _ = reply.send(());
                    continue;
                }
            }
            self.flush(&timer_tx).await;
            if std::mem::take(&mut self.report_due) {
                self.send_report().await;
            }
        }
    }

    fn announce_to_seeds(&mut self) {
        let seeds: Vec<(NodeName, SocketAddr)> = self
            .seeds
            .borrow()
            .iter()
            .map(|(n, a)| (n.clone(), *a))
            .collect();
        for (node, addr) in seeds {
            if node != self.swim.identity().node {
                // The generation is unknown; SWIM accepts an announce for any identity of
                // the receiver's node.
                let _ = self
                    .swim
                    .announce(SpeakerId::new(node, addr, 0), &mut self.runtime);
            }
        }
    }

    fn receive(&mut self, datagram: &[u8], from: SocketAddr) {
        let opened = self.keys.borrow().open(datagram);
        let payload = match opened {
            Ok((payload, signing)) => {
                let role = if signing {
                    KeyRole::Signing
                } else {
                    KeyRole::Other
                };
                self.metrics
                    .membership_datagrams
                    .get_or_create(&KeyLabels { key: role })
                    .inc();
                payload
            }
            Err(e) => {
                self.bad(e.label());
                tracing::debug!(%from, error = %e, "membership datagram refused");
                return;
            }
        };
        match payload.split_first() {
            Some((&KIND_SWIM, data)) if !self.left => {
                if let Err(e) = self.swim.handle_data(data, &mut self.runtime) {
                    tracing::trace!(%from, error = %e, "SWIM ignored a datagram");
                }
            }
            Some((&kind @ (KIND_REPORT | KIND_REPORT_JSON), data)) => {
                match PeerReport::decode(kind, data) {
                    // A report speaks only for the node it is sent from, as the Node objects
                    // give each node's address: one member cannot speak for another.
                    Some(report) if self.seeds.borrow().get(&report.node) == Some(&from) => {
                        self.state.reports.insert(report.node.clone(), report);
                    }
                    Some(report) => {
                        self.bad("report_for_other_node");
                        tracing::debug!(%from, node = %report.node, "report refused: not sent from that node's address");
                    }
                    None => self.bad("malformed_report"),
                }
            }
            Some((&KIND_SWIM, _)) => {}
            _ => self.bad("unknown_kind"),
        }
    }

    fn bad(&self, reason: &str) {
        self.metrics
            .bad_membership_messages
            .get_or_create(&ReasonLabels {
                reason: reason.to_owned(),
            })
            .inc();
    }

    async fn send_report(&mut self) {
        let Ok(body) = self.report.borrow().encode() else {
            return;
        };
        let mut payload = Vec::with_capacity(body.len() + 1);
        payload.push(KIND_REPORT);
        payload.extend_from_slice(&body);
        let Ok(datagram) = self.keys.borrow().seal(&payload) else {
            tracing::warn!(len = payload.len(), "interface report too large to send");
            return;
        };
        let targets: Vec<SocketAddr> = self.swim.iter_members().map(|m| m.id().addr).collect();
        for addr in targets {
            let _ = self.socket.send_to(&datagram, addr).await;
        }
    }

    async fn flush(&mut self, timers: &mpsc::UnboundedSender<Timer<SpeakerId>>) {
        while let Some((to, data)) = self.runtime.to_send() {
            let mut payload = Vec::with_capacity(data.len() + 1);
            payload.push(KIND_SWIM);
            payload.extend_from_slice(&data);
            let sealed = self.keys.borrow().seal(&payload);
            match sealed {
                Ok(datagram) => {
                    let _ = self.socket.send_to(&datagram, to.addr).await;
                }
                Err(e) => tracing::warn!(to = %to.node, error = %e, "membership datagram not sent"),
            }
        }
        while let Some((after, timer)) = self.runtime.to_schedule() {
            let tx = timers.clone();
            tokio::spawn(async move {
                tokio::time::sleep(after).await;
                let _ = tx.send(timer);
            });
        }
        while let Some(notification) = self.runtime.to_notify() {
            match notification {
                OwnedNotification::Active => {
                    if !self.state.joined {
                        tracing::info!("joined the membership group");
                    }
                    self.state.joined = true;
                }
                OwnedNotification::MemberUp(id) => {
                    tracing::info!(node = %id.node, "speaker up");
                    self.report_due = true;
                }
                OwnedNotification::MemberDown(id) => {
                    tracing::info!(node = %id.node, "speaker down");
                }
                OwnedNotification::Rejoin(id) => {
                    tracing::warn!(
                        generation = id.generation,
                        "declared down by the group; rejoined"
                    );
                    self.state.rejoins += 1;
                }
                _ => {}
            }
        }
        let members: BTreeSet<NodeName> = self
            .swim
            .iter_members()
            .map(|m| m.id().node.clone())
            .collect();
        self.state.reports.retain(|node, _| members.contains(node));
        self.state.members = members;
        self.metrics
            .members_alive
            .set(i64::try_from(self.state.members.len() + 1).unwrap_or(i64::MAX));
        let state = &self.state;
        self.view.send_if_modified(|v| {
            if v == state {
                false
            } else {
                *v = state.clone();
                true
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> PeerReport {
        PeerReport {
            node: NodeName::from("node1".to_owned()),
            interfaces: BTreeMap::from([(
                Arc::from("eth0"),
                vec![
                    "192.168.100.11/24".parse().unwrap(),
                    "fd00::11/64".parse().unwrap(),
                ],
            )]),
            macs: BTreeSet::from([MacAddr::new(2, 0, 0, 0, 0, 0x11)]),
            kernel_answers_arp: true,
        }
    }

    #[test]
    fn a_report_round_trips_in_postcard_and_is_smaller_than_json() {
        let r = report();
        let bytes = r.encode().expect("encodes");
        assert_eq!(PeerReport::decode(KIND_REPORT, &bytes), Some(r.clone()));
        let json = serde_json::to_vec(&r).expect("json");
        assert!(
            bytes.len() * 2 < json.len(),
            "{} vs {}",
            bytes.len(),
            json.len()
        );
        // Cut short it is refused, never half read.
        assert_eq!(
            PeerReport::decode(KIND_REPORT, &bytes[..bytes.len() - 1]),
            None
        );
    }

    #[test]
    fn a_json_report_of_an_earlier_release_is_still_read() {
        let legacy = br#"{"node":"node1","interfaces":{"eth0":["192.168.100.11/24","fd00::11/64"]},"macs":["02:00:00:00:00:11"]}"#;
        let got = PeerReport::decode(KIND_REPORT_JSON, legacy).expect("reads");
        assert_eq!(got.macs, report().macs);
        assert_eq!(got.interfaces, report().interfaces);
        assert!(!got.kernel_answers_arp);
    }
}
