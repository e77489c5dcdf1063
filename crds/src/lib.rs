//! The ferrolb API (`ferrolb.io/v1alpha1`): CRD types, their schema validation and what the
//! fields mean (address ranges, selection, annotation names).
//!
//! This crate holds no I/O and no controller logic: it is shared by the controller, the speaker
//! and the tests, and the committed CRD YAML is generated from it.

pub mod address;
pub mod advertisement;
pub mod annotations;
pub mod conditions;
mod generate;
#[cfg(feature = "ops")]
pub mod ops;
pub mod pool;
pub mod selector;
pub mod service;
pub mod validation;
pub mod watch;

pub use address::{AddressError, AddressRange, IpFamily};
pub use advertisement::{
    AdvertisementError, L2Advertisement, L2AdvertisementSpec, L2AdvertisementStatus,
};
pub use generate::{all_crds, crds_yaml};
pub use pool::{IPAddressPool, IPAddressPoolSpec, IPAddressPoolStatus, ServiceAllocation};

/// The API group of every ferrolb kind.
pub const GROUP: &str = "ferrolb.io";
/// The API version served and stored.
pub const VERSION: &str = "v1alpha1";

#[cfg(test)]
mod tests;
