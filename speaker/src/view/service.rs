//! What a speaker keeps of each Service it serves.
//!
//! Every speaker watches every Service of the cluster, and owns the addresses of thousands of
//! them on a large one. A whole `Service` (even cut down to the fields read) is close to a
//! kilobyte before its strings; the speaker reads its name, its traffic policy, the addresses
//! in its status and its own condition. [`ServiceView`] holds just those, and Services that
//! ferrolb does not serve, or that hold no address yet, are not kept at all.

use std::borrow::Cow;
use std::hash::{Hash, Hasher};
use std::net::IpAddr;
use std::sync::Arc;

use ferrolb_crds::conditions::{SERVICE_ALLOCATED, SERVICE_ANNOUNCED, origin};
use ferrolb_crds::service::{ingress_ips, is_served};
use k8s_openapi::api::core::v1::{ObjectReference, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::ResourceExt;

/// The `ferrolb.io/Announced` condition as written on the Service: enough to tell whether it
/// already says what this speaker would write, and to keep its transition time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announced {
    /// Whether the status is `True` (`Some(true)`), `False`, or something else (`None`).
    pub status: Option<bool>,
    /// A digest of the reason and the message (see [`said`]); the text itself is not kept.
    pub said: u64,
    /// When the status last changed.
    pub since: Time,
}

/// The digest of a condition's reason and message that [`Announced::said`] holds.
pub fn said(reason: &str, message: &str) -> u64 {
    let mut hasher = std::hash::DefaultHasher::new();
    (reason, message).hash(&mut hasher);
    hasher.finish()
}

/// A Service's identity, `namespace/name`: one shared string (the cache's key, cloned rather
/// than copied into every plan and status), built from its two parts and never parsed back.
#[derive(Clone)]
pub struct ServiceRef {
    text: Arc<str>,
    /// Length of the namespace: the `/` is at this index.
    namespace_len: usize,
}

impl ServiceRef {
    /// The reference of `namespace/name`.
    pub fn new(namespace: &str, name: &str) -> Self {
        Self {
            text: format!("{namespace}/{name}").into(),
            namespace_len: namespace.len(),
        }
    }

    /// The namespace.
    pub fn namespace(&self) -> &str {
        &self.text[..self.namespace_len]
    }

    /// The name.
    pub fn name(&self) -> &str {
        &self.text[self.namespace_len + 1..]
    }

    /// `namespace/name`.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

// Equality, order and hash are those of the text, so maps keyed by it can be searched with a
// `&str` (the namespace length follows from the text: names have no `/`).
impl PartialEq for ServiceRef {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for ServiceRef {}

impl PartialOrd for ServiceRef {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ServiceRef {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.text.cmp(&other.text)
    }
}

impl Hash for ServiceRef {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.text.hash(state);
    }
}

impl std::borrow::Borrow<str> for ServiceRef {
    fn borrow(&self) -> &str {
        &self.text
    }
}

impl std::fmt::Display for ServiceRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::fmt::Debug for ServiceRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&*self.text, f)
    }
}

/// A Service's cache key.
pub fn key(svc: &Service) -> ServiceRef {
    ServiceRef::new(&svc.namespace().unwrap_or_default(), &svc.name_any())
}

