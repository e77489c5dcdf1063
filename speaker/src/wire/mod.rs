//! Layer-2 frames the speaker reads and writes: ARP (IPv4) and NDP (IPv6).
//!
//! Sans-IO, in the smoltcp `wire` style: a frame is parsed from a byte slice into a small value
//! (`ArpFrame`, `NdpFrame`) that can be emitted back to bytes, and a responder turns a received
//! frame plus what this node announces on the receiving interface into a [`Decision`]. Every
//! frame that is not answered carries a typed [`DropReason`] whose label is a metric value.
//! Nothing here opens a socket or reads a clock.

pub mod arp;
pub mod arp_responder;
mod context;
mod drop_reason;
pub mod multicast;
pub mod ndp;
mod ndp_options;
pub mod ndp_responder;
pub mod probe;
#[cfg(test)]
mod proptests;
#[cfg(test)]
mod samples;

use std::net::IpAddr;

pub use context::{Announcements, Answerer, InterfaceContext};
pub use drop_reason::DropReason;
pub use pnet::util::MacAddr;

/// Another host on the link uses an address this node announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Conflict {
    /// The contested address.
    pub ip: IpAddr,
    /// The hardware address of the other host.
    pub mac: MacAddr,
}

/// What to do with one received frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision<R> {
    /// Send this frame back on the interface the request came from.
    Reply(R),
    /// Send nothing; another host claims an address this node announces here.
    Conflict(Conflict),
    /// Send nothing, for this reason.
    Drop(DropReason),
}

impl<R> Decision<R> {
    /// The metric label of this outcome: `reply`, `conflict`, or the drop reason's label.
    pub fn label(&self) -> &'static str {
        match self {
            Decision::Reply(_) => "reply",
            Decision::Conflict(_) => "conflict",
            Decision::Drop(reason) => reason.label(),
        }
    }
}
