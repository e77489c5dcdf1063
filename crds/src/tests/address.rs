use std::net::IpAddr;

use proptest::prelude::*;

use crate::address::{
    AddressError, AddressRange, IpFamily, ip_from_u128, ip_to_u128, is_buggy_ip, normalize,
};

fn ip(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

fn range(s: &str) -> AddressRange {
    AddressRange::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

#[test]
fn parses_every_accepted_form() {
    let cases: &[(&str, &str, &str, u128)] = &[
        (
            "192.168.100.240/28",
            "192.168.100.240",
            "192.168.100.255",
            16,
        ),
        (
            "192.168.100.240-192.168.100.249",
            "192.168.100.240",
            "192.168.100.249",
            10,
        ),
        (
            "192.168.100.240 - 192.168.100.249",
            "192.168.100.240",
            "192.168.100.249",
            10,
        ),
        ("192.168.100.7", "192.168.100.7", "192.168.100.7", 1),
        ("192.168.100.7/32", "192.168.100.7", "192.168.100.7", 1),
        (
            "192.168.100.7-192.168.100.7",
            "192.168.100.7",
            "192.168.100.7",
            1,
        ),
        ("10.0.0.0/8", "10.0.0.0", "10.255.255.255", 1 << 24),
        ("0.0.0.0/0", "0.0.0.0", "255.255.255.255", 1 << 32),
        ("fd00::/120", "fd00::", "fd00::ff", 256),
        ("fd00::10-fd00::1f", "fd00::10", "fd00::1f", 16),
        ("fd00::1", "fd00::1", "fd00::1", 1),
        ("fd00::/64", "fd00::", "fd00::ffff:ffff:ffff:ffff", 1 << 64),
        (
            "64:ff9b::1.2.3.4",
            "64:ff9b::102:304",
            "64:ff9b::102:304",
            1,
        ),
    ];
    for (text, start, end, size) in cases {
        let r = range(text);
        assert_eq!(r.start(), ip(start), "{text}");
        assert_eq!(r.end(), ip(end), "{text}");
        assert_eq!(r.size(), *size, "{text}");
    }
}

#[test]
fn refuses_malformed_entries() {
    for bad in [
        "banana",
        "192.168.100",
        "192.168.100.256",
        "192.168.100.010",
        " 192.168.100.1",
        "192.168.100.1 ",
        "192.168.100.0/33",
        "192.168.100.0/-1",
        "192.168.100.0/",
        "192.168.100.0/024",
        "192.168.100.0/24/24",
        "192.168.100.0/24-192.168.101.0",
        "192.168.100.1-",
        "-192.168.100.1",
        "192.168.100.1-192.168.100.2-192.168.100.3",
        "::ffff:192.168.100.1",
        "::ffff:192.168.100.0/120",
        "fe80::1%eth0",
        "fd00::/129",
        "fd00::g",
    ] {
        assert_eq!(
            AddressRange::parse(bad),
            Err(AddressError::Malformed(bad.to_string())),
            "{bad:?}"
        );
    }
    assert_eq!(AddressRange::parse(""), Err(AddressError::Empty));
}

#[test]
fn refuses_host_bits_and_names_the_network() {
    let cases = [
        ("192.168.100.241/28", "192.168.100.240/28"),
        ("10.1.2.3/8", "10.0.0.0/8"),
        ("fd00::1/120", "fd00::/120"),
        ("fd00::1:0/64", "fd00::/64"),
    ];
    for (bad, network) in cases {
        let err = AddressRange::parse(bad).expect_err(bad);
        assert_eq!(
            err,
            AddressError::HostBitsSet {
                value: bad.to_string(),
                network: network.to_string()
            }
        );
        assert!(err.to_string().contains(&format!("use {network}")), "{err}");
    }
}

#[test]
fn refuses_reversed_ranges_and_says_how_to_write_them() {
    let cases = [
        (
            "192.168.100.249-192.168.100.240",
            "192.168.100.240-192.168.100.249",
        ),
        (
            "192.168.101.0 - 192.168.100.255",
            "192.168.100.255-192.168.101.0",
        ),
        ("fd00::20-fd00::10", "fd00::10-fd00::20"),
        ("fd01::-fd00::ffff", "fd00::ffff-fd01::"),
    ];
    for (bad, fixed) in cases {
        let err = AddressRange::parse(bad).expect_err(bad);
        assert_eq!(
            err,
            AddressError::Reversed {
                value: bad.to_string(),
                fixed: fixed.to_string()
            }
        );
        assert!(err.to_string().contains(&format!("write {fixed}")), "{err}");
    }
}

#[test]
fn refuses_mixed_families() {
    for bad in ["192.168.100.1-fd00::1", "fd00::1 - 192.168.100.1"] {
        assert_eq!(
            AddressRange::parse(bad),
            Err(AddressError::MixedFamilies(bad.to_string()))
        );
    }
}

#[test]
fn contains_and_overlaps() {
    let r = range("192.168.100.240-192.168.100.249");
    assert!(r.contains(ip("192.168.100.240")));
    assert!(r.contains(ip("192.168.100.249")));
    assert!(!r.contains(ip("192.168.100.250")));
    assert!(!r.contains(ip("fd00::1")));
    assert!(r.overlaps(&range("192.168.100.249/32")));
    assert!(r.overlaps(&range("192.168.100.0/24")));
    assert!(!r.overlaps(&range("192.168.100.250-192.168.100.255")));
    assert!(!r.overlaps(&range("::/0")));
    assert!(range("fd00::/64").overlaps(&range("fd00::ffff:0:0:1")));
}

#[test]
fn size_saturates_for_the_whole_ipv6_space() {
    assert_eq!(range("::/0").size(), u128::MAX);
    assert_eq!(range("::/1").size(), 1 << 127);
}

#[test]
fn iterates_lazily() {
    let first: Vec<IpAddr> = range("fd00::/64").iter().take(2).collect();
    assert_eq!(first, [ip("fd00::"), ip("fd00::1")]);
    let all: Vec<IpAddr> = range("192.168.100.254-192.168.101.1").iter().collect();
    assert_eq!(all.len(), 4);
    assert_eq!(all[2], ip("192.168.101.0"));
}

#[test]
fn buggy_addresses() {
    assert!(is_buggy_ip(ip("192.168.100.0")));
    assert!(is_buggy_ip(ip("192.168.100.255")));
    assert!(!is_buggy_ip(ip("192.168.100.1")));
    assert!(!is_buggy_ip(ip("fd00::ff")));
    assert_eq!(range("192.168.100.0/24").size_avoiding_buggy(), 254);
    assert_eq!(range("192.168.100.0/23").size_avoiding_buggy(), 508);
    assert_eq!(range("192.168.100.240/28").size_avoiding_buggy(), 15);
    assert_eq!(
        range("192.168.100.255-192.168.101.0").size_avoiding_buggy(),
        0
    );
    assert_eq!(range("0.0.0.0/32").size_avoiding_buggy(), 0);
    assert_eq!(range("fd00::/120").size_avoiding_buggy(), 256);
}

#[test]
fn normalize_merges_overlapping_and_adjacent_ranges() {
    let merged = normalize([
        range("192.168.100.10-192.168.100.20"),
        range("fd00::/120"),
        range("192.168.100.21-192.168.100.30"),
        range("192.168.100.0/28"),
        range("192.168.100.40"),
    ]);
    let shown: Vec<String> = merged.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        [
            "192.168.100.0-192.168.100.30",
            "192.168.100.40",
            "fd00::-fd00::ff"
        ]
    );
}

#[test]
fn u128_round_trip() {
    assert_eq!(ip_to_u128(ip("0.0.0.1")), 1);
    assert_eq!(ip_from_u128(IpFamily::IPv4, 1 << 32), None);
    assert_eq!(ip_from_u128(IpFamily::IPv6, 1), Some(ip("::1")));
}

fn brute_buggy_count(start: u32, end: u32) -> u128 {
    (start..=end).filter(|v| matches!(v % 256, 0 | 255)).count() as u128
}

proptest! {
    #[test]
    fn size_avoiding_buggy_matches_counting(start in 0u32..70_000, len in 0u32..2_000) {
        let end = start.saturating_add(len);
        let r = AddressRange::new(IpAddr::V4(start.into()), IpAddr::V4(end.into()))
            .expect("ordered");
        prop_assert_eq!(r.size_avoiding_buggy(), r.size() - brute_buggy_count(start, end));
    }

    #[test]
    fn display_parses_back(a in any::<u128>(), b in any::<u128>(), v4 in any::<bool>()) {
        let (lo, hi) = (a.min(b), a.max(b));
        let (start, end) = if v4 {
            (IpAddr::V4((lo as u32).min(hi as u32).into()), IpAddr::V4((lo as u32).max(hi as u32).into()))
        } else {
            (IpAddr::V6(lo.into()), IpAddr::V6(hi.into()))
        };
        // IPv4-mapped IPv6 is refused by design, so skip that corner of the space.
        prop_assume!(crate::address::parse_ip(&start.to_string()).is_some());
        prop_assume!(crate::address::parse_ip(&end.to_string()).is_some());
        let r = AddressRange::new(start, end).expect("ordered");
        prop_assert_eq!(AddressRange::parse(&r.to_string()), Ok(r));
    }
}
