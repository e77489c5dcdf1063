//! Property tests: random pools and random sequences of allocate/release.

use std::collections::BTreeSet;

use ferrolb_crds::IpFamily;
use proptest::prelude::*;

use super::tests::{mk_pool, mk_svc};
use super::*;

/// Small, overlapping pools so collisions, sharing and exhaustion all happen.
fn pools() -> Vec<Pool> {
    let mut a = mk_pool("a", &["10.0.0.0/29", "fd00::/126"]);
    a.avoid_buggy_ips = true;
    let mut b = mk_pool("b", &["10.0.0.4-10.0.0.9"]);
    b.policy = Some(PoolPolicy {
        priority: Some(1),
        namespaces: ["ns1".to_string()].into_iter().collect(),
        ..Default::default()
    });
    let mut c = mk_pool("c", &["10.0.0.255-10.0.1.1", "fd00::2-fd00::5"]);
    c.auto_assign = false;
    vec![a, b, c]
}

#[derive(Clone, Debug)]
enum Op {
    Allocate(Box<ServiceClaim>),
    Release(ServiceKey),
}

fn claim() -> impl Strategy<Value = ServiceClaim> {
    (
        0usize..12,
        0usize..2,
        prop::option::of(0usize..2),
        prop::collection::btree_set(1u16..4, 0..3),
        0usize..4,
        prop::option::of(0usize..4),
        any::<bool>(),
    )
        .prop_map(|(n, ns, key, ports, fam, pool, local)| {
            let mut svc = mk_svc(&format!("s{n}"));
            svc.key.namespace = format!("ns{ns}");
            svc.request.sharing_key = key.map(|k| format!("k{k}"));
            svc.ports = ports.into_iter().map(Port::tcp).collect();
            svc.families = match fam {
                0 | 1 => Families::single(IpFamily::IPv4),
                2 => Families::single(IpFamily::IPv6),
                _ => Families {
                    policy: StackPolicy::PreferDualStack,
                    families: vec![IpFamily::IPv4, IpFamily::IPv6],
                },
            };
            svc.request.pool = pool.and_then(|p| ["a", "b", "c"].get(p).map(|s| s.to_string()));
            if local {
                svc.backend = Backend::Local {
                    selector: [("app".to_string(), format!("{}", n % 2))]
                        .into_iter()
                        .collect(),
                };
            }
            svc
        })
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(
        prop_oneof![
            4 => claim().prop_map(|c| Op::Allocate(Box::new(c))),
            1 => (0usize..12, 0usize..2)
                .prop_map(|(n, ns)| Op::Release(ServiceKey::new(format!("ns{ns}"), format!("s{n}")))),
        ],
        1..60,
    )
}

fn run(alloc: &mut Allocator, ops: &[Op]) -> Vec<Result<Allocation, AllocationError>> {
    ops.iter()
        .map(|op| match op {
            Op::Allocate(claim) => alloc.allocate(claim),
            Op::Release(key) => Ok(Allocation {
                service: key.clone(),
                addresses: alloc
                    .release(key)
                    .into_iter()
                    .map(|ip| AssignedAddress {
                        ip,
                        pool: None,
                        placement: Placement::OutsideAllPools,
                    })
                    .collect(),
                outcome: Outcome::Unchanged,
            }),
        })
        .collect()
}

/// Every address's holders may legally share it, and the two indexes agree.
fn check_invariants(alloc: &Allocator) -> Result<(), TestCaseError> {
    for (ip, use_) in &alloc.addresses {
        prop_assert!(!use_.users.is_empty());
        if use_.users.len() > 1 {
            prop_assert!(use_.sharing_key.is_some(), "{ip} shared without a key");
            let mut seen = BTreeSet::new();
            for ports in use_.users.values() {
                for port in ports {
                    prop_assert!(seen.insert(*port), "{ip}: port {port} used twice");
                }
            }
        }
        for key in use_.users.keys() {
            let held = alloc.services.get(key);
            prop_assert!(held.is_some_and(|h| h.addresses.iter().any(|(a, _)| a == ip)));
        }
    }
    for (key, held) in &alloc.services {
        let families: BTreeSet<_> = held
            .addresses
            .iter()
            .map(|(ip, _)| IpFamily::of(*ip))
            .collect();
        prop_assert_eq!(
            families.len(),
            held.addresses.len(),
            "{} has two of a family",
            key
        );
        for (ip, _) in &held.addresses {
            prop_assert!(
                alloc
                    .addresses
                    .get(ip)
                    .is_some_and(|u| u.users.contains_key(key))
            );
        }
    }
    Ok(())
}

