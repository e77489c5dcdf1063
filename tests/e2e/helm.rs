//! The Helm chart (`charts/ferrolb`): its files against the generated CRDs and its README, its
//! rendering and values schema offline, and then installed into the lab's real API server, where
//! the ServiceAccount tokens it created are checked for what they may and may not do. Also the
//! kind script's dry run (`tests/kind/e2e.sh`).
//!
//! The lab has no kubelets, so the chart's pods never run here; the controller and speakers run
//! as plain processes with these tokens in other suites.

#![allow(clippy::unwrap_used)]

#[path = "../../charts/ferrolb/hack/values_table.rs"]
mod values_table;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use ferrolb_tests::{Lab, LabError, run, wait_for, workspace_dir};
use serde::Deserialize as _;
use serde_json::Value;

fn chart_dir() -> PathBuf {
    workspace_dir().join("charts").join("ferrolb")
}

/// The directory of the lab's Go-built tools, without starting a lab (for offline checks).
fn tools_dir() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let out = run(Command::new(
            ferrolb_tests::tests_dir()
                .join("lab")
                .join("build-tools.sh"),
        )
        .stderr(Stdio::inherit()))
        .expect("building the lab's tools");
        PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
    })
}

fn helm_offline(args: &[&str]) -> Output {
    let mut cmd = Command::new(tools_dir().join("helm"));
    cmd.args(args).stdin(Stdio::null());
    cmd.output().expect("running helm")
}

/// The Kubernetes version `helm template` renders for (the lab's).
const KUBE_VERSION: &str = "1.35.4";

/// `helm template` of the chart with extra arguments; panics with helm's message on failure.
fn template(release: &str, namespace: &str, extra: &[&str]) -> String {
    let chart = chart_dir();
    let mut args = vec![
        "template",
        release,
        chart.to_str().unwrap(),
        "-n",
        namespace,
        "--kube-version",
        KUBE_VERSION,
    ];
    args.extend_from_slice(extra);
    let out = helm_offline(&args);
    assert!(
        out.status.success(),
        "helm template {extra:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Every YAML document of a multi-document stream, skipping empty ones.
fn documents(yaml: &str) -> Vec<Value> {
    serde_yaml_ng::Deserializer::from_str(yaml)
        .map(|d| Value::deserialize(d).unwrap())
        .filter(|v| !v.is_null())
        .collect()
}

fn find<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} in the rendered chart"))
}

fn env_of(container: &Value) -> BTreeMap<String, Value> {
    container["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["name"].as_str().unwrap().to_owned(), e.clone()))
        .collect()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| a.iter().map(|s| s.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default()
}

const POOL_ARGS: [&str; 4] = [
    "--set",
    "pools[0].name=default",
    "--set",
    "pools[0].addresses[0]=192.168.100.240-192.168.100.249",
];

// --- the chart's files ----------------------------------------------------------------------

#[test]
fn chart_crds_are_identical_to_generated_crds() {
    let generated = workspace_dir().join("crds").join("yaml");
    let chart = chart_dir().join("crds");
    let names = |dir: &Path| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".yaml"))
            .collect();
        v.sort();
        v
    };
    let files = names(&generated);
    assert!(!files.is_empty(), "no generated CRDs in crds/yaml/");
    // `make crds` regenerates crds/yaml/ with this variable set; the chart's copies follow.
    if std::env::var_os("FERROLB_UPDATE_CRDS").is_some() {
        for f in names(&chart) {
            std::fs::remove_file(chart.join(f)).unwrap();
        }
        for f in &files {
            std::fs::copy(generated.join(f), chart.join(f)).unwrap();
        }
    }
    assert_eq!(
        names(&chart),
        files,
        "charts/ferrolb/crds/ must hold exactly the files of crds/yaml/ (copy them: \
         FERROLB_UPDATE_CRDS=1 cargo test -p ferrolb-tests --test helm chart_crds)"
    );
    for f in &files {
        let a = std::fs::read(generated.join(f)).unwrap();
        let b = std::fs::read(chart.join(f)).unwrap();
        assert!(
            a == b,
            "charts/ferrolb/crds/{f} differs from crds/yaml/{f}; copy it: \
             FERROLB_UPDATE_CRDS=1 cargo test -p ferrolb-tests --test helm chart_crds"
        );
    }
}

