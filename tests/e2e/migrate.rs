//! The output of `migrate-metallb` against the lab's real API server: every expected ferrolb
//! YAML of the migration fixtures (`controller/src/migrate/fixtures/*.ferrolb.yaml`, which the
//! controller's unit tests prove equal to the conversion of the MetalLB input next to them) is
//! accepted by the API server's own validation of the ferrolb CRDs. And the command without
//! files: it reads MetalLB objects (under minimal MetalLB CRDs, `e2e/migrate/`) from the lab's
//! cluster, and what it prints applies.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::{Output, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use ferrolb_tests::{Lab, wait_for, workspace_dir};

fn fixtures_dir() -> PathBuf {
    workspace_dir().join("controller/src/migrate/fixtures")
}

/// Installs the generated CRDs once and waits until they are served.
async fn crds_installed(lab: &Lab) {
    static APPLIED: OnceLock<()> = OnceLock::new();
    APPLIED.get_or_init(|| {
        lab.install_crds()
            .unwrap_or_else(|e| panic!("installing the CRDs: {e}"))
    });
}

/// `kubectl apply --dry-run=server -o name -f -` with `yaml` on stdin (any exit status).
fn dry_run_apply(lab: &Lab, yaml: &str) -> Output {
    lab.kubectl_with_input(
        &["apply", "--dry-run=server", "-o", "name", "-f", "-"],
        yaml,
    )
    .unwrap()
}

/// Object names (`kind/name`, lowercase kind) in a YAML stream, as kubectl prints them.
fn names_in(yaml: &str) -> Vec<String> {
    serde_yaml_ng::Deserializer::from_str(yaml)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .filter(|v: &serde_json::Value| !v.is_null())
        .map(|v| {
            format!(
                "{}.ferrolb.io/{}",
                v["kind"].as_str().unwrap().to_lowercase(),
                v["metadata"]["name"].as_str().unwrap()
            )
        })
        .collect()
}

#[tokio::test]
async fn lab_migrated_fixtures_are_accepted_by_the_api_server() {
    let lab = Lab::shared();
    crds_installed(lab).await;
    let mut fixtures: Vec<PathBuf> = std::fs::read_dir(fixtures_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".ferrolb.yaml"))
        .collect();
    fixtures.sort();
    assert!(
        fixtures.len() >= 3,
        "expected the migration fixtures, found {fixtures:?}"
    );
    for path in fixtures {
        let yaml = std::fs::read_to_string(&path).unwrap();
        let expected = names_in(&yaml);
        assert!(!expected.is_empty(), "{} holds no object", path.display());
        let out = dry_run_apply(lab, &yaml);
        assert!(
            out.status.success(),
            "the API server refused {}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let accepted = String::from_utf8_lossy(&out.stdout);
        for name in expected {
            assert!(
                accepted.lines().any(|l| l == name),
                "{}: {name} not accepted; kubectl said {accepted}",
                path.display()
            );
        }
    }
}

#[tokio::test]
async fn lab_dry_run_really_validates_ferrolb_objects() {
    // The control for the test above: the same dry run refuses what the CRD schema forbids, so
    // an accepted fixture is a valid one.
    let lab = Lab::shared();
    crds_installed(lab).await;
    let out = dry_run_apply(
        lab,
        "apiVersion: ferrolb.io/v1alpha1\nkind: IPAddressPool\nmetadata: {name: host-bits}\n\
         spec: {addresses: [192.168.100.225/28]}\n",
    );
    assert!(
        !out.status.success(),
        "a pool with host bits set was accepted"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("host bits"), "{err}");
}

fn migrate_dir() -> PathBuf {
    ferrolb_tests::tests_dir().join("e2e").join("migrate")
}

