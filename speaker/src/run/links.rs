//! The interfaces this node announces on: packet sockets opened as interfaces come up and
//! closed as they go away.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc::UnboundedSender;
use tokio::sync::watch;

use crate::election::NodeName;
use crate::membership::group::PeerReport;
use crate::metrics::Metrics;
use crate::socket::{
    Link, LinkEvent, LocalInterface, SharedTable, SkipReason, kernel_answers_arp, local_interfaces,
    spawn_responders,
};
use crate::wire::MacAddr;

/// What one look at the node's interfaces found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scan {
    /// The interfaces that can announce.
    pub interfaces: Vec<LocalInterface>,
    /// Those left alone, with why.
    pub skipped: Vec<(String, SkipReason)>,
    /// The node's kernel answers ARP for Service addresses (IPVS without strictARP).
    pub kernel_answers_arp: bool,
}

impl Scan {
    /// Looks at the node's interfaces; `listed` are those L2Advertisements name. Blocking:
    /// listing interfaces costs a few system calls each, and on some kernels a node with
    /// hundreds of Pod interfaces takes a second.
    pub fn take(listed: &BTreeSet<String>) -> Scan {
        let (interfaces, skipped) = local_interfaces(listed);
        let kernel_answers_arp = kernel_answers_arp(interfaces.iter().map(|i| i.name.as_str()));
        Scan {
            interfaces,
            skipped,
            kernel_answers_arp,
        }
    }
}

/// Scans the interfaces now, then whenever the kernel reports a change of a link (up, down,
/// carrier) or an address, and at the latest every `every`. Each scan runs on a blocking
/// thread so that a slow one never holds up the event loop (failover, membership, metrics).
/// The receiver sees each scan that differs from the one before; it starts with the first.
pub async fn start_scanner(
    listed: watch::Receiver<BTreeSet<String>>,
    every: Duration,
) -> watch::Receiver<Scan> {
    let scan = |listed: &watch::Receiver<BTreeSet<String>>| {
        let listed = listed.borrow().clone();
        tokio::task::spawn_blocking(move || Scan::take(&listed))
    };
    let mut changes = match LinkChanges::subscribe() {
        Ok(c) => Some(c),
        Err(e) => {
            tracing::warn!(error = %e, "no link notifications from the kernel; scanning interfaces every {every:?} only");
            None
        }
    };
    let first = scan(&listed).await.unwrap_or_default();
    let (tx, rx) = watch::channel(first);
    tokio::spawn(async move {
        let mut listed = listed;
        let mut took = Duration::ZERO;
        while !tx.is_closed() {
            let next = tokio::time::sleep(every);
            tokio::select! {
                () = next => {}
                () = LinkChanges::next(changes.as_mut()) => {}
                Ok(()) = listed.changed() => {}
            }
            // Creating a Pod makes a burst of notifications: one scan after it settles. A slow
            // scan (hundreds of interfaces on a slow kernel) also waits as long as it took, so
            // scanning never takes more than half a core.
            tokio::time::sleep(SETTLE.max(took)).await;
            if let Some(c) = changes.as_mut() {
                c.drain();
            }
            let started = tokio::time::Instant::now();
            let Ok(now) = scan(&listed).await else {
                return;
            };
            took = started.elapsed();
            tx.send_if_modified(|last| {
                let changed = *last != now;
                if changed {
                    *last = now;
                }
                changed
            });
        }
    });
    rx
}

/// How long a scan waits after a notification for the burst it belongs to.
const SETTLE: Duration = Duration::from_millis(20);

/// Notifications of link and address changes (rtnetlink multicast groups).
struct LinkChanges {
    socket: netlink_sys::TokioSocket,
    buf: Vec<u8>,
}

impl LinkChanges {
    fn subscribe() -> std::io::Result<LinkChanges> {
        use netlink_sys::AsyncSocket;
        let mut socket = netlink_sys::TokioSocket::new(netlink_sys::protocols::NETLINK_ROUTE)?;
        let groups = libc::RTMGRP_LINK | libc::RTMGRP_IPV4_IFADDR | libc::RTMGRP_IPV6_IFADDR;
        let groups = u32::try_from(groups).unwrap_or(0);
        socket
            .socket_mut()
            .bind(&netlink_sys::SocketAddr::new(0, groups))?;
        Ok(LinkChanges {
            socket,
            buf: Vec::with_capacity(16 * 1024),
        })
    }

    /// Waits for the next notification (forever without a subscription). What it says is not
    /// read: any change leads to a whole scan.
    async fn next(changes: Option<&mut LinkChanges>) {
        use netlink_sys::AsyncSocketExt;
        let Some(c) = changes else {
            return std::future::pending().await;
        };
        c.buf.clear();
        // An overrun (ENOBUFS after a burst) also means "something changed".
        let _ = c.socket.recv(&mut c.buf).await;
    }

