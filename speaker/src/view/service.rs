//! What a speaker keeps of each Service it serves.
//!
//! Every speaker watches every Service of the cluster, and owns the addresses of thousands of
//! them on a large one. A whole `Service` (even cut down to the fields read) is close to a
//! kilobyte before its strings; the speaker reads its name, its traffic policy, the addresses
//! in its status and its own condition. [`ServiceView`] holds just those, and Services that
//! ferrolb does not serve, or that hold no address yet, are not kept at all.

use std::net::IpAddr;
use std::sync::Arc;

use ferrolb_crds::conditions::SERVICE_ANNOUNCED;
use ferrolb_crds::service::{ingress_ips, is_served};
use k8s_openapi::api::core::v1::{ObjectReference, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;

/// The `ferrolb.io/Announced` condition as written on the Service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announced {
    /// `True`, `False` or `Unknown`.
    pub status: Box<str>,
    /// The condition's reason.
    pub reason: Box<str>,
    /// The condition's message.
    pub message: Box<str>,
    /// When the status last changed.
    pub since: Time,
}

/// A Service ferrolb serves that holds at least one address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceView {
    /// `namespace/name`; also the cache's key, shared rather than copied.
    pub key: Arc<str>,
    /// The Service's UID, for the events about it.
    pub uid: Option<Box<str>>,
    /// `metadata.generation`, written as the condition's `observedGeneration`.
    pub generation: Option<i64>,
    /// `externalTrafficPolicy: Local`.
    pub local: bool,
    /// The addresses in `status.loadBalancer.ingress`, in order.
    pub ips: Box<[IpAddr]>,
    /// The `ferrolb.io/Announced` condition, if any.
    pub announced: Option<Box<Announced>>,
}

impl ServiceView {
    /// What the speaker keeps of `svc`: `None` unless ferrolb serves it (for `class`) and its
    /// status holds an address.
    pub fn project(svc: &Service, class: Option<&str>) -> Option<ServiceView> {
        if !is_served(svc, class) {
            return None;
        }
        let ips = ingress_ips(svc);
        if ips.is_empty() {
            return None;
        }
        let announced = svc
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .into_iter()
            .flatten()
            .find(|c| c.type_ == SERVICE_ANNOUNCED)
            .map(|c| {
                Box::new(Announced {
                    status: c.status.as_str().into(),
                    reason: c.reason.as_str().into(),
                    message: c.message.as_str().into(),
                    since: c.last_transition_time.clone(),
                })
            });
        Some(ServiceView {
            key: format!("{}/{}", svc.namespace().unwrap_or_default(), svc.name_any()).into(),
            uid: svc.metadata.uid.as_deref().map(Into::into),
            generation: svc.metadata.generation,
            local: svc
                .spec
                .as_ref()
                .and_then(|s| s.external_traffic_policy.as_deref())
                == Some("Local"),
            ips: ips.into(),
            announced,
        })
    }

    /// The Service's namespace.
    pub fn namespace(&self) -> &str {
        self.key.split_once('/').map_or("", |(ns, _)| ns)
    }

    /// The Service's name.
    pub fn name(&self) -> &str {
        self.key
            .split_once('/')
            .map_or(&*self.key, |(_, name)| name)
    }

    /// Whether the condition says the addresses are announced.
    pub fn was_announced(&self) -> bool {
        self.announced
            .as_ref()
            .is_some_and(|c| &*c.status == "True")
    }

    /// A reference to the Service, for events.
    pub fn object_ref(&self) -> ObjectReference {
        ObjectReference {
            api_version: Some("v1".to_owned()),
            kind: Some("Service".to_owned()),
            namespace: Some(self.namespace().to_owned()),
            name: Some(self.name().to_owned()),
            uid: self.uid.as_deref().map(str::to_owned),
            ..ObjectReference::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full_service(extra: serde_json::Value) -> Service {
        let mut svc = serde_json::json!({
            "metadata": {
                "name": "web", "namespace": "shop", "uid": "u-1", "resourceVersion": "42",
                "generation": 3,
                "labels": {"app": "web"},
                "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"},
                "managedFields": [{"manager": "kubectl", "operation": "Apply"}]
            },
            "spec": {
                "type": "LoadBalancer", "externalTrafficPolicy": "Local",
                "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"],
                "ports": [{"port": 80, "protocol": "TCP", "nodePort": 30080}],
                "selector": {"app": "web"}
            },
            "status": {
                "loadBalancer": {"ingress": [{"ip": "192.168.100.240", "ipMode": "VIP"},
                                             {"ip": "fd00::240"}]},
                "conditions": [
                    {"type": "ferrolb.io/Allocated", "status": "True", "reason": "Allocated",
                     "message": "from pool default", "lastTransitionTime": "2026-01-01T00:00:00Z"},
                    {"type": "ferrolb.io/Announced", "status": "True", "reason": "Announced",
                     "message": "announced by node node1 on interface eth0",
                     "lastTransitionTime": "2026-01-02T00:00:00Z"}
                ]
            }
        });
        if let (Some(base), Some(extra)) = (svc.as_object_mut(), extra.as_object()) {
            for (k, v) in extra {
                if let Some(section) = base.get_mut(k).and_then(|s| s.as_object_mut()) {
                    section.extend(v.as_object().cloned().unwrap_or_default());
                }
            }
        }
        serde_json::from_value(svc).expect("Service")
    }

    #[test]
    fn a_view_reads_what_the_service_says() {
        let svc = full_service(serde_json::json!({}));
        let view = ServiceView::project(&svc, None).expect("served");
        assert_eq!(&*view.key, "shop/web");
        assert_eq!((view.namespace(), view.name()), ("shop", "web"));
        assert_eq!(view.uid.as_deref(), Some("u-1"));
        assert_eq!(view.generation, Some(3));
        assert!(view.local);
        assert_eq!(&*view.ips, ingress_ips(&svc).as_slice());
        assert_eq!(view.ips.len(), 2);
        let c = view.announced.as_deref().expect("condition");
        assert_eq!(&*c.reason, "Announced");
        assert_eq!(&*c.message, "announced by node node1 on interface eth0");
        assert_eq!(c.since.0.to_string(), "2026-01-02T00:00:00Z");
        assert!(view.was_announced());
        let r = view.object_ref();
        assert_eq!(
            (r.kind.as_deref(), r.namespace.as_deref(), r.name.as_deref()),
            (Some("Service"), Some("shop"), Some("web"))
        );
        assert_eq!(r.uid.as_deref(), Some("u-1"));
    }

    #[test]
    fn services_not_served_or_without_an_address_are_not_kept() {
        let cluster_ip = full_service(serde_json::json!({"spec": {"type": "ClusterIP"}}));
        assert_eq!(ServiceView::project(&cluster_ip, None), None);
        let other_class = full_service(serde_json::json!({"spec": {"loadBalancerClass": "x/y"}}));
        assert_eq!(ServiceView::project(&other_class, None), None);
        assert!(ServiceView::project(&other_class, Some("x/y")).is_some());
        let pending = full_service(serde_json::json!({"status": {"loadBalancer": {}}}));
        assert_eq!(ServiceView::project(&pending, None), None);
        assert_eq!(ServiceView::project(&Service::default(), None), None);
    }

    #[test]
    fn without_the_condition_nothing_was_announced() {
        let svc = full_service(serde_json::json!({"status": {"conditions": []}}));
        let view = ServiceView::project(&svc, None).expect("served");
        assert_eq!(view.announced, None);
        assert!(!view.was_announced());
    }
}
