//! The blocking threads that read one socket each and answer for owned addresses.

use std::io::ErrorKind;
use std::net::IpAddr;
use std::sync::Arc;

use prometheus_client::metrics::counter::Counter;
use tokio::sync::mpsc::UnboundedSender;

use super::link::{FrameReader, Link, Receivers};
use super::table::SharedTable;
use crate::metrics::{Metrics, Protocol, frame_labels};
use crate::wire::arp::{ArpFrame, ArpOperation};
use crate::wire::ndp::{NdpFrame, NdpRepr};
use crate::wire::probe::ProbeWatch;
use crate::wire::{Conflict, Decision, InterfaceContext, arp_responder, ndp_responder};

/// What a responder thread reports to the async side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkEvent {
    /// Another host claims an address this node announces or probes.
    Conflict {
        /// The interface it was seen on.
        interface: String,
        /// The address and the other host's MAC.
        conflict: Conflict,
    },
    /// A responder thread ended (the interface went away or its socket failed).
    Closed {
        /// The interface.
        interface: String,
    },
}

struct Responder {
    link: Arc<Link>,
    protocol: Protocol,
    table: SharedTable,
    metrics: Arc<Metrics>,
    /// This socket's request and reply counters, looked up once: a flood costs an atomic
    /// increment per frame, not a label allocation and two lookups.
    requests: Counter,
    replies: Counter,
    events: UnboundedSender<LinkEvent>,
}

/// Starts one thread per socket of `link`. They end when the link is stopped.
pub fn spawn_responders(
    link: Arc<Link>,
    receivers: Receivers,
    table: SharedTable,
    metrics: Arc<Metrics>,
    events: UnboundedSender<LinkEvent>,
) -> std::io::Result<()> {
    let mk = |protocol| {
        let labels = frame_labels(protocol, &link.name);
        Responder {
            link: link.clone(),
            protocol,
            table: table.clone(),
            requests: metrics.requests.get_or_create(&labels).clone(),
            replies: metrics.replies.get_or_create(&labels).clone(),
            metrics: metrics.clone(),
            events: events.clone(),
        }
    };
    let arp = mk(Protocol::Arp);
    std::thread::Builder::new()
        .name(format!("arp-{}", link.name))
        .spawn(move || arp.run(receivers.arp))?;
    if let Some(rx) = receivers.ndp {
        let ndp = mk(Protocol::Ndp);
        std::thread::Builder::new()
            .name(format!("ndp-{}", link.name))
            .spawn(move || ndp.run(rx))?;
    }
    Ok(())
}

impl Responder {
    fn run(self, mut rx: FrameReader) {
        // Bounded by the stop flag: every read returns within the read timeout.
        while !self.link.stopped() {
            match rx.next() {
                Ok(frame) => self.handle(frame),
                Err(e) if matches!(e.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    tracing::warn!(interface = %self.link.name, error = %e, "packet socket failed");
                    break;
                }
            }
        }
        let _ = self.events.send(LinkEvent::Closed {
            interface: self.link.name.to_string(),
        });
    }

    fn is_request(&self, frame: &[u8]) -> bool {
        match self.protocol {
            Protocol::Arp => {
                ArpFrame::parse(frame).is_ok_and(|f| f.arp.operation == ArpOperation::Request)
            }
            Protocol::Ndp => NdpFrame::parse(frame)
                .is_ok_and(|f| matches!(f.ndp, NdpRepr::NeighborSolicit { .. })),
        }
    }

    fn handle(&self, frame: &[u8]) {
        if self.is_request(frame) {
            self.requests.inc();
        }
        let Ok(table) = self.table.read() else {
            return;
        };
        let name = &*self.link.name;
        let announcements = |ip: IpAddr| table.answerer(ip, name);
        let ctx = InterfaceContext {
            mac: self.link.mac,
            announcements: &announcements,
        };
        for (ip, interface) in &table.probing {
            if **interface != *name {
                continue;
            }
            let watch = ProbeWatch {
                ip: *ip,
                mac: self.link.mac,
            };
            if let Some(conflict) = watch.observe(frame) {
                self.conflict_unless_peer(conflict, &table.peer_macs);
            }
        }
        let (label, sent) = match self.protocol {
            Protocol::Arp => match arp_responder::decide(frame, &ctx) {
                Decision::Reply(reply) => ("reply", self.link.send_arp(&reply.to_bytes())),
                Decision::Conflict(c) => {
                    self.conflict_unless_peer(c, &table.peer_macs);
                    ("conflict", false)
                }
                Decision::Drop(reason) => {
                    self.metrics.drop_frame(self.protocol, name, reason);
                    (reason.label(), false)
                }
            },
            Protocol::Ndp => match ndp_responder::decide(frame, &ctx) {
                Decision::Reply(reply) => ("reply", self.link.send_ndp(&reply.to_bytes())),
                Decision::Conflict(c) => {
                    self.conflict_unless_peer(c, &table.peer_macs);
                    ("conflict", false)
                }
                Decision::Drop(reason) => {
                    self.metrics.drop_frame(self.protocol, name, reason);
                    (reason.label(), false)
                }
            },
        };
        if sent {
            self.replies.inc();
        }
        tracing::trace!(interface = %name, outcome = label, "frame");
    }

    fn conflict_unless_peer(
        &self,
        conflict: Conflict,
        peers: &std::collections::BTreeSet<crate::wire::MacAddr>,
    ) {
        if !peers.contains(&conflict.mac) {
            self.conflict(conflict);
        }
    }

    fn conflict(&self, conflict: Conflict) {
        let _ = self.events.send(LinkEvent::Conflict {
            interface: self.link.name.to_string(),
            conflict,
        });
    }
}
