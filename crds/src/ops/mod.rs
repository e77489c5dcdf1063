//! What both binaries run next to their work, the same way: the operations endpoint
//! (`/metrics`, `/healthz`, `/readyz`), logging, and the metric label sets they share. Built with the `ops` feature.

pub mod access;
pub mod endpoint;
pub mod logging;
pub mod metrics;
pub mod tls;
