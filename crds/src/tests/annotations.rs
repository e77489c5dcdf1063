use std::collections::BTreeMap;
use std::net::IpAddr;

use k8s_openapi::api::core::v1::{Service, ServiceSpec};
use kube::api::ObjectMeta;

use crate::address::IpFamily;
use crate::annotations::{RequestError, ServiceRequest, read_request, service_request};

fn ip(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

fn annotations(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn nothing_requested() {
    assert_eq!(
        read_request(&BTreeMap::new(), None),
        Ok(ServiceRequest::default())
    );
    assert_eq!(
        read_request(&annotations(&[("ferrolb.io/address-pool", " ")]), Some("")),
        Ok(ServiceRequest::default())
    );
}

#[test]
fn reads_every_field() {
    let req = read_request(
        &annotations(&[
            ("ferrolb.io/loadBalancerIPs", "192.168.100.241, fd00::10"),
            ("ferrolb.io/address-pool", "public"),
            ("ferrolb.io/allow-shared-ip", "web"),
        ]),
        None,
    );
    assert_eq!(
        req,
        Ok(ServiceRequest {
            ips: vec![ip("192.168.100.241"), ip("fd00::10")],
            pool: Some("public".into()),
            sharing_key: Some("web".into()),
        })
    );
}

#[test]
fn ferrolb_wins_over_metallb_io_over_universe() {
    let all = annotations(&[
        ("metallb.universe.tf/loadBalancerIPs", "10.0.0.3"),
        ("metallb.io/loadBalancerIPs", "10.0.0.2"),
        ("ferrolb.io/loadBalancerIPs", "10.0.0.1"),
        ("metallb.universe.tf/address-pool", "c"),
        ("metallb.io/address-pool", "b"),
        ("ferrolb.io/address-pool", "a"),
        ("metallb.universe.tf/allow-shared-ip", "z"),
        ("metallb.io/allow-shared-ip", "y"),
        ("ferrolb.io/allow-shared-ip", "x"),
    ]);
    let req = read_request(&all, None).expect("valid");
    assert_eq!(
        (req.ips[0], req.pool.as_deref(), req.sharing_key.as_deref()),
        (ip("10.0.0.1"), Some("a"), Some("x"))
    );

    let metallb = annotations(&[
        ("metallb.universe.tf/loadBalancerIPs", "10.0.0.3"),
        ("metallb.io/loadBalancerIPs", "10.0.0.2"),
        ("metallb.universe.tf/address-pool", "c"),
        ("metallb.io/address-pool", "b"),
    ]);
    let req = read_request(&metallb, None).expect("valid");
    assert_eq!(
        (req.ips[0], req.pool.as_deref()),
        (ip("10.0.0.2"), Some("b"))
    );

    let legacy = annotations(&[
        ("metallb.universe.tf/loadBalancerIPs", "10.0.0.3"),
        ("metallb.universe.tf/allow-shared-ip", "z"),
    ]);
    let req = read_request(&legacy, None).expect("valid");
    assert_eq!(
        (req.ips[0], req.sharing_key.as_deref()),
        (ip("10.0.0.3"), Some("z"))
    );
}

#[test]
fn spec_load_balancer_ip_is_honoured() {
    let req = read_request(&BTreeMap::new(), Some("192.168.100.242")).expect("valid");
    assert_eq!(req.ips, [ip("192.168.100.242")]);
    let both = annotations(&[("ferrolb.io/loadBalancerIPs", "192.168.100.242,fd00::1")]);
    let req = read_request(&both, Some("192.168.100.242")).expect("agreeing values are fine");
    assert_eq!(req.ips.len(), 2);
}

#[test]
fn errors_name_the_annotation() {
    let cases: Vec<(BTreeMap<String, String>, Option<&str>, RequestError)> = vec![
        (
            annotations(&[("metallb.io/loadBalancerIPs", "192.168.100.300")]),
            None,
            RequestError::NotAnIp {
                origin: "metallb.io/loadBalancerIPs".into(),
                item: "192.168.100.300".into(),
            },
        ),
        (
            annotations(&[("ferrolb.io/loadBalancerIPs", "10.0.0.1,10.0.0.2")]),
            None,
            RequestError::SameFamilyTwice {
                origin: "ferrolb.io/loadBalancerIPs".into(),
                value: "10.0.0.1,10.0.0.2".into(),
                family: IpFamily::IPv4,
            },
        ),
        (
            annotations(&[("ferrolb.io/loadBalancerIPs", "fd00::1,fd00::2")]),
            None,
            RequestError::SameFamilyTwice {
                origin: "ferrolb.io/loadBalancerIPs".into(),
                value: "fd00::1,fd00::2".into(),
                family: IpFamily::IPv6,
            },
        ),
        (
            annotations(&[("ferrolb.io/loadBalancerIPs", "::ffff:10.0.0.1")]),
            None,
            RequestError::NotAnIp {
                origin: "ferrolb.io/loadBalancerIPs".into(),
                item: "::ffff:10.0.0.1".into(),
            },
        ),
        (
            BTreeMap::new(),
            Some("banana"),
            RequestError::NotAnIp {
                origin: "spec.loadBalancerIP".into(),
                item: "banana".into(),
            },
        ),
        (
            annotations(&[("ferrolb.io/loadBalancerIPs", "10.0.0.1")]),
            Some("10.0.0.2"),
            RequestError::ConflictsWithSpec {
                origin: "ferrolb.io/loadBalancerIPs".into(),
                value: "10.0.0.1".into(),
                spec: "10.0.0.2".into(),
            },
        ),
    ];
    for (ann, spec, expected) in cases {
        let err = read_request(&ann, spec).expect_err("invalid");
        assert!(err.to_string().starts_with(err.origin()), "{err}");
        assert_eq!(err, expected);
    }
}

#[test]
fn reads_a_service_object() {
    let svc = Service {
        metadata: ObjectMeta {
            annotations: Some(annotations(&[("ferrolb.io/allow-shared-ip", "k")])),
            ..Default::default()
        },
        spec: Some(ServiceSpec {
            load_balancer_ip: Some("192.168.100.243".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let req = service_request(&svc).expect("valid");
    assert_eq!(req.ips, [ip("192.168.100.243")]);
    assert_eq!(req.sharing_key.as_deref(), Some("k"));
    assert_eq!(
        service_request(&Service::default()),
        Ok(ServiceRequest::default())
    );
}
