//! `kubectl ferrolb status`: for every address of every LoadBalancer Service ferrolb serves,
//! who answers it (node, interface, the MAC clients should see, since when) or why nobody does.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ferrolb_crds::conditions::{SERVICE_ALLOCATED, SERVICE_ANNOUNCED, announcer, origin};
pub use ferrolb_crds::service::condition;
use ferrolb_crds::service::{ingress_ips, is_served};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::jiff::Timestamp;
use serde::Serialize;

use super::table::{Table, age, dash};

/// The reason shown when the controller has not written `ferrolb.io/Allocated`.
pub const NOT_PROCESSED: &str = "NotProcessed";
/// The reason shown when no speaker has written `ferrolb.io/Announced`.
pub const NOT_REPORTED: &str = "NotReported";

/// One address of one Service (or a Service without an address yet).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AddressStatus {
    /// The Service's namespace.
    pub namespace: String,
    /// The Service's name.
    pub name: String,
    /// The address; none while the Service waits for one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<IpAddr>,
    /// The pool the address comes from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pool: Option<String>,
    /// The node that answers ARP/NDP for the address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// The node's interface that answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interface: Option<String>,
    /// The hardware address clients should see for the address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    /// Since when the address has been answered (or has not been).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<Timestamp>,
    /// Whether a node answers for the address.
    pub answered: bool,
    /// `Announced`, or the reason of the condition that says why nobody answers.
    pub reason: String,
    /// The condition's message.
    pub message: String,
}

/// Every row of `status`, and whether all of them are answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusReport {
    /// One row per address (one for a Service without an address).
    pub addresses: Vec<AddressStatus>,
    /// Rows answered.
    pub answered: usize,
    /// Rows not answered.
    pub unanswered: usize,
}

impl StatusReport {
    /// The report on `services` (those ferrolb serves with `class`), sorted by namespace and
    /// name.
    pub fn new(services: &[Service], class: Option<&str>) -> StatusReport {
        let mut addresses: Vec<AddressStatus> = services
            .iter()
            .filter(|s| is_served(s, class))
            .flat_map(service_rows)
            .collect();
        addresses.sort_by(|a, b| {
            (&a.namespace, &a.name, a.address).cmp(&(&b.namespace, &b.name, b.address))
        });
        let answered = addresses.iter().filter(|a| a.answered).count();
        StatusReport {
            unanswered: addresses.len() - answered,
            answered,
            addresses,
        }
    }

    /// The table `kubectl ferrolb status` prints.
    pub fn table(&self, now: Timestamp) -> String {
        let mut t = Table::new([
            "NAMESPACE",
            "NAME",
            "ADDRESS",
            "POOL",
            "NODE",
            "INTERFACE",
            "MAC",
            "SINCE",
            "STATUS",
        ]);
        for a in &self.addresses {
            t.row([
                a.namespace.clone(),
                a.name.clone(),
                a.address
                    .map_or_else(|| "<pending>".to_owned(), |ip| ip.to_string()),
                dash(a.pool.as_deref()),
                dash(a.node.as_deref()),
                dash(a.interface.as_deref()),
                dash(a.mac.as_deref()),
                a.since.map_or_else(|| "-".to_owned(), |t| age(t, now)),
                if a.answered {
                    "Answered".to_owned()
                } else {
                    a.reason.clone()
                },
            ]);
        }
        t.render()
    }
}

