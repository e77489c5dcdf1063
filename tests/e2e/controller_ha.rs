//! The controller under failure, against the lab's real API server: `kill -9` during a burst,
//! two replicas with leader election, and an API server restart. No address may ever be
//! duplicated or changed. These tests kill controllers, so they run one at a time.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use ferrolb_crds::conditions::SERVICE_ALLOCATED;
use ferrolb_tests::objects::{
    ensure_namespace, ingress_ips, mk_lb_service, wait_for_condition, wait_for_ips,
};
use ferrolb_tests::{Lab, LabProcess, wait_for};
use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Service;
use kube::api::{ListParams, PostParams};
use kube::{Api, Client};
use tokio::sync::{Mutex, MutexGuard};

/// One test at a time: they kill controllers. (An async lock: each test has its own runtime.)
async fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::const_new(());
    LOCK.lock().await
}

async fn setup(ns: &str, range: &str) -> (&'static Lab, Client, Api<Service>) {
    let lab = Lab::shared();
    static CRDS: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    CRDS.get_or_init(|| lab.install_crds().expect("CRDs"));
    let client = lab.client().await.expect("client");
    ensure_namespace(&client, ns).await;
    let yaml = format!(
        "apiVersion: ferrolb.io/v1alpha1\nkind: IPAddressPool\nmetadata: {{name: {ns}}}\nspec:\n  addresses: [\"{range}\"]\n  serviceAllocation: {{namespaces: [{ns}]}}\n"
    );
    lab.apply_yaml(&yaml, &[]).expect("pool");
    (lab, client.clone(), Api::namespaced(client, ns))
}

async fn addresses(api: &Api<Service>) -> BTreeMap<String, Vec<String>> {
    api.list(&ListParams::default())
        .await
        .expect("list")
        .items
        .iter()
        .map(|s| (s.metadata.name.clone().unwrap_or_default(), ingress_ips(s)))
        .collect()
}

fn assert_no_duplicates(map: &BTreeMap<String, Vec<String>>) {
    let mut seen = BTreeMap::new();
    for (name, ips) in map {
        for ip in ips {
            if let Some(other) = seen.insert(ip.clone(), name.clone()) {
                panic!("{ip} is held by both {other} and {name}");
            }
        }
    }
}

async fn wait_all_allocated(
    api: &Api<Service>,
    n: usize,
    deadline: Duration,
) -> BTreeMap<String, Vec<String>> {
    wait_for(
        &format!("{n} Services to have an address"),
        deadline,
        || async {
            let map = addresses(api).await;
            let done = map.values().filter(|ips| !ips.is_empty()).count();
            if map.len() == n && done == n {
                Ok(map)
            } else {
                Err(format!("{done} of {} allocated", map.len()))
            }
        },
    )
    .await
    .expect("all allocated")
}

/// A new Service gets an address: the (new) controller has synced and is deciding again.
async fn sentinel(api: &Api<Service>, name: &str) -> Vec<String> {
    let svc = mk_lb_service(api_ns(api), name, &[80], &[]);
    api.create(&PostParams::default(), &svc)
        .await
        .expect("sentinel");
    wait_for_ips(api, name, 1, Duration::from_secs(60))
        .await
        .expect("sentinel address")
}

/// kube's watcher lists this many objects per request.
const LIST_PAGE: usize = 500;