#[test]
fn chart_readme_values_table_is_current() {
    let values = std::fs::read_to_string(chart_dir().join("values.yaml")).unwrap();
    let readme_path = chart_dir().join("README.md");
    let readme = std::fs::read_to_string(&readme_path).unwrap();
    let fresh = values_table::render_readme(&readme, &values).unwrap_or_else(|e| panic!("{e}"));
    if std::env::var_os("FERROLB_UPDATE_README").is_some() {
        std::fs::write(&readme_path, &fresh).unwrap();
        return;
    }
    assert!(
        readme == fresh,
        "charts/ferrolb/README.md's values table is stale; regenerate it with \
         FERROLB_UPDATE_README=1 cargo test -p ferrolb-tests --test helm chart_readme_values_table_is_current"
    );
    // The table covers the values people set most.
    for key in [
        "`pools`",
        "`logFormat`",
        "`controller.replicas`",
        "`speaker.memberlist.port`",
    ] {
        assert!(readme.contains(key), "README values table lacks {key}");
    }
}

#[test]
fn values_table_refuses_undocumented_values() {
    let err = values_table::rows("# -- documented\na: 1\nsection:\n  b: 2\n").unwrap_err();
    assert!(err.contains("section.b"), "{err}");
    let rows = values_table::rows(
        "# -- a list,\n# on two lines\nl:\n  - x: 1\ns:\n  # -- nested\n  n: \"v\"\n",
    )
    .unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].key, "l");
    assert_eq!(rows[0].description, "a list, on two lines");
    assert_eq!(rows[0].default, r#"[{"x":1}]"#);
    assert_eq!(rows[1].key, "s.n");
    assert_eq!(rows[1].kind, "string");
}

#[test]
fn helm_lint_passes_with_and_without_pools() {
    let chart = chart_dir();
    let chart = chart.to_str().unwrap();
    for extra in [&[][..], &POOL_ARGS[..]] {
        let mut args = vec!["lint", "--strict", chart];
        args.extend_from_slice(extra);
        let out = helm_offline(&args);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "helm lint {extra:?}: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains("0 chart(s) failed"), "{text}");
    }
}

// --- rendering and the values schema, offline -----------------------------------------------

#[test]
fn chart_renders_hardened_controller_with_leader_election() {
    let docs = documents(&template("flb", "ferrolb-system", &POOL_ARGS));
    let dep = find(&docs, "Deployment", "flb-ferrolb-controller");
    assert_eq!(dep["spec"]["replicas"], 2);
    let pod = &dep["spec"]["template"]["spec"];
    assert_eq!(pod["serviceAccountName"], "flb-ferrolb-controller");
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    let c = &pod["containers"][0];
    let sc = &c["securityContext"];
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(strings(&sc["capabilities"]["drop"]), ["ALL"]);
    assert!(sc["capabilities"]["add"].is_null(), "{sc}");
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(c["ports"][0]["containerPort"], 7472);
    let env = env_of(c);
    assert_eq!(
        env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"],
        "metadata.name"
    );
    assert_eq!(
        env["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"],
        "metadata.namespace"
    );
    assert_eq!(env["FERROLB_LEADER_ELECT"]["value"], "true");
    assert_eq!(env["FERROLB_METRICS_ADDR"]["value"], "0.0.0.0:7472");
    assert_eq!(env["FERROLB_LOG_FORMAT"]["value"], "plain");
    assert!(!env.contains_key("FERROLB_LOAD_BALANCER_CLASS"));
    assert_eq!(env["FERROLB_IP_MODE"]["value"], "VIP");

    // The one-line install creates the pool and an advertisement for it.
    let pool = find(&docs, "IPAddressPool", "default");
    assert_eq!(pool["apiVersion"], "ferrolb.io/v1alpha1");
    assert_eq!(
        strings(&pool["spec"]["addresses"]),
        ["192.168.100.240-192.168.100.249"]
    );
    assert_eq!(pool["spec"]["autoAssign"], true);
    assert_eq!(pool["spec"]["avoidBuggyIPs"], false);
    let adv = find(&docs, "L2Advertisement", "flb-ferrolb");
    assert_eq!(strings(&adv["spec"]["ipAddressPools"]), ["default"]);

    // Without pools: no pool, no advertisement.
    let bare = documents(&template("flb", "ferrolb-system", &[]));
    assert!(
        !bare
            .iter()
            .any(|d| d["kind"] == "IPAddressPool" || d["kind"] == "L2Advertisement")
    );
}

