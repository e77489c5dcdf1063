//! What the EndpointSlice, Node, pool and advertisement caches keep of each object: only the
//! fields the plan reads (Services have their own projection, [`super::service`]).
//!
//! A speaker runs on every node and watches every EndpointSlice and Node of the cluster; whole
//! objects (endpoint addresses, ports, node images and capacity, other controllers' conditions)
//! would be most of its memory, and it reads a handful of fields. Each object is cut down as it
//! arrives from the watch, before it is stored.

use k8s_openapi::api::core::v1::{Node, NodeAddress, NodeCondition, NodeSpec, NodeStatus};
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
    // What `objects::node_health` reads: cordoning, and the out-of-service taint.
    node.spec = node.spec.take().map(|s| NodeSpec {
        unschedulable: s.unschedulable,
        taints: s.taints.map(|t| {
            t.into_iter()
                .filter(|t| t.key == super::objects::OUT_OF_SERVICE_TAINT)
                .collect()
        }),
        ..NodeSpec::default()
    });
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
                .filter(|c| c.type_ == "Ready" || c.type_ == "NetworkUnavailable")
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
    use crate::view::objects::{internal_ip, node_health, ready_nodes};

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
        let ready = |slice| ready_nodes("shop", "web", [slice]);
        assert_eq!(ready(&slim), ready(&full));
        assert_eq!(ready(&slim).len(), 2);
        assert_eq!(slim.metadata.labels.as_ref().map(|l| l.len()), Some(1));
        assert!(slim.endpoints.iter().all(|e| e.addresses.is_empty()));
    }

    #[test]
    fn a_trimmed_node_keeps_labels_addresses_and_health() {
        let full: Node = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "node1", "labels": {"zone": "a"},
                         "annotations": {"big": "x"}},
            "spec": {"podCIDR": "10.244.0.0/24", "unschedulable": true,
                     "taints": [{"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"},
                                {"key": "node.kubernetes.io/out-of-service",
                                 "value": "nodeshutdown", "effect": "NoExecute"}]},
            "status": {
                "addresses": [{"type": "InternalIP", "address": "192.168.100.11"},
                              {"type": "Hostname", "address": "node1"}],
                "conditions": [{"type": "Ready", "status": "True"},
                               {"type": "NetworkUnavailable", "status": "False"},
                               {"type": "MemoryPressure", "status": "False"}],
                "images": [{"names": ["registry/image:1"], "sizeBytes": 1}],
                "capacity": {"cpu": "2"}
            }
        }))
        .expect("Node");
        let mut slim = full.clone();
        node(&mut slim);
        assert_eq!(internal_ip(&slim), internal_ip(&full));
        for cordoned in [false, true] {
            assert_eq!(node_health(&slim, cordoned), node_health(&full, cordoned));
        }
        assert_eq!(slim.metadata.labels, full.metadata.labels);
        let status = slim.status.as_ref().expect("status");
        assert!(status.images.is_none() && status.capacity.is_none());
        assert_eq!(status.conditions.as_ref().map(Vec::len), Some(2));
        let spec = slim.spec.as_ref().expect("spec");
        assert!(spec.pod_cidr.is_none());
        assert_eq!(spec.taints.as_ref().map(Vec::len), Some(1));
        assert!(slim.metadata.annotations.is_none());
    }

    #[test]
    fn node_health_reads_conditions_taints_and_cordoning() {
        use crate::election::Ineligible;
        let health = |json: serde_json::Value, cordoned: bool| {
            let node: Node = serde_json::from_value(json).expect("Node");
            node_health(&node, cordoned)
        };
        assert_eq!(
            health(serde_json::json!({}), true),
            None,
            "no status: benefit of the doubt"
        );
        let cond = |t: &str, s: &str| serde_json::json!({"status": {"conditions": [{"type": t, "status": s}]}});
        assert_eq!(health(cond("Ready", "True"), false), None);
        assert_eq!(
            health(cond("Ready", "False"), false),
            Some(Ineligible::NodeNotReady)
        );
        assert_eq!(
            health(cond("Ready", "Unknown"), false),
            Some(Ineligible::NodeNotReady)
        );
        assert_eq!(
            health(cond("NetworkUnavailable", "True"), false),
            Some(Ineligible::NetworkUnavailable)
        );
        assert_eq!(health(cond("NetworkUnavailable", "False"), false), None);
        let taint = serde_json::json!({"spec": {"taints": [{"key": "node.kubernetes.io/out-of-service",
                                                 "effect": "NoExecute"}]}});
        assert_eq!(health(taint, false), Some(Ineligible::OutOfService));
        let cordoned = serde_json::json!({"spec": {"unschedulable": true}});
        assert_eq!(health(cordoned.clone(), false), None, "opt-in only");
        assert_eq!(health(cordoned, true), Some(Ineligible::Unschedulable));
    }
}
