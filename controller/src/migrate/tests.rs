//! Fixtures: MetalLB YAML in (`fixtures/<name>.metallb.yaml`), the expected ferrolb YAML
//! (`<name>.ferrolb.yaml`) and warnings (`<name>.warnings.txt`, one per line) out.
//! `FERROLB_UPDATE_FIXTURES=1` rewrites the expected files from the current output.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use super::{MigrateError, convert};

const FIXTURES: [&str; 3] = ["kubespray-configmap", "crs", "bgp"];

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("src/migrate/fixtures")
        .join(name)
}

fn read_or_empty(name: &str) -> String {
    std::fs::read_to_string(fixture(name)).unwrap_or_default()
}

#[test]
fn fixtures_convert_to_the_expected_ferrolb_yaml_and_warnings() {
    let update = std::env::var_os("FERROLB_UPDATE_FIXTURES").is_some();
    for name in FIXTURES {
        let input = std::fs::read_to_string(fixture(&format!("{name}.metallb.yaml"))).unwrap();
        let got = convert(&input).unwrap_or_else(|e| panic!("{name}: {e}"));
        let warnings: String = got.warnings.iter().map(|w| format!("{w}\n")).collect();
        let yaml_file = format!("{name}.ferrolb.yaml");
        let warnings_file = format!("{name}.warnings.txt");
        if update {
            std::fs::write(fixture(&yaml_file), &got.yaml).unwrap();
            if warnings.is_empty() {
                let _ = std::fs::remove_file(fixture(&warnings_file));
            } else {
                std::fs::write(fixture(&warnings_file), &warnings).unwrap();
            }
            continue;
        }
        assert_eq!(got.yaml, read_or_empty(&yaml_file), "{name}: YAML differs");
        assert_eq!(
            warnings,
            read_or_empty(&warnings_file),
            "{name}: warnings differ"
        );
    }
}

#[test]
fn kubespray_example_becomes_one_layer2_pool_without_warnings() {
    let input = read_or_empty("kubespray-configmap.metallb.yaml");
    let got = convert(&input).unwrap();
    assert!(got.warnings.is_empty(), "{:?}", got.warnings);
    let docs: Vec<serde_json::Value> = serde_yaml_ng::Deserializer::from_str(&got.yaml)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .collect();
    assert_eq!(docs.len(), 2);
    assert_eq!(docs[0]["apiVersion"], "ferrolb.io/v1alpha1");
    assert_eq!(docs[0]["kind"], "IPAddressPool");
    assert_eq!(docs[0]["metadata"]["name"], "loadbalanced");
    assert_eq!(
        docs[0]["spec"]["addresses"][0],
        "192.168.100.240-192.168.100.249"
    );
    assert_eq!(docs[0]["spec"]["autoAssign"], true);
    assert!(docs[0]["metadata"].get("namespace").is_none());
    assert_eq!(docs[1]["kind"], "L2Advertisement");
    assert_eq!(docs[1]["spec"]["ipAddressPools"][0], "loadbalanced");
}

#[test]
fn every_unsupported_field_is_named_in_a_warning() {
    let got = convert(&read_or_empty("bgp.metallb.yaml")).unwrap();
    let all = got.warnings.join("\n");
    for expected in [
        "config.peers",
        "config.bgp-communities",
        "config.bfd-profiles",
        "address-pools[0] (uplink).protocol: bgp",
        "address-pools[1] (office).bgp-advertisements",
        "address-pools[1].colour",
        "(office).addresses[1]",
        "BGPPeer router",
        "BGPAdvertisement uplink",
        "BFDProfile fast",
        "Community communities",
        "IPAddressPool legacy-range: spec.addresses[0]",
        "IPAddressPool legacy-range: spec.addresses[1]",
        "IPAddressPool legacy-range: spec.addresses: no usable address",
        "L2Advertisement office-nodes: spec.interfaceSelectors",
        "L2Advertisement office-nodes: extra",
        "Deployment controller",
    ] {
        assert!(
            all.contains(expected),
            "no warning mentions {expected}:\n{all}"
        );
    }
    // The BGP pool and the unusable one are not in the output; the layer-2 one is.
    assert!(!got.yaml.contains("uplink"), "{}", got.yaml);
    assert!(!got.yaml.contains("legacy-range"), "{}", got.yaml);
    assert!(got.yaml.contains("192.168.100.200-192.168.100.209"));
    assert!(!got.yaml.contains("192.168.100.300"));
}

#[test]
fn host_bits_are_cleared_and_range_spaces_removed_with_a_warning() {
    let got = convert(
        "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: p}\n\
         spec:\n  addresses: [192.168.100.225/28, '10.0.0.1 - 10.0.0.9', 'fd00::1/120']\n",
    )
    .unwrap();
    assert!(got.yaml.contains("- 192.168.100.224/28\n"), "{}", got.yaml);
    assert!(got.yaml.contains("- 10.0.0.1-10.0.0.9\n"), "{}", got.yaml);
    assert!(got.yaml.contains("- fd00::/120\n"), "{}", got.yaml);
    assert_eq!(got.warnings.len(), 2, "{:?}", got.warnings);
    assert!(got.warnings[0].contains("spec.addresses[0]"));
    assert!(got.warnings[1].contains("spec.addresses[2]"));
}

#[test]
fn duplicate_names_keep_the_first_and_warn() {
    let pool = |addr: &str| {
        format!(
            "---\napiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {{name: p}}\n\
             spec: {{addresses: ['{addr}']}}\n"
        )
    };
    let got = convert(&(pool("10.0.0.1") + &pool("10.0.0.2"))).unwrap();
    assert!(got.yaml.contains("10.0.0.1") && !got.yaml.contains("10.0.0.2"));
    assert_eq!(got.warnings.len(), 1);
    assert!(
        got.warnings[0].contains("IPAddressPool p"),
        "{:?}",
        got.warnings
    );
}

#[test]
fn malformed_input_is_an_error_naming_the_object_and_field() {
    let err = convert("apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: p}\nspec: {addresses: 10.0.0.1}\n")
        .unwrap_err();
    assert!(
        matches!(&err, MigrateError::Invalid { object, field, .. } if object == "IPAddressPool p" && field == "spec.addresses"),
        "{err}"
    );
    let err = convert(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: config}\ndata: {config: '[unclosed'}\n",
    )
    .unwrap_err();
    assert!(
        err.to_string().starts_with("ConfigMap config: data.config"),
        "{err}"
    );
    assert!(matches!(convert("a: [b"), Err(MigrateError::Yaml(_))));
    let err = convert("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: config}\ndata:\n  config: |\n    address-pools:\n    - name: x\n      addresses: [10.0.0.1]\n")
        .unwrap_err();
    assert!(
        err.to_string().contains("address-pools[0].protocol"),
        "{err}"
    );
}

#[test]
fn nothing_to_convert_gives_empty_yaml() {
    let got = convert("").unwrap();
    assert_eq!(got.yaml, "");
    assert!(got.warnings.is_empty());
}