#[test]
fn chart_renders_speaker_on_host_network_with_only_net_raw() {
    let docs = documents(&template(
        "flb",
        "ferrolb-system",
        &[
            "--set",
            "logFormat=json",
            "--set",
            "loadBalancerClass=example.com/lb",
            "--set",
            "ipMode=Proxy",
        ],
    ));
    let dep = find(&docs, "Deployment", "flb-ferrolb-controller");
    let env = env_of(&dep["spec"]["template"]["spec"]["containers"][0]);
    assert_eq!(env["FERROLB_IP_MODE"]["value"], "Proxy");
    let ds = find(&docs, "DaemonSet", "flb-ferrolb-speaker");
    let pod = &ds["spec"]["template"]["spec"];
    assert_eq!(pod["hostNetwork"], true);
    assert_eq!(pod["serviceAccountName"], "flb-ferrolb-speaker");
    let tolerated: Vec<_> = pod["tolerations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["key"].as_str().unwrap())
        .collect();
    assert!(
        tolerated.contains(&"node-role.kubernetes.io/control-plane"),
        "{tolerated:?}"
    );
    let c = &pod["containers"][0];
    let caps = &c["securityContext"]["capabilities"];
    assert_eq!(strings(&caps["drop"]), ["ALL"]);
    assert_eq!(strings(&caps["add"]), ["NET_RAW"]);
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
    let env = env_of(c);
    assert_eq!(
        env["NODE_NAME"]["valueFrom"]["fieldRef"]["fieldPath"],
        "spec.nodeName"
    );
    assert_eq!(env["FERROLB_METRICS_ADDR"]["value"], "0.0.0.0:7473");
    // On the host network the endpoint listens on the node's own address only.
    assert_eq!(
        env["FERROLB_METRICS_IP"]["valueFrom"]["fieldRef"]["fieldPath"],
        "status.hostIP"
    );
    assert_eq!(env["FERROLB_MEMBERLIST_PORT"]["value"], "7946");
    assert_eq!(env["FERROLB_LOG_FORMAT"]["value"], "json");
    assert_eq!(
        env["FERROLB_LOAD_BALANCER_CLASS"]["value"],
        "example.com/lb"
    );
    let ports: Vec<(i64, &str)> = c["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["containerPort"].as_i64().unwrap(),
                p["protocol"].as_str().unwrap(),
            )
        })
        .collect();
    // Membership is UDP only: no TCP port is declared that nothing listens on.
    assert_eq!(ports, [(7473, "TCP"), (7946, "UDP")]);
    // The key is a file from the Secret, never fetched through the API.
    let key_file = env["FERROLB_MEMBERLIST_KEY_FILE"]["value"]
        .as_str()
        .unwrap();
    let mount = c["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| key_file.starts_with(m["mountPath"].as_str().unwrap()))
        .unwrap_or_else(|| panic!("{key_file} is not under a mount"));
    let volume = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == mount["name"])
        .unwrap();
    assert_eq!(volume["secret"]["secretName"], "flb-ferrolb-memberlist");
    let secret = find(&docs, "Secret", "flb-ferrolb-memberlist");
    assert_eq!(secret["data"]["key"].as_str().unwrap().len(), 44); // base64 of 32 characters

    // The ServiceMonitor is opt-in.
    assert!(!docs.iter().any(|d| d["kind"] == "ServiceMonitor"));
    let with = documents(&template(
        "flb",
        "ferrolb-system",
        &["--set", "metrics.serviceMonitor.enabled=true"],
    ));
    assert_eq!(
        with.iter()
            .filter(|d| d["kind"] == "ServiceMonitor")
            .count(),
        2
    );
}

