//! What the controller writes on a Service: `status.loadBalancer.ingress` and the
//! `ferrolb.io/Allocated` condition, by server-side apply under one field manager.

use std::net::IpAddr;

use ferrolb_crds::service::ingress_ips;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};

/// The field manager of every write the controller makes.
pub const FIELD_MANAGER: &str = "ferrolb-controller";

/// The condition type the controller owns on Services.
pub const ALLOCATED: &str = "ferrolb.io/Allocated";

/// What the Service status should say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredStatus {
    /// How traffic to the addresses is delivered (`status.loadBalancer.ingress[].ipMode`).
    pub ip_mode: IpMode,
    /// The addresses, in the order they are listed in `ingress`.
    pub ips: Vec<IpAddr>,
    /// Whether the Service has everything it asked for.
    pub allocated: bool,
    /// A CamelCase reason: the pool's outcome or why it is pending.
    pub reason: String,
    /// A sentence a user can act on.
    pub message: String,
}

/// `status.loadBalancer.ingress[].ipMode`: how kube-proxy treats traffic to the address.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum IpMode {
    /// The address is delivered to the node as is, and kube-proxy also routes it from inside
    /// the cluster (the usual layer-2 set-up).
    #[default]
    #[value(name = "VIP")]
    Vip,
    /// Traffic reaches the node through a proxy that rewrites the destination; kube-proxy
    /// leaves in-cluster traffic to the address to go out and back in.
    #[value(name = "Proxy")]
    Proxy,
}

impl IpMode {
    /// The value as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            IpMode::Vip => "VIP",
            IpMode::Proxy => "Proxy",
        }
    }
}

/// The controller's condition as the Service carries it now.
pub fn current_condition(svc: &Service) -> Option<&Condition> {
    svc.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == ALLOCATED)
}

/// Whether the Service already shows `desired` (ignoring timestamps), so no write is needed.
pub fn is_current(svc: &Service, desired: &DesiredStatus) -> bool {
    let ingress_ok = ingress_ips(svc) == desired.ips
        && svc
            .status
            .as_ref()
            .and_then(|s| s.load_balancer.as_ref())
            .and_then(|lb| lb.ingress.as_ref())
            .is_none_or(|v| {
                v.iter()
                    .all(|i| i.ip_mode.as_deref() == Some(desired.ip_mode.as_str()))
            });
    let cond_ok = current_condition(svc).is_some_and(|c| {
        c.status == status_word(desired.allocated)
            && c.reason == desired.reason
            && c.message == desired.message
            && c.observed_generation == svc.metadata.generation
    });
    ingress_ok && cond_ok
}

fn status_word(b: bool) -> &'static str {
    if b { "True" } else { "False" }
}

/// The server-side-apply body that makes the status say `desired`. The transition time is kept
/// when the condition's status does not change.
pub fn apply_body(svc: &Service, desired: &DesiredStatus, now: Timestamp) -> Value {
    let status = status_word(desired.allocated);
    let since = current_condition(svc)
        .filter(|c| c.status == status)
        .map_or(Time(now), |c| c.last_transition_time.clone());
    let condition = Condition {
        type_: ALLOCATED.to_owned(),
        status: status.to_owned(),
        reason: desired.reason.clone(),
        message: desired.message.clone(),
        last_transition_time: since,
        observed_generation: svc.metadata.generation,
    };
    let ingress: Vec<Value> = desired
        .ips
        .iter()
        .map(|ip| json!({"ip": ip.to_string(), "ipMode": desired.ip_mode.as_str()}))
        .collect();
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "status": {
            "loadBalancer": {"ingress": ingress},
            "conditions": [condition],
        }
    })
}

