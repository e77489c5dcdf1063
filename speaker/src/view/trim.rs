//! What the caches keep of each object: only the fields the plan and the status writer read.
//!
//! A speaker runs on every node and watches every Service, EndpointSlice and Node of the
//! cluster; whole objects (ports, cluster IPs, endpoint addresses, node images and capacity,
//! other controllers' conditions) are most of its memory, and it reads a handful of fields.
//! Each object is cut down as it arrives from the watch, before it is stored.

use ferrolb_crds::conditions::SERVICE_ANNOUNCED;
use ferrolb_crds::service::trim_status;
use k8s_openapi::api::core::v1::{
    Node, NodeAddress, NodeCondition, NodeStatus, Service, ServiceSpec,
};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::objects::SERVICE_NAME_LABEL;

/// The identity of an object: enough to find it, refer to it in an event and compare
/// generations.
fn identity(meta: &mut ObjectMeta) -> ObjectMeta {
    ObjectMeta {
        name: meta.name.take(),
        namespace: meta.namespace.take(),
        uid: meta.uid.take(),
        resource_version: meta.resource_version.take(),
        generation: meta.generation,
        deletion_timestamp: meta.deletion_timestamp.take(),
        ..ObjectMeta::default()
    }
}

/// A Service: its type and class (is it ours), traffic policy, the addresses in its status and
/// the `Announced` condition (to skip writes that change nothing).
pub fn service(svc: &mut Service) {
    svc.metadata = identity(&mut svc.metadata);
    svc.spec = svc.spec.take().map(|s| ServiceSpec {
        type_: s.type_,
        load_balancer_class: s.load_balancer_class,
        external_traffic_policy: s.external_traffic_policy,
        ..ServiceSpec::default()
    });
    svc.status = svc.status.take().map(|s| trim_status(s, SERVICE_ANNOUNCED));
}

/// An EndpointSlice: which Service it belongs to, and the node and readiness of each endpoint.
pub fn endpoint_slice(slice: &mut EndpointSlice) {
    let service = slice
        .metadata
        .labels
        .as_mut()
        .and_then(|l| l.remove_entry(SERVICE_NAME_LABEL));
    slice.metadata = identity(&mut slice.metadata);
    slice.metadata.labels = service.map(|kv| [kv].into());
    slice.endpoints = std::mem::take(&mut slice.endpoints)
        .into_iter()
        .map(|e| Endpoint {
            node_name: e.node_name,
            conditions: e.conditions.map(|c| EndpointConditions {
                ready: c.ready,
                ..EndpointConditions::default()
            }),
            ..Endpoint::default()
        })
        .collect();
    slice.ports = None;
}

/// A Node: its labels (node selectors, the exclude label), addresses and `Ready` condition.
pub fn node(node: &mut Node) {
    let labels = node.metadata.labels.take();
    node.metadata = identity(&mut node.metadata);
    node.metadata.labels = labels;
    node.spec = None;
    node.status = node.status.take().map(|s| NodeStatus {
        addresses: s.addresses.map(|a| {
            a.into_iter()
                .map(|a| NodeAddress {
                    type_: a.type_,
                    address: a.address,
                })
                .collect()
        }),
        conditions: s.conditions.map(|c| {
            c.into_iter()
                .filter(|c| c.type_ == "Ready")
                .map(|c| NodeCondition {
                    type_: c.type_,
                    status: c.status,
                    ..NodeCondition::default()
                })
                .collect()
        }),
        ..NodeStatus::default()
    });
}

