//! Membership: the speakers' SWIM group (foca over UDP).
//!
//! The envelope authenticates every datagram with the group's shared key, the identity lets a
//! restarted speaker rejoin at once, and the configuration is tuned for sub-second failure
//! detection. [`group`] is the edge: the socket and timer loop that drives foca.

pub mod config;
pub mod envelope;
pub mod group;
mod identity;
pub mod quorum;
#[cfg(test)]
mod simulation;

pub use identity::SpeakerId;