/// A Service ferrolb serves that holds at least one address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceView {
    /// The Service; also the cache's key.
    pub key: ServiceRef,
    /// The Service's UID, for the events about it.
    pub uid: Option<Box<str>>,
    /// `metadata.generation`, written as the condition's `observedGeneration`.
    pub generation: Option<i64>,
    /// `externalTrafficPolicy: Local`.
    pub local: bool,
    /// The addresses in `status.loadBalancer.ingress`, in order.
    pub ips: Box<[IpAddr]>,
    /// The pool each address was taken from, as the controller's `ferrolb.io/Allocated`
    /// condition names it (addresses it names no pool for are left out).
    pub origins: Box<[(IpAddr, Arc<str>)]>,
    /// The `ferrolb.io/Announced` condition, if any.
    pub announced: Option<Announced>,
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
        let conditions = || {
            svc.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .into_iter()
                .flatten()
        };
        let origins = conditions()
            .find(|c| c.type_ == SERVICE_ALLOCATED)
            .map(|c| {
                origin::parse(&c.message)
                    .filter(|(ip, _)| ips.contains(ip))
                    .map(|(ip, pool)| (ip, Arc::from(pool)))
                    .collect()
            })
            .unwrap_or_default();
        let announced = conditions()
            .find(|c| c.type_ == SERVICE_ANNOUNCED)
            .map(|c| Announced {
                status: match c.status.as_str() {
                    "True" => Some(true),
                    "False" => Some(false),
                    _ => None,
                },
                said: said(&c.reason, &c.message),
                since: c.last_transition_time.clone(),
            });
        Some(ServiceView {
            key: key(svc),
            uid: svc.metadata.uid.as_deref().map(Into::into),
            generation: svc.metadata.generation,
            local: svc
                .spec
                .as_ref()
                .and_then(|s| s.external_traffic_policy.as_deref())
                == Some("Local"),
            ips: ips.into(),
            origins,
            announced,
        })
    }

    /// The pool `ip` was taken from, when the controller named it.
    pub fn origin(&self, ip: IpAddr) -> Option<&Arc<str>> {
        self.origins.iter().find(|(a, _)| *a == ip).map(|(_, p)| p)
    }

    /// Replaces each pool name with the copy in `names`, so that thousands of Services share
    /// one string per pool.
    pub fn share_names(&mut self, names: &mut std::collections::HashSet<Arc<str>>) {
        for (_, pool) in &mut self.origins {
            match names.get(&**pool) {
                Some(shared) => *pool = shared.clone(),
                None => {
                    names.insert(pool.clone());
                }
            }
        }
    }

    /// The Service's namespace.
    pub fn namespace(&self) -> &str {
        self.key.namespace()
    }

    /// The Service's name.
    pub fn name(&self) -> &str {
        self.key.name()
    }

    /// Whether the condition says the addresses are announced.
    pub fn was_announced(&self) -> bool {
        self.announced
            .as_ref()
            .is_some_and(|c| c.status == Some(true))
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

/// A Service as the speaker's watch decodes it: only what [`ServiceView::project`] reads.
///
/// The parser skips everything else (ports, managed fields, annotations, other components'
/// conditions) instead of building it and dropping it after: decoded whole, a list page of 500
/// Services costs megabytes for a moment, and that moment sets the heap's size for good.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(from = "wire::Service")]
pub struct WatchedService(pub Service);

impl kube::Resource for WatchedService {
    type DynamicType = ();
    type Scope = k8s_openapi::NamespaceResourceScope;

    fn kind(dt: &()) -> Cow<'_, str> {
        Service::kind(dt)
    }

    fn group(dt: &()) -> Cow<'_, str> {
        Service::group(dt)
    }

    fn version(dt: &()) -> Cow<'_, str> {
        Service::version(dt)
    }

    fn plural(dt: &()) -> Cow<'_, str> {
        Service::plural(dt)
    }

    fn meta(&self) -> &ObjectMeta {
        &self.0.metadata
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.0.metadata
    }
}

/// The decoded shape of a Service: the fields read, each as the API spells it.
mod wire {
    use k8s_openapi::api::core::v1 as core;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta;
    use serde::Deserialize;

    use ferrolb_crds::conditions::{SERVICE_ALLOCATED, SERVICE_ANNOUNCED};

    #[derive(Deserialize, Default)]
    #[serde(default, rename_all = "camelCase")]
    pub struct Service {
        metadata: Meta,
        spec: Option<Spec>,
        status: Option<Status>,
    }

    #[derive(Deserialize, Default)]
    #[serde(default, rename_all = "camelCase")]
    struct Meta {
        name: Option<String>,
        namespace: Option<String>,
        uid: Option<String>,
        resource_version: Option<String>,
        generation: Option<i64>,
    }

    #[derive(Deserialize, Default)]
    #[serde(default, rename_all = "camelCase")]
    struct Spec {
        #[serde(rename = "type")]
        type_: Option<String>,
        load_balancer_class: Option<String>,
        external_traffic_policy: Option<String>,
    }

    #[derive(Deserialize, Default)]
    #[serde(default, rename_all = "camelCase")]
    struct Status {
        load_balancer: Option<LoadBalancer>,
        conditions: Vec<Condition>,
    }

    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct LoadBalancer {
        ingress: Option<Vec<Ingress>>,
    }

    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct Ingress {
        ip: Option<String>,
    }

    #[derive(Deserialize, Default)]
    #[serde(default, rename_all = "camelCase")]
    struct Condition {
        #[serde(rename = "type")]
        type_: String,
        status: String,
        reason: String,
        message: String,
        last_transition_time: Option<meta::Time>,
        observed_generation: Option<i64>,
    }

