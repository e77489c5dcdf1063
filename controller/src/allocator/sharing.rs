//! Address sharing (MetalLB semantics): Services with the same sharing key may hold one address
//! when no port/protocol pair is used twice and their traffic policies agree (for
//! `externalTrafficPolicy: Local`, equal pod selectors, so every Service on the address has its
//! endpoints on the same nodes and one announcing node serves them all).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use super::claim::{Backend, Port, ServiceClaim, ServiceKey};

/// Why a Service cannot join the Services already holding an address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SharingConflict {
    /// The holders or the newcomer have no sharing key.
    NotShared,
    /// Different sharing keys.
    KeyMismatch {
        /// The holders' key.
        theirs: String,
        /// The newcomer's key.
        ours: String,
    },
    /// Different traffic policies or, for `Local`, different pod selectors.
    BackendMismatch,
    /// A port/protocol pair is already used on the address.
    PortInUse {
        /// The port.
        port: Port,
        /// The Service using it.
        holder: ServiceKey,
    },
}

impl fmt::Display for SharingConflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SharingConflict::NotShared => f.write_str(
                "it is held without a sharing key (set the same ferrolb.io/allow-shared-ip on \
                 every Service that shares it)",
            ),
            SharingConflict::KeyMismatch { theirs, ours } => {
                write!(
                    f,
                    "its holders use sharing key {theirs:?}, this Service {ours:?}"
                )
            }
            SharingConflict::BackendMismatch => f.write_str(
                "externalTrafficPolicy differs, or is Local with a different pod selector",
            ),
            SharingConflict::PortInUse { port, holder } => {
                write!(f, "port {port} is already used on it by {holder}")
            }
        }
    }
}

/// The Services holding one address; all share one key and backend.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct AddressUse {
    pub sharing_key: Option<String>,
    pub backend: Backend,
    pub users: BTreeMap<ServiceKey, BTreeSet<Port>>,
}

impl AddressUse {
    /// A use by one Service.
    pub fn new(claim: &ServiceClaim) -> Self {
        let mut users = BTreeMap::new();
        users.insert(claim.key.clone(), claim.ports.clone());
        Self {
            sharing_key: claim.request.sharing_key.clone(),
            backend: claim.backend.clone(),
            users,
        }
    }

    /// Holders other than `me`.
    pub fn others<'a>(&'a self, me: &'a ServiceKey) -> impl Iterator<Item = &'a ServiceKey> {
        self.users.keys().filter(move |k| *k != me)
    }

    /// Whether only `me` (or nobody) holds the address.
    pub fn free_for(&self, me: &ServiceKey) -> bool {
        self.others(me).next().is_none()
    }

    /// Why `claim` may not hold the address alongside its other holders, if it may not.
    pub fn conflict(&self, claim: &ServiceClaim) -> Option<SharingConflict> {
        if self.free_for(&claim.key) {
            return None;
        }
        let (Some(theirs), Some(ours)) = (&self.sharing_key, &claim.request.sharing_key) else {
            return Some(SharingConflict::NotShared);
        };
        if theirs != ours {
            return Some(SharingConflict::KeyMismatch {
                theirs: theirs.clone(),
                ours: ours.clone(),
            });
        }
        if self.backend != claim.backend {
            return Some(SharingConflict::BackendMismatch);
        }
        for (holder, ports) in self.users.iter().filter(|(k, _)| **k != claim.key) {
            if let Some(port) = ports.intersection(&claim.ports).next() {
                return Some(SharingConflict::PortInUse {
                    port: *port,
                    holder: holder.clone(),
                });
            }
        }
        None
    }

    /// Add (or update) `claim` as a holder; the caller checked [`Self::conflict`].
    pub fn join(&mut self, claim: &ServiceClaim) {
        if self.free_for(&claim.key) {
            self.sharing_key = claim.request.sharing_key.clone();
            self.backend = claim.backend.clone();
        }
        self.users.insert(claim.key.clone(), claim.ports.clone());
    }
}
