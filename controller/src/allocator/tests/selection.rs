//! Which pool and which address a fresh allocation gets.

use super::*;

#[test]
fn hands_out_the_lowest_free_address() {
    let mut alloc = kubespray();
    for (n, want) in ["a", "b", "c"].iter().zip(["240", "241", "242"]) {
        let got = alloc.allocate(&mk_svc(n)).expect("allocates");
        assert_eq!(got.ips(), [ip(&format!("192.168.100.{want}"))]);
        assert_eq!(got.outcome, Outcome::Allocated);
        assert_eq!(got.addresses[0].pool.as_deref(), Some("default"));
        assert_eq!(got.reason(), "Allocated");
    }
    assert_eq!(alloc.release(&mk_svc("b").key), [ip("192.168.100.241")]);
    assert_eq!(ips_of(&mut alloc, &mk_svc("d")), [ip("192.168.100.241")]);
    assert_eq!(ips_of(&mut alloc, &mk_svc("e")), [ip("192.168.100.243")]);
}

#[test]
fn avoid_buggy_ips_skips_dot_0_and_dot_255() {
    let mut alloc = Allocator::new();
    let mut pool = mk_pool("p", &["192.168.100.254-192.168.101.1"]);
    pool.avoid_buggy_ips = true;
    alloc.apply_pool(pool);
    assert_eq!(ips_of(&mut alloc, &mk_svc("a")), [ip("192.168.100.254")]);
    assert_eq!(ips_of(&mut alloc, &mk_svc("b")), [ip("192.168.101.1")]);
    let err = alloc.allocate(&mk_svc("c")).expect_err("full");
    assert_eq!(err.reason(), "PoolExhausted");
}

#[test]
fn exhaustion_and_no_pool_are_told_apart() {
    let mut alloc = Allocator::new();
    assert_eq!(
        alloc.allocate(&mk_svc("a")),
        Err(AllocationError::NoMatchingPool {
            family: IpFamily::IPv4
        })
    );
    alloc.apply_pool(mk_pool("one", &["10.0.0.1"]));
    ips_of(&mut alloc, &mk_svc("a"));
    assert_eq!(
        alloc.allocate(&mk_svc("b")),
        Err(AllocationError::PoolExhausted {
            family: IpFamily::IPv4,
            pools: vec!["one".into()]
        })
    );
    let mut v6 = mk_svc("c");
    v6.families = Families::single(IpFamily::IPv6);
    assert_eq!(
        alloc.allocate(&v6).map_err(|e| e.reason()),
        Err("NoMatchingPool")
    );
}

#[test]
fn requested_ips_must_be_in_an_admitting_pool() {
    let mut alloc = kubespray();
    let mut svc = mk_svc("a");
    svc.request.ips = vec![ip("192.168.100.245")];
    assert_eq!(ips_of(&mut alloc, &svc), [ip("192.168.100.245")]);

    let mut outside = mk_svc("b");
    outside.request.ips = vec![ip("192.168.100.250")];
    let err = alloc.allocate(&outside).expect_err("outside");
    assert_eq!(err.reason(), "RequestedIPOutsidePools");

    let mut taken = mk_svc("c");
    taken.request.ips = vec![ip("192.168.100.245")];
    let err = alloc.allocate(&taken).expect_err("in use");
    assert!(matches!(
        &err,
        AllocationError::RequestedIPInUse { holders, conflict: SharingConflict::NotShared, .. }
            if holders == &[svc.key.clone()]
    ));
    assert!(err.to_string().contains("default/a"), "{err}");
}

#[test]
fn requested_ip_in_a_pool_without_auto_assign_is_given() {
    let mut alloc = Allocator::new();
    let mut pool = mk_pool("manual", &["10.0.0.0/30"]);
    pool.auto_assign = false;
    alloc.apply_pool(pool);
    assert_eq!(
        alloc.allocate(&mk_svc("a")).map_err(|e| e.reason()),
        Err("NoMatchingPool")
    );
    let mut svc = mk_svc("b");
    svc.request.ips = vec![ip("10.0.0.2")];
    let got = alloc.allocate(&svc).expect("requested");
    assert_eq!(got.addresses[0].placement, Placement::InPolicy);
}

