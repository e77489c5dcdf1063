//! The ferrolb CRDs on the lab's real API server: served, and every bad pool refused with the
//! CEL message a user can act on.

use ferrolb_tests::{Lab, workspace_dir};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct Case {
    name: String,
    #[serde(default)]
    message: Option<String>,
    object: serde_json::Value,
}

fn cases(file: &str) -> Vec<Case> {
    let path = workspace_dir().join("crds").join("tests").join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn lab() -> &'static Lab {
    static INSTALLED: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    let lab = Lab::shared();
    INSTALLED.get_or_init(|| lab.install_crds().expect("installing the CRDs"));
    lab
}

#[test]
fn lab_crds_are_served_with_printer_columns() {
    let lab = lab();
    let out = lab
        .kubectl(&[
            "get",
            "crd",
            "ipaddresspools.ferrolb.io",
            "-o",
            "jsonpath={.spec.versions[0].additionalPrinterColumns[*].name}",
        ])
        .expect("get crd");
    let columns = String::from_utf8_lossy(&out.stdout).to_lowercase();
    for want in ["addresses", "assigned", "available", "age"] {
        assert!(
            columns.contains(want),
            "printer columns {columns:?} lack {want}"
        );
    }
    let out = lab
        .kubectl(&["api-resources", "--api-group", "ferrolb.io", "-o", "name"])
        .expect("api-resources");
    let names = String::from_utf8_lossy(&out.stdout);
    assert!(names.contains("ipaddresspools.ferrolb.io"), "{names}");
    assert!(names.contains("l2advertisements.ferrolb.io"), "{names}");
}

#[test]
fn lab_good_pools_are_accepted() {
    let lab = lab();
    for case in cases("good-pools.yaml") {
        let yaml = serde_json::to_string(&case.object).expect("json");
        if let Err(e) = lab.apply_yaml(&yaml, &["--dry-run=server"]) {
            panic!("good pool {} was refused: {e}", case.name);
        }
    }
}

#[test]
fn lab_bad_pools_are_refused_with_their_message() {
    let lab = lab();
    let cases = cases("bad-pools.yaml");
    assert!(cases.len() >= 5, "too few bad cases: {}", cases.len());
    for case in cases {
        let yaml = serde_json::to_string(&case.object).expect("json");
        let want = case
            .message
            .clone()
            .unwrap_or_else(|| panic!("bad case {} has no message", case.name));
        match lab.apply_yaml(&yaml, &["--dry-run=server"]) {
            Ok(_) => panic!("bad pool {} was accepted by the API server", case.name),
            Err(e) => {
                let text = e.to_string();
                assert!(
                    text.contains(&want),
                    "bad pool {}: the API server said {text:?}, expected it to contain {want:?}",
                    case.name
                );
            }
        }
    }
}
