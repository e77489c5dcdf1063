//! `kubectl ferrolb pools`: per pool and family, the addresses used and free, the pools it
//! overlaps and the advertisements that announce it.

use ferrolb_crds::address::normalize;
use ferrolb_crds::conditions::POOL_VALID;
use ferrolb_crds::{AddressRange, IPAddressPool, IpFamily, L2Advertisement};
use serde::Serialize;

use super::table::{Table, dash};

/// What a pool family row says overall, worst first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum PoolState {
    /// The spec does not parse: the pool hands out nothing new.
    Invalid,
    /// No valid L2Advertisement selects the pool: its addresses are given out but not answered.
    NotAdvertised,
    /// No address of the family is free.
    Full,
    /// The controller has not counted the pool yet.
    NotCounted,
    /// Addresses are free and announced.
    Ok,
}

/// One family of one pool (or the pool alone when it is invalid).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PoolFamily {
    /// The pool.
    pub pool: String,
    /// The family; none for an invalid pool.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family: Option<IpFamily>,
    /// Addresses of this family the pool hands out (decimal: an IPv6 pool may hold 2^64 or more).
    pub size: String,
    /// Addresses held by Services, as the controller counted them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub used: Option<i64>,
    /// Addresses free, as the controller counted them (decimal).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub free: Option<String>,
    /// Other pools holding some of the same addresses.
    pub overlaps: Vec<String>,
    /// The L2Advertisements that announce the pool.
    pub advertisements: Vec<String>,
    /// The worst of what is wrong, or `Ok`.
    pub state: PoolState,
    /// What is wrong, in words (empty when nothing is).
    pub message: String,
}

/// Every row of `pools`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PoolsReport {
    /// One row per pool and family.
    pub pools: Vec<PoolFamily>,
    /// Rows whose state is not `Ok`.
    pub unhealthy: usize,
}

struct Parsed<'a> {
    pool: &'a IPAddressPool,
    name: &'a str,
    ranges: Result<Vec<AddressRange>, String>,
}

impl PoolsReport {
    /// The report on `pools`, announced by `advertisements`, sorted by pool name.
    pub fn new(pools: &[IPAddressPool], advertisements: &[L2Advertisement]) -> PoolsReport {
        let mut parsed: Vec<Parsed<'_>> = pools
            .iter()
            .map(|pool| Parsed {
                pool,
                name: pool.metadata.name.as_deref().unwrap_or_default(),
                ranges: invalid_condition(pool).map_or_else(
                    || {
                        pool.spec
                            .ranges()
                            .map(normalize)
                            .map_err(|e| format!("spec.addresses: {e}"))
                    },
                    Err,
                ),
            })
            .collect();
        parsed.sort_by_key(|p| p.name);
        let mut rows = Vec::new();
        for p in &parsed {
            let mut advertisements: Vec<String> = advertisements
                .iter()
                .filter(|a| a.spec.validate().is_ok() && a.selects_pool(p.pool))
                .filter_map(|a| a.metadata.name.clone())
                .collect();
            advertisements.sort();
            let ranges = match &p.ranges {
                Ok(r) => r,
                Err(problem) => {
                    rows.push(PoolFamily {
                        pool: p.name.to_owned(),
                        family: None,
                        size: "0".to_owned(),
                        used: None,
                        free: None,
                        overlaps: Vec::new(),
                        advertisements,
                        state: PoolState::Invalid,
                        message: problem.clone(),
                    });
                    continue;
                }
            };
            for family in IpFamily::ALL {
                let mine: Vec<&AddressRange> =
                    ranges.iter().filter(|r| r.family() == family).collect();
                if mine.is_empty() {
                    continue;
                }
                let size: u128 = mine
                    .iter()
                    .map(|r| {
                        if p.pool.spec.avoid_buggy_ips {
                            r.size_avoiding_buggy()
                        } else {
                            r.size()
                        }
                    })
                    .fold(0, u128::saturating_add);
                let overlaps: Vec<String> = parsed
                    .iter()
                    .filter(|o| o.name != p.name)
                    .filter(|o| {
                        o.ranges.as_ref().is_ok_and(|theirs| {
                            theirs.iter().any(|t| mine.iter().any(|m| m.overlaps(t)))
                        })
                    })
                    .map(|o| o.name.to_owned())
                    .collect();
                let (used, free) = counted(p.pool, family);
                let (state, message) = if advertisements.is_empty() {
                    (
                        PoolState::NotAdvertised,
                        "no valid L2Advertisement selects this pool: its addresses are given \
                         out, but no node answers for them"
                            .to_owned(),
                    )
                } else if free.as_deref() == Some("0") {
                    (
                        PoolState::Full,
                        format!("no {family} address is free: new Services wait"),
                    )
                } else if used.is_none() {
                    (
                        PoolState::NotCounted,
                        "the controller has not counted this pool (is it running, and leading?)"
                            .to_owned(),
                    )
                } else {
                    (PoolState::Ok, String::new())
                };
                rows.push(PoolFamily {
                    pool: p.name.to_owned(),
                    family: Some(family),
                    size: size.to_string(),
                    used,
                    free,
                    overlaps,
                    advertisements: advertisements.clone(),
                    state,
                    message,
                });
            }
        }
        PoolsReport {
            unhealthy: rows.iter().filter(|r| r.state != PoolState::Ok).count(),
            pools: rows,
        }
    }

