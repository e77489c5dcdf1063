//! Who may read `/metrics`: with `--metrics-auth=kubernetes`, only a caller whose bearer token
//! the API server authenticates (a TokenReview) and whose identity may `get` the non-resource
//! URL `/metrics` (a SubjectAccessReview), as Kubernetes' own components and
//! controller-runtime's secure metrics decide it. Health probes stay open.
//!
//! Verdicts are remembered for [`REMEMBER_FOR`] by the token's SHA-256, so a scrape every few
//! seconds costs the API server two reviews per interval, not per scrape.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec};
use k8s_openapi::api::authorization::v1::{
    NonResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use kube::api::PostParams;
use kube::{Api, Client};
use sha2::{Digest, Sha256};

/// How long a verdict on a token is remembered.
pub const REMEMBER_FOR: Duration = Duration::from_secs(10);
/// Verdicts remembered at most (each is a digest and a few words).
const REMEMBERED_MAX: usize = 256;
/// The path callers must be allowed to `get`.
pub const METRICS_PATH: &str = "/metrics";

/// Who may read `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum MetricsAuth {
    /// Anyone who reaches the address (bind it to an address only trusted callers reach).
    #[default]
    None,
    /// Callers with a bearer token the API server authenticates and authorizes for
    /// `get /metrics`, over HTTPS.
    Kubernetes,
}

impl MetricsAuth {
    /// The reviewer this setting asks for: none for [`MetricsAuth::None`].
    pub fn reviewer(self, client: &Client) -> Option<std::sync::Arc<Reviewer>> {
        match self {
            MetricsAuth::None => None,
            MetricsAuth::Kubernetes => Some(std::sync::Arc::new(Reviewer::new(client.clone()))),
        }
    }
}

/// What the reviews decided about a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// May read the metrics.
    Allowed,
    /// The token is not valid (HTTP 401).
    Unauthenticated(String),
    /// The token is valid, but its user may not read the metrics (HTTP 403).
    Forbidden(String),
}

/// Reviews callers' tokens with the API server and remembers the verdicts for a while.
pub struct Reviewer {
    client: Client,
    remembered: Mutex<HashMap<[u8; 32], (Verdict, Instant)>>,
}

impl std::fmt::Debug for Reviewer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reviewer").finish_non_exhaustive()
    }
}

impl Reviewer {
    /// A reviewer asking the API server `client` talks to.
    pub fn new(client: Client) -> Self {
        Self {
            client,
            remembered: Mutex::new(HashMap::new()),
        }
    }

    /// The verdict on `token`; an error when the API server could not be asked (not
    /// remembered, so the next scrape asks again).
    pub async fn review(&self, token: &str) -> Result<Verdict, kube::Error> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let now = Instant::now();
        if let Some((verdict, at)) = self.lock().get(&digest)
            && now.duration_since(*at) < REMEMBER_FOR
        {
            return Ok(verdict.clone());
        }
        let verdict = self.ask(token).await?;
        let mut remembered = self.lock();
        if remembered.len() >= REMEMBERED_MAX {
            remembered.retain(|_, (_, at)| now.duration_since(*at) < REMEMBER_FOR);
            if remembered.len() >= REMEMBERED_MAX {
                remembered.clear();
            }
        }
        remembered.insert(digest, (verdict.clone(), now));
        Ok(verdict)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], (Verdict, Instant)>> {
        // A panic while holding the lock leaves only a cache behind: use it as it is.
        self.remembered
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn ask(&self, token: &str) -> Result<Verdict, kube::Error> {
        let review = TokenReview {
            spec: TokenReviewSpec {
                token: Some(token.to_owned()),
                ..TokenReviewSpec::default()
            },
            ..TokenReview::default()
        };
        let reviewed = Api::<TokenReview>::all(self.client.clone())
            .create(&PostParams::default(), &review)
            .await?
            .status
            .unwrap_or_default();
        let user = match (reviewed.authenticated, reviewed.user) {
            (Some(true), Some(user)) => user,
            _ => {
                return Ok(Verdict::Unauthenticated(
                    reviewed
                        .error
                        .filter(|e| !e.is_empty())
                        .unwrap_or_else(|| "the token was not accepted".to_owned()),
                ));
            }
        };
        let name = user.username.clone().unwrap_or_default();
        let access = SubjectAccessReview {
            spec: SubjectAccessReviewSpec {
                user: user.username,
                uid: user.uid,
                groups: user.groups,
                extra: user.extra,
                non_resource_attributes: Some(NonResourceAttributes {
                    path: Some(METRICS_PATH.to_owned()),
                    verb: Some("get".to_owned()),
                }),
                ..SubjectAccessReviewSpec::default()
            },
            ..SubjectAccessReview::default()
        };
        let decided = Api::<SubjectAccessReview>::all(self.client.clone())
            .create(&PostParams::default(), &access)
            .await?
            .status
            .unwrap_or_default();
        Ok(if decided.allowed {
            Verdict::Allowed
        } else {
            Verdict::Forbidden(format!(
                "{name} may not get {METRICS_PATH}{}",
                decided
                    .reason
                    .filter(|r| !r.is_empty())
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default()
            ))
        })
    }
}
