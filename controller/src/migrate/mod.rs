//! `migrate-metallb`: turns MetalLB's configuration into equivalent ferrolb objects.
//!
//! Input is MetalLB's `metallb.io` custom resources (`IPAddressPool`, `L2Advertisement`, and the
//! BGP kinds, which ferrolb does not support) and MetalLB's legacy ConfigMap (a `config` key with
//! `address-pools`). Output is `ferrolb.io/v1alpha1` YAML. Anything that cannot be carried over
//! (BGP, unknown fields, unusable addresses) becomes a warning naming the object and the field:
//! nothing is dropped silently.
//!
//! [`convert`] is pure; [`run_cli`] is the edge that reads files or the cluster and prints.

mod cli;
mod crs;
mod legacy;
mod output;

#[cfg(test)]
mod tests;

pub use cli::run_cli;

use serde::Deserialize as _;
use serde_json::Value;

/// The converted objects and what could not be carried over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conversion {
    /// ferrolb objects as a multi-document YAML stream (empty when nothing converted).
    pub yaml: String,
    /// One sentence per thing not carried over, naming the object and the field.
    pub warnings: Vec<String>,
}

/// Why the input could not be converted at all.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// The input is not YAML.
    #[error("the input is not valid YAML: {0}")]
    Yaml(#[source] serde_yaml_ng::Error),
    /// A legacy ConfigMap's `config` key is not valid YAML.
    #[error("{object}: data.config is not valid YAML: {source}")]
    LegacyConfig {
        /// The ConfigMap, as `ConfigMap <namespace>/<name>`.
        object: String,
        /// The parse error.
        #[source]
        source: serde_yaml_ng::Error,
    },
    /// A field has a shape MetalLB itself would refuse.
    #[error("{object}: {field}: {message}")]
    Invalid {
        /// The object, as `<Kind> <name>`.
        object: String,
        /// The field path.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// The output could not be written as YAML.
    #[error("writing the ferrolb YAML: {0}")]
    Output(#[source] serde_yaml_ng::Error),
}

/// What a conversion collects before it is written out.
#[derive(Debug, Default)]
struct Collected {
    pools: Vec<ferrolb_crds::IPAddressPool>,
    advertisements: Vec<ferrolb_crds::L2Advertisement>,
    warnings: Vec<String>,
}

impl Collected {
    fn warn(&mut self, object: &str, message: impl std::fmt::Display) {
        self.warnings.push(format!("{object}: {message}"));
    }
}

/// Converts a multi-document YAML stream of MetalLB objects (lists such as `kubectl get -o yaml`
/// output are unwrapped) into ferrolb YAML and warnings.
pub fn convert(docs: &str) -> Result<Conversion, MigrateError> {
    let mut values = Vec::new();
    for doc in serde_yaml_ng::Deserializer::from_str(docs) {
        values.push(Value::deserialize(doc).map_err(MigrateError::Yaml)?);
    }
    convert_values(values)
}

/// Converts already-parsed objects (from files or from the cluster).
pub fn convert_values(values: impl IntoIterator<Item = Value>) -> Result<Conversion, MigrateError> {
    let mut out = Collected::default();
    for v in values {
        convert_value(v, &mut out)?;
    }
    output::finish(out)
}

fn convert_value(v: Value, out: &mut Collected) -> Result<(), MigrateError> {
    if v.is_null() {
        return Ok(());
    }
    let api_version = v["apiVersion"].as_str().unwrap_or_default().to_owned();
    let kind = v["kind"].as_str().unwrap_or_default().to_owned();
    let name = v["metadata"]["name"]
        .as_str()
        .unwrap_or("<unnamed>")
        .to_owned();
    if kind.ends_with("List")
        && let Some(items) = v.get("items").and_then(Value::as_array)
    {
        for item in items.clone() {
            convert_value(item, out)?;
        }
        return Ok(());
    }
    let group = api_version.split_once('/').map(|(g, _)| g).unwrap_or("");
    match (group, kind.as_str()) {
        ("metallb.io", "IPAddressPool") => crs::pool(&v, out),
        ("metallb.io", "L2Advertisement") => crs::advertisement(&v, out),
        ("metallb.io", "BGPPeer" | "BGPAdvertisement" | "BFDProfile" | "Community") => {
            out.warn(
                &format!("{kind} {name}"),
                "BGP mode is not supported by ferrolb (it announces in layer 2 with ARP/NDP); \
                 not converted",
            );
            Ok(())
        }
        ("metallb.io", _) => {
            out.warn(
                &format!("{kind} {name}"),
                format!("{api_version} {kind} has no ferrolb equivalent; not converted"),
            );
            Ok(())
        }
        ("", "ConfigMap") if api_version == "v1" => legacy::config_map(&v, out),
        _ => {
            let what = if kind.is_empty() {
                "a document without a kind".to_owned()
            } else {
                format!("{api_version} {kind}")
            };
            out.warn(
                &format!("{} {name}", if kind.is_empty() { "object" } else { &kind }),
                format!("{what} is not MetalLB configuration; not converted"),
            );
            Ok(())
        }
    }
}
