//! ferrolb-controller: assigns addresses from `IPAddressPool`s to Services of
//! `type: LoadBalancer` and writes them to the Service status.
//!
//! The allocator is pure (no I/O); the reconcile loop feeds it from watches and writes its
//! decisions back. This crate never touches the network data path. It also holds the
//! `kubectl ferrolb` plugin ([`plugin`]), which reads what the controller writes.

pub mod advertisement_status;
pub mod allocator;
pub mod config;
pub mod context;
pub mod leader;
pub mod metrics;
pub mod migrate;
pub mod object_status;
pub mod plugin;
pub mod pool_status;
pub mod pools;
pub mod reconcile;
pub mod run;
pub mod status;
pub mod trim;
