//! Label sets both binaries' metrics use.

use prometheus_client::encoding::EncodeLabelSet;

/// Labels of a counter or gauge split by a reason only (a condition reason, a drop reason, an
/// outcome).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    /// The reason.
    pub reason: String,
}
