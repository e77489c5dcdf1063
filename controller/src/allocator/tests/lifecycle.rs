//! Keeping, moving and re-reserving addresses over time.

use super::*;

#[test]
fn same_request_keeps_its_address() {
    let mut alloc = kubespray();
    let a = mk_svc("a");
    let first = ips_of(&mut alloc, &a);
    let again = alloc.allocate(&a).expect("allocates");
    assert_eq!((again.ips(), again.outcome), (first, Outcome::Unchanged));
}

#[test]
fn changed_request_moves_and_says_from_where() {
    let mut alloc = kubespray();
    let mut svc = mk_svc("a");
    let before = ips_of(&mut alloc, &svc);
    svc.request.ips = vec![ip("192.168.100.248")];
    let moved = alloc.allocate(&svc).expect("moves");
    assert_eq!(moved.ips(), [ip("192.168.100.248")]);
    assert_eq!(
        moved.outcome,
        Outcome::Moved {
            from: before.clone()
        }
    );
    assert!(alloc.holders(before[0]).is_empty());

    // A changed request that cannot be met gives the old address up: it is no longer what
    // the Service asks for.
    svc.request.ips = vec![ip("10.9.9.9")];
    assert_eq!(
        alloc.allocate(&svc).map_err(|e| e.reason()),
        Err("RequestedIPOutsidePools")
    );
    assert_eq!(alloc.assignment(&svc.key), None);
    assert!(alloc.holders(ip("192.168.100.248")).is_empty());
}

#[test]
fn a_changed_request_keeps_what_still_satisfies_it() {
    let mut alloc = kubespray();
    let filler = mk_svc("filler");
    assert_eq!(ips_of(&mut alloc, &filler), [ip("192.168.100.240")]);
    let mut svc = mk_svc("a");
    svc.request.ips = vec![ip("192.168.100.245")];
    assert_eq!(ips_of(&mut alloc, &svc), [ip("192.168.100.245")]);
    // The request is removed: .245 is still an address the pool would give it, so it stays
    // (a fresh allocation would have taken .241).
    svc.request.ips.clear();
    let kept = alloc.allocate(&svc).expect("keeps");
    assert_eq!(
        (kept.ips(), kept.outcome),
        (vec![ip("192.168.100.245")], Outcome::Unchanged)
    );
    // Naming the pool it already comes from changes nothing either.
    svc.request.pool = Some("default".into());
    let kept = alloc.allocate(&svc).expect("keeps");
    assert_eq!(
        (kept.ips(), kept.outcome),
        (vec![ip("192.168.100.245")], Outcome::Unchanged)
    );
    // A sharing key with nobody to share with keeps the address too.
    svc.request.sharing_key = Some("k".into());
    assert_eq!(
        alloc.allocate(&svc).expect("keeps").outcome,
        Outcome::Unchanged
    );
}

#[test]
fn a_request_moved_to_another_pool_or_family_leaves_its_address() {
    let mut alloc = kubespray();
    alloc.apply_pool(mk_pool("other", &["10.0.0.0/30"]));
    let mut svc = mk_svc("a");
    let before = ips_of(&mut alloc, &svc);
    svc.request.pool = Some("other".into());
    let moved = alloc.allocate(&svc).expect("moves");
    assert_eq!(moved.ips(), [ip("10.0.0.0")]);
    assert_eq!(moved.outcome, Outcome::Moved { from: before });
    // A switch to RequireDualStack on an IPv4-only pool: pending, and the address is given up.
    svc.families = Families {
        policy: StackPolicy::RequireDualStack,
        families: vec![IpFamily::IPv4, IpFamily::IPv6],
    };
    assert_eq!(
        alloc.allocate(&svc).map_err(|e| e.reason()),
        Err("NoDualStackPool")
    );
    assert_eq!(alloc.assignment(&svc.key), None);
}

#[test]
fn a_service_that_may_no_longer_share_gives_its_address_up_and_its_partners_keep_it() {
    let mut alloc = kubespray();
    let web = shared("web", "k", &[80]);
    let mut tls = shared("tls", "k", &[443]);
    let vip = ips_of(&mut alloc, &web)[0];
    assert_eq!(ips_of(&mut alloc, &tls), [vip]);
    // tls now also wants port 80: it clashes with web, so tls moves and web stays.
    tls.ports.insert(Port::tcp(80));
    let moved = alloc.allocate(&tls).expect("moves");
    assert_ne!(moved.ips(), [vip]);
    assert_eq!(moved.outcome, Outcome::Moved { from: vec![vip] });
    assert_eq!(alloc.holders(vip), std::slice::from_ref(&web.key));
    assert_eq!(
        alloc.allocate(&web).expect("keeps").outcome,
        Outcome::Unchanged
    );
    // A changed key parts them too.
    let mut dns = shared("dns", "k", &[53]);
    assert_eq!(ips_of(&mut alloc, &dns), [vip]);
    dns.request.sharing_key = Some("other".into());
    let moved = alloc.allocate(&dns).expect("moves");
    assert_ne!(moved.ips(), [vip]);
    assert_eq!(alloc.holders(vip), std::slice::from_ref(&web.key));
}

