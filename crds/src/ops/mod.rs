//! What both binaries run next to their work, the same way: the operations endpoint
//! (`/metrics`, `/healthz`, `/readyz`) and logging. Built with the `ops` feature.

pub mod endpoint;
pub mod logging;