#[test]
fn chart_rbac_grants_no_secrets_and_no_service_spec_writes() {
    let docs = documents(&template("flb", "ferrolb-system", &[]));
    for d in docs
        .iter()
        .filter(|d| d["kind"] == "ClusterRole" || d["kind"] == "Role")
    {
        for rule in d["rules"].as_array().unwrap() {
            let resources = strings(&rule["resources"]);
            let verbs = strings(&rule["verbs"]);
            let name = &d["metadata"]["name"];
            assert!(
                !resources.iter().any(|r| r == "secrets" || r == "*"),
                "{name} grants {resources:?}"
            );
            assert!(!verbs.iter().any(|v| v == "*"), "{name} grants {verbs:?}");
            if resources.iter().any(|r| r == "services") {
                assert_eq!(verbs, ["get", "list", "watch"], "{name}");
            }
        }
    }
    // Leases only through a Role in the release namespace.
    let role = find(&docs, "Role", "flb-ferrolb-controller");
    assert_eq!(role["metadata"]["namespace"], "ferrolb-system");
    let cluster = find(&docs, "ClusterRole", "flb-ferrolb-controller");
    assert!(!cluster.to_string().contains("leases"), "{cluster}");
}

#[test]
fn chart_ships_its_alerts_and_dashboard_when_asked() {
    let off = template("flb", "ferrolb-system", &[]);
    assert!(!off.contains("PrometheusRule") && !off.contains("grafana_dashboard"));
    let docs = documents(&template(
        "flb",
        "ferrolb-system",
        &[
            "--set",
            "metrics.prometheusRule.enabled=true",
            "--set",
            "metrics.dashboard.enabled=true",
        ],
    ));
    // The rule groups are the file promtool checks, unchanged.
    let rule = find(&docs, "PrometheusRule", "flb-ferrolb");
    let file =
        std::fs::read_to_string(chart_dir().join("files").join("prometheus-rules.yaml")).unwrap();
    let groups: Value = serde_yaml_ng::from_str(&file).unwrap();
    assert_eq!(rule["spec"], groups);
    assert_eq!(
        rule["spec"]["groups"][0]["rules"].as_array().unwrap().len(),
        6
    );
    let dashboard = find(&docs, "ConfigMap", "flb-ferrolb-dashboard");
    assert_eq!(dashboard["metadata"]["labels"]["grafana_dashboard"], "1");
    let json: Value =
        serde_json::from_str(dashboard["data"]["ferrolb.json"].as_str().unwrap()).unwrap();
    assert_eq!(json["uid"], "ferrolb");
    assert!(json["panels"].as_array().unwrap().len() >= 10);
}

#[test]
fn chart_holds_each_speaker_to_its_own_node_with_an_admission_policy() {
    let docs = documents(&template("flb", "ferrolb-system", &[]));
    let policy = find(
        &docs,
        "ValidatingAdmissionPolicy",
        "flb-ferrolb-speaker-own-node",
    );
    let condition = policy["spec"]["matchConditions"][0]["expression"]
        .as_str()
        .unwrap();
    assert!(
        condition.contains("system:serviceaccount:ferrolb-system:flb-ferrolb-speaker"),
        "{condition}"
    );
    let binding = find(
        &docs,
        "ValidatingAdmissionPolicyBinding",
        "flb-ferrolb-speaker-own-node",
    );
    assert_eq!(
        binding["spec"]["policyName"],
        "flb-ferrolb-speaker-own-node"
    );
    assert_eq!(strings(&binding["spec"]["validationActions"]), ["Deny"]);
    let off = template(
        "flb",
        "ferrolb-system",
        &["--set", "speaker.admissionPolicy=false"],
    );
    assert!(!off.contains("ValidatingAdmissionPolicy"), "{off}");
}

