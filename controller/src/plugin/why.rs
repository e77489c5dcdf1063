//! `kubectl ferrolb why <service>`: one Service's allocation and announcement, from its
//! conditions and events, in plain words, with the next step when an address is not answered.

use std::fmt::Write;

use ferrolb_crds::conditions::{SERVICE_ALLOCATED, SERVICE_ANNOUNCED};
use k8s_openapi::api::core::v1::{Event, Service};
use k8s_openapi::jiff::Timestamp;
use serde::Serialize;

use super::advice::advice;
use super::status::{AddressStatus, condition, service_rows};
use super::table::{Table, age};

/// A condition as `why` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConditionSaid {
    /// `ferrolb.io/Allocated` or `ferrolb.io/Announced`.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True` or `False`.
    pub status: String,
    /// The reason.
    pub reason: String,
    /// The message.
    pub message: String,
    /// When the status last changed.
    pub since: Timestamp,
}

/// An event about the Service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventSaid {
    /// When it last happened.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<Timestamp>,
    /// `Normal` or `Warning`.
    #[serde(rename = "type")]
    pub type_: String,
    /// The reason.
    pub reason: String,
    /// Who reported it (`ferrolb-controller`, `ferrolb-speaker` and its node).
    pub reporter: String,
    /// How many times.
    pub count: i32,
    /// The message.
    pub message: String,
}

/// The story of one Service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WhyReport {
    /// The Service's namespace.
    pub namespace: String,
    /// The Service's name.
    pub name: String,
    /// Whether every address is answered.
    pub answered: bool,
    /// One row per address, as `status` shows them.
    pub addresses: Vec<AddressStatus>,
    /// ferrolb's conditions on the Service.
    pub conditions: Vec<ConditionSaid>,
    /// Events about the Service, oldest first.
    pub events: Vec<EventSaid>,
    /// What to do, one entry per distinct reason an address is not answered.
    pub advice: Vec<String>,
}

impl WhyReport {
    /// The story of `svc` with its `events` (any order).
    pub fn new(svc: &Service, events: &[Event]) -> WhyReport {
        let addresses = service_rows(svc);
        let conditions = [SERVICE_ALLOCATED, SERVICE_ANNOUNCED]
            .iter()
            .filter_map(|t| condition(svc, t))
            .map(|c| ConditionSaid {
                type_: c.type_.clone(),
                status: c.status.clone(),
                reason: c.reason.clone(),
                message: c.message.clone(),
                since: c.last_transition_time.0,
            })
            .collect();
        let mut events: Vec<EventSaid> = events.iter().map(event_said).collect();
        events.sort_by_key(|e| e.time);
        let mut advice_given: Vec<String> = Vec::new();
        for a in addresses.iter().filter(|a| !a.answered) {
            if let Some(words) = advice(&a.reason)
                && !advice_given.iter().any(|g| g == words)
            {
                advice_given.push(words.to_owned());
            }
        }
        WhyReport {
            namespace: svc.metadata.namespace.clone().unwrap_or_default(),
            name: svc.metadata.name.clone().unwrap_or_default(),
            answered: addresses.iter().all(|a| a.answered),
            addresses,
            conditions,
            events,
            advice: advice_given,
        }
    }

    /// The text `kubectl ferrolb why` prints.
    pub fn text(&self, now: Timestamp) -> String {
        let mut out = String::new();
        let (ns, name) = (&self.namespace, &self.name);
        if self.answered {
            let _ = writeln!(out, "Service {ns}/{name} is answered.");
        } else {
            let _ = writeln!(out, "Service {ns}/{name} is NOT answered.");
        }
        for a in &self.addresses {
            let _ = writeln!(out, "  {}", sentence(a, now));
        }
        for c in &self.conditions {
            let _ = writeln!(
                out,
                "\n{} is {} ({}, {} ago):\n  {}",
                c.type_,
                c.status,
                c.reason,
                age(c.since, now),
                c.message
            );
        }
        if self.events.is_empty() {
            let _ = writeln!(
                out,
                "\nNo events about the Service (events expire after an hour)."
            );
        } else {
            let _ = writeln!(out, "\nEvents, oldest first:");
            let mut t = Table::new(["AGE", "TYPE", "REASON", "FROM", "MESSAGE"]);
            for e in &self.events {
                t.row([
                    e.time.map_or_else(|| "-".to_owned(), |t| age(t, now)),
                    e.type_.clone(),
                    e.reason.clone(),
                    e.reporter.clone(),
                    if e.count > 1 {
                        format!("{} (x{})", e.message, e.count)
                    } else {
                        e.message.clone()
                    },
                ]);
            }
            for line in t.render().lines() {
                let _ = writeln!(out, "  {line}");
            }
        }
        if !self.advice.is_empty() {
            let _ = writeln!(out, "\nWhat to do:");
            for words in &self.advice {
                let _ = writeln!(out, "  - {words}");
            }
        }
        out
    }
}

