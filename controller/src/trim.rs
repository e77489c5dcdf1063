//! What the Service cache keeps of each Service: the fields the allocator and the status
//! writer read, nothing else.
//!
//! The controller caches every Service of the cluster. Whole objects (managed fields, kubectl's
//! last-applied copy, cluster IPs, node ports, other controllers' conditions) are most of its
//! memory, so each Service is cut down as it arrives from the watch, before it is stored.

use ferrolb_crds::conditions::SERVICE_ALLOCATED;
use ferrolb_crds::service::trim_status;
use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// kubectl's copy of the whole object; requests are read from the live annotations only.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Cuts `svc` down to what the controller reads.
pub fn service(svc: &mut Service) {
    let meta = &mut svc.metadata;
    let mut annotations = meta.annotations.take();
    if let Some(a) = annotations.as_mut() {
        a.remove(LAST_APPLIED);
    }
    svc.metadata = ObjectMeta {
        name: meta.name.take(),
        namespace: meta.namespace.take(),
        uid: meta.uid.take(),
        resource_version: meta.resource_version.take(),
        generation: meta.generation,
        creation_timestamp: meta.creation_timestamp.take(),
        deletion_timestamp: meta.deletion_timestamp.take(),
        labels: meta.labels.take(),
        annotations,
        ..ObjectMeta::default()
    };
    svc.spec = svc.spec.take().map(|s| ServiceSpec {
        type_: s.type_,
        load_balancer_class: s.load_balancer_class,
        load_balancer_ip: s.load_balancer_ip,
        ip_families: s.ip_families,
        ip_family_policy: s.ip_family_policy,
        external_traffic_policy: s.external_traffic_policy,
        selector: s.selector,
        ports: s.ports.map(|ports| {
            ports
                .into_iter()
                .map(|p| ServicePort {
                    port: p.port,
                    protocol: p.protocol,
                    ..ServicePort::default()
                })
                .collect()
        }),
        ..ServiceSpec::default()
    });
    svc.status = svc.status.take().map(|s| trim_status(s, SERVICE_ALLOCATED));
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use ferrolb_crds::service::{ingress_ips, is_served};
    use k8s_openapi::jiff::Timestamp;

    use super::*;
    use crate::allocator::ServiceClaim;
    use crate::status::{self, DesiredStatus};

    fn full_service() -> Service {
        serde_json::from_value(serde_json::json!({
            "metadata": {
                "name": "web", "namespace": "shop", "uid": "u-1", "resourceVersion": "42",
                "generation": 3, "creationTimestamp": "2026-01-01T00:00:00Z",
                "labels": {"app": "web"},
                "annotations": {
                    "ferrolb.io/loadBalancerIPs": "192.168.100.240",
                    "ferrolb.io/allow-shared-ip": "shop",
                    "kubectl.kubernetes.io/last-applied-configuration": "{\"a\": 1}"
                },
                "managedFields": [{"manager": "kubectl", "operation": "Apply"}],
                "finalizers": ["example.com/x"]
            },
            "spec": {
                "type": "LoadBalancer", "externalTrafficPolicy": "Local",
                "ipFamilyPolicy": "PreferDualStack", "ipFamilies": ["IPv4", "IPv6"],
                "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"],
                "ports": [{"name": "http", "port": 80, "protocol": "TCP", "nodePort": 30080,
                           "targetPort": 8080}],
                "selector": {"app": "web"}, "sessionAffinity": "None"
            },
            "status": {
                "loadBalancer": {"ingress": [{"ip": "192.168.100.240", "ipMode": "VIP",
                                              "ports": [{"port": 80, "protocol": "TCP"}]}]},
                "conditions": [
                    {"type": "ferrolb.io/Allocated", "status": "True", "reason": "Allocated",
                     "message": "from pool default", "lastTransitionTime": "2026-01-01T00:00:00Z",
                     "observedGeneration": 3},
                    {"type": "ferrolb.io/Announced", "status": "True", "reason": "Announced",
                     "message": "announced by node node1 on interface eth0",
                     "lastTransitionTime": "2026-01-01T00:00:00Z"}
                ]
            }
        }))
        .expect("Service")
    }

    #[test]
    fn a_trimmed_service_reads_the_same() {
        let full = full_service();
        let mut slim = full.clone();
        service(&mut slim);
        let ns = BTreeMap::from([("team".to_owned(), "a".to_owned())]);
        assert_eq!(
            ServiceClaim::from_service(&slim, &ns).expect("claim"),
            ServiceClaim::from_service(&full, &ns).expect("claim")
        );
        assert_eq!(is_served(&slim, None), is_served(&full, None));
        assert_eq!(ingress_ips(&slim), ingress_ips(&full));
        assert_eq!(
            status::current_condition(&slim),
            status::current_condition(&full)
        );
        let desired = DesiredStatus {
            ip_mode: status::IpMode::Vip,
            ips: ingress_ips(&full),
            allocated: true,
            reason: "Allocated".to_owned(),
            message: "from pool default".to_owned(),
        };
        assert!(status::is_current(&full, &desired));
        assert!(status::is_current(&slim, &desired));
        let now = Timestamp::now();
        assert_eq!(
            status::apply_body(&slim, &desired, now),
            status::apply_body(&full, &desired, now)
        );
        assert_eq!(
            slim.metadata.creation_timestamp,
            full.metadata.creation_timestamp
        );
        // What it never reads is gone.
        assert!(slim.metadata.managed_fields.is_none() && slim.metadata.finalizers.is_none());
        let annotations = slim.metadata.annotations.as_ref().expect("annotations");
        assert!(!annotations.contains_key(LAST_APPLIED));
        assert_eq!(annotations.len(), 2);
        let spec = slim.spec.as_ref().expect("spec");
        assert!(spec.cluster_ip.is_none() && spec.session_affinity.is_none());
        let port = &spec.ports.as_ref().expect("ports")[0];
        assert!(port.node_port.is_none() && port.name.is_none());
        let conditions = slim.status.as_ref().and_then(|s| s.conditions.as_ref());
        assert_eq!(conditions.map(Vec::len), Some(1));
    }

    #[test]
    fn a_service_without_spec_or_status_stays_so() {
        let mut svc = Service::default();
        service(&mut svc);
        assert!(svc.spec.is_none() && svc.status.is_none());
        assert!(!is_served(&svc, None));
    }
}