/// Creates `n` headless ClusterIP Services in `ns` (cheap: no address of any kind).
async fn pad_with_headless_services(client: &Client, ns: &str, n: usize) {
    ensure_namespace(client, ns).await;
    let api: Api<Service> = Api::namespaced(client.clone(), ns);
    futures::stream::iter(0..n)
        .map(|i| {
            let api = api.clone();
            async move {
                let svc: Service = serde_json::from_value(serde_json::json!({
                    "metadata": {"name": format!("pad-{i:04}")},
                    "spec": {"clusterIP": "None", "ports": [{"port": 80}]},
                }))
                .expect("headless Service");
                match api.create(&PostParams::default(), &svc).await {
                    Ok(_) => {}
                    Err(kube::Error::Api(e)) if e.code == 409 => {}
                    Err(e) => panic!("creating pad-{i:04}: {e}"),
                }
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<()>>()
        .await;
}

fn api_ns(api: &Api<Service>) -> &str {
    api.namespace().unwrap_or("default")
}

#[tokio::test]
async fn lab_controller_kill_9_during_a_500_service_burst_never_duplicates_or_changes() {
    let _serial = serial().await;
    let ns = "burst";
    let (lab, _, api) = setup(ns, "10.200.0.0/22").await;
    let mut controller = lab
        .start_controller("controller-burst-0", &[])
        .expect("controller");
    // 500 Services from one file, created while the controller is killed and restarted.
    let mut yaml = String::new();
    for i in 0..500 {
        yaml.push_str(&format!(
            "---\napiVersion: v1\nkind: Service\nmetadata: {{name: s{i:03}, namespace: {ns}}}\nspec:\n  type: LoadBalancer\n  selector: {{app: s{i:03}}}\n  ports: [{{port: 80, protocol: TCP}}]\n"
        ));
    }
    let creator = {
        let file = lab.dir().join("burst.yaml");
        std::fs::write(&file, yaml).expect("write");
        let mut cmd = lab.kubectl_cmd();
        cmd.arg("create").arg("-f").arg(&file);
        std::thread::spawn(move || ferrolb_tests::run(&mut cmd).map(|_| ()))
    };
    let mut kills = 0;
    for (round, threshold) in [40usize, 150, 300].into_iter().enumerate() {
        wait_for(
            &format!("{threshold} Services with an address"),
            Duration::from_secs(120),
            || async {
                let done = addresses(&api)
                    .await
                    .values()
                    .filter(|ips| !ips.is_empty())
                    .count();
                if done >= threshold { Ok(()) } else { Err(done) }
            },
        )
        .await
        .expect("progress");
        controller.signal("KILL");
        controller.kill();
        kills += 1;
        controller = lab
            .start_controller(&format!("controller-burst-{}", round + 1), &[])
            .expect("restart");
    }
    creator
        .join()
        .expect("creator thread")
        .expect("kubectl create");
    let before = wait_all_allocated(&api, 500, Duration::from_secs(180)).await;
    assert_no_duplicates(&before);
    assert_eq!(kills, 3);

    // One more hard restart: every address stays exactly where it was.
    controller.signal("KILL");
    controller.kill();
    let _controller = lab
        .start_controller("controller-burst-final", &[])
        .expect("restart");
    sentinel(&api, "sentinel").await;
    let mut after = addresses(&api).await;
    after.remove("sentinel");
    assert_eq!(before, after, "a controller restart changed addresses");
}

#[tokio::test]
async fn lab_two_replicas_elect_one_leader_and_fail_over_without_changes() {
    let _serial = serial().await;
    let ns = "replicas";
    let (lab, client, api) = setup(ns, "10.201.0.0/24").await;
    ensure_namespace(&client, "ferrolb-system").await;
    let args = |id: &'static str| {
        vec![
            "--leader-elect=true",
            "--lease-namespace",
            "ferrolb-system",
            "--lease-seconds",
            "3",
            "--identity",
            id,
        ]
    };
    let mut replicas: BTreeMap<&str, LabProcess> = BTreeMap::new();
    for id in ["replica-a", "replica-b"] {
        replicas.insert(id, lab.start_controller(id, &args(id)).expect("replica"));
    }
    let leases: Api<Lease> = Api::namespaced(client.clone(), "ferrolb-system");
    let holder = wait_for("a lease holder", Duration::from_secs(30), || async {
        let lease = leases
            .get("ferrolb-controller")
            .await
            .map_err(|e| e.to_string())?;
        lease
            .spec
            .and_then(|s| s.holder_identity)
            .ok_or_else(|| "no holder".to_owned())
    })
    .await
    .expect("leader");
    let first = sentinel(&api, "before-failover").await;

    let mut leader = replicas
        .remove(holder.as_str())
        .expect("the holder is one of ours");
    leader.signal("KILL");
    leader.kill();
    let standby = replicas.keys().next().copied().expect("standby").to_owned();
    wait_for(
        "the standby to take the lease",
        Duration::from_secs(30),
        || async {
            let lease = leases
                .get("ferrolb-controller")
                .await
                .map_err(|e| e.to_string())?;
            let h = lease
                .spec
                .and_then(|s| s.holder_identity)
                .unwrap_or_default();
            if h == standby { Ok(()) } else { Err(h) }
        },
    )
    .await
    .expect("failover");
    let second = sentinel(&api, "after-failover").await;
    assert_ne!(first, second);
    let map = addresses(&api).await;
    assert_eq!(map["before-failover"], first, "failover changed an address");
    assert_no_duplicates(&map);
}

#[tokio::test]
async fn lab_controller_survives_an_api_server_restart() {
    let _serial = serial().await;
    let ns = "apirestart";
    let (lab, client, api) = setup(ns, "10.202.0.0/24").await;
    // More Services than one list page, so the controller's re-list after the restart takes two
    // requests: listed objects reach kube's cache only once the whole list is in, and a Service
    // created during the restart must still be allocated. (The padding's namespace sorts after
    // this test's, so the new Service is in the first page.)
    pad_with_headless_services(&client, "pad-apirestart", LIST_PAGE + 10).await;
    let _controller = lab
        .start_controller("controller-apirestart", &[])
        .expect("controller");
    let first = sentinel(&api, "before").await;
    lab.restart_apiserver().expect("restart the API server");
    let client = lab.client().await.expect("client");
    let api: Api<Service> = Api::namespaced(client, ns);
    let second = sentinel(&api, "after").await;
    assert_ne!(first, second);
    let map = addresses(&api).await;
    assert_eq!(map["before"], first);
    assert_no_duplicates(&map);
    let distinct: BTreeSet<_> = map.values().flatten().collect();
    assert_eq!(distinct.len(), 2);
}

/// `/readyz` of a controller started with `--metrics-addr 127.0.0.1:<port>`: its status code
/// and body, from inside the control-plane namespace.
async fn readyz(lab: &Lab, port: u16) -> Option<(String, String)> {
    let url = format!("http://127.0.0.1:{port}/readyz");
    let mut cmd = tokio::process::Command::from(lab.netns_cmd("cp", "curl"));
    cmd.args(["-s", "--max-time", "2", "-w", "\n%{http_code}", &url])
        .stdin(std::process::Stdio::null());
    let out = cmd.output().await.ok()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n')?;
    Some((code.to_owned(), body.to_owned()))
}

#[tokio::test]
async fn lab_a_standby_replica_is_ready_and_writes_only_once_it_leads() {
    use k8s_openapi::api::coordination::v1::LeaseSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
    use k8s_openapi::jiff::Timestamp;
    use kube::api::DeleteParams;

    let _serial = serial().await;
    let ns = "standby";
    let (lab, client, api) = setup(ns, "10.203.0.0/24").await;
    ensure_namespace(&client, "ferrolb-system").await;
    // Another replica holds a 30-second Lease and renews it every second, so this one stands by.
    let leases: Api<Lease> = Api::namespaced(client.clone(), "ferrolb-system");
    let _ = leases
        .delete("ferrolb-standby", &DeleteParams::default())
        .await;
    let lease = |renewed: Timestamp| Lease {
        metadata: kube::api::ObjectMeta {
            name: Some("ferrolb-standby".into()),
            ..Default::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some("another-replica".into()),
            lease_duration_seconds: Some(30),
            acquire_time: Some(MicroTime(renewed)),
            renew_time: Some(MicroTime(renewed)),
            ..Default::default()
        }),
    };
    leases
        .create(&PostParams::default(), &lease(Timestamp::now()))
        .await
        .expect("lease");
    let other_leader = {
        let leases = leases.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let patch = serde_json::json!({"spec": {"renewTime": MicroTime(Timestamp::now())}});
                let _ = leases
                    .patch(
                        "ferrolb-standby",
                        &kube::api::PatchParams::default(),
                        &kube::api::Patch::Merge(&patch),
                    )
                    .await;
            }
        })
    };
    // A replica electing itself with the Lease above, its /readyz on `port`.
    let replica = |id: &'static str, port: u16| {
        let metrics = format!("127.0.0.1:{port}");
        let args = [
            "--leader-elect=true",
            "--lease-namespace",
            "ferrolb-system",
            "--lease-name",
            "ferrolb-standby",
            "--lease-seconds",
            "3",
            "--identity",
            id,
            "--metrics-addr",
            &metrics,
        ];
        lab.start_controller(id, &args).expect("controller")
    };
    let port = 17491;
    let mut standby = replica("standby", port);

    // Ready while standing by: its caches are synced, so it can take over at once.
    wait_for(
        "the standby to be ready",
        Duration::from_secs(30),
        || async {
            match readyz(lab, port).await {
                Some((code, _)) if code == "200" => Ok(()),
                other => Err(format!("{other:?}; log:\n{}", standby.log())),
            }
        },
    )
    .await
    .expect("a standby replica is Ready");
    assert!(standby.log().contains("standing by for leadership"));
    assert!(!standby.log().contains("became leader"));

    // A Service created now is left alone: every write waits for leadership.
    api.create(
        &PostParams::default(),
        &mk_lb_service(ns, "waits", &[80], &[]),
    )
    .await
    .expect("service");
    let held = leases.get("ferrolb-standby").await.expect("lease");
    assert_eq!(
        held.spec.and_then(|s| s.holder_identity).as_deref(),
        Some("another-replica")
    );
    let svc = api.get("waits").await.expect("service");
    assert!(
        ingress_ips(&svc).is_empty(),
        "a standby wrote an address: {:?}",
        svc.status
    );

    // The other replica stops cleanly and releases the Lease: this one takes it at once, not
    // when the 30 seconds are up, and allocates.
    other_leader.abort();
    let release = serde_json::json!({"spec": {
        "holderIdentity": null, "renewTime": null, "acquireTime": null, "leaseDurationSeconds": null
    }});
    leases
        .patch(
            "ferrolb-standby",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(&release),
        )
        .await
        .expect("release");
    wait_for_ips(&api, "waits", 1, Duration::from_secs(10))
        .await
        .unwrap_or_else(|e| panic!("the new leader did not allocate: {e}\n{}", standby.log()));

    // A second replica stands by behind the new leader, and stops at once on SIGTERM: it has
    // nothing under way to finish.
    let late_port = 17492;
    let mut late = replica("standby-late", late_port);
    wait_for(
        "the second standby to be ready",
        Duration::from_secs(30),
        || async {
            match readyz(lab, late_port).await {
                Some((code, _)) if code == "200" => Ok(()),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await
    .expect("a second standby is Ready");
    late.signal("TERM");
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    while late.is_running() {
        assert!(
            std::time::Instant::now() < deadline,
            "a standby took more than 2 s to stop on SIGTERM:\n{}",
            late.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    standby.kill();
}

#[tokio::test]
async fn lab_controller_restart_keeps_the_partners_of_a_service_whose_annotation_broke() {
    let _serial = serial().await;
    let ns = "unreadable";
    let (lab, _, api) = setup(ns, "10.204.0.0/30").await;
    let mut controller = lab
        .start_controller("controller-unreadable", &[])
        .expect("start");
    let sharing = [("ferrolb.io/allow-shared-ip", "k")];
    // `first` is the older of the two: a restart re-reserves it first.
    for (name, port) in [("first", 80), ("second", 443)] {
        api.create(
            &PostParams::default(),
            &mk_lb_service(ns, name, &[port], &sharing),
        )
        .await
        .expect("create");
        wait_for_ips(&api, name, 1, Duration::from_secs(30))
            .await
            .expect("address");
    }
    let before = addresses(&api).await;
    assert_eq!(before["first"], before["second"], "shared: {before:?}");
    // `first`'s annotations stop parsing; it keeps its address and says why.
    lab.kubectl(&[
        "-n",
        ns,
        "annotate",
        "--overwrite",
        "svc",
        "first",
        "ferrolb.io/loadBalancerIPs=not-an-address",
    ])
    .expect("annotate");
    wait_for_condition(
        &api,
        "first",
        SERVICE_ALLOCATED,
        "False",
        "InvalidAnnotation",
        Duration::from_secs(30),
    )
    .await
    .expect("reported");
    // A restart keeps both where they were: `second` is not pushed out of the shared address.
    controller.signal("KILL");
    controller.kill();
    let _controller = lab
        .start_controller("controller-unreadable-restarted", &[])
        .expect("restart");
    sentinel(&api, "sentinel").await;
    let mut after = addresses(&api).await;
    after.remove("sentinel");
    assert_eq!(before, after, "a restart moved a sharing partner");
}
