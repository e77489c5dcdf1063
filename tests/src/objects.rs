//! Small builders and readers for the objects the suites create and check.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Client};

use crate::{WaitError, wait_for};

/// A `type: LoadBalancer` Service with TCP `ports` and `annotations`.
pub fn mk_lb_service(ns: &str, name: &str, ports: &[i32], annotations: &[(&str, &str)]) -> Service {
    Service {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some(ns.to_owned()),
            annotations: Some(
                annotations
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect::<BTreeMap<_, _>>(),
            ),
            ..Default::default()
        },
        spec: Some(ServiceSpec {
            type_: Some("LoadBalancer".to_owned()),
            selector: Some(BTreeMap::from([("app".to_owned(), name.to_owned())])),
            ports: Some(
                ports
                    .iter()
                    .map(|p| ServicePort {
                        name: Some(format!("p{p}")),
                        port: *p,
                        protocol: Some("TCP".to_owned()),
                        ..Default::default()
                    })
                    .collect(),
            ),
            ..Default::default()
        }),
        status: None,
    }
}

/// Creates a namespace (no error if it exists).
pub async fn ensure_namespace(client: &Client, name: &str) {
    let api: Api<Namespace> = Api::all(client.clone());
    let ns = Namespace {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            ..Default::default()
        },
        ..Default::default()
    };
    match api.create(&PostParams::default(), &ns).await {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 409 => {}
        Err(e) => panic!("creating namespace {name}: {e}"),
    }
}

/// The ingress IPs in a Service's status.
pub fn ingress_ips(svc: &Service) -> Vec<String> {
    svc.status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|i| i.ip.clone())
        .collect()
}

pub use ferrolb_crds::service::condition;

/// Waits until the Service has `n` ingress IPs and returns them.
pub async fn wait_for_ips(
    api: &Api<Service>,
    name: &str,
    n: usize,
    deadline: Duration,
) -> Result<Vec<String>, WaitError> {
    wait_for(
        &format!("Service {name} to get {n} address(es)"),
        deadline,
        || async {
            let svc = api.get(name).await.map_err(|e| e.to_string())?;
            let ips = ingress_ips(&svc);
            if ips.len() == n {
                Ok(ips)
            } else {
                Err(format!(
                    "ips {ips:?}, conditions {:?}",
                    svc.status.and_then(|s| s.conditions)
                ))
            }
        },
    )
    .await
}

/// Waits until the Service's condition `type_` has `status` and `reason`, and returns it.
pub async fn wait_for_condition(
    api: &Api<Service>,
    name: &str,
    type_: &str,
    status: &str,
    reason: &str,
    deadline: Duration,
) -> Result<Condition, WaitError> {
    wait_for(
        &format!("Service {name} condition {type_}={status} ({reason})"),
        deadline,
        || async {
            let svc = api.get(name).await.map_err(|e| e.to_string())?;
            match condition(&svc, type_) {
                Some(c) if c.status == status && c.reason == reason => Ok(c.clone()),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await
}