    impl From<Service> for super::WatchedService {
        fn from(w: Service) -> Self {
            let metadata = meta::ObjectMeta {
                name: w.metadata.name,
                namespace: w.metadata.namespace,
                uid: w.metadata.uid,
                resource_version: w.metadata.resource_version,
                generation: w.metadata.generation,
                ..meta::ObjectMeta::default()
            };
            let spec = w.spec.map(|s| core::ServiceSpec {
                type_: s.type_,
                load_balancer_class: s.load_balancer_class,
                external_traffic_policy: s.external_traffic_policy,
                ..core::ServiceSpec::default()
            });
            let status = w.status.map(|s| {
                // Only the conditions ferrolb writes, and only when complete.
                let conditions: Vec<meta::Condition> = s
                    .conditions
                    .into_iter()
                    .filter(|c| c.type_ == SERVICE_ANNOUNCED || c.type_ == SERVICE_ALLOCATED)
                    .filter_map(|c| {
                        Some(meta::Condition {
                            last_transition_time: c.last_transition_time?,
                            type_: c.type_,
                            status: c.status,
                            reason: c.reason,
                            message: c.message,
                            observed_generation: c.observed_generation,
                        })
                    })
                    .collect();
                core::ServiceStatus {
                    load_balancer: s.load_balancer.map(|lb| core::LoadBalancerStatus {
                        ingress: lb.ingress.map(|v| {
                            v.into_iter()
                                .map(|i| core::LoadBalancerIngress {
                                    ip: i.ip,
                                    ..core::LoadBalancerIngress::default()
                                })
                                .collect()
                        }),
                    }),
                    conditions: (!conditions.is_empty()).then_some(conditions),
                }
            });
            super::WatchedService(core::Service {
                metadata,
                spec,
                status,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::Resource;

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
                     "message": "192.168.100.240 from pool default; fd00::240 from pool six, kept \
                                 although the pool's current policy would not assign it",
                     "lastTransitionTime": "2026-01-01T00:00:00Z"},
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
        assert_eq!(view.key.as_str(), "shop/web");
        assert_eq!((view.namespace(), view.name()), ("shop", "web"));
        assert_eq!(view.uid.as_deref(), Some("u-1"));
        assert_eq!(view.generation, Some(3));
        assert!(view.local);
        assert_eq!(&*view.ips, ingress_ips(&svc).as_slice());
        assert_eq!(view.ips.len(), 2);
        let origin = |ip: &str| view.origin(ip.parse().expect("ip")).map(|p| &**p);
        assert_eq!(origin("192.168.100.240"), Some("default"));
        assert_eq!(origin("fd00::240"), Some("six"));
        assert_eq!(origin("192.168.100.241"), None);
        let c = view.announced.as_ref().expect("condition");
        let message = "announced by node node1 on interface eth0";
        assert_eq!(c.said, said("Announced", message));
        assert_ne!(
            c.said,
            said("Announced", "announced by node node1 on interface eth1")
        );
        assert_ne!(c.said, said("AnnouncedX", message));
        assert_eq!(c.status, Some(true));
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
    fn the_watch_decodes_what_the_view_reads() {
        for extra in [
            serde_json::json!({}),
            serde_json::json!({"spec": {"type": "ClusterIP"}}),
            serde_json::json!({"spec": {"loadBalancerClass": "x/y"}}),
            serde_json::json!({"spec": {"externalTrafficPolicy": "Cluster"}}),
            serde_json::json!({"status": {"conditions": []}}),
            serde_json::json!({"status": {"loadBalancer": {}}}),
        ] {
            let full = full_service(extra.clone());
            let json = serde_json::to_value(&full).expect("JSON");
            let watched: WatchedService = serde_json::from_value(json).expect("decodes");
            for class in [None, Some("x/y")] {
                assert_eq!(
                    ServiceView::project(&watched.0, class),
                    ServiceView::project(&full, class),
                    "{extra} {class:?}"
                );
            }
            // What the watch itself reads: the identity and the resource version.
            assert_eq!(watched.meta().name, full.metadata.name);
            assert_eq!(
                watched.meta().resource_version,
                full.metadata.resource_version
            );
            // And the rest is not kept.
            assert!(watched.0.metadata.managed_fields.is_none());
            assert!(watched.0.spec.as_ref().is_none_or(|s| s.ports.is_none()));
        }
        assert_eq!(WatchedService::plural(&()), "services");
        assert_eq!(WatchedService::api_version(&()), "v1");
    }

    #[test]
    fn a_condition_without_a_transition_time_is_as_good_as_none() {
        let json = serde_json::json!({
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"type": "LoadBalancer"},
            "status": {
                "loadBalancer": {"ingress": [{"ip": "192.168.100.240"}]},
                "conditions": [{"type": "ferrolb.io/Announced", "status": "True"}]
            }
        });
        let watched: WatchedService = serde_json::from_value(json).expect("decodes");
        let view = ServiceView::project(&watched.0, None).expect("served");
        assert_eq!(view.announced, None);
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