    /// The table `kubectl ferrolb pools` prints.
    pub fn table(&self) -> String {
        let mut t = Table::new([
            "POOL",
            "FAMILY",
            "USED",
            "FREE",
            "USAGE",
            "OVERLAPS",
            "ADVERTISEMENTS",
            "STATUS",
        ]);
        for r in &self.pools {
            t.row([
                r.pool.clone(),
                dash(r.family.map(IpFamily::as_str)),
                r.used.map_or_else(|| "-".to_owned(), |u| u.to_string()),
                dash(r.free.as_deref()),
                bar(r.used, r.free.as_deref()),
                list(&r.overlaps),
                list(&r.advertisements),
                format!("{:?}", r.state),
            ]);
        }
        t.render()
    }
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "-".to_owned()
    } else {
        items.join(",")
    }
}

/// The `Valid` condition's message when the controller found the pool invalid.
fn invalid_condition(pool: &IPAddressPool) -> Option<String> {
    pool.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == POOL_VALID && c.status == "False")
        .map(|c| c.message.clone())
}

/// The controller's counts of `family` in `pool`.
fn counted(pool: &IPAddressPool, family: IpFamily) -> (Option<i64>, Option<String>) {
    let Some(s) = pool.status.as_ref() else {
        return (None, None);
    };
    match family {
        IpFamily::IPv4 => (s.assigned_ipv4, s.available_ipv4.clone()),
        IpFamily::IPv6 => (s.assigned_ipv6, s.available_ipv6.clone()),
    }
}