#[test]
fn label_and_policy_changes_do_not_move_a_service() {
    let mut alloc = Allocator::new();
    let mut pool = mk_policy_pool("web", &["10.0.0.0/30"], Some(1));
    if let Some(p) = pool.policy.as_mut() {
        p.service_selectors.push(selector(&[("tier", "web")]));
    }
    alloc.apply_pool(pool);
    let mut svc = mk_svc("a");
    svc.labels = labels(&[("tier", "web")]);
    let before = ips_of(&mut alloc, &svc);
    svc.labels = labels(&[("tier", "db")]);
    let after = alloc.allocate(&svc).expect("keeps");
    assert_eq!(after.ips(), before);
    assert_eq!(after.outcome, Outcome::Unchanged);
    assert_eq!(after.addresses[0].placement, Placement::KeptOutsidePolicy);
    assert_eq!(after.reason(), "KeptOutsidePolicy");
}

#[test]
fn deleted_or_invalid_pool_does_not_take_addresses_away() {
    let mut alloc = kubespray();
    let svc = mk_svc("a");
    let before = ips_of(&mut alloc, &svc);

    assert!(alloc.invalidate_pool("default"));
    let kept = alloc.allocate(&svc).expect("keeps");
    assert_eq!(
        (kept.ips(), kept.addresses[0].placement),
        (before.clone(), Placement::InPolicy)
    );
    assert!(alloc.services_outside_all_pools().is_empty());
    assert_eq!(
        alloc.allocate(&mk_svc("new")).map_err(|e| e.reason()),
        Err("NoMatchingPool")
    );

    alloc.delete_pool("default");
    let kept = alloc.allocate(&svc).expect("keeps");
    assert_eq!(kept.ips(), before);
    assert_eq!(kept.addresses[0].placement, Placement::OutsideAllPools);
    assert_eq!(kept.reason(), "OutsideAllPools");
    assert_eq!(alloc.addresses_outside_all_pools(), before);
    assert_eq!(
        alloc.services_outside_all_pools(),
        std::slice::from_ref(&svc.key)
    );

    alloc.apply_pool(mk_pool("new", &["10.0.0.0/30"]));
    let moved = alloc.relocate(&svc).expect("moves");
    assert_eq!(moved.ips(), [ip("10.0.0.0")]);
    assert_eq!(moved.outcome, Outcome::Moved { from: before });
    assert!(alloc.services_outside_all_pools().is_empty());
}

#[test]
fn assign_existing_keeps_status_addresses_whatever_the_policy() {
    let mut alloc = Allocator::new();
    let mut pool = mk_policy_pool("other-ns", &["10.0.0.0/29"], None);
    if let Some(p) = pool.policy.as_mut() {
        p.namespaces.insert("elsewhere".into());
    }
    alloc.apply_pool(pool);
    let svc = mk_svc("a");
    let got = alloc
        .assign_existing(&svc, &[ip("10.0.0.5")], &[])
        .expect("re-reserves");
    assert_eq!(got.addresses[0].placement, Placement::KeptOutsidePolicy);
    assert_eq!(got.addresses[0].pool.as_deref(), Some("other-ns"));
    // A restart never changes the address: the next reconcile confirms it.
    let again = alloc.allocate(&svc).expect("keeps");
    assert_eq!(
        (again.ips(), again.outcome),
        (vec![ip("10.0.0.5")], Outcome::Unchanged)
    );

    let stray = mk_svc("b");
    let got = alloc
        .assign_existing(&stray, &[ip("172.16.0.1")], &[])
        .expect("re-reserves");
    assert_eq!(got.addresses[0].placement, Placement::OutsideAllPools);
    assert_eq!(
        alloc.services_outside_all_pools(),
        std::slice::from_ref(&stray.key)
    );

    let err = alloc
        .assign_existing(&mk_svc("c"), &[ip("10.0.0.5")], &[])
        .expect_err("held by a");
    assert_eq!(err.reason(), "RequestedIPInUse");
}

#[test]
fn assign_existing_with_a_stale_request_moves_on_next_allocate() {
    let mut alloc = kubespray();
    let mut svc = mk_svc("a");
    svc.request.ips = vec![ip("192.168.100.249")];
    alloc
        .assign_existing(&svc, &[ip("192.168.100.240")], &[])
        .expect("re-reserves");
    let moved = alloc
        .allocate(&svc)
        .expect("moves to the requested address");
    assert_eq!(moved.ips(), [ip("192.168.100.249")]);
    assert_eq!(
        moved.outcome,
        Outcome::Moved {
            from: vec![ip("192.168.100.240")]
        }
    );
}