#[test]
fn requested_buggy_ip_is_refused_with_the_reason() {
    let mut alloc = Allocator::new();
    let mut pool = mk_pool("p", &["10.0.0.0/24"]);
    pool.avoid_buggy_ips = true;
    alloc.apply_pool(pool);
    let mut svc = mk_svc("a");
    svc.request.ips = vec![ip("10.0.0.255")];
    let err = alloc.allocate(&svc).expect_err("avoided");
    assert!(matches!(
        err,
        AllocationError::RequestedIPOutsidePools { avoided: true, .. }
    ));
    assert!(err.to_string().contains("avoidBuggyIPs"), "{err}");
}

#[test]
fn requested_pool_is_used_even_without_auto_assign() {
    let mut alloc = kubespray();
    let mut manual = mk_pool("manual", &["10.0.0.0/30"]);
    manual.auto_assign = false;
    alloc.apply_pool(manual);
    let mut svc = mk_svc("a");
    svc.request.pool = Some("manual".into());
    assert_eq!(ips_of(&mut alloc, &svc), [ip("10.0.0.0")]);

    svc.request.pool = Some("missing".into());
    let err = alloc.allocate(&svc).expect_err("missing pool");
    assert_eq!(err.reason(), "RequestedPoolNotFound");

    let mut picky = mk_policy_pool("picky", &["10.1.0.0/30"], None);
    if let Some(p) = picky.policy.as_mut() {
        p.namespaces.insert("other".into());
    }
    alloc.apply_pool(picky);
    let mut svc = mk_svc("b");
    svc.request.pool = Some("picky".into());
    assert_eq!(
        alloc.allocate(&svc).map_err(|e| e.reason()),
        Err("RequestedPoolNotAllowed")
    );

    alloc.invalidate_pool("manual");
    let mut svc = mk_svc("c");
    svc.request.pool = Some("manual".into());
    assert_eq!(
        alloc.allocate(&svc).map_err(|e| e.reason()),
        Err("RequestedPoolInvalid")
    );
}

#[test]
fn requested_ip_must_lie_in_the_requested_pool_too() {
    let mut alloc = kubespray();
    alloc.apply_pool(mk_pool("other", &["10.0.0.0/30"]));
    let mut svc = mk_svc("a");
    svc.request.pool = Some("other".into());
    svc.request.ips = vec![ip("192.168.100.240")];
    let err = alloc.allocate(&svc).expect_err("not in requested pool");
    assert!(err.to_string().contains("requested pool other"), "{err}");
}

#[test]
fn matching_pools_by_priority_then_name_then_other_auto_pools() {
    let mut alloc = Allocator::new();
    alloc.apply_pool(mk_pool("a-plain", &["10.0.0.1"]));
    alloc.apply_pool(mk_policy_pool("b-prio5", &["10.0.0.2"], Some(5)));
    alloc.apply_pool(mk_policy_pool("c-prio1", &["10.0.0.3"], Some(1)));
    alloc.apply_pool(mk_policy_pool("d-noprio", &["10.0.0.4"], None));
    alloc.apply_pool(mk_policy_pool("e-prio5", &["10.0.0.5"], Some(5)));
    alloc.apply_pool(mk_pool("f-plain", &["10.0.0.6"]));
    let order: Vec<Option<String>> = (0..6)
        .map(|n| {
            let got = alloc
                .allocate(&mk_svc(&format!("s{n}")))
                .expect("allocates");
            got.addresses[0].pool.clone()
        })
        .collect();
    let want = [
        "c-prio1", "b-prio5", "e-prio5", "d-noprio", "a-plain", "f-plain",
    ];
    assert_eq!(order, want.map(|s| Some(s.to_string())));
}

