//! The committed CRD YAML must be what the types generate.

use std::path::PathBuf;

fn committed_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("yaml/crds.yaml")
}

#[test]
fn committed_crds_match_the_types() {
    let generated = ferrolb_crds::crds_yaml();
    let path = committed_path();
    if std::env::var_os("FERROLB_UPDATE_CRDS").is_some() {
        std::fs::write(&path, &generated).expect("write crds/yaml/crds.yaml");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "crds/yaml/crds.yaml is stale. Regenerate it with\n  \
         cargo run -p ferrolb-crds --bin crdgen > crds/yaml/crds.yaml\nor\n  \
         FERROLB_UPDATE_CRDS=1 cargo test -p ferrolb-crds --test crd_yaml"
    );
}

#[test]
fn committed_crds_parse_back() {
    let committed = std::fs::read_to_string(committed_path()).expect("read crds/yaml/crds.yaml");
    let docs: Vec<serde_yaml_ng::Value> = serde_yaml_ng::Deserializer::from_str(&committed)
        .map(|d| serde::Deserialize::deserialize(d).expect("valid YAML document"))
        .collect();
    let names: Vec<&str> = docs
        .iter()
        .filter_map(|d| d["metadata"]["name"].as_str())
        .collect();
    assert_eq!(
        names,
        ["ipaddresspools.ferrolb.io", "l2advertisements.ferrolb.io"]
    );
}
