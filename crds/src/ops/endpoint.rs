//! The operations endpoint: `/metrics` (OpenMetrics text), `/healthz` (the process serves) and
//! `/readyz` (the process has done what it must before it is ready). `/metrics` may be limited
//! to callers the API server authorizes ([`super::access`]); the probes never are.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::registry::Registry;

use super::access::{METRICS_PATH, Reviewer, Verdict};

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

/// Lets a request for `/metrics` through when there is no `reviewer`, or when its bearer token
/// is one the reviewer allows.
async fn guard(
    State(reviewer): State<Option<Arc<Reviewer>>>,
    req: Request,
    next: Next,
) -> Response {
    let Some(reviewer) = reviewer else {
        return next.run(req).await;
    };
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty());
    let unauthorized = |why: &str| {
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            format!("{why}\n"),
        )
            .into_response()
    };
    let Some(token) = token else {
        return unauthorized("a bearer token is required (Authorization: Bearer <token>)");
    };
    match reviewer.review(token).await {
        Ok(Verdict::Allowed) => next.run(req).await,
        Ok(Verdict::Unauthenticated(why)) => unauthorized(&why),
        Ok(Verdict::Forbidden(why)) => (StatusCode::FORBIDDEN, format!("{why}\n")).into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the API server could not review the token: {e}\n"),
        )
            .into_response(),
    }
}

/// Serves the endpoint on `addr` until the task is dropped. With a `reviewer`, `/metrics`
/// answers only callers it allows, and the endpoint speaks HTTPS (a self-signed certificate
/// made now) so that their tokens never cross the network in the clear.
pub async fn serve(
    addr: SocketAddr,
    health: Arc<Health>,
    reviewer: Option<Arc<Reviewer>>,
) -> std::io::Result<()> {
    let secure = reviewer.is_some();
    let app = Router::new()
        .route(
            METRICS_PATH,
            get(metrics).route_layer(middleware::from_fn_with_state(reviewer, guard)),
        )
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(health);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    if !secure {
        return axum::serve(listener, app).await;
    }
    let mut names = vec!["localhost".to_owned()];
    if !addr.ip().is_unspecified() {
        names.push(addr.ip().to_string());
    }
    let acceptor = super::tls::self_signed(names).map_err(std::io::Error::other)?;
    super::tls::serve(listener, app, acceptor).await
}