/// `[####------]  40%`: the share of the family's addresses in use.
pub fn bar(used: Option<i64>, free: Option<&str>) -> String {
    const WIDTH: usize = 10;
    let (Some(used), Some(free)) = (used, free.and_then(|f| f.parse::<u128>().ok())) else {
        return "-".to_owned();
    };
    let used = u128::try_from(used.max(0)).unwrap_or(0);
    let total = used.saturating_add(free);
    if total == 0 {
        return "-".to_owned();
    }
    // Rounded up, so that a pool with one address in use never looks empty.
    let filled = usize::try_from((used * WIDTH as u128).div_ceil(total)).unwrap_or(WIDTH);
    let percent = (used * 100).div_ceil(total);
    format!(
        "[{}{}] {percent:>3}%",
        "#".repeat(filled),
        "-".repeat(WIDTH - filled)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pool(name: &str, addresses: &[&str], status: serde_json::Value) -> IPAddressPool {
        serde_json::from_value(json!({
            "apiVersion": "ferrolb.io/v1alpha1", "kind": "IPAddressPool",
            "metadata": {"name": name, "labels": {"tier": name}},
            "spec": {"addresses": addresses}, "status": status,
        }))
        .expect("pool")
    }

    fn ad(name: &str, spec: serde_json::Value) -> L2Advertisement {
        serde_json::from_value(json!({
            "apiVersion": "ferrolb.io/v1alpha1", "kind": "L2Advertisement",
            "metadata": {"name": name}, "spec": spec,
        }))
        .expect("advertisement")
    }

    #[test]
    fn families_usage_overlaps_and_advertisements() {
        let pools = [
            pool(
                "lab",
                &["192.168.100.240-192.168.100.249", "fd00:100::/64"],
                json!({"assignedIPv4": 2, "availableIPv4": "8",
                       "assignedIPv6": 0, "availableIPv6": "18446744073709551616"}),
            ),
            pool(
                "tiny",
                &["192.168.100.249/32"],
                json!({"assignedIPv4": 1, "availableIPv4": "0"}),
            ),
            pool("quiet", &["10.0.0.0/30"], json!({})),
        ];
        let ads = [
            ad("all-but-quiet", json!({"ipAddressPools": ["lab", "tiny"]})),
            ad(
                "by-label",
                json!({"ipAddressPoolSelectors": [{"matchLabels": {"tier": "lab"}}]}),
            ),
        ];
        let report = PoolsReport::new(&pools, &ads);
        let rows: Vec<_> = report
            .pools
            .iter()
            .map(|r| {
                (
                    r.pool.as_str(),
                    r.family,
                    r.size.as_str(),
                    r.overlaps.join(","),
                    r.advertisements.join(","),
                    r.state,
                )
            })
            .collect();
        assert_eq!(
            rows,
            [
                (
                    "lab",
                    Some(IpFamily::IPv4),
                    "10",
                    "tiny".to_owned(),
                    "all-but-quiet,by-label".to_owned(),
                    PoolState::Ok
                ),
                (
                    "lab",
                    Some(IpFamily::IPv6),
                    "18446744073709551616",
                    String::new(),
                    "all-but-quiet,by-label".to_owned(),
                    PoolState::Ok
                ),
                (
                    "quiet",
                    Some(IpFamily::IPv4),
                    "4",
                    String::new(),
                    String::new(),
                    PoolState::NotAdvertised
                ),
                (
                    "tiny",
                    Some(IpFamily::IPv4),
                    "1",
                    "lab".to_owned(),
                    "all-but-quiet".to_owned(),
                    PoolState::Full
                ),
            ]
        );
        assert_eq!(report.unhealthy, 2);
        let table = report.table();
        assert!(table.contains("[##--------]  20%"), "{table}");
        assert!(table.contains("[##########] 100%"), "{table}");
    }

    #[test]
    fn an_invalid_pool_is_one_row_naming_the_field() {
        let bad = pool("bad", &["192.168.100.300"], json!({}));
        let report = PoolsReport::new(&[bad], &[ad("all", json!({}))]);
        assert_eq!(report.pools.len(), 1);
        let r = &report.pools[0];
        assert_eq!((r.family, r.state), (None, PoolState::Invalid));
        assert!(r.message.starts_with("spec.addresses"), "{}", r.message);
    }

    #[test]
    fn the_bar_never_hides_a_used_address() {
        assert_eq!(bar(Some(1), Some("1000")), "[#---------]   1%");
        assert_eq!(bar(Some(0), Some("10")), "[----------]   0%");
        assert_eq!(bar(None, Some("10")), "-");
        assert_eq!(
            bar(Some(3), Some("340282366920938463463374607431768211455")),
            "[#---------]   1%"
        );
    }
}
