//! What the ferrolb API means on a Service: which ones ferrolb serves, and the addresses its
//! status carries. Shared by the controller (which writes them) and the speaker (which
//! announces them), so both always agree.

use std::net::IpAddr;

use k8s_openapi::api::core::v1::{LoadBalancerIngress, LoadBalancerStatus, Service, ServiceStatus};

/// Whether ferrolb serves `svc`: `type: LoadBalancer` with no `loadBalancerClass`, or with
/// `class` (the one ferrolb was configured with).
pub fn is_served(svc: &Service, class: Option<&str>) -> bool {
    let Some(spec) = svc.spec.as_ref() else {
        return false;
    };
    spec.type_.as_deref() == Some("LoadBalancer")
        && match spec.load_balancer_class.as_deref() {
            None => true,
            Some(c) => Some(c) == class,
        }
}

/// The addresses in `status.loadBalancer.ingress`, in order (unparsable entries skipped).
pub fn ingress_ips(svc: &Service) -> Vec<IpAddr> {
    svc.status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|i| i.ip.as_deref()?.parse().ok())
        .collect()
}

/// What a component's cache keeps of a Service status: the ingress addresses (with their
/// `ipMode`) and the one condition of type `condition` it writes itself.
pub fn trim_status(status: ServiceStatus, condition: &str) -> ServiceStatus {
    let ingress = status.load_balancer.and_then(|lb| lb.ingress).map(|v| {
        v.into_iter()
            .map(|i| LoadBalancerIngress {
                ip: i.ip,
                ip_mode: i.ip_mode,
                ..LoadBalancerIngress::default()
            })
            .collect()
    });
    let conditions: Vec<_> = status
        .conditions
        .into_iter()
        .flatten()
        .filter(|c| c.type_ == condition)
        .collect();
    ServiceStatus {
        load_balancer: Some(LoadBalancerStatus { ingress }),
        conditions: (!conditions.is_empty()).then_some(conditions),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ServiceSpec;

    fn mk_svc(type_: &str, class: Option<&str>) -> Service {
        Service {
            spec: Some(ServiceSpec {
                type_: Some(type_.to_owned()),
                load_balancer_class: class.map(str::to_owned),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn serves_load_balancers_without_a_class_or_with_its_own() {
        assert!(is_served(&mk_svc("LoadBalancer", None), None));
        assert!(is_served(
            &mk_svc("LoadBalancer", None),
            Some("ferrolb.io/lb")
        ));
        assert!(is_served(
            &mk_svc("LoadBalancer", Some("ferrolb.io/lb")),
            Some("ferrolb.io/lb")
        ));
        assert!(!is_served(
            &mk_svc("LoadBalancer", Some("other.io/lb")),
            Some("ferrolb.io/lb")
        ));
        assert!(!is_served(
            &mk_svc("LoadBalancer", Some("other.io/lb")),
            None
        ));
        assert!(!is_served(&mk_svc("ClusterIP", None), None));
        assert!(!is_served(&Service::default(), None));
    }
}