    /// Discards the notifications already queued: the scan that follows sees their effect.
    fn drain(&mut self) {
        use netlink_sys::AsyncSocket;
        loop {
            self.buf.clear();
            match self
                .socket
                .socket_ref()
                .recv(&mut self.buf, libc::MSG_DONTWAIT)
            {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    }
}

/// The open links, by interface name.
pub struct Links {
    links: BTreeMap<String, Arc<Link>>,
    interfaces: Vec<LocalInterface>,
    failed: BTreeSet<String>,
    /// Interfaces left alone (by the rule in `socket::skip`, or for lack of carrier), to log
    /// each once.
    skipped: BTreeSet<String>,
    /// The node's kernel answers ARP for Service addresses (IPVS without strictARP).
    kernel_answers_arp: bool,
    table: SharedTable,
    metrics: Arc<Metrics>,
    events: UnboundedSender<LinkEvent>,
}

impl Links {
    /// No links yet; call [`Links::rescan`].
    pub fn new(
        table: SharedTable,
        metrics: Arc<Metrics>,
        events: UnboundedSender<LinkEvent>,
    ) -> Self {
        Links {
            links: BTreeMap::new(),
            interfaces: Vec::new(),
            failed: BTreeSet::new(),
            skipped: BTreeSet::new(),
            kernel_answers_arp: false,
            table,
            metrics,
            events,
        }
    }

    /// Brings the open links in line with `scan`: opens sockets on new interfaces (and on
    /// ones whose responder ended), closes those of vanished ones; true if the set of
    /// interfaces or their networks (or what the report says) changed.
    pub fn apply(&mut self, scan: &Scan) -> bool {
        let Scan {
            interfaces: now,
            skipped,
            kernel_answers_arp: answers,
        } = scan;
        let answers = *answers;
        let skipped_now: BTreeSet<String> = skipped.iter().map(|(n, _)| n.clone()).collect();
        for (name, reason) in skipped {
            if !self.skipped.contains(name) {
                // One line per Pod veth would drown the log; a bridge or bond member is a
                // choice of the node's own configuration, worth an operator's eye.
                match reason {
                    SkipReason::Virtual(_) => {
                        tracing::debug!(interface = %name, reason = %reason, "not answering ARP/NDP on interface")
                    }
                    SkipReason::Member(_) | SkipReason::NoCarrier => {
                        tracing::info!(interface = %name, reason = %reason, "not answering ARP/NDP on interface")
                    }
                }
            }
        }
        self.skipped = skipped_now;
        let mut counts: BTreeMap<&str, i64> = ["virtual", "member", "no-carrier"]
            .into_iter()
            .map(|r| (r, 0))
            .collect();
        for (_, reason) in skipped {
            *counts.entry(reason.label()).or_default() += 1;
        }
        for (reason, n) in counts {
            self.set_interfaces(reason, n);
        }
        for iface in now {
            let current = self.links.get(&iface.name);
            if let Some(link) = current.filter(|l| l.mac == iface.mac) {
                link.set_nets(&iface.nets);
                continue;
            }
            if let Some(old) = self.links.remove(&iface.name) {
                old.stop();
            }
            match Link::open(iface) {
                Ok((link, receivers)) => {
                    let link = Arc::new(link);
                    let spawned = spawn_responders(
                        link.clone(),
                        receivers,
                        self.table.clone(),
                        self.metrics.clone(),
                        self.events.clone(),
                    );
                    match spawned {
                        Ok(()) => {
                            tracing::info!(interface = %iface.name, mac = %iface.mac, "answering ARP/NDP on interface");
                            self.failed.remove(&iface.name);
                            self.links.insert(iface.name.clone(), link);
                        }
                        Err(e) => {
                            link.stop();
                            tracing::warn!(interface = %iface.name, error = %e, "starting the responder failed");
                        }
                    }
                }
                Err(e) => {
                    if self.failed.insert(iface.name.clone()) {
                        tracing::warn!(interface = %iface.name, error = %e, "interface not usable");
                    }
                }
            }
        }
        let names: BTreeSet<&String> = now.iter().map(|i| &i.name).collect();
        self.links.retain(|name, link| {
            let keep = names.contains(name);
            if !keep {
                link.stop();
                tracing::info!(interface = %name, "interface gone");
            }
            keep
        });
        self.set_interfaces(
            "answering",
            i64::try_from(self.links.len()).unwrap_or(i64::MAX),
        );
        if answers && !self.kernel_answers_arp {
            tracing::warn!(
                "this node's kernel answers ARP for Service addresses itself: kube-proxy runs in IPVS mode without strictARP (kube-ipvs0 exists and arp_ignore is 0); set strictARP: true in kube-proxy's configuration"
            );
        }
        let changed = *now != self.interfaces || answers != self.kernel_answers_arp;
        self.kernel_answers_arp = answers;
        if changed {
            self.interfaces.clone_from(now);
        }
        changed
    }

    fn set_interfaces(&self, reason: &str, n: i64) {
        self.metrics
            .interfaces
            .get_or_create(&crate::metrics::ReasonLabels {
                reason: reason.to_owned(),
            })
            .set(n);
    }

    /// Forgets a link whose responder ended; the next rescan reopens it if it is still up.
    pub fn closed(&mut self, name: &str) {
        if let Some(link) = self.links.remove(name) {
            link.stop();
        }
    }

    /// The open link of an interface.
    pub fn get(&self, name: &str) -> Option<Arc<Link>> {
        self.links.get(name).cloned()
    }

    /// The hardware address of each interface with an open socket.
    pub fn macs(&self) -> BTreeMap<String, MacAddr> {
        self.links
            .iter()
            .map(|(name, link)| (name.clone(), link.mac))
            .collect()
    }

    /// What this node tells its peers: the interfaces with open sockets.
    pub fn report(&self, node: &NodeName) -> PeerReport {
        let open: Vec<&LocalInterface> = self
            .interfaces
            .iter()
            .filter(|i| self.links.contains_key(&i.name))
            .collect();
        PeerReport {
            node: node.clone(),
            interfaces: open
                .iter()
                .map(|i| (i.name.as_str().into(), i.nets.clone()))
                .collect(),
            macs: open.iter().map(|i| i.mac).collect(),
            kernel_answers_arp: self.kernel_answers_arp,
        }
    }

    /// Stops every responder thread.
    pub fn stop_all(&mut self) {
        for link in self.links.values() {
            link.stop();
        }
        self.links.clear();
    }
}