#[test]
fn helm_template_refuses_invalid_values_naming_them() {
    let chart = chart_dir();
    let chart = chart.to_str().unwrap();
    let cases: [(&[&str], &str); 6] = [
        (&["--set", "controller.replicas=-1"], "/controller/replicas"),
        (
            &[
                "--set",
                "pools[0].name=p",
                "--set",
                "pools[0].addresses[0]=192.168.100.300-192.168.100.310",
            ],
            "/pools/0/addresses/0",
        ),
        (
            &[
                "--set",
                "pools[0].name=p",
                "--set",
                "pools[0].addresses[0]=192.168.100.0/33",
            ],
            "/pools/0/addresses/0",
        ),
        (&["--set", "logFormat=xml"], "/logFormat"),
        (&["--set", "controller.replicaz=2"], "replicaz"),
        (&["--set", "ipMode=Direct"], "/ipMode"),
    ];
    for (extra, named) in cases {
        let mut args = vec!["template", "flb", chart, "--kube-version", KUBE_VERSION];
        args.extend_from_slice(extra);
        let out = helm_offline(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "helm template {extra:?} succeeded");
        assert!(
            err.contains(named),
            "helm template {extra:?} failed without naming {named}: {err}"
        );
    }
    // A cluster older than the chart serves is refused.
    let out = helm_offline(&["template", "flb", chart, "--kube-version", "1.29.0"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("kubeVersion"),
        "Kubernetes 1.29 accepted: {err}"
    );
    // Both families, ranges, CIDRs and single addresses are accepted.
    template(
        "flb",
        "ferrolb-system",
        &[
            "--set",
            "pools[0].name=p",
            "--set",
            "pools[0].addresses={192.168.100.240/28,192.168.100.1-192.168.100.9,10.0.0.1,fd00::/120,fd00::10-fd00::1f,fd00::1}",
        ],
    );
}

// --- in the lab -------------------------------------------------------------------------------

const INSTALL_NS: &str = "helm-install";
const RELEASE: &str = "flb";
const POOL: &str = "helm-install-default";

fn stdout(out: Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn secret_data(lab: &Lab) -> String {
    stdout(
        lab.kubectl(&[
            "-n",
            INSTALL_NS,
            "get",
            "secret",
            "flb-ferrolb-memberlist",
            "-o",
            "jsonpath={.data.key}",
        ])
        .expect("memberlist secret"),
    )
}

/// What the shared install observed: the memberlist key before and after the upgrade.
struct Installed {
    key_after_install: String,
    key_after_upgrade: String,
}

/// Installs the chart once per test binary (`helm install`, then `helm upgrade` changing a
/// value), for the tests that need it.
fn installed(lab: &Lab) -> &'static Installed {
    static INSTALLED: OnceLock<Installed> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let chart = chart_dir();
        let chart = chart.to_str().unwrap();
        let pool = format!("pools[0].name={POOL}");
        lab.helm(&[
            "install",
            RELEASE,
            chart,
            "-n",
            INSTALL_NS,
            "--create-namespace",
            "--set",
            &pool,
            "--set",
            "pools[0].addresses[0]=192.168.100.240-192.168.100.249",
        ])
        .unwrap_or_else(|e| panic!("helm install: {e}"));
        let key_after_install = secret_data(lab);
        lab.helm(&[
            "upgrade",
            RELEASE,
            chart,
            "-n",
            INSTALL_NS,
            "--reuse-values",
            "--set",
            "logFormat=json",
        ])
        .unwrap_or_else(|e| panic!("helm upgrade: {e}"));
        Installed {
            key_after_install,
            key_after_upgrade: secret_data(lab),
        }
    })
}

#[test]
fn lab_helm_upgrade_keeps_memberlist_key_and_crds() {
    let lab = Lab::shared();
    let inst = installed(lab);
    assert_eq!(
        inst.key_after_install.len(),
        44,
        "{}",
        inst.key_after_install
    );
    assert_eq!(
        inst.key_after_install, inst.key_after_upgrade,
        "the membership key changed on upgrade"
    );
    // The upgrade did apply: the new value reached the Deployment.
    let env = stdout(
        lab.kubectl(&[
            "-n",
            INSTALL_NS,
            "get",
            "deployment",
            "flb-ferrolb-controller",
            "-o",
            r#"jsonpath={.spec.template.spec.containers[0].env[?(@.name=="FERROLB_LOG_FORMAT")].value}"#,
        ])
        .unwrap(),
    );
    assert_eq!(env, "json");
    let revision = stdout(
        lab.helm(&["history", RELEASE, "-n", INSTALL_NS, "-o", "json"])
            .unwrap(),
    );
    let history: Value = serde_json::from_str(&revision).unwrap();
    assert_eq!(history.as_array().unwrap().len(), 2, "{history}");
    // The CRDs are there and established, and the pool from values was created and admitted.
    for crd in ["ipaddresspools.ferrolb.io", "l2advertisements.ferrolb.io"] {
        let established = stdout(
            lab.kubectl(&[
                "get",
                "crd",
                crd,
                "-o",
                r#"jsonpath={.status.conditions[?(@.type=="Established")].status}"#,
            ])
            .unwrap_or_else(|e| panic!("{crd}: {e}")),
        );
        assert_eq!(established, "True", "{crd}");
    }
    let addresses = stdout(
        lab.kubectl(&[
            "get",
            "ipaddresspool",
            POOL,
            "-o",
            "jsonpath={.spec.addresses[0]}",
        ])
        .unwrap(),
    );
    assert_eq!(addresses, "192.168.100.240-192.168.100.249");
    let adv = stdout(
        lab.kubectl(&[
            "get",
            "l2advertisement",
            "flb-ferrolb",
            "-o",
            "jsonpath={.spec.ipAddressPools[0]}",
        ])
        .unwrap(),
    );
    assert_eq!(adv, POOL);
}

