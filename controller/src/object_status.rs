//! Conditions and status writes of ferrolb's own objects (pools and advertisements).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams};
use kube::{Api, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use tracing::warn;

use crate::status::FIELD_MANAGER;

/// A condition's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Truth {
    /// `True`.
    True,
    /// `False`.
    False,
    /// `Unknown`.
    Unknown,
}

/// A condition of one of ferrolb's own objects; its transition time is kept from `old` while
/// its status stays the same.
pub fn condition(
    type_: &str,
    truth: Truth,
    reason: &str,
    message: String,
    old: &[Condition],
    now: Timestamp,
) -> Condition {
    let status = match truth {
        Truth::True => "True",
        Truth::False => "False",
        Truth::Unknown => "Unknown",
    };
    let since = old
        .iter()
        .find(|c| c.type_ == type_ && c.status == status)
        .map_or(Time(now), |c| c.last_transition_time.clone());
    Condition {
        type_: type_.to_owned(),
        status: status.to_owned(),
        reason: reason.to_owned(),
        message,
        last_transition_time: since,
        observed_generation: None,
    }
}

/// Whether two condition lists say the same (transition times aside).
pub fn same_conditions(a: &[Condition], b: &[Condition]) -> bool {
    fn key(c: &Condition) -> (&str, &str, &str, &str) {
        (&c.type_, &c.status, &c.reason, &c.message)
    }
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| key(x) == key(y))
}

/// Writes `status` as the whole status of one of ferrolb's own objects (server-side apply, as
/// ferrolb's field manager). A failure is logged; the next change writes it again.
pub async fn apply_status<K>(api: &Api<K>, name: &str, status: &impl Serialize)
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug,
{
    let kind = K::kind(&());
    let body = json!({
        "apiVersion": K::api_version(&()),
        "kind": kind,
        "status": status,
    });
    let params = PatchParams::apply(FIELD_MANAGER).force();
    if let Err(e) = api.patch_status(name, &params, &Patch::Apply(body)).await {
        warn!(%kind, %name, error = %e, "could not write the status");
    }
}
