//! Membership: the pure parts of the speakers' SWIM group (foca over UDP).
//!
//! The envelope authenticates every datagram with the group's shared key, the identity lets a
//! restarted speaker rejoin at once, and the configuration is tuned for sub-second failure
//! detection. The socket and timer loop that drives foca lives at the edge.

pub mod config;
pub mod envelope;
mod identity;
pub mod quorum;
#[cfg(test)]
mod simulation;

pub use identity::SpeakerId;
