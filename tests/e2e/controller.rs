//! The controller against the lab's real API server: allocation, requests, sharing, exhaustion,
//! classes, pool edits, dual-stack and priorities. One controller serves the whole suite; each
//! test has its own namespace and pools scoped to it.

use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use ferrolb_tests::objects::{
    ensure_namespace, ingress_ips, mk_lb_service, wait_for_condition, wait_for_ips,
};
use ferrolb_tests::{Lab, LabProcess, wait_for};
use k8s_openapi::api::core::v1::Service;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};

const ALLOCATED: &str = "ferrolb.io/Allocated";
const DEADLINE: Duration = Duration::from_secs(20);

fn lab() -> &'static Lab {
    static CONTROLLER: OnceLock<Mutex<LabProcess>> = OnceLock::new();
    let lab = Lab::shared();
    let controller = CONTROLLER.get_or_init(|| {
        lab.install_crds().expect("installing the CRDs");
        Mutex::new(
            lab.start_controller("controller", &["--metrics-addr", "127.0.0.1:17472"])
                .expect("controller"),
        )
    });
    let mut controller = controller.lock().unwrap_or_else(|e| e.into_inner());
    assert!(
        controller.is_running(),
        "the controller exited:\n{}",
        controller.log()
    );
    lab
}

/// A pool serving only namespace `ns`, so the tests of this suite never compete for addresses.
fn pool(lab: &Lab, name: &str, ns: &str, addresses: &[&str], extra: &str) {
    let list = addresses
        .iter()
        .map(|a| format!("\"{a}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let yaml = format!(
        "apiVersion: ferrolb.io/v1alpha1\nkind: IPAddressPool\nmetadata: {{name: {name}}}\nspec:\n  addresses: [{list}]\n  serviceAllocation: {{namespaces: [{ns}]{extra}}}\n"
    );
    lab.apply_yaml(&yaml, &[])
        .unwrap_or_else(|e| panic!("pool {name}: {e}"));
}

async fn setup(ns: &str) -> (Client, Api<Service>) {
    let lab = lab();
    let client = lab.client().await.expect("client");
    ensure_namespace(&client, ns).await;
    let api = Api::namespaced(client.clone(), ns);
    (client, api)
}

async fn create(api: &Api<Service>, svc: &Service) {
    api.create(&PostParams::default(), svc)
        .await
        .expect("create service");
}

fn events(lab: &Lab, ns: &str, reason: &str) -> String {
    let out = lab
        .kubectl(&[
            "get",
            "events",
            "-n",
            ns,
            "--field-selector",
            &format!("reason={reason}"),
            "-o",
            "jsonpath={range .items[*]}{.involvedObject.name}: {.message}{\"\\n\"}{end}",
        ])
        .expect("events");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn lab_controller_allocates_lowest_free_address_from_the_kubespray_pool() {
    let ns = "alloc";
    let (_, api) = setup(ns).await;
    pool(lab(), "alloc", ns, &["192.168.100.240-192.168.100.249"], "");
    create(&api, &mk_lb_service(ns, "web", &[80], &[])).await;
    assert_eq!(
        wait_for_ips(&api, "web", 1, DEADLINE).await.expect("web"),
        ["192.168.100.240"]
    );
    create(&api, &mk_lb_service(ns, "api", &[80], &[])).await;
    assert_eq!(
        wait_for_ips(&api, "api", 1, DEADLINE).await.expect("api"),
        ["192.168.100.241"]
    );
    let c = wait_for_condition(&api, "web", ALLOCATED, "True", "Allocated", DEADLINE)
        .await
        .expect("condition");
    assert!(
        c.message.contains("192.168.100.240 from pool alloc"),
        "{}",
        c.message
    );
    let svc = api.get("web").await.expect("get");
    let ip_mode = svc
        .status
        .and_then(|s| s.load_balancer)
        .and_then(|l| l.ingress)
        .and_then(|i| i[0].ip_mode.clone());
    assert_eq!(ip_mode.as_deref(), Some("VIP"));
    wait_for("an IPAllocated event", DEADLINE, || async {
        let ev = events(lab(), ns, "IPAllocated");
        if ev.contains("web: ") {
            Ok(())
        } else {
            Err(ev)
        }
    })
    .await
    .expect("event");
}

#[tokio::test]
async fn lab_controller_honours_requested_ips_and_sharing_keys() {
    let ns = "requests";
    let (_, api) = setup(ns).await;
    pool(
        lab(),
        "requests",
        ns,
        &["192.168.100.200-192.168.100.203"],
        "",
    );
    create(
        &api,
        &mk_lb_service(
            ns,
            "wants-202",
            &[80],
            &[("ferrolb.io/loadBalancerIPs", "192.168.100.202")],
        ),
    )
    .await;
    assert_eq!(
        wait_for_ips(&api, "wants-202", 1, DEADLINE)
            .await
            .expect("ip"),
        ["192.168.100.202"]
    );
    // MetalLB's annotation is read too; the address is taken and not shared.
    create(
        &api,
        &mk_lb_service(
            ns,
            "also-202",
            &[80],
            &[("metallb.universe.tf/loadBalancerIPs", "192.168.100.202")],
        ),
    )
    .await;
    let c = wait_for_condition(
        &api,
        "also-202",
        ALLOCATED,
        "False",
        "RequestedIPInUse",
        DEADLINE,
    )
    .await
    .expect("in use");
    assert!(c.message.contains("requests/wants-202"), "{}", c.message);
    // A requested address outside every pool.
    create(
        &api,
        &mk_lb_service(
            ns,
            "outside",
            &[80],
            &[("ferrolb.io/loadBalancerIPs", "10.99.0.1")],
        ),
    )
    .await;
    wait_for_condition(
        &api,
        "outside",
        ALLOCATED,
        "False",
        "RequestedIPOutsidePools",
        DEADLINE,
    )
    .await
    .expect("outside");
    // A malformed annotation is a clear error naming it.
    create(
        &api,
        &mk_lb_service(
            ns,
            "garbled",
            &[80],
            &[("ferrolb.io/loadBalancerIPs", "banana")],
        ),
    )
    .await;
    let c = wait_for_condition(
        &api,
        "garbled",
        ALLOCATED,
        "False",
        "InvalidAnnotation",
        DEADLINE,
    )
    .await
    .expect("invalid");
    assert!(
        c.message.contains("ferrolb.io/loadBalancerIPs"),
        "{}",
        c.message
    );
    // Same key, different ports: one address.
    create(
        &api,
        &mk_lb_service(
            ns,
            "share-http",
            &[80],
            &[("ferrolb.io/allow-shared-ip", "k")],
        ),
    )
    .await;
    create(
        &api,
        &mk_lb_service(
            ns,
            "share-https",
            &[443],
            &[("metallb.io/allow-shared-ip", "k")],
        ),
    )
    .await;
    let a = wait_for_ips(&api, "share-http", 1, DEADLINE)
        .await
        .expect("http");
    let b = wait_for_ips(&api, "share-https", 1, DEADLINE)
        .await
        .expect("https");
    assert_eq!(a, b, "same key, disjoint ports must share");
    // Same key but the same port: it may not share.
    create(
        &api,
        &mk_lb_service(
            ns,
            "share-clash",
            &[80],
            &[("ferrolb.io/allow-shared-ip", "k")],
        ),
    )
    .await;
    let c = wait_for_ips(&api, "share-clash", 1, DEADLINE)
        .await
        .expect("clash");
    assert_ne!(c, a, "a port clash must not share an address");
}

#[tokio::test]
async fn lab_controller_retries_pending_services_when_an_address_frees_up() {
    let ns = "exhaust";
    let (_, api) = setup(ns).await;
    pool(
        lab(),
        "exhaust",
        ns,
        &["192.168.100.210-192.168.100.211"],
        "",
    );
    for n in ["one", "two", "three"] {
        create(&api, &mk_lb_service(ns, n, &[80], &[])).await;
    }
    wait_for_ips(&api, "one", 1, DEADLINE).await.expect("one");
    wait_for_ips(&api, "two", 1, DEADLINE).await.expect("two");
    let c = wait_for_condition(&api, "three", ALLOCATED, "False", "PoolExhausted", DEADLINE)
        .await
        .expect("exhausted");
    assert!(c.message.contains("exhaust"), "{}", c.message);
    let freed = ingress_ips(&api.get("one").await.expect("get"));
    api.delete("one", &DeleteParams::default())
        .await
        .expect("delete");
    assert_eq!(
        wait_for_ips(&api, "three", 1, DEADLINE)
            .await
            .expect("three"),
        freed
    );
}

#[tokio::test]
async fn lab_controller_keeps_a_deleting_services_address_until_it_is_gone() {
    let ns = "finalizers";
    let (_, api) = setup(ns).await;
    pool(lab(), "finalizers", ns, &["192.168.100.209"], "");
    let mut held = mk_lb_service(ns, "held", &[80], &[]);
    held.metadata.finalizers = Some(vec!["example.com/drain".to_owned()]);
    create(&api, &held).await;
    let ip = wait_for_ips(&api, "held", 1, DEADLINE).await.expect("held");
    create(&api, &mk_lb_service(ns, "next", &[80], &[])).await;
    wait_for_condition(&api, "next", ALLOCATED, "False", "PoolExhausted", DEADLINE)
        .await
        .expect("exhausted");
    // Deleted, but another component's finalizer keeps it (and its traffic) for now.
    api.delete("held", &DeleteParams::default())
        .await
        .expect("delete");
    let until = std::time::Instant::now() + Duration::from_secs(3);
    while std::time::Instant::now() < until {
        let svc = api.get("held").await.expect("still there");
        assert!(svc.metadata.deletion_timestamp.is_some());
        assert_eq!(
            ingress_ips(&svc),
            ip,
            "a deleting Service keeps its address"
        );
        assert!(ingress_ips(&api.get("next").await.expect("get")).is_empty());
    }
    // Gone: the address goes to the waiting Service.
    lab()
        .kubectl(&[
            "-n",
            ns,
            "patch",
            "svc",
            "held",
            "--type=merge",
            "-p",
            r#"{"metadata":{"finalizers":null}}"#,
        ])
        .expect("finalizer removed");
    assert_eq!(
        wait_for_ips(&api, "next", 1, DEADLINE).await.expect("next"),
        ip
    );
}

#[tokio::test]
async fn lab_controller_serves_only_its_class_and_releases_non_lb_services() {
    let ns = "classes";
    let (_, api) = setup(ns).await;
    pool(
        lab(),
        "classes",
        ns,
        &["192.168.100.212-192.168.100.213"],
        "",
    );
    let mut other = mk_lb_service(ns, "other-class", &[80], &[]);
    other.spec.as_mut().expect("spec").load_balancer_class = Some("example.com/other".into());
    create(&api, &other).await;
    create(&api, &mk_lb_service(ns, "mine", &[80], &[])).await;
    let mine = wait_for_ips(&api, "mine", 1, DEADLINE).await.expect("mine");
    // The class Service was created first; had it been served it would hold .212.
    assert_eq!(mine, ["192.168.100.212"]);
    assert!(ingress_ips(&api.get("other-class").await.expect("get")).is_empty());
    // Turning the Service into a ClusterIP one releases and clears its address.
    let patch =
        serde_json::json!({"spec": {"type": "ClusterIP", "allocateLoadBalancerNodePorts": null}});
    api.patch("mine", &PatchParams::default(), &Patch::Merge(patch))
        .await
        .expect("patch");
    wait_for(
        "the status of a ClusterIP Service to be cleared",
        DEADLINE,
        || async {
            let svc = api.get("mine").await.map_err(|e| e.to_string())?;
            if ingress_ips(&svc).is_empty() {
                Ok(())
            } else {
                Err(format!("{:?}", svc.status))
            }
        },
    )
    .await
    .expect("cleared");
    create(&api, &mk_lb_service(ns, "next", &[80], &[])).await;
    assert_eq!(
        wait_for_ips(&api, "next", 1, DEADLINE).await.expect("next"),
        mine
    );
}

#[tokio::test]
async fn lab_controller_keeps_addresses_through_bad_pools_and_moves_only_on_removal() {
    let ns = "edits";
    let (_, api) = setup(ns).await;
    let lab = lab();
    pool(lab, "edits", ns, &["192.168.100.220-192.168.100.223"], "");
    create(&api, &mk_lb_service(ns, "web", &[80], &[])).await;
    assert_eq!(
        wait_for_ips(&api, "web", 1, DEADLINE).await.expect("web"),
        ["192.168.100.220"]
    );
    // An invalid spec (accepted by the schema, refused by the controller) is reported on the
    // pool and takes nothing away.
    pool(
        lab,
        "edits",
        ns,
        &["192.168.100.220-192.168.100.223", "fd00::20-fd00::10"],
        "",
    );
    wait_for("the pool to be reported invalid", DEADLINE, || async {
        let out = lab
            .kubectl(&["get", "ipaddresspool", "edits", "-o", "jsonpath={.status.conditions[?(@.type==\"Valid\")].status} {.status.conditions[?(@.type==\"Valid\")].message}"])
            .map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if text.starts_with("False") && text.contains("fd00::20-fd00::10") { Ok(()) } else { Err(text) }
    })
    .await
    .expect("invalid pool reported");
    assert_eq!(
        ingress_ips(&api.get("web").await.expect("get")),
        ["192.168.100.220"]
    );
    // Removing the address from every pool moves the Service, and says so.
    pool(lab, "edits", ns, &["192.168.100.221-192.168.100.223"], "");
    wait_for("web to move to .221", DEADLINE, || async {
        let ips = ingress_ips(&api.get("web").await.map_err(|e| e.to_string())?);
        if ips == ["192.168.100.221"] {
            Ok(())
        } else {
            Err(format!("{ips:?}"))
        }
    })
    .await
    .expect("moved");
    wait_for("an IPChanged event", DEADLINE, || async {
        let ev = events(lab, ns, "IPChanged");
        if ev.contains("removed from every IPAddressPool") {
            Ok(())
        } else {
            Err(ev)
        }
    })
    .await
    .expect("event");
    // Deleting the pool takes nothing away either.
    lab.kubectl(&["delete", "ipaddresspool", "edits"])
        .expect("delete pool");
    let c = wait_for_condition(&api, "web", ALLOCATED, "True", "OutsideAllPools", DEADLINE)
        .await
        .expect("kept");
    // Still naming the pool it came from: the speakers announce it under that pool's
    // advertisements.
    let named: Vec<_> = ferrolb_crds::conditions::origin::parse(&c.message).collect();
    assert_eq!(
        named,
        [("192.168.100.221".parse().expect("ip"), "edits")],
        "{}",
        c.message
    );
}

#[tokio::test]
async fn lab_controller_releases_an_address_removed_from_every_pool_even_with_nowhere_to_go() {
    let ns = "shrink";
    let (_, api) = setup(ns).await;
    let lab = lab();
    pool(lab, "shrink", ns, &["192.168.100.216-192.168.100.217"], "");
    create(&api, &mk_lb_service(ns, "a", &[80], &[])).await;
    assert_eq!(
        wait_for_ips(&api, "a", 1, DEADLINE).await.expect("a"),
        ["192.168.100.216"]
    );
    create(&api, &mk_lb_service(ns, "b", &[80], &[])).await;
    wait_for_ips(&api, "b", 1, DEADLINE).await.expect("b");
    // The operator retires .216: a has nowhere to go, and gives it up all the same.
    pool(lab, "shrink", ns, &["192.168.100.217"], "");
    wait_for_condition(&api, "a", ALLOCATED, "False", "PoolExhausted", DEADLINE)
        .await
        .expect("pending");
    wait_for("an IPReleased event", DEADLINE, || async {
        let ev = events(lab, ns, "IPReleased");
        if ev.contains("a: Released 192.168.100.216: its address was removed from every") {
            Ok(())
        } else {
            Err(ev)
        }
    })
    .await
    .expect("event");
    assert!(ingress_ips(&api.get("a").await.expect("get")).is_empty());
    assert_eq!(
        ingress_ips(&api.get("b").await.expect("get")),
        ["192.168.100.217"]
    );
}

#[tokio::test]
async fn lab_controller_assigns_both_families_to_dual_stack_services() {
    let ns = "dual";
    let (_, api) = setup(ns).await;
    pool(
        lab(),
        "dual",
        ns,
        &[
            "192.168.100.230-192.168.100.231",
            "fd00:100::230-fd00:100::231",
        ],
        "",
    );
    let mut svc = mk_lb_service(ns, "both", &[80], &[]);
    let spec = svc.spec.as_mut().expect("spec");
    spec.ip_family_policy = Some("RequireDualStack".into());
    spec.ip_families = Some(vec!["IPv4".into(), "IPv6".into()]);
    create(&api, &svc).await;
    let ips = wait_for_ips(&api, "both", 2, DEADLINE).await.expect("both");
    assert_eq!(ips, ["192.168.100.230", "fd00:100::230"]);
}

#[tokio::test]
async fn lab_controller_prefers_the_lower_priority_number() {
    let ns = "prio";
    let (_, api) = setup(ns).await;
    pool(
        lab(),
        "prio-later",
        ns,
        &["192.168.100.232-192.168.100.233"],
        ", priority: 10",
    );
    pool(
        lab(),
        "prio-first",
        ns,
        &["192.168.100.234-192.168.100.235"],
        ", priority: 1",
    );
    create(&api, &mk_lb_service(ns, "web", &[80], &[])).await;
    assert_eq!(
        wait_for_ips(&api, "web", 1, DEADLINE).await.expect("web"),
        ["192.168.100.234"]
    );
    // The requested pool wins over priorities.
    create(
        &api,
        &mk_lb_service(
            ns,
            "asks",
            &[80],
            &[("ferrolb.io/address-pool", "prio-later")],
        ),
    )
    .await;
    assert_eq!(
        wait_for_ips(&api, "asks", 1, DEADLINE).await.expect("asks"),
        ["192.168.100.232"]
    );
}

#[tokio::test]
async fn lab_controller_reports_pool_usage_and_overlaps_in_pool_status() {
    let ns = "overlap";
    let (_, api) = setup(ns).await;
    let lab = lab();
    pool(
        lab,
        "overlap-a",
        ns,
        &["192.168.100.236-192.168.100.239"],
        ", priority: 1",
    );
    pool(
        lab,
        "overlap-b",
        ns,
        &["192.168.100.238/31"],
        ", priority: 2",
    );
    create(&api, &mk_lb_service(ns, "web", &[80], &[])).await;
    assert_eq!(
        wait_for_ips(&api, "web", 1, DEADLINE).await.expect("web"),
        ["192.168.100.236"]
    );
    let jsonpath = "jsonpath={.status.assignedIPv4}/{.status.availableIPv4} {.status.conditions[?(@.type==\"Overlapping\")].status}: {.status.conditions[?(@.type==\"Overlapping\")].message}";
    for (pool, want_counts, other) in [
        ("overlap-a", "1/3", "overlap-b"),
        ("overlap-b", "0/2", "overlap-a"),
    ] {
        wait_for(&format!("pool {pool} status"), DEADLINE, || async {
            let out = lab
                .kubectl(&["get", "ipaddresspool", pool, "-o", jsonpath])
                .map_err(|e| e.to_string())?;
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            let ok = text.starts_with(&format!("{want_counts} True:")) && text.contains(other);
            if ok { Ok(()) } else { Err(text) }
        })
        .await
        .expect("pool status");
    }
}

/// `PoolsSelected` of an L2Advertisement: "status reason: message".
fn pools_selected(lab: &Lab, ad: &str) -> Result<String, String> {
    let path = "jsonpath={range .status.conditions[?(@.type==\"PoolsSelected\")]}{.status} {.reason}: {.message}{end}";
    let out = lab
        .kubectl(&["get", "l2advertisement", ad, "-o", path])
        .map_err(|e| e.to_string())?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Waits until `PoolsSelected` of `ad` starts with `want`.
async fn expect_selected(lab: &Lab, ad: &str, want: &str) {
    wait_for(&format!("{ad}: {want}"), DEADLINE, || async {
        let text = pools_selected(lab, ad)?;
        if text.starts_with(want) {
            Ok(())
        } else {
            Err(text)
        }
    })
    .await
    .expect(want);
}

#[tokio::test]
async fn lab_controller_reports_which_pools_an_advertisement_selects() {
    let ns = "adstatus";
    setup(ns).await;
    let lab = lab();
    let ad = |name: &str, spec: &str| {
        let yaml = format!(
            "apiVersion: ferrolb.io/v1alpha1\nkind: L2Advertisement\nmetadata: {{name: {name}}}\nspec: {spec}\n"
        );
        lab.apply_yaml(&yaml, &[])
            .unwrap_or_else(|e| panic!("advertisement {name}: {e}"));
    };
    ad("adstatus-named", "{ipAddressPools: [adstatus-pool]}");
    ad(
        "adstatus-label",
        "{ipAddressPoolSelectors: [{matchLabels: {zone: adstatus}}]}",
    );
    expect_selected(
        lab,
        "adstatus-named",
        "False NoMatchingPool: ipAddressPools names adstatus-pool, which does not exist",
    )
    .await;
    expect_selected(
        lab,
        "adstatus-label",
        "False NoMatchingPool: ipAddressPoolSelectors match no pool",
    )
    .await;

    // The pool appears: the advertisement naming it says so. Labelling it: the selector too.
    pool(lab, "adstatus-pool", ns, &["fd00:100::f0/126"], "");
    expect_selected(
        lab,
        "adstatus-named",
        "True PoolsSelected: announces pool(s) adstatus-pool",
    )
    .await;
    lab.kubectl(&["label", "ipaddresspool", "adstatus-pool", "zone=adstatus"])
        .expect("label the pool");
    expect_selected(
        lab,
        "adstatus-label",
        "True PoolsSelected: announces pool(s) adstatus-pool",
    )
    .await;
    let out = lab
        .kubectl(&["get", "l2advertisement", "adstatus-label"])
        .expect("get");
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("POOLS SELECTED"), "{table}");

    // And back: the pool deleted, the advertisement says it announces nothing.
    lab.kubectl(&["delete", "ipaddresspool", "adstatus-pool"])
        .expect("delete pool");
    expect_selected(
        lab,
        "adstatus-named",
        "False NoMatchingPool: ipAddressPools names adstatus-pool, which does not exist",
    )
    .await;
}

fn dual_stack(svc: &mut Service, policy: &str) {
    let spec = svc.spec.as_mut().expect("spec");
    spec.ip_family_policy = Some(policy.into());
    spec.ip_families = Some(vec!["IPv4".into(), "IPv6".into()]);
}

#[tokio::test]
async fn lab_controller_completes_a_prefer_dual_stack_service_when_its_pool_gains_the_family() {
    let ns = "grow";
    let (_, api) = setup(ns).await;
    let lab = lab();
    pool(lab, "grow", ns, &["192.168.100.190"], "");
    // Another pool with IPv6 does not count: a Service's addresses come from one pool.
    pool(lab, "grow-v6", ns, &["fd00:100::190"], "");
    let mut svc = mk_lb_service(ns, "prefer", &[80], &[]);
    dual_stack(&mut svc, "PreferDualStack");
    create(&api, &svc).await;
    let mut require = mk_lb_service(ns, "require", &[80], &[]);
    dual_stack(&mut require, "RequireDualStack");
    create(&api, &require).await;
    assert_eq!(
        wait_for_ips(&api, "prefer", 1, DEADLINE)
            .await
            .expect("prefer"),
        ["192.168.100.190"]
    );
    let c = wait_for_condition(
        &api,
        "require",
        ALLOCATED,
        "False",
        "NoDualStackPool",
        DEADLINE,
    )
    .await
    .expect("require waits");
    assert!(c.message.contains("one pool"), "{}", c.message);
    // The pool gains IPv6: the Service keeps its IPv4 address and gains one of IPv6 from it.
    pool(lab, "grow", ns, &["192.168.100.190", "fd00:100::191"], "");
    assert_eq!(
        wait_for_ips(&api, "prefer", 2, DEADLINE)
            .await
            .expect("completed"),
        ["192.168.100.190", "fd00:100::191"]
    );
    wait_for(
        "an IPAllocated event naming the added address",
        DEADLINE,
        || async {
            let ev = events(lab, ns, "IPAllocated");
            if ev.contains("prefer: Added fd00:100::191: the Service prefers dual stack") {
                Ok(())
            } else {
                Err(ev)
            }
        },
    )
    .await
    .expect("event");
    // The RequireDualStack Service still waits: the pool's IPv4 address is taken.
    let c = wait_for_condition(
        &api,
        "require",
        ALLOCATED,
        "False",
        "PoolExhausted",
        DEADLINE,
    )
    .await
    .expect("require exhausted");
    assert!(c.message.contains("grow"), "{}", c.message);
}

#[tokio::test]
async fn lab_controller_reevaluates_only_what_a_services_own_change_asks() {
    let ns = "rechange";
    let (_, api) = setup(ns).await;
    let lab = lab();
    pool(
        lab,
        "rechange",
        ns,
        &["192.168.100.185-192.168.100.187"],
        "",
    );
    create(
        &api,
        &mk_lb_service(
            ns,
            "a",
            &[80],
            &[("ferrolb.io/loadBalancerIPs", "192.168.100.187")],
        ),
    )
    .await;
    assert_eq!(
        wait_for_ips(&api, "a", 1, DEADLINE).await.expect("a"),
        ["192.168.100.187"]
    );
    create(&api, &mk_lb_service(ns, "b", &[80], &[])).await;
    assert_eq!(
        wait_for_ips(&api, "b", 1, DEADLINE).await.expect("b"),
        ["192.168.100.185"]
    );
    let patch = |value: serde_json::Value| {
        let api = api.clone();
        async move {
            let body = serde_json::json!({"metadata": {"annotations": {
                "ferrolb.io/loadBalancerIPs": value}}});
            api.patch("a", &PatchParams::default(), &Patch::Merge(body))
                .await
                .expect("patch");
        }
    };
    // The request is dropped, and .187 still satisfies what is left: it stays, although .186
    // is free and lower.
    patch(serde_json::Value::Null).await;
    // A Service created after the patch is decided after it: it takes .186 if `a` kept .187.
    create(&api, &mk_lb_service(ns, "next", &[80], &[])).await;
    assert_eq!(
        wait_for_ips(&api, "next", 1, DEADLINE).await.expect("next"),
        ["192.168.100.186"]
    );
    assert_eq!(
        ingress_ips(&api.get("a").await.expect("get")),
        ["192.168.100.187"]
    );
    assert!(
        events(lab, ns, "IPChanged").is_empty(),
        "{}",
        events(lab, ns, "IPChanged")
    );
    create(&api, &mk_lb_service(ns, "waiting", &[80], &[])).await;
    wait_for_condition(
        &api,
        "waiting",
        ALLOCATED,
        "False",
        "PoolExhausted",
        DEADLINE,
    )
    .await
    .expect("waiting");
    // A request that can no longer be met: .187 is given up, and the waiting Service gets it.
    patch(serde_json::json!("10.99.0.1")).await;
    let c = wait_for_condition(
        &api,
        "a",
        ALLOCATED,
        "False",
        "RequestedIPOutsidePools",
        DEADLINE,
    )
    .await
    .expect("pending");
    assert!(c.message.contains("10.99.0.1"), "{}", c.message);
    assert!(ingress_ips(&api.get("a").await.expect("get")).is_empty());
    assert_eq!(
        wait_for_ips(&api, "waiting", 1, DEADLINE)
            .await
            .expect("waiting gets the freed address"),
        ["192.168.100.187"]
    );
    wait_for("an IPReleased event", DEADLINE, || async {
        let ev = events(lab, ns, "IPReleased");
        if ev.contains(
            "a: Released 192.168.100.187: its addresses no longer fit the Service's request",
        ) {
            Ok(())
        } else {
            Err(ev)
        }
    })
    .await
    .expect("event");
    assert_eq!(
        ingress_ips(&api.get("b").await.expect("get")),
        ["192.168.100.185"]
    );
}

#[tokio::test]
async fn lab_controller_serves_a_namespace_once_its_labels_match() {
    let ns = "nslabels";
    let (client, api) = setup(ns).await;
    let lab = lab();
    lab.apply_yaml(
        "apiVersion: ferrolb.io/v1alpha1\nkind: IPAddressPool\nmetadata: {name: nslabels}\nspec:\n  addresses: [\"192.168.100.180\"]\n  serviceAllocation: {namespaceSelectors: [{matchLabels: {ferrolb-test/team: nslabels}}]}\n",
        &[],
    )
    .expect("pool");
    create(&api, &mk_lb_service(ns, "a", &[80], &[])).await;
    wait_for_condition(&api, "a", ALLOCATED, "False", "NoMatchingPool", DEADLINE)
        .await
        .expect("no pool yet");
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client);
    let body = serde_json::json!({"metadata": {"labels": {"ferrolb-test/team": "nslabels"}}});
    namespaces
        .patch(ns, &PatchParams::default(), &Patch::Merge(body))
        .await
        .expect("label the namespace");
    assert_eq!(
        wait_for_ips(&api, "a", 1, DEADLINE).await.expect("a"),
        ["192.168.100.180"]
    );
}
