//! The CRD schema's CEL rules, run locally with kube's CEL evaluator on the objects listed in
//! `bad-pools.yaml` and `good-pools.yaml` (the lab applies the same files to a real API server),
//! and the Rust parser checked to agree with them.

use ferrolb_crds::{IPAddressPool, L2Advertisement, all_crds};
use kube::core::cel::Validator;
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
struct Case {
    name: String,
    #[serde(default)]
    message: String,
    object: Value,
}

fn cases(file: &str) -> Vec<Case> {
    let path = format!("{}/tests/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).expect("read case file");
    serde_yaml_ng::from_str(&text).expect("parse case file")
}

fn schema_for(kind: &str) -> Value {
    let crd = all_crds()
        .into_iter()
        .find(|c| c.spec.names.kind == kind)
        .expect("kind has a CRD");
    let schema = crd.spec.versions[0]
        .schema
        .as_ref()
        .and_then(|s| s.open_api_v3_schema.as_ref())
        .expect("CRD has a schema");
    serde_json::to_value(schema).expect("schema to JSON")
}

/// Messages produced by structural schema checks (required, maxLength), not by CEL: the local
/// evaluator only runs CEL, so those cases are checked by the lab and the Rust side only.
fn checked_by_cel(message: &str) -> bool {
    !["Required value", "Too long", "Too many"]
        .iter()
        .any(|m| message.contains(m))
}

fn cel_errors(object: &Value) -> Vec<String> {
    let kind = object["kind"].as_str().expect("object has a kind");
    match Validator::new().validate(&schema_for(kind), object, None) {
        Ok(()) => Vec::new(),
        Err(errors) => errors.iter().map(|e| e.to_string()).collect(),
    }
}

/// Whether the Rust side (what the controller and speaker use) refuses the object.
fn rust_refuses(object: &Value) -> bool {
    match object["kind"].as_str() {
        Some("IPAddressPool") => match serde_json::from_value::<IPAddressPool>(object.clone()) {
            Ok(pool) => pool.spec.ranges().is_err() || pool_selectors_refused(&pool),
            Err(_) => true,
        },
        Some("L2Advertisement") => {
            match serde_json::from_value::<L2Advertisement>(object.clone()) {
                Ok(adv) => adv.spec.validate().is_err(),
                Err(_) => true,
            }
        }
        other => panic!("unexpected kind {other:?}"),
    }
}

fn pool_selectors_refused(pool: &IPAddressPool) -> bool {
    pool.spec.service_allocation.as_ref().is_some_and(|a| {
        a.namespace_selectors
            .iter()
            .chain(&a.service_selectors)
            .any(|s| ferrolb_crds::selector::check(s).is_err())
    })
}

#[test]
fn bad_objects_are_refused_with_their_message() {
    let mut failures = Vec::new();
    for case in cases("bad-pools.yaml") {
        if !rust_refuses(&case.object) {
            failures.push(format!("{}: the Rust parser accepts it", case.name));
        }
        if !checked_by_cel(&case.message) {
            continue;
        }
        let errors = cel_errors(&case.object);
        if errors.len() != 1 {
            failures.push(format!(
                "{}: expected one message, got {errors:?}",
                case.name
            ));
        }
        if !errors.iter().any(|e| e.contains(&case.message)) {
            failures.push(format!(
                "{}: expected a message containing {:?}, got {errors:?}",
                case.name, case.message
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn good_objects_are_accepted() {
    let mut failures = Vec::new();
    for case in cases("good-pools.yaml") {
        let errors = cel_errors(&case.object);
        if !errors.is_empty() {
            failures.push(format!("{}: CEL refuses it: {errors:?}", case.name));
        }
        if rust_refuses(&case.object) {
            failures.push(format!("{}: the Rust parser refuses it", case.name));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
