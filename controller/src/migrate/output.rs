//! Writing the converted objects: pools first, then advertisements, each in input order.

use std::collections::BTreeSet;

use kube::ResourceExt;
use serde::Serialize;

use super::{Collected, Conversion, MigrateError};

/// The first line of the output, so the file says where it came from.
pub const HEADER: &str =
    "# ferrolb configuration converted from MetalLB by `ferrolb-controller migrate-metallb`.\n";

/// Keeps the first object of each name; a later one is a warning.
fn dedup<K: ResourceExt>(kind: &str, objects: Vec<K>, warnings: &mut Vec<String>) -> Vec<K> {
    let mut seen = BTreeSet::new();
    objects
        .into_iter()
        .filter(|o| {
            let name = o.name_any();
            let first = seen.insert(name.clone());
            if !first {
                warnings.push(format!(
                    "{kind} {name}: defined more than once in the input; only the first is kept"
                ));
            }
            first
        })
        .collect()
}

fn push_doc(yaml: &mut String, obj: &impl Serialize) -> Result<(), MigrateError> {
    yaml.push_str("---\n");
    yaml.push_str(&serde_yaml_ng::to_string(obj).map_err(MigrateError::Output)?);
    Ok(())
}

/// The YAML stream and warnings of a finished conversion.
pub(super) fn finish(c: Collected) -> Result<Conversion, MigrateError> {
    let mut warnings = c.warnings;
    let pools = dedup("IPAddressPool", c.pools, &mut warnings);
    let advertisements = dedup("L2Advertisement", c.advertisements, &mut warnings);
    let mut yaml = String::new();
    if !pools.is_empty() || !advertisements.is_empty() {
        yaml.push_str(HEADER);
    }
    for p in &pools {
        push_doc(&mut yaml, p)?;
    }
    for a in &advertisements {
        push_doc(&mut yaml, a)?;
    }
    Ok(Conversion { yaml, warnings })
}
