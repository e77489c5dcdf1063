//! The operations endpoint: `/metrics` (OpenMetrics text), `/healthz` (the process serves) and
//! `/readyz` (the process has done what it must before it is ready).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::registry::Registry;

/// What the endpoint serves.
#[derive(Debug)]
pub struct Health {
    /// The metrics registry.
    pub registry: Registry,
    ready: AtomicBool,
    /// What `/readyz` answers until the process is ready.
    not_ready: &'static str,
}

impl Health {
    /// Not ready yet; `/readyz` answers `not_ready` (one line saying what is missing) until
    /// `Health::set_ready(true)`.
    pub fn new(registry: Registry, not_ready: &'static str) -> Self {
        Self {
            registry,
            ready: AtomicBool::new(false),
            not_ready,
        }
    }

    /// Marks the process ready, or not ready any more (while it stops).
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Release);
    }

    /// Whether the process is ready.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }
}

async fn metrics(State(h): State<Arc<Health>>) -> impl IntoResponse {
    let mut body = String::new();
    match prometheus_client::encoding::text::encode(&mut body, &h.registry) {
        Ok(()) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            body,
        )
            .into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

async fn readyz(State(h): State<Arc<Health>>) -> impl IntoResponse {
    if h.is_ready() {
        (StatusCode::OK, "ok\n".to_owned())
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{}\n", h.not_ready),
        )
    }
}

/// Serves the endpoint on `addr` until the task is dropped.
pub async fn serve(addr: SocketAddr, health: Arc<Health>) -> std::io::Result<()> {
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(health);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    axum::serve(listener, app).await
}