#[test]
fn service_allocation_selects_by_namespace_and_labels() {
    let mut alloc = Allocator::new();
    let mut team = mk_policy_pool("team", &["10.0.0.0/30"], Some(1));
    if let Some(p) = team.policy.as_mut() {
        p.namespaces.insert("team-a".into());
        p.namespace_selectors.push(selector(&[("team", "b")]));
        p.service_selectors.push(selector(&[("tier", "web")]));
    }
    alloc.apply_pool(team);
    alloc.apply_pool(mk_pool("rest", &["10.9.0.0/30"]));

    let mut by_name = ServiceClaim::new(ServiceKey::new("team-a", "s"));
    by_name.labels = labels(&[("tier", "web")]);
    let mut by_label = ServiceClaim::new(ServiceKey::new("ns-b", "s"));
    by_label.labels = labels(&[("tier", "web")]);
    by_label.namespace_labels = labels(&[("team", "b")]);
    let mut wrong_tier = by_name.clone();
    wrong_tier.key.name = "t".into();
    wrong_tier.labels = labels(&[("tier", "db")]);
    let outsider = ServiceClaim::new(ServiceKey::new("elsewhere", "s"));

    let pool_of = |alloc: &mut Allocator, svc: &ServiceClaim| {
        alloc.allocate(svc).expect("allocates").addresses[0]
            .pool
            .clone()
    };
    assert_eq!(pool_of(&mut alloc, &by_name).as_deref(), Some("team"));
    assert_eq!(pool_of(&mut alloc, &by_label).as_deref(), Some("team"));
    assert_eq!(pool_of(&mut alloc, &wrong_tier).as_deref(), Some("rest"));
    assert_eq!(pool_of(&mut alloc, &outsider).as_deref(), Some("rest"));
}

fn dual(policy: StackPolicy, name: &str) -> ServiceClaim {
    let mut svc = mk_svc(name);
    svc.families = Families {
        policy,
        families: vec![IpFamily::IPv6, IpFamily::IPv4],
    };
    svc
}

#[test]
fn a_services_addresses_come_from_one_pool() {
    let mut alloc = Allocator::new();
    alloc.apply_pool(mk_pool("v4", &["10.0.0.0/30"]));
    alloc.apply_pool(mk_pool("v6", &["fd00::/120"]));
    let require = dual(StackPolicy::RequireDualStack, "require");
    // An IPv4 pool and an IPv6 pool do not make a dual-stack Service.
    assert_eq!(
        alloc.allocate(&require),
        Err(AllocationError::NoDualStackPool)
    );
    let prefer = dual(StackPolicy::PreferDualStack, "prefer");
    // PreferDualStack settles for its primary family.
    let got = alloc.allocate(&prefer).expect("allocates");
    assert_eq!(got.ips(), [ip("fd00::")]);
    assert_eq!(got.addresses[0].pool.as_deref(), Some("v6"));

    // A dual pool serves both, both from it.
    alloc.apply_pool(mk_pool("z-dual", &["10.1.0.0/31", "fd01::/127"]));
    let got = alloc.allocate(&require).expect("allocates");
    assert_eq!(got.ips(), [ip("fd01::"), ip("10.1.0.0")]);
    assert!(
        got.addresses
            .iter()
            .all(|a| a.pool.as_deref() == Some("z-dual"))
    );
    // The dual pool's IPv4 side full: RequireDualStack waits, PreferDualStack takes IPv6 alone
    // from the first pool with room.
    let filler = mk_svc("filler");
    let mut filler = filler;
    filler.request.pool = Some("z-dual".into());
    assert_eq!(ips_of(&mut alloc, &filler), [ip("10.1.0.1")]);
    assert_eq!(
        alloc.allocate(&dual(StackPolicy::RequireDualStack, "r2")),
        Err(AllocationError::PoolExhausted {
            family: IpFamily::IPv4,
            pools: vec!["z-dual".into()]
        })
    );
    assert_eq!(
        ips_of(&mut alloc, &dual(StackPolicy::PreferDualStack, "p2")),
        [ip("fd00::1")]
    );
    let mut single = mk_svc("single6");
    single.families = Families::single(IpFamily::IPv6);
    assert_eq!(ips_of(&mut alloc, &single), [ip("fd00::2")]);
}

