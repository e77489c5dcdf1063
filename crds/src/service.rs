//! What the ferrolb API means on a Service: which ones ferrolb serves, and the addresses its
//! status carries. Shared by the controller (which writes them) and the speaker (which
//! announces them), so both always agree.

use std::net::IpAddr;

use k8s_openapi::api::core::v1::{LoadBalancerIngress, LoadBalancerStatus, Service, ServiceStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

/// Whether ferrolb serves `svc`: `type: LoadBalancer` whose `loadBalancerClass` is `class`
/// (the one ferrolb was configured with). As Kubernetes intends (KEP-1959), ferrolb without a
/// class serves only Services without one, and ferrolb with a class only that class: the
/// Services without a class are left to the cluster's default implementation.
pub fn is_served(svc: &Service, class: Option<&str>) -> bool {
    let Some(spec) = svc.spec.as_ref() else {
        return false;
    };
    spec.type_.as_deref() == Some("LoadBalancer") && spec.load_balancer_class.as_deref() == class
}

/// The condition of type `type_` in a Service's status.
pub fn condition<'a>(svc: &'a Service, type_: &str) -> Option<&'a Condition> {
    svc.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
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
    fn a_configured_class_serves_that_class_only_and_none_serves_the_classless() {
        let mine = Some("ferrolb.io/l2");
        let table = [
            (mk_svc("LoadBalancer", None), None, true),
            (mk_svc("LoadBalancer", None), mine, false),
            (mk_svc("LoadBalancer", mine), mine, true),
            (mk_svc("LoadBalancer", mine), None, false),
            (
                mk_svc("LoadBalancer", Some("example.com/other")),
                mine,
                false,
            ),
            (
                mk_svc("LoadBalancer", Some("example.com/other")),
                None,
                false,
            ),
            (mk_svc("ClusterIP", None), None, false),
            (mk_svc("NodePort", mine), mine, false),
        ];
        for (service, class, served) in table {
            let spec = service.spec.as_ref().expect("spec");
            assert_eq!(
                is_served(&service, class),
                served,
                "{:?} {:?} with {class:?}",
                spec.type_,
                spec.load_balancer_class
            );
        }
        assert!(!is_served(&Service::default(), None));
    }
}