/// The rows of one Service.
pub fn service_rows(svc: &Service) -> Vec<AddressStatus> {
    let namespace = svc.metadata.namespace.clone().unwrap_or_default();
    let name = svc.metadata.name.clone().unwrap_or_default();
    let allocated = condition(svc, SERVICE_ALLOCATED);
    let announced = condition(svc, SERVICE_ANNOUNCED);
    let ips = ingress_ips(svc);
    let row = |address: Option<IpAddr>| AddressStatus {
        namespace: namespace.clone(),
        name: name.clone(),
        address,
        pool: None,
        node: None,
        interface: None,
        mac: None,
        since: None,
        answered: false,
        reason: String::new(),
        message: String::new(),
    };
    if ips.is_empty() {
        let mut r = row(None);
        match allocated {
            Some(c) => {
                r.reason.clone_from(&c.reason);
                r.message.clone_from(&c.message);
                r.since = Some(c.last_transition_time.0);
            }
            None => {
                r.reason = NOT_PROCESSED.to_owned();
                r.message = "no ferrolb.io/Allocated condition: no ferrolb controller has \
                             looked at this Service (is it running, and leading?)"
                    .to_owned();
            }
        }
        return vec![r];
    }
    let pools: BTreeMap<IpAddr, &str> = allocated
        .map(|c| origin::parse(&c.message).collect())
        .unwrap_or_default();
    let announcers: Vec<announcer::Announcer<'_>> = announced
        .map(|c| announcer::parse(&c.message).collect())
        .unwrap_or_default();
    ips.into_iter()
        .map(|ip| {
            let mut r = row(Some(ip));
            r.pool = pools.get(&ip).map(|p| (*p).to_owned());
            let Some(c) = announced else {
                r.reason = NOT_REPORTED.to_owned();
                r.message = "no ferrolb.io/Announced condition: no ferrolb speaker has \
                             reported on this Service (do speakers run on the nodes the \
                             L2Advertisements select?)"
                    .to_owned();
                return r;
            };
            r.since = Some(c.last_transition_time.0);
            r.reason.clone_from(&c.reason);
            r.message.clone_from(&c.message);
            // A single-address Service's message names no address; otherwise each part does.
            let who = announcers
                .iter()
                .find(|a| a.ip == Some(ip))
                .or_else(|| announcers.iter().find(|a| a.ip.is_none()));
            if c.status == "True"
                && let Some(who) = who
            {
                r.answered = true;
                r.node = Some(who.node.to_owned());
                r.interface = Some(who.interface.to_owned());
                r.mac = who.mac.map(str::to_owned);
            }
            r
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn svc(name: &str, ips: &[&str], conditions: serde_json::Value) -> Service {
        let ingress: Vec<_> = ips.iter().map(|ip| json!({"ip": ip})).collect();
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]},
            "status": {"loadBalancer": {"ingress": ingress}, "conditions": conditions},
        }))
        .expect("service")
    }

    fn cond(type_: &str, status: &str, reason: &str, message: &str) -> serde_json::Value {
        json!({"type": type_, "status": status, "reason": reason, "message": message,
               "lastTransitionTime": "2026-12-07T10:00:00Z"})
    }

    #[test]
    fn an_answered_address_names_node_interface_mac_and_pool() {
        let s = svc(
            "web",
            &["192.168.100.240"],
            json!([
                cond(
                    SERVICE_ALLOCATED,
                    "True",
                    "Allocated",
                    "192.168.100.240 from pool lab"
                ),
                cond(
                    SERVICE_ANNOUNCED,
                    "True",
                    "Announced",
                    "announced by node node2 on interface eth0 (MAC 02:00:00:00:00:02)"
                ),
            ]),
        );
        let report = StatusReport::new(&[s], None);
        assert_eq!((report.answered, report.unanswered), (1, 0));
        let a = &report.addresses[0];
        assert_eq!(a.pool.as_deref(), Some("lab"));
        assert_eq!(a.node.as_deref(), Some("node2"));
        assert_eq!(a.interface.as_deref(), Some("eth0"));
        assert_eq!(a.mac.as_deref(), Some("02:00:00:00:00:02"));
        let table = report.table(Timestamp::now());
        assert!(
            table
                .lines()
                .next()
                .expect("header")
                .starts_with("NAMESPACE")
        );
        assert!(table.contains("Answered"), "{table}");
    }

    #[test]
    fn each_address_of_a_dual_stack_service_has_its_own_row() {
        let s = svc(
            "dual",
            &["192.168.100.241", "fd00::241"],
            json!([
                cond(
                    SERVICE_ALLOCATED,
                    "True",
                    "Allocated",
                    "192.168.100.241 from pool lab; fd00::241 from pool lab"
                ),
                cond(
                    SERVICE_ANNOUNCED,
                    "True",
                    "Announced",
                    "192.168.100.241 announced by node node1 on interface eth0 (MAC 02:00:00:00:00:01); \
                     fd00::241 announced by node node3 on interface eth1"
                ),
            ]),
        );
        let report = StatusReport::new(&[s], None);
        let nodes: Vec<_> = report
            .addresses
            .iter()
            .map(|a| (a.node.as_deref(), a.interface.as_deref(), a.mac.as_deref()))
            .collect();
        assert_eq!(
            nodes,
            [
                (Some("node1"), Some("eth0"), Some("02:00:00:00:00:01")),
                (Some("node3"), Some("eth1"), None)
            ]
        );
    }

    #[test]
    fn pending_conflicting_and_unreported_services_say_why() {
        let pending = svc(
            "pending",
            &[],
            json!([cond(
                SERVICE_ALLOCATED,
                "False",
                "PoolExhausted",
                "every pool that admits the Service is full"
            )]),
        );
        let conflict = svc(
            "taken",
            &["192.168.100.247"],
            json!([
                cond(
                    SERVICE_ALLOCATED,
                    "True",
                    "Allocated",
                    "192.168.100.247 from pool lab"
                ),
                cond(
                    SERVICE_ANNOUNCED,
                    "False",
                    "AddressConflict",
                    "192.168.100.247 is in use by another host (MAC 02:00:00:00:00:09) seen on node1 interface eth0; not announced"
                ),
            ]),
        );
        let unreported = svc(
            "quiet",
            &["192.168.100.242"],
            json!([cond(
                SERVICE_ALLOCATED,
                "True",
                "Allocated",
                "192.168.100.242 from pool lab"
            )]),
        );
        let untouched = svc("new", &[], json!([]));
        let mut other_class = svc("theirs", &[], json!([]));
        other_class.spec.as_mut().expect("spec").load_balancer_class = Some("other".to_owned());
        let report = StatusReport::new(
            &[pending, conflict, unreported, untouched, other_class],
            None,
        );
        let reasons: Vec<_> = report
            .addresses
            .iter()
            .map(|a| {
                (
                    a.name.as_str(),
                    a.reason.as_str(),
                    a.answered,
                    a.node.is_some(),
                )
            })
            .collect();
        assert_eq!(
            reasons,
            [
                ("new", NOT_PROCESSED, false, false),
                ("pending", "PoolExhausted", false, false),
                ("quiet", NOT_REPORTED, false, false),
                ("taken", "AddressConflict", false, false),
            ]
        );
        assert_eq!((report.answered, report.unanswered), (0, 4));
        let table = report.table(Timestamp::now());
        assert!(table.contains("<pending>"), "{table}");
    }
}