#[test]
fn requested_ips_come_from_one_pool() {
    let mut alloc = Allocator::new();
    alloc.apply_pool(mk_pool("v4", &["10.0.0.0/30"]));
    alloc.apply_pool(mk_pool("v6", &["fd00::/120"]));
    let mut svc = dual(StackPolicy::RequireDualStack, "a");
    svc.request.ips = vec![ip("fd00::5"), ip("10.0.0.2")];
    assert_eq!(
        alloc.allocate(&svc).map_err(|e| e.reason()),
        Err("RequestedIPsInSeveralPools")
    );
    alloc.apply_pool(mk_pool("both", &["10.0.0.2", "fd00::5"]));
    let got = alloc.allocate(&svc).expect("allocates");
    assert_eq!(got.ips(), [ip("fd00::5"), ip("10.0.0.2")]);
    assert!(
        got.addresses
            .iter()
            .all(|a| a.pool.as_deref() == Some("both"))
    );
}

#[test]
fn prefer_dual_stack_gains_the_other_family_when_its_pool_does() {
    let mut alloc = Allocator::new();
    alloc.apply_pool(mk_pool("p", &["fd00::/120"]));
    let prefer = dual(StackPolicy::PreferDualStack, "prefer");
    assert_eq!(ips_of(&mut alloc, &prefer), [ip("fd00::")]);
    // Another pool with IPv4 is not its pool: nothing changes.
    alloc.apply_pool(mk_pool("other", &["10.9.0.0/30"]));
    let again = alloc.allocate(&prefer).expect("keeps");
    assert_eq!(
        (again.ips(), again.outcome),
        (vec![ip("fd00::")], Outcome::Unchanged)
    );
    // Its own pool gains IPv4: the address is kept and IPv4 is added from that pool.
    alloc.apply_pool(mk_pool("p", &["fd00::/120", "10.0.0.0/30"]));
    let grown = alloc.allocate(&prefer).expect("extends");
    assert_eq!(grown.ips(), [ip("fd00::"), ip("10.0.0.0")]);
    assert_eq!(
        grown.outcome,
        Outcome::Extended {
            added: vec![ip("10.0.0.0")],
            by_request: false,
        }
    );
    assert_eq!(
        alloc.allocate(&prefer).expect("keeps").outcome,
        Outcome::Unchanged
    );
    // A Service that asked for one address is left as it asked.
    let mut asked = dual(StackPolicy::PreferDualStack, "asked");
    asked.request.ips = vec![ip("fd00::9")];
    assert_eq!(ips_of(&mut alloc, &asked), [ip("fd00::9")]);
    assert_eq!(
        alloc.allocate(&asked).expect("keeps").ips(),
        [ip("fd00::9")]
    );
}

#[test]
fn switching_families_keeps_the_address_it_has() {
    let mut alloc = Allocator::new();
    alloc.apply_pool(mk_pool("both", &["10.0.0.0/30", "fd00::/120"]));
    let mut svc = mk_svc("a");
    svc.families = Families::single(IpFamily::IPv6);
    let filler = {
        let mut f = mk_svc("filler");
        f.families = Families::single(IpFamily::IPv6);
        f
    };
    assert_eq!(ips_of(&mut alloc, &filler), [ip("fd00::")]);
    assert_eq!(ips_of(&mut alloc, &svc), [ip("fd00::1")]);
    alloc.release(&filler.key);
    // Single to RequireDualStack: fd00::1 stays (fd00:: is free and lower), IPv4 is added.
    svc.families.policy = StackPolicy::RequireDualStack;
    svc.families.families = vec![IpFamily::IPv6, IpFamily::IPv4];
    let got = alloc.allocate(&svc).expect("extends");
    assert_eq!(got.ips(), [ip("fd00::1"), ip("10.0.0.0")]);
    assert_eq!(
        got.outcome,
        Outcome::Extended {
            added: vec![ip("10.0.0.0")],
            by_request: true,
        }
    );
    // And back: the IPv4 address is given up, the IPv6 one kept.
    svc.families = Families::single(IpFamily::IPv6);
    let got = alloc.allocate(&svc).expect("trims");
    assert_eq!(got.ips(), [ip("fd00::1")]);
    assert!(alloc.holders(ip("10.0.0.0")).is_empty());
}

