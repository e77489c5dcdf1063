//! The packet edge: one AF_PACKET socket per interface and protocol, bound to the ARP ethertype
//! (IPv4) or to IPv6 with a classic BPF filter that keeps only neighbour solicitations and
//! advertisements, so the speaker never sees the host's other traffic.
//!
//! A blocking thread per socket reads frames, asks the pure responders in [`crate::wire`] what
//! to do, and answers; it shares the table of owned addresses with the async side.

mod filter;
mod link;
mod responder;
mod skip;
mod table;

pub use link::{Link, LinkError, LocalInterface, kernel_answers_arp, local_interfaces};
pub use responder::{LinkEvent, spawn_responders};
pub use skip::SkipReason;
pub use table::{SharedTable, Table};
