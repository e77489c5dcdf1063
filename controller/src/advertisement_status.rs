//! Each L2Advertisement's status: whether the speakers can use it as written (`Valid`), and which
//! pools it announces (`PoolsSelected`). An advertisement that announces nothing says why: a
//! pool it names does not exist, or its selectors match no pool.

use std::sync::Arc;

use ferrolb_crds::conditions::{ADVERTISEMENT_POOLS_SELECTED, ADVERTISEMENT_VALID, object};
use ferrolb_crds::{IPAddressPool, L2Advertisement, L2AdvertisementStatus};
use k8s_openapi::jiff::Timestamp;
use kube::{Api, ResourceExt};

use crate::context::Context;
use crate::object_status::{Truth, apply_status, condition, same_conditions};

/// Pool names listed in a message before the rest are only counted.
const LISTED: usize = 8;

/// `a, b and c`, or `a, b, ... and 12 more`.
fn list(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => (*one).to_owned(),
        _ if names.len() > LISTED => {
            format!(
                "{}, ... and {} more",
                names[..LISTED].join(", "),
                names.len() - LISTED
            )
        }
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// The status an advertisement should show, given every pool.
pub fn desired(
    ad: &L2Advertisement,
    pools: &[Arc<IPAddressPool>],
    now: Timestamp,
) -> L2AdvertisementStatus {
    let old = ad
        .status
        .as_ref()
        .map(|s| s.conditions.as_slice())
        .unwrap_or_default();
    let spec = &ad.spec;
    let (valid, selected) = match spec.validate() {
        Err(e) => (
            condition(
                ADVERTISEMENT_VALID,
                Truth::False,
                e.reason(),
                format!(
                    "{e}; the speakers keep announcing with its last valid version, if they saw one"
                ),
                old,
                now,
            ),
            condition(
                ADVERTISEMENT_POOLS_SELECTED,
                Truth::Unknown,
                e.reason(),
                "the spec is not valid (see the Valid condition)".into(),
                old,
                now,
            ),
        ),
        Ok(()) => {
            let valid = condition(
                ADVERTISEMENT_VALID,
                Truth::True,
                object::VALID,
                "the advertisement's selectors, interfaces and interval are valid".into(),
                old,
                now,
            );
            let mut chosen: Vec<&str> = pools
                .iter()
                .filter(|p| ad.selects_pool(p))
                .filter_map(|p| p.metadata.name.as_deref())
                .collect();
            chosen.sort_unstable();
            let mut missing: Vec<&str> = spec
                .ip_address_pools
                .iter()
                .map(String::as_str)
                .filter(|n| !pools.iter().any(|p| p.metadata.name.as_deref() == Some(*n)))
                .collect();
            missing.sort_unstable();
            missing.dedup();
            let not_found = (!missing.is_empty()).then(|| {
                let verb = if missing.len() == 1 { "does" } else { "do" };
                format!(
                    "ipAddressPools names {}, which {verb} not exist",
                    list(&missing)
                )
            });
            let selected = if chosen.is_empty() {
                let mut why: Vec<String> = not_found.into_iter().collect();
                if !spec.ip_address_pool_selectors.is_empty() {
                    why.push("ipAddressPoolSelectors match no pool".into());
                }
                if why.is_empty() {
                    why.push("there is no IPAddressPool".into());
                }
                condition(
                    ADVERTISEMENT_POOLS_SELECTED,
                    Truth::False,
                    object::NO_MATCHING_POOL,
                    format!("{}; nothing is announced for it", why.join("; ")),
                    old,
                    now,
                )
            } else {
                let every =
                    spec.ip_address_pools.is_empty() && spec.ip_address_pool_selectors.is_empty();
                let mut message = if every {
                    format!("announces every pool: {}", list(&chosen))
                } else {
                    format!("announces pool(s) {}", list(&chosen))
                };
                if let Some(n) = not_found {
                    message = format!("{message}; {n}");
                }
                condition(
                    ADVERTISEMENT_POOLS_SELECTED,
                    Truth::True,
                    object::POOLS_SELECTED,
                    message,
                    old,
                    now,
                )
            };
            (valid, selected)
        }
    };
    L2AdvertisementStatus {
        conditions: vec![valid, selected],
    }
}

/// Writes the status of every advertisement whose status differs from what it should be.
pub async fn write_changed(ctx: &Context, now: Timestamp) {
    let pools = ctx.pools.state();
    let writes: Vec<(String, L2AdvertisementStatus)> = ctx
        .advertisements
        .state()
        .iter()
        .filter_map(|ad| {
            let want = desired(ad, &pools, now);
            let current = ad.status.as_ref().map(|s| s.conditions.as_slice());
            (!same_conditions(current.unwrap_or_default(), &want.conditions))
                .then(|| (ad.name_any(), want))
        })
        .collect();
    let api: Api<L2Advertisement> = Api::all(ctx.client.clone());
    for (name, status) in writes {
        apply_status(&api, &name, &status).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrolb_crds::{IPAddressPoolSpec, L2AdvertisementSpec};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};
    use std::collections::BTreeMap;

    fn pool(name: &str, labels: &[(&str, &str)]) -> Arc<IPAddressPool> {
        let mut p = IPAddressPool::new(
            name,
            IPAddressPoolSpec {
                addresses: vec!["192.168.100.240/29".into()],
                auto_assign: true,
                avoid_buggy_ips: false,
                service_allocation: None,
            },
        );
        p.metadata.labels = Some(
            labels
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect(),
        );
        Arc::new(p)
    }

    fn ad(spec: L2AdvertisementSpec) -> L2Advertisement {
        L2Advertisement::new("lan", spec)
    }

    fn label(k: &str, v: &str) -> LabelSelector {
        LabelSelector {
            match_labels: Some(BTreeMap::from([(k.into(), v.into())])),
            match_expressions: None,
        }
    }

    /// (type, status, reason, message) of each condition.
    fn conds(s: &L2AdvertisementStatus) -> Vec<(String, String, String, String)> {
        s.conditions
            .iter()
            .map(|c| {
                (
                    c.type_.clone(),
                    c.status.clone(),
                    c.reason.clone(),
                    c.message.clone(),
                )
            })
            .collect()
    }

    fn selected(a: &L2Advertisement, pools: &[Arc<IPAddressPool>]) -> (String, String, String) {
        let s = desired(a, pools, Timestamp::UNIX_EPOCH);
        let c = conds(&s).remove(1);
        assert_eq!(c.0, ADVERTISEMENT_POOLS_SELECTED);
        (c.1, c.2, c.3)
    }

    #[test]
    fn an_advertisement_naming_nothing_announces_every_pool() {
        let pools = [pool("b", &[]), pool("a", &[])];
        let s = desired(&ad(Default::default()), &pools, Timestamp::UNIX_EPOCH);
        let c = conds(&s);
        assert_eq!(c[0].0, ADVERTISEMENT_VALID);
        assert_eq!((c[0].1.as_str(), c[0].2.as_str()), ("True", object::VALID));
        assert_eq!(
            selected(&ad(Default::default()), &pools),
            (
                "True".into(),
                object::POOLS_SELECTED.into(),
                "announces every pool: a and b".into()
            )
        );
        assert_eq!(
            selected(&ad(Default::default()), &[]),
            (
                "False".into(),
                object::NO_MATCHING_POOL.into(),
                "there is no IPAddressPool; nothing is announced for it".into()
            )
        );
    }

    #[test]
    fn a_missing_pool_is_named() {
        let pools = [pool("lan", &[]), pool("dmz", &[("zone", "dmz")])];
        let named = |names: &[&str]| {
            ad(L2AdvertisementSpec {
                ip_address_pools: names.iter().map(|n| (*n).into()).collect(),
                ..Default::default()
            })
        };
        assert_eq!(
            selected(&named(&["lan", "wan"]), &pools),
            (
                "True".into(),
                object::POOLS_SELECTED.into(),
                "announces pool(s) lan; ipAddressPools names wan, which does not exist".into()
            )
        );
        assert_eq!(
            selected(&named(&["wan", "office", "wan"]), &pools),
            (
                "False".into(),
                object::NO_MATCHING_POOL.into(),
                "ipAddressPools names office and wan, which do not exist; nothing is announced for it"
                    .into()
            )
        );
    }

    #[test]
    fn selectors_that_match_no_pool_say_so() {
        let pools = [pool("lan", &[]), pool("dmz", &[("zone", "dmz")])];
        let by_label = |k: &str, v: &str| {
            ad(L2AdvertisementSpec {
                ip_address_pool_selectors: vec![label(k, v)],
                ..Default::default()
            })
        };
        assert_eq!(
            selected(&by_label("zone", "dmz"), &pools).2,
            "announces pool(s) dmz"
        );
        assert_eq!(
            selected(&by_label("zone", "lab"), &pools),
            (
                "False".into(),
                object::NO_MATCHING_POOL.into(),
                "ipAddressPoolSelectors match no pool; nothing is announced for it".into()
            )
        );
    }

    #[test]
    fn an_invalid_spec_names_the_field_and_leaves_the_pools_unknown() {
        let bad = ad(L2AdvertisementSpec {
            node_selectors: vec![LabelSelector {
                match_expressions: Some(vec![LabelSelectorRequirement {
                    key: "zone".into(),
                    operator: "in".into(),
                    values: Some(vec!["a".into()]),
                }]),
                match_labels: None,
            }],
            ..Default::default()
        });
        let c = conds(&desired(&bad, &[pool("lan", &[])], Timestamp::UNIX_EPOCH));
        assert_eq!(
            (c[0].1.as_str(), c[0].2.as_str()),
            ("False", object::INVALID_SELECTOR)
        );
        assert!(
            c[0].3
                .starts_with("spec.nodeSelectors[0].matchExpressions[0]: operator \"in\""),
            "{}",
            c[0].3
        );
        assert_eq!(
            (c[1].1.as_str(), c[1].2.as_str()),
            ("Unknown", object::INVALID_SELECTOR)
        );
        let interval = ad(L2AdvertisementSpec {
            gratuitous_interval: Some("2d".into()),
            ..Default::default()
        });
        let c = conds(&desired(&interval, &[], Timestamp::UNIX_EPOCH));
        assert_eq!(c[0].2, object::INVALID_INTERVAL);
        assert!(
            c[0].3.starts_with("spec.gratuitousInterval: "),
            "{}",
            c[0].3
        );
    }

    #[test]
    fn long_lists_are_cut() {
        let names: Vec<String> = (0..11).map(|i| format!("p{i:02}")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        assert_eq!(
            list(&refs),
            "p00, p01, p02, p03, p04, p05, p06, p07, ... and 3 more"
        );
        assert_eq!(list(&["a", "b", "c"]), "a, b and c");
    }

    #[test]
    fn a_transition_time_moves_only_when_the_status_flips() {
        let pools = [pool("lan", &[])];
        let mut a = ad(Default::default());
        let t0 = Timestamp::UNIX_EPOCH;
        let t1 = t0 + std::time::Duration::from_secs(60);
        a.status = Some(desired(&a, &pools, t0));
        let again = desired(&a, &pools, t1);
        assert!(
            again
                .conditions
                .iter()
                .all(|c| c.last_transition_time.0 == t0)
        );
        let flipped = desired(&a, &[], t1);
        assert_eq!(flipped.conditions[1].last_transition_time.0, t1);
        assert_eq!(flipped.conditions[0].last_transition_time.0, t0);
    }
}