#[test]
fn requested_ips_must_fit_the_families() {
    let mut alloc = Allocator::new();
    alloc.apply_pool(mk_pool("both", &["10.0.0.0/30", "fd00::/120"]));
    let mut svc = mk_svc("a");
    svc.request.ips = vec![ip("fd00::5")];
    let err = alloc.allocate(&svc).expect_err("IPv4 single stack");
    assert_eq!(err.reason(), "RequestedIPFamilyMismatch");
    svc.families = Families {
        policy: StackPolicy::RequireDualStack,
        families: vec![IpFamily::IPv4, IpFamily::IPv6],
    };
    assert_eq!(
        alloc.allocate(&svc).map_err(|e| e.reason()),
        Err("RequestedIPFamilyMismatch")
    );
    svc.request.ips = vec![ip("fd00::5"), ip("10.0.0.2")];
    assert_eq!(ips_of(&mut alloc, &svc), [ip("10.0.0.2"), ip("fd00::5")]);
}

#[test]
fn pool_from_crd_and_claim_from_service() {
    let object: ferrolb_crds::IPAddressPool = serde_json::from_value(serde_json::json!({
        "apiVersion": "ferrolb.io/v1alpha1", "kind": "IPAddressPool",
        "metadata": {"name": "p"},
        "spec": {"addresses": ["10.0.0.8/29", "10.0.0.0-10.0.0.9"], "avoidBuggyIPs": true,
                 "serviceAllocation": {"priority": 3, "namespaces": ["a"],
                     "serviceSelectors": [{"matchExpressions": [{"key": "x", "operator": "Exists"}]}]}}
    }))
    .expect("pool object");
    let pool = Pool::from_crd(&object).expect("valid");
    assert_eq!(pool.ranges().len(), 1);
    assert_eq!(pool.ranges()[0].to_string(), "10.0.0.0-10.0.0.15");
    assert!(pool.auto_assign && pool.avoid_buggy_ips);
    assert_eq!(pool.policy.as_ref().and_then(|p| p.priority), Some(3));

    let mut bad = object.clone();
    bad.spec.addresses = vec!["10.0.0.1/29".into()];
    let err = Pool::from_crd(&bad).expect_err("host bits");
    assert!(matches!(err, PoolError::Address(_)));
    assert_eq!(err.reason(), "InvalidAddress");

    // A selector the API server stored before the schema refused it: named, down to the
    // requirement, and reported as a selector problem.
    let mut bad = object.clone();
    if let Some(sa) = bad.spec.service_allocation.as_mut() {
        sa.service_selectors[0].match_expressions = serde_json::from_value(
            serde_json::json!([{"key": "x", "operator": "Exists"}, {"key": "y", "operator": "NotIn"}]),
        )
        .expect("requirements");
    }
    let err = Pool::from_crd(&bad).expect_err("NotIn without values");
    assert_eq!(err.reason(), "InvalidSelector");
    assert_eq!(
        err.to_string(),
        "spec.serviceAllocation.serviceSelectors[0].matchExpressions[1]: NotIn needs at least one value"
    );

    let service: k8s_openapi::api::core::v1::Service = serde_json::from_value(serde_json::json!({
        "metadata": {"namespace": "a", "name": "web", "labels": {"x": "1"},
                     "annotations": {"metallb.io/allow-shared-ip": "k"}},
        "spec": {"type": "LoadBalancer", "ipFamilyPolicy": "PreferDualStack",
                 "ipFamilies": ["IPv6", "IPv4"], "externalTrafficPolicy": "Local",
                 "selector": {"app": "web"},
                 "ports": [{"port": 80}, {"port": 53, "protocol": "UDP"}]}
    }))
    .expect("service object");
    let claim = ServiceClaim::from_service(&service, &BTreeMap::new()).expect("valid");
    assert_eq!(claim.key, ServiceKey::new("a", "web"));
    assert_eq!(claim.request.sharing_key.as_deref(), Some("k"));
    assert_eq!(claim.families.primary(), IpFamily::IPv6);
    assert_eq!(claim.families.secondary(), Some(IpFamily::IPv4));
    assert!(claim.ports.contains(&Port::udp(53)) && claim.ports.contains(&Port::tcp(80)));
    assert_eq!(
        claim.backend,
        Backend::Local {
            selector: labels(&[("app", "web")])
        }
    );
    assert!(pool.admits(&claim));
}