#[test]
fn lab_helm_template_is_accepted_by_the_api_server() {
    let lab = Lab::shared();
    // The CRDs must exist for the pools to be checked; the install creates them.
    installed(lab);
    let ns = "helm-dry";
    lab.kubectl(&["create", "namespace", ns]).unwrap();
    let rendered = template(
        "flbdry",
        ns,
        &[
            "--include-crds",
            "--set",
            "pools[0].name=helm-dry",
            "--set",
            "pools[0].addresses={192.168.100.224/28,fd00:100::f0-fd00:100::ff}",
            "--set",
            "pools[0].serviceAllocation.priority=10",
            "--set",
            "pools[0].serviceAllocation.namespaces[0]=team-a",
            "--set",
            "l2Advertisement.interfaces[0]=eth0",
        ],
    );
    let out = lab
        .kubectl_with_input(
            &["apply", "--dry-run=server", "-o", "name", "-f", "-"],
            &rendered,
        )
        .unwrap();
    assert!(
        out.status.success(),
        "the API server refused the rendered chart: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let accepted = String::from_utf8_lossy(&out.stdout);
    for obj in [
        "deployment.apps/flbdry-ferrolb-controller",
        "daemonset.apps/flbdry-ferrolb-speaker",
        "ipaddresspool.ferrolb.io/helm-dry",
        "l2advertisement.ferrolb.io/flbdry-ferrolb",
        "role.rbac.authorization.k8s.io/flbdry-ferrolb-controller",
        "customresourcedefinition.apiextensions.k8s.io/ipaddresspools.ferrolb.io",
    ] {
        assert!(accepted.contains(obj), "{obj} not in {accepted}");
    }
    // A dry run creates nothing.
    let err = lab
        .kubectl(&["get", "ipaddresspool", "helm-dry"])
        .expect_err("the dry run created a pool");
    assert!(err.to_string().contains("NotFound"), "{err}");
}

fn token(lab: &Lab, sa: &str) -> String {
    let out = lab
        .kubectl(&["-n", INSTALL_NS, "create", "token", sa])
        .unwrap_or_else(|e| panic!("token for {sa}: {e}"));
    stdout(out).trim().to_owned()
}

/// `kubectl auth can-i` as `token`: true for yes, false for no; panics if the question could not
/// be asked (a bad token is an error, not a "no").
fn can_i(lab: &Lab, token: &str, args: &[&str]) -> bool {
    let mut full = vec!["auth", "can-i"];
    full.extend_from_slice(args);
    match lab.kubectl_as(token, &full) {
        Ok(out) => stdout(out).trim() == "yes",
        Err(LabError::Command { status, stderr, .. })
            if status.code() == Some(1) && !stderr.contains("rror") =>
        {
            false
        }
        Err(e) => panic!("auth can-i {args:?}: {e}"),
    }
}

/// Waits until RBAC (served from the API server's caches) grants `args` to `token`.
async fn allowed(lab: &Lab, who: &str, token: &str, args: &[&str]) {
    wait_for(
        &format!("{who} to be allowed {args:?}"),
        Duration::from_secs(10),
        || async move {
            if can_i(lab, token, args) {
                Ok(())
            } else {
                Err("no")
            }
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test]
async fn lab_chart_tokens_are_allowed_what_they_need() {
    let lab = Lab::shared();
    installed(lab);
    let ns = INSTALL_NS;
    let controller = token(lab, "flb-ferrolb-controller");
    let who = stdout(
        lab.kubectl_as(
            &controller,
            &[
                "auth",
                "whoami",
                "-o",
                "jsonpath={.status.userInfo.username}",
            ],
        )
        .unwrap(),
    );
    assert_eq!(
        who,
        format!("system:serviceaccount:{ns}:flb-ferrolb-controller")
    );
    for q in [
        &["list", "services", "--all-namespaces"][..],
        &["watch", "services", "--all-namespaces"],
        &["patch", "services", "--subresource=status", "-n", "default"],
        &[
            "update",
            "services",
            "--subresource=status",
            "-n",
            "default",
        ],
        &["list", "namespaces"],
        &["watch", "ipaddresspools.ferrolb.io"],
        &["patch", "ipaddresspools.ferrolb.io", "--subresource=status"],
        &["list", "l2advertisements.ferrolb.io"],
        &[
            "patch",
            "l2advertisements.ferrolb.io",
            "--subresource=status",
        ],
        &["create", "events.events.k8s.io", "-n", "default"],
        &["create", "events", "-n", "default"],
        &["create", "leases.coordination.k8s.io", "-n", ns],
        &["update", "leases.coordination.k8s.io", "-n", ns],
    ] {
        allowed(lab, "the controller", &controller, q).await;
    }
    let speaker = token(lab, "flb-ferrolb-speaker");
    for q in [
        &["watch", "services", "--all-namespaces"][..],
        &["patch", "services", "--subresource=status", "-n", "default"],
        &[
            "list",
            "endpointslices.discovery.k8s.io",
            "--all-namespaces",
        ],
        &["watch", "nodes"],
        &["list", "ipaddresspools.ferrolb.io"],
        &["watch", "l2advertisements.ferrolb.io"],
        &["create", "events.events.k8s.io", "-n", "default"],
    ] {
        allowed(lab, "the speaker", &speaker, q).await;
    }

    // Not just the answer to a question: the speaker really writes a Service's status.
    lab.kubectl(&[
        "-n",
        ns,
        "create",
        "service",
        "loadbalancer",
        "rbac-probe",
        "--tcp=80:80",
    ])
    .unwrap();
    lab.kubectl_as(
        &speaker,
        &[
            "-n",
            ns,
            "patch",
            "service",
            "rbac-probe",
            "--subresource=status",
            "--type=merge",
            "-p",
            r#"{"status":{"conditions":[{"type":"ferrolb.io/Announced","status":"False","reason":"RBACProbe","message":"probe","lastTransitionTime":"2026-01-01T00:00:00Z"}]}}"#,
        ],
    )
    .unwrap_or_else(|e| panic!("the speaker could not patch a Service status: {e}"));
}

#[tokio::test]
async fn lab_chart_tokens_are_refused_what_they_must_not_do() {
    let lab = Lab::shared();
    installed(lab);
    let ns = INSTALL_NS;
    let speaker = token(lab, "flb-ferrolb-speaker");
    let controller = token(lab, "flb-ferrolb-controller");
    // Both tokens work (so a "no" below is RBAC's answer, not a broken token).
    allowed(lab, "the speaker", &speaker, &["list", "nodes"]).await;
    allowed(
        lab,
        "the controller",
        &controller,
        &["list", "services", "-A"],
    )
    .await;

    for (who, tok, q) in [
        ("speaker", &speaker, &["update", "services", "-n", ns][..]),
        ("speaker", &speaker, &["patch", "services", "-n", ns]),
        ("speaker", &speaker, &["delete", "services", "-n", ns]),
        ("speaker", &speaker, &["get", "secrets", "-n", ns]),
        (
            "speaker",
            &speaker,
            &["list", "secrets", "--all-namespaces"],
        ),
        (
            "speaker",
            &speaker,
            &["update", "ipaddresspools.ferrolb.io"],
        ),
        (
            "speaker",
            &speaker,
            &[
                "patch",
                "l2advertisements.ferrolb.io",
                "--subresource=status",
            ],
        ),
        // Its presence Lease lives in the release namespace only, and it never deletes one.
        (
            "speaker",
            &speaker,
            &["create", "leases.coordination.k8s.io", "-n", "default"],
        ),
        (
            "speaker",
            &speaker,
            &["delete", "leases.coordination.k8s.io", "-n", ns],
        ),
        ("controller", &controller, &["get", "secrets", "-n", ns]),
        (
            "controller",
            &controller,
            &["list", "secrets", "--all-namespaces"],
        ),
        ("controller", &controller, &["update", "services", "-n", ns]),
        (
            "controller",
            &controller,
            &["create", "ipaddresspools.ferrolb.io"],
        ),
        (
            "controller",
            &controller,
            &["create", "leases.coordination.k8s.io", "-n", "default"],
        ),
    ] {
        assert!(!can_i(lab, tok, q), "the {who} may {q:?}");
    }

    // And the real requests are refused.
    let err = lab
        .kubectl_as(
            &speaker,
            &["-n", ns, "get", "secret", "flb-ferrolb-memberlist"],
        )
        .expect_err("the speaker read the memberlist Secret through the API");
    assert!(err.to_string().contains("forbidden"), "{err}");
    let err = lab
        .kubectl_as(
            &controller,
            &["-n", ns, "get", "secret", "flb-ferrolb-memberlist"],
        )
        .expect_err("the controller read a Secret");
    assert!(err.to_string().contains("forbidden"), "{err}");
    lab.kubectl(&[
        "-n",
        ns,
        "create",
        "service",
        "loadbalancer",
        "spec-probe",
        "--tcp=80:80",
    ])
    .unwrap();
    let err = lab
        .kubectl_as(
            &speaker,
            &[
                "-n",
                ns,
                "patch",
                "service",
                "spec-probe",
                "--type=merge",
                "-p",
                r#"{"spec":{"externalTrafficPolicy":"Local"}}"#,
            ],
        )
        .expect_err("the speaker changed a Service's spec");
    assert!(err.to_string().contains("forbidden"), "{err}");
}

// --- the kind script ------------------------------------------------------------------------

fn kind_script() -> PathBuf {
    ferrolb_tests::tests_dir().join("kind").join("e2e.sh")
}

#[test]
fn kind_script_passes_shellcheck() {
    let out = Command::new("shellcheck")
        .arg(kind_script())
        .output()
        .expect("shellcheck (install it with tests/lab/install-deps.sh)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

fn kind_dry_run(args: &[&str]) -> Output {
    Command::new("bash")
        .arg(kind_script())
        .arg("--dry-run")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn kind_dry_run_picks_the_top_free_addresses_of_the_subnet() {
    let out = kind_dry_run(&[
        "--subnet",
        "172.18.0.0/16",
        "--used",
        "172.18.0.2,172.18.0.3,172.18.0.4,172.18.255.250",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // 16 addresses from the top, skipping broadcast (.255.255) and the used .255.250.
    let pool = text
        .lines()
        .find_map(|l| l.strip_prefix("pool: "))
        .unwrap_or_else(|| panic!("no 'pool:' line in {text}"));
    assert_eq!(
        pool,
        "172.18.255.238-172.18.255.249,172.18.255.251-172.18.255.254"
    );
    let addresses: Vec<_> = text
        .lines()
        .filter_map(|l| l.strip_prefix("pool address: "))
        .collect();
    assert_eq!(addresses.len(), 16, "{text}");
    assert!(!addresses.contains(&"172.18.255.255"));
    assert!(!addresses.contains(&"172.18.255.250"));
    // The steps are printed, in order, and nothing is run.
    let steps: Vec<_> = [
        "kind create cluster",
        "make images",
        "kind load",
        "helm install",
        "curl",
        "speaker Pod of the owner deleted",
        "helm uninstall",
        "kind delete cluster",
    ]
    .iter()
    .map(|s| {
        text.find(s)
            .unwrap_or_else(|| panic!("step {s} missing from {text}"))
    })
    .collect();
    assert!(
        steps.windows(2).all(|w| w[0] < w[1]),
        "steps out of order: {text}"
    );
}

#[test]
fn kind_dry_run_handles_ipv6_and_refuses_a_full_subnet() {
    let out = kind_dry_run(&[
        "--subnet",
        "fc00:f853:ccd:e793::/64",
        "--used",
        "fc00:f853:ccd:e793::2,fc00:f853:ccd:e793:ffff:ffff:ffff:fffe",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let addresses: Vec<_> = text
        .lines()
        .filter_map(|l| l.strip_prefix("pool address: "))
        .collect();
    assert_eq!(addresses.len(), 16, "{text}");
    assert_eq!(addresses[0], "fc00:f853:ccd:e793:ffff:ffff:ffff:ffef");
    assert!(!addresses.contains(&"fc00:f853:ccd:e793:ffff:ffff:ffff:fffe"));

    // A /29 has 6 usable addresses; with 3 used there is no room for a pool.
    let out = kind_dry_run(&[
        "--subnet",
        "10.9.0.0/29",
        "--used",
        "10.9.0.1,10.9.0.2,10.9.0.3",
    ]);
    assert!(!out.status.success(), "a pool was carved from a full /29");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("10.9.0.0/29"), "{err}");
}
