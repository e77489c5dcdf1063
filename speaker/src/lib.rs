//! ferrolb-speaker: runs on every node, elects one owner per address among the live speakers
//! and answers ARP/NDP for the addresses this node owns (layer-2 mode).
//!
//! Frame handling and election are pure; sockets, timers and the Kubernetes API are the edges.
//! This crate never allocates addresses.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod announce;
pub mod config;
pub mod election;
pub mod heap;
pub mod membership;
pub mod metrics;
pub mod run;
pub mod socket;
pub mod status;
pub mod view;
pub mod wire;