proptest! {
    #[test]
    fn allocations_are_legal_and_consistent(ops in ops()) {
        let mut alloc = Allocator::new();
        alloc.reset_pools(pools());
        for op in &ops {
            let result = run(&mut alloc, std::slice::from_ref(op)).remove(0);
            if let (Op::Allocate(claim), Ok(got)) = (op, &result)
                && got.outcome != Outcome::Unchanged
            {
                // Fresh addresses come from a pool that admits the Service today.
                for a in &got.addresses {
                    prop_assert_eq!(a.placement, Placement::InPolicy, "{:?}", got);
                    let pool = a.pool.as_deref().and_then(|p| alloc.pool(p)).map(|(p, _)| p);
                    prop_assert!(pool.is_some_and(|p| p.in_policy(claim, a.ip)), "{:?}", got);
                }
            }
            check_invariants(&alloc)?;
        }
    }

    #[test]
    fn same_inputs_same_results_whatever_the_pool_order(ops in ops()) {
        let mut forward = Allocator::new();
        forward.reset_pools(pools());
        let mut backward = Allocator::new();
        backward.reset_pools(pools().into_iter().rev());
        prop_assert_eq!(run(&mut forward, &ops), run(&mut backward, &ops));
    }

    #[test]
    fn release_everything_then_allocate_again(ops in ops()) {
        let mut alloc = Allocator::new();
        alloc.reset_pools(pools());
        run(&mut alloc, &ops);
        for n in 0..12 {
            for ns in 0..2 {
                alloc.release(&ServiceKey::new(format!("ns{ns}"), format!("s{n}")));
            }
        }
        prop_assert!(alloc.addresses.is_empty());
        prop_assert_eq!(alloc.service_count(), 0);
        let fresh = alloc.allocate(&mk_svc("s0")).expect("an empty allocator has room");
        prop_assert_eq!(fresh.ips(), vec!["10.0.0.1".parse::<std::net::IpAddr>().expect("ip")]);
    }

    #[test]
    fn restart_keeps_every_address(ops in ops()) {
        let mut before = Allocator::new();
        before.reset_pools(pools());
        // Services whose latest claim was met, with that claim (a failed request change leaves
        // the older addresses, which a restart may legitimately fix).
        let mut settled = std::collections::BTreeMap::new();
        for op in &ops {
            let result = run(&mut before, std::slice::from_ref(op)).remove(0);
            match op {
                Op::Allocate(claim) => match &result {
                    Ok(a) => {
                        // What the status would say each address came from.
                        let named: Vec<(std::net::IpAddr, String)> = a
                            .addresses
                            .iter()
                            .filter_map(|x| Some((x.ip, x.pool.clone()?)))
                            .collect();
                        settled.insert(claim.key.clone(), ((**claim).clone(), named));
                    }
                    Err(_) => {
                        settled.remove(&claim.key);
                    }
                },
                Op::Release(key) => {
                    settled.remove(key);
                }
            }
        }
        let mut after = Allocator::new();
        after.reset_pools(pools());
        for (key, (claim, named)) in &settled {
            let ips = before.assignment(key).expect("settled Services hold addresses");
            let named: Vec<_> = named.iter().map(|(ip, p)| (*ip, p.as_str())).collect();
            after.assign_existing(claim, &ips, &named).expect("re-reserves");
        }
        for (key, (claim, _)) in &settled {
            let held = before.assignment(key).expect("held");
            let got = after.allocate(claim).expect("keeps");
            // The restart changes nothing the running allocator would not do on its next look
            // (which may complete a PreferDualStack Service), and keeps every address.
            let live = before.allocate(claim).expect("keeps");
            prop_assert_eq!(&got.ips(), &live.ips());
            prop_assert_eq!(&got.outcome, &live.outcome);
            prop_assert!(held.iter().all(|ip| got.ips().contains(ip)), "{:?} {:?}", held, got);
            let kept = matches!(got.outcome, Outcome::Unchanged | Outcome::Extended { .. });
            prop_assert!(kept, "{:?}", got.outcome);
        }
    }
}