/// One address's state in a sentence.
fn sentence(a: &AddressStatus, now: Timestamp) -> String {
    let since = a
        .since
        .map(|t| format!(" for {}", age(t, now)))
        .unwrap_or_default();
    let Some(ip) = a.address else {
        return format!("It has no address{since}: {} ({}).", a.message, a.reason);
    };
    let pool = a
        .pool
        .as_deref()
        .map(|p| format!(" (pool {p})"))
        .unwrap_or_default();
    if a.answered {
        let node = a.node.as_deref().unwrap_or("?");
        let interface = a.interface.as_deref().unwrap_or("?");
        let mac = a
            .mac
            .as_deref()
            .map(|m| format!("; clients should see MAC {m}"))
            .unwrap_or_default();
        format!("{ip}{pool} is answered by node {node} on interface {interface}{mac}{since}.")
    } else {
        format!(
            "{ip}{pool} is not answered{since}: {} ({}).",
            a.message, a.reason
        )
    }
}

fn event_said(e: &Event) -> EventSaid {
    let time = e
        .series
        .as_ref()
        .and_then(|s| s.last_observed_time.as_ref().map(|t| t.0))
        .or_else(|| e.last_timestamp.as_ref().map(|t| t.0))
        .or_else(|| e.event_time.as_ref().map(|t| t.0))
        .or_else(|| e.metadata.creation_timestamp.as_ref().map(|t| t.0));
    let component = e
        .reporting_component
        .clone()
        .filter(|c| !c.is_empty())
        .or_else(|| e.source.as_ref().and_then(|s| s.component.clone()))
        .unwrap_or_default();
    let instance = e
        .reporting_instance
        .clone()
        .filter(|i| !i.is_empty())
        .or_else(|| e.source.as_ref().and_then(|s| s.host.clone()));
    EventSaid {
        time,
        type_: e.type_.clone().unwrap_or_default(),
        reason: e.reason.clone().unwrap_or_default(),
        reporter: match instance {
            Some(i) if i != component => format!("{component}/{i}"),
            _ => component,
        },
        count: e
            .series
            .as_ref()
            .and_then(|s| s.count)
            .or(e.count)
            .unwrap_or(1),
        message: e.message.clone().unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_conflict_is_told_with_its_events_and_what_to_do() {
        let svc: Service = serde_json::from_value(json!({
            "metadata": {"name": "taken", "namespace": "default"},
            "spec": {"type": "LoadBalancer"},
            "status": {
                "loadBalancer": {"ingress": [{"ip": "192.168.100.247"}]},
                "conditions": [
                    {"type": SERVICE_ALLOCATED, "status": "True", "reason": "Allocated",
                     "message": "192.168.100.247 from pool lab",
                     "lastTransitionTime": "2026-12-07T10:00:00Z"},
                    {"type": SERVICE_ANNOUNCED, "status": "False", "reason": "AddressConflict",
                     "message": "192.168.100.247 is in use by another host (MAC 02:00:00:00:00:09) seen on node1 interface eth0; not announced",
                     "lastTransitionTime": "2026-12-07T10:00:05Z"},
                ],
            },
        }))
        .expect("service");
        let events: Vec<Event> = serde_json::from_value(json!([
            {"metadata": {"name": "b", "namespace": "default"}, "involvedObject": {},
             "type": "Warning", "reason": "AddressConflict",
             "message": "192.168.100.247 is in use by another host",
             "eventTime": "2026-12-07T10:00:05.000000Z",
             "reportingComponent": "ferrolb-speaker", "reportingInstance": "node1"},
            {"metadata": {"name": "a", "namespace": "default"}, "involvedObject": {},
             "type": "Normal", "reason": "IPAllocated",
             "message": "Assigned 192.168.100.247 from pool lab",
             "eventTime": "2026-12-07T10:00:00.000000Z",
             "reportingComponent": "ferrolb-controller", "reportingInstance": "ferrolb-controller"},
        ]))
        .expect("events");
        let report = WhyReport::new(&svc, &events);
        assert!(!report.answered);
        assert_eq!(report.conditions.len(), 2);
        let reasons: Vec<_> = report.events.iter().map(|e| e.reason.as_str()).collect();
        assert_eq!(reasons, ["IPAllocated", "AddressConflict"]);
        assert_eq!(report.events[1].reporter, "ferrolb-speaker/node1");
        assert_eq!(report.events[0].reporter, "ferrolb-controller");
        assert_eq!(report.advice.len(), 1);
        let now = Timestamp::from_second(1_796_637_605 + 60).expect("time");
        let text = report.text(now);
        assert!(
            text.starts_with("Service default/taken is NOT answered."),
            "{text}"
        );
        assert!(
            text.contains("192.168.100.247 (pool lab) is not answered for "),
            "{text}"
        );
        assert!(text.contains("What to do:\n  - Another host"), "{text}");
    }
}