#[test]
fn an_address_keeps_naming_its_pool_when_pools_overlap_or_the_pool_is_deleted() {
    let mut alloc = Allocator::new();
    alloc.apply_pool(mk_pool("a-wide", &["10.0.0.0/28"]));
    alloc.apply_pool(mk_pool("b-narrow", &["10.0.0.4-10.0.0.7"]));
    let svc = mk_svc("web");
    // The status says b-narrow, and b-narrow contains it: a restart keeps that attribution.
    let got = alloc
        .assign_existing(&svc, &[ip("10.0.0.5")], &[(ip("10.0.0.5"), "b-narrow")])
        .expect("re-reserves");
    assert_eq!(got.addresses[0].pool.as_deref(), Some("b-narrow"));
    // A status that names a pool no longer holding the address is not believed.
    let other = mk_svc("other");
    let got = alloc
        .assign_existing(&other, &[ip("10.0.0.9")], &[(ip("10.0.0.9"), "b-narrow")])
        .expect("re-reserves");
    assert_eq!(got.addresses[0].pool.as_deref(), Some("a-wide"));

    // Its pools deleted, the address is in no pool, and still names the pool it came from.
    alloc.delete_pool("a-wide");
    alloc.delete_pool("b-narrow");
    let kept = alloc.allocate(&svc).expect("keeps");
    assert_eq!(kept.outcome, Outcome::Unchanged);
    assert_eq!(kept.addresses[0].placement, Placement::OutsideAllPools);
    assert_eq!(kept.addresses[0].pool.as_deref(), Some("b-narrow"));

    // And so does a restart of the controller after the deletion, from what the status says.
    let mut restarted = Allocator::new();
    let got = restarted
        .assign_existing(&svc, &[ip("10.0.0.5")], &[(ip("10.0.0.5"), "b-narrow")])
        .expect("re-reserves");
    assert_eq!(got.addresses[0].placement, Placement::OutsideAllPools);
    assert_eq!(got.addresses[0].pool.as_deref(), Some("b-narrow"));
    // Without a name in the status there is nothing to say.
    let got = restarted
        .assign_existing(&other, &[ip("10.0.0.9")], &[])
        .expect("re-reserves");
    assert_eq!(got.addresses[0].pool, None);
}

#[test]
fn a_service_whose_request_cannot_be_read_rejoins_its_partners_at_startup() {
    let vip = ip("192.168.100.240");
    let mut alloc = kubespray();
    let partner = shared("partner", "k", &[443]);
    alloc
        .assign_existing(&partner, &[vip], &[])
        .expect("re-reserves");
    // Without knowing its key, a plain claim would be refused the shared address...
    let unread = mk_svc("unread");
    assert!(alloc.assign_existing(&unread, &[vip], &[]).is_err());
    // ...while the claim made for it joins the partner on the partner's terms.
    let claim = alloc.unreadable_claim(unread.key.clone(), &[vip]);
    assert_eq!(claim.request.sharing_key.as_deref(), Some("k"));
    alloc
        .assign_existing(&claim, &[vip], &[])
        .expect("joins its partner");
    assert_eq!(alloc.holders(vip).len(), 2);
    // The partner keeps its address.
    let again = alloc.allocate(&partner).expect("keeps");
    assert_eq!(
        (again.ips(), again.outcome),
        (vec![vip], Outcome::Unchanged)
    );
    // An address nobody else holds is simply kept.
    let alone = alloc.unreadable_claim(mk_svc("alone").key, &[ip("192.168.100.245")]);
    assert_eq!(alone.request.sharing_key, None);
    alloc
        .assign_existing(&alone, &[ip("192.168.100.245")], &[])
        .expect("kept");
}

#[test]
fn an_address_removed_from_every_pool_can_be_released_with_nowhere_to_go() {
    let mut alloc = Allocator::new();
    alloc.apply_pool(mk_pool("p", &["10.0.0.1-10.0.0.2"]));
    let a = mk_svc("a");
    let b = mk_svc("b");
    assert_eq!(ips_of(&mut alloc, &a), [ip("10.0.0.1")]);
    assert_eq!(ips_of(&mut alloc, &b), [ip("10.0.0.2")]);
    // The pool shrinks to b's address: a's is in no pool, and nothing is free for it.
    alloc.apply_pool(mk_pool("p", &["10.0.0.2"]));
    assert_eq!(
        alloc.services_outside_all_pools(),
        std::slice::from_ref(&a.key)
    );
    assert!(alloc.relocate(&a).is_err());
    assert_eq!(alloc.release_outside_pools(&a.key), [ip("10.0.0.1")]);
    assert_eq!(alloc.assignment(&a.key), None);
    assert!(alloc.holders(ip("10.0.0.1")).is_empty());
    // b is untouched, and a release of what is in a pool frees nothing.
    assert_eq!(
        alloc.release_outside_pools(&b.key),
        Vec::<std::net::IpAddr>::new()
    );
    assert_eq!(alloc.assignment(&b.key), Some(vec![ip("10.0.0.2")]));
}
