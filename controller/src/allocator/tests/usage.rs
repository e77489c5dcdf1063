//! Pool status numbers, overlap, and scale.

use super::*;

#[test]
fn pool_usage_counts_per_family() {
    let mut alloc = Allocator::new();
    alloc.apply_pool(mk_pool("p", &["192.168.100.240/28", "fd00::/64"]));
    for n in 0..3 {
        ips_of(&mut alloc, &mk_svc(&format!("v4-{n}")));
    }
    let mut v6 = mk_svc("v6");
    v6.families = Families::single(IpFamily::IPv6);
    ips_of(&mut alloc, &v6);
    // A shared address counts once.
    ips_of(&mut alloc, &shared("s1", "k", &[1]));
    ips_of(&mut alloc, &shared("s2", "k", &[2]));
    let usage = alloc.pool_usage("p").expect("known pool");
    assert_eq!(
        usage.ipv4,
        FamilyUsage {
            size: 16,
            assigned: 4,
            available: 12
        }
    );
    assert_eq!(usage.ipv6.assigned, 1);
    assert_eq!(usage.ipv6.available, (1u128 << 64) - 1);
    let mut status = ferrolb_crds::IPAddressPoolStatus::default();
    usage.write_to(&mut status);
    assert_eq!(status.assigned_ipv4, Some(4));
    assert_eq!(
        status.available_ipv6.as_deref(),
        Some("18446744073709551615")
    );
    assert_eq!(alloc.pool_usage("missing"), None);
}

#[test]
fn pool_usage_with_avoid_buggy_ips() {
    let mut alloc = Allocator::new();
    let mut pool = mk_pool("p", &["10.0.0.0/24"]);
    pool.avoid_buggy_ips = true;
    alloc.apply_pool(pool);
    ips_of(&mut alloc, &mk_svc("a"));
    let usage = alloc.pool_usage("p").expect("known pool");
    assert_eq!(
        (usage.ipv4.size, usage.ipv4.assigned, usage.ipv4.available),
        (254, 1, 253)
    );
}

#[test]
fn each_pool_names_the_pools_it_overlaps() {
    let mut alloc = Allocator::new();
    alloc.apply_pool(mk_pool("b", &["10.0.0.0/24"]));
    alloc.apply_pool(mk_pool("a", &["10.0.0.200-10.0.1.5"]));
    alloc.apply_pool(mk_pool("c", &["10.0.1.0/24", "fd00::/64"]));
    alloc.apply_pool(mk_pool("d", &["fd01::/64"]));
    assert_eq!(alloc.pools_overlapping("a"), ["b", "c"]);
    assert_eq!(alloc.pools_overlapping("b"), ["a"]);
    assert_eq!(alloc.pools_overlapping("c"), ["a"]);
    assert!(alloc.pools_overlapping("d").is_empty());
}

#[test]
fn a_slash_64_with_thousands_of_allocations_stays_fast() {
    let mut alloc = Allocator::new();
    alloc.apply_pool(mk_pool("big", &["fd00::/64"]));
    let start = std::time::Instant::now();
    for n in 0..3000 {
        let mut svc = mk_svc(&format!("s{n}"));
        svc.families = Families::single(IpFamily::IPv6);
        let got = alloc.allocate(&svc).expect("allocates");
        assert_eq!(
            got.ips()[0],
            ferrolb_crds::address::ip_from_u128(IpFamily::IPv6, (0xfd00u128 << 112) + n)
                .expect("v6")
        );
    }
    let usage = alloc.pool_usage("big").expect("known pool");
    assert_eq!(usage.ipv6.available, (1u128 << 64) - 3000);
    assert!(
        start.elapsed() < std::time::Duration::from_secs(20),
        "{:?}",
        start.elapsed()
    );
}
