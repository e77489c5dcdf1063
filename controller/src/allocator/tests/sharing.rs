//! Address sharing between Services with one sharing key.

use super::*;

#[test]
fn sharing_key_puts_services_on_one_address_when_ports_differ() {
    let mut alloc = kubespray();
    let web = ips_of(&mut alloc, &shared("web", "k", &[80]));
    let tls = ips_of(&mut alloc, &shared("tls", "k", &[443]));
    assert_eq!(web, tls);
    assert_eq!(alloc.holders(web[0]).len(), 2);
    // Same port: a different address.
    let clash = ips_of(&mut alloc, &shared("clash", "k", &[80]));
    assert_ne!(clash, web);
    // Other key or no key: a different address.
    assert_ne!(ips_of(&mut alloc, &shared("other", "z", &[22])), web);
    assert_ne!(ips_of(&mut alloc, &mk_svc("plain")), web);
    // UDP 80 does not clash with TCP 80.
    let mut dns = shared("dns", "k", &[]);
    dns.ports.insert(Port::udp(80));
    assert_eq!(ips_of(&mut alloc, &dns), web);
}

#[test]
fn sharing_with_local_policy_needs_equal_selectors() {
    let mut alloc = kubespray();
    let local = |name: &str, app: &str, port: u16| {
        let mut svc = shared(name, "k", &[port]);
        svc.backend = Backend::Local {
            selector: labels(&[("app", app)]),
        };
        svc
    };
    let a = ips_of(&mut alloc, &local("a", "x", 80));
    assert_eq!(ips_of(&mut alloc, &local("b", "x", 81)), a);
    assert_ne!(ips_of(&mut alloc, &local("c", "y", 82)), a);
    assert_ne!(ips_of(&mut alloc, &shared("d", "k", &[83])), a);

    let mut requested = local("e", "y", 84);
    requested.request.ips = a.clone();
    let err = alloc.allocate(&requested).expect_err("backend differs");
    assert!(matches!(
        err,
        AllocationError::RequestedIPInUse {
            conflict: SharingConflict::BackendMismatch,
            ..
        }
    ));
}

#[test]
fn requested_shared_ip_with_a_used_port_names_the_holder() {
    let mut alloc = kubespray();
    let a = ips_of(&mut alloc, &shared("a", "k", &[80]));
    let mut b = shared("b", "k", &[80]);
    b.request.ips = a;
    let err = alloc.allocate(&b).expect_err("port in use");
    assert!(
        err.to_string()
            .contains("port 80/TCP is already used on it by default/a"),
        "{err}"
    );
}

#[test]
fn changing_ports_into_a_clash_moves_only_that_service() {
    let mut alloc = kubespray();
    let a = shared("a", "k", &[80]);
    let mut b = shared("b", "k", &[443]);
    let addr = ips_of(&mut alloc, &a);
    assert_eq!(ips_of(&mut alloc, &b), addr);
    b.ports = [Port::tcp(80)].into_iter().collect();
    let moved = alloc.allocate(&b).expect("moves");
    assert_ne!(moved.ips(), addr);
    assert_eq!(alloc.holders(addr[0]), std::slice::from_ref(&a.key));
}

#[test]
fn a_service_with_a_key_joins_its_key_before_taking_a_lower_free_address() {
    let mut alloc = kubespray();
    let plain = mk_svc("plain");
    assert_eq!(ips_of(&mut alloc, &plain), [ip("192.168.100.240")]);
    assert_eq!(
        ips_of(&mut alloc, &shared("web", "k", &[80])),
        [ip("192.168.100.241")]
    );
    alloc.release(&plain.key);
    // .240 is free and lower, but the key is there to put Services together: .241.
    // (MetalLB would take .240, leaving the two Services with one key apart.)
    assert_eq!(
        ips_of(&mut alloc, &shared("tls", "k", &[443])),
        [ip("192.168.100.241")]
    );
    // When the shared address cannot take it (its port is used), the lowest free one.
    assert_eq!(
        ips_of(&mut alloc, &shared("web2", "k", &[80])),
        [ip("192.168.100.240")]
    );
}
