//! What the cluster asks the speakers to announce: Services, EndpointSlices, Nodes,
//! IPAddressPools and L2Advertisements from the API server ([`store`]), turned into one
//! election per address ([`plan`]). The plan is pure and every speaker computes the same one.

pub mod advertisements;
pub mod objects;
pub mod plan;
pub mod pools;
pub mod service;
pub mod store;
#[cfg(test)]
mod tests;
pub mod trim;