/// The server-side-apply body that removes everything the controller wrote, for a Service
/// that is no longer ours.
pub fn clear_body() -> Value {
    json!({"apiVersion": "v1", "kind": "Service", "status": {}})
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{LoadBalancerIngress, LoadBalancerStatus, ServiceStatus};

    fn mk_svc(ips: &[&str], cond: Option<(&str, &str)>) -> Service {
        let mut svc = Service::default();
        svc.metadata.generation = Some(3);
        svc.status = Some(ServiceStatus {
            load_balancer: Some(LoadBalancerStatus {
                ingress: Some(
                    ips.iter()
                        .map(|ip| LoadBalancerIngress {
                            ip: Some((*ip).to_owned()),
                            ip_mode: Some("VIP".to_owned()),
                            ..Default::default()
                        })
                        .collect(),
                ),
            }),
            conditions: cond.map(|(status, reason)| {
                vec![Condition {
                    type_: ALLOCATED.to_owned(),
                    status: status.to_owned(),
                    reason: reason.to_owned(),
                    message: "m".to_owned(),
                    last_transition_time: Time(Timestamp::UNIX_EPOCH),
                    observed_generation: Some(3),
                }]
            }),
        });
        svc
    }

    fn desired(ips: &[&str], allocated: bool, reason: &str) -> DesiredStatus {
        DesiredStatus {
            ip_mode: IpMode::Vip,
            ips: ips.iter().map(|s| s.parse().expect("ip")).collect(),
            allocated,
            reason: reason.to_owned(),
            message: "m".to_owned(),
        }
    }

    #[test]
    fn an_identical_status_needs_no_write() {
        let svc = mk_svc(&["192.168.100.240"], Some(("True", "Pool")));
        assert!(is_current(
            &svc,
            &desired(&["192.168.100.240"], true, "Pool")
        ));
        assert!(!is_current(
            &svc,
            &desired(&["192.168.100.241"], true, "Pool")
        ));
        assert!(!is_current(
            &svc,
            &desired(&["192.168.100.240"], false, "Pool")
        ));
        assert!(!is_current(
            &svc,
            &desired(&["192.168.100.240"], true, "Other")
        ));
    }

    #[test]
    fn the_ip_mode_is_the_configured_one() {
        let svc = mk_svc(&["192.168.100.240"], Some(("True", "Pool")));
        let mut proxy = desired(&["192.168.100.240"], true, "Pool");
        proxy.ip_mode = IpMode::Proxy;
        assert!(!is_current(&svc, &proxy), "VIP written, Proxy wanted");
        let body = apply_body(&svc, &proxy, Timestamp::UNIX_EPOCH);
        assert_eq!(
            body["status"]["loadBalancer"]["ingress"][0]["ipMode"],
            "Proxy"
        );
        let vip = apply_body(
            &svc,
            &desired(&["192.168.100.240"], true, "Pool"),
            Timestamp::UNIX_EPOCH,
        );
        assert_eq!(vip["status"]["loadBalancer"]["ingress"][0]["ipMode"], "VIP");
        use clap::ValueEnum;
        for mode in IpMode::value_variants() {
            let name = mode
                .to_possible_value()
                .expect("named")
                .get_name()
                .to_owned();
            assert_eq!(name, mode.as_str(), "the flag takes the API's spelling");
        }
    }

    #[test]
    fn a_missing_condition_needs_a_write() {
        let svc = mk_svc(&["192.168.100.240"], None);
        assert!(!is_current(
            &svc,
            &desired(&["192.168.100.240"], true, "Pool")
        ));
    }

    #[test]
    fn transition_time_is_kept_while_status_holds() {
        let svc = mk_svc(&["192.168.100.240"], Some(("True", "Pool")));
        let later = Timestamp::from_second(1_000_000).expect("time");
        let body = apply_body(&svc, &desired(&["192.168.100.240"], true, "Pool"), later);
        assert_eq!(
            body["status"]["conditions"][0]["lastTransitionTime"],
            "1970-01-01T00:00:00Z"
        );
        let body = apply_body(&svc, &desired(&[], false, "PoolExhausted"), later);
        assert_ne!(
            body["status"]["conditions"][0]["lastTransitionTime"],
            "1970-01-01T00:00:00Z"
        );
        assert_eq!(body["status"]["loadBalancer"]["ingress"], json!([]));
    }
}
