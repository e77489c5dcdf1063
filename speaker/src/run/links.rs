//! The interfaces this node announces on: packet sockets opened as interfaces come up and
//! closed as they go away.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use tokio::sync::mpsc::UnboundedSender;

use crate::election::NodeName;
use crate::metrics::Metrics;
use crate::socket::{
    Link, LinkEvent, LocalInterface, SharedTable, SkipReason, local_interfaces, spawn_responders,
};
use crate::swim::PeerReport;

/// The open links, by interface name.
pub struct Links {
    links: BTreeMap<String, Arc<Link>>,
    interfaces: Vec<LocalInterface>,
    failed: BTreeSet<String>,
    /// Interfaces left alone by the rule in `socket::skip`, to log each once.
    skipped: BTreeSet<String>,
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
            table,
            metrics,
            events,
        }
    }

    /// Opens sockets on new interfaces and closes those of vanished ones; true if the set of
    /// interfaces or their networks changed.
    pub fn rescan(&mut self) -> bool {
        let (now, skipped) = local_interfaces();
        let skipped_now: BTreeSet<String> = skipped.iter().map(|(n, _)| n.clone()).collect();
        for (name, reason) in &skipped {
            if !self.skipped.contains(name) {
                // One line per Pod veth would drown the log; a bridge or bond member is a
                // choice of the node's own configuration, worth an operator's eye.
                match reason {
                    SkipReason::Virtual(_) => {
                        tracing::debug!(interface = %name, reason = %reason, "not answering ARP/NDP on interface")
                    }
                    SkipReason::Member(_) => {
                        tracing::info!(interface = %name, reason = %reason, "not answering ARP/NDP on interface")
                    }
                }
            }
        }
        self.skipped = skipped_now;
        for iface in &now {
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
        let changed = now != self.interfaces;
        self.interfaces = now;
        changed
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
            macs: open.iter().map(|i| i.mac.to_string()).collect(),
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