/// The few pools and advertisements are kept whole, less the server's bookkeeping.
pub fn bookkeeping(meta: &mut ObjectMeta) {
    meta.managed_fields = None;
    if let Some(a) = meta.annotations.as_mut() {
        a.remove("kubectl.kubernetes.io/last-applied-configuration");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::view::objects::{ingress_ips, is_local, is_ready, ready_nodes, served};
    use crate::view::objects::{internal_ip, service_key};

    fn full_service() -> Service {
        serde_json::from_value(serde_json::json!({
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
                "loadBalancer": {"ingress": [{"ip": "192.168.100.240", "ipMode": "VIP"}]},
                "conditions": [
                    {"type": "ferrolb.io/Allocated", "status": "True", "reason": "Allocated",
                     "message": "from pool default", "lastTransitionTime": "2026-01-01T00:00:00Z"},
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
        assert_eq!(service_key(&slim), service_key(&full));
        assert_eq!(served(&slim, None), served(&full, None));
        assert_eq!(is_local(&slim), is_local(&full));
        assert_eq!(ingress_ips(&slim), ingress_ips(&full));
        assert_eq!(crate::status::current(&slim), crate::status::current(&full));
        assert_eq!(slim.metadata.uid, full.metadata.uid);
        assert_eq!(slim.metadata.generation, full.metadata.generation);
        // And what it does not read is gone.
        assert!(slim.metadata.managed_fields.is_none());
        assert!(slim.metadata.annotations.is_none());
        let spec = slim.spec.as_ref().expect("spec");
        assert!(spec.ports.is_none() && spec.cluster_ip.is_none() && spec.selector.is_none());
        let conditions = slim.status.as_ref().and_then(|s| s.conditions.as_ref());
        assert_eq!(conditions.map(Vec::len), Some(1));
    }

    #[test]
    fn a_service_without_spec_or_status_stays_so() {
        let mut svc = Service::default();
        service(&mut svc);
        assert!(svc.spec.is_none() && svc.status.is_none());
        assert!(!served(&svc, None));
    }

    #[test]
    fn a_trimmed_slice_gives_the_same_ready_nodes() {
        let full: EndpointSlice = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web-abc", "namespace": "shop",
                         "labels": {"kubernetes.io/service-name": "web",
                                    "endpointslice.kubernetes.io/managed-by": "x"}},
            "addressType": "IPv4",
            "endpoints": [
                {"addresses": ["10.0.0.1"], "nodeName": "node1",
                 "conditions": {"ready": true, "serving": true}},
                {"addresses": ["10.0.0.2"], "nodeName": "node2",
                 "conditions": {"ready": false}},
                {"addresses": ["10.0.0.3"], "nodeName": "node3"}
            ],
            "ports": [{"port": 8080}]
        }))
        .expect("EndpointSlice");
        let mut slim = full.clone();
        endpoint_slice(&mut slim);
        let svc = full_service();
        assert_eq!(ready_nodes(&svc, [&slim]), ready_nodes(&svc, [&full]));
        assert_eq!(ready_nodes(&svc, [&slim]).len(), 2);
        assert_eq!(slim.metadata.labels.as_ref().map(|l| l.len()), Some(1));
        assert!(slim.endpoints.iter().all(|e| e.addresses.is_empty()));
    }

    #[test]
    fn a_trimmed_node_keeps_labels_addresses_and_readiness() {
        let full: Node = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "node1", "labels": {"zone": "a"},
                         "annotations": {"big": "x"}},
            "spec": {"podCIDR": "10.244.0.0/24"},
            "status": {
                "addresses": [{"type": "InternalIP", "address": "192.168.100.11"},
                              {"type": "Hostname", "address": "node1"}],
                "conditions": [{"type": "Ready", "status": "True"},
                               {"type": "MemoryPressure", "status": "False"}],
                "images": [{"names": ["registry/image:1"], "sizeBytes": 1}],
                "capacity": {"cpu": "2"}
            }
        }))
        .expect("Node");
        let mut slim = full.clone();
        node(&mut slim);
        assert_eq!(internal_ip(&slim), internal_ip(&full));
        assert_eq!(is_ready(&slim), is_ready(&full));
        assert!(is_ready(&slim));
        assert_eq!(slim.metadata.labels, full.metadata.labels);
        let status = slim.status.as_ref().expect("status");
        assert!(status.images.is_none() && status.capacity.is_none());
        assert!(slim.metadata.annotations.is_none() && slim.spec.is_none());
    }
}