/// Waits until the API server serves `crd`.
async fn established(lab: &Lab, crd: &str) {
    wait_for(
        &format!("CRD {crd} to be established"),
        Duration::from_secs(30),
        || async move {
            let out = lab
                .kubectl(&[
                    "get",
                    "crd",
                    crd,
                    "-o",
                    r#"jsonpath={.status.conditions[?(@.type=="Established")].status}"#,
                ])
                .map_err(|e| e.to_string())?;
            let status = String::from_utf8_lossy(&out.stdout).into_owned();
            if status == "True" {
                Ok(())
            } else {
                Err(status)
            }
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test]
async fn lab_migrate_metallb_reads_metallb_objects_from_the_cluster() {
    let lab = Lab::shared();
    crds_installed(lab).await;
    let crds = std::fs::read_to_string(migrate_dir().join("metallb-crds.yaml")).unwrap();
    lab.apply_yaml(&crds, &[])
        .unwrap_or_else(|e| panic!("installing MetalLB's CRDs: {e}"));
    for crd in ["ipaddresspools.metallb.io", "l2advertisements.metallb.io"] {
        established(lab, crd).await;
    }
    let objects = std::fs::read_to_string(migrate_dir().join("metallb-objects.yaml")).unwrap();
    lab.apply_yaml(&objects, &[])
        .unwrap_or_else(|e| panic!("creating MetalLB objects: {e}"));

    // No files: the command reads the cluster of its kubeconfig.
    let out = std::process::Command::new(ferrolb_tests::workspace_bin("ferrolb-controller"))
        .arg("migrate-metallb")
        .env("KUBECONFIG", lab.kubeconfig())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let yaml = String::from_utf8(out.stdout).unwrap();
    let warnings = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "migrate-metallb failed: {warnings}");
    assert!(
        !warnings.contains("nothing to convert"),
        "the command found no MetalLB object: {warnings}"
    );

    let mut names = names_in(&yaml);
    names.sort();
    assert_eq!(
        names,
        [
            "ipaddresspool.ferrolb.io/loadbalanced",
            "ipaddresspool.ferrolb.io/shop",
            "l2advertisement.ferrolb.io/loadbalanced",
            "l2advertisement.ferrolb.io/shop",
        ],
        "converted:\n{yaml}"
    );
    let docs: Vec<serde_json::Value> = serde_yaml_ng::Deserializer::from_str(&yaml)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .filter(|v: &serde_json::Value| !v.is_null())
        .collect();
    let doc = |kind: &str, name: &str| {
        docs.iter()
            .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
            .unwrap()
    };
    let loadbalanced = doc("IPAddressPool", "loadbalanced");
    assert_eq!(
        loadbalanced["spec"]["addresses"],
        serde_json::json!(["192.168.100.240-192.168.100.249"])
    );
    let shop = doc("IPAddressPool", "shop");
    assert_eq!(shop["spec"]["autoAssign"], false);
    assert_eq!(shop["spec"]["avoidBuggyIPs"], true);
    assert_eq!(
        shop["spec"]["serviceAllocation"]["namespaces"],
        serde_json::json!(["shop"])
    );
    assert_eq!(shop["metadata"]["labels"]["tier"], "shop");
    let shop_ad = doc("L2Advertisement", "shop");
    assert_eq!(shop_ad["spec"]["interfaces"], serde_json::json!(["eth0"]));
    assert_eq!(
        shop_ad["spec"]["ipAddressPoolSelectors"][0]["matchLabels"]["tier"],
        "shop"
    );
    // The cluster's bookkeeping of the MetalLB objects is not carried over: ferrolb's kinds are
    // cluster-scoped and new objects.
    for d in &docs {
        for field in ["namespace", "uid", "resourceVersion", "managedFields"] {
            assert!(
                d["metadata"].get(field).is_none(),
                "{field} carried over: {d}"
            );
        }
    }

    let applied = dry_run_apply(lab, &yaml);
    assert!(
        applied.status.success(),
        "the API server refused the converted YAML: {}\n{yaml}",
        String::from_utf8_lossy(&applied.stderr)
    );
    let accepted = String::from_utf8_lossy(&applied.stdout);
    for name in names {
        assert!(
            accepted.lines().any(|l| l == name),
            "{name} not accepted; kubectl said {accepted}"
        );
    }
}
