//! MetalLB's `metallb.io/v1beta1` `IPAddressPool` and `L2Advertisement` custom resources.

use std::collections::BTreeMap;

use ferrolb_crds::{
    AddressError, AddressRange, IPAddressPool, IPAddressPoolSpec, L2Advertisement,
    L2AdvertisementSpec, ServiceAllocation,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::{Collected, MigrateError};

/// Metadata MetalLB's objects carry that says nothing about the configuration (server
/// bookkeeping, the namespace of a now cluster-scoped object): left behind without a warning.
const BOOKKEEPING: [&str; 11] = [
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "managedFields",
    "selfLink",
    "finalizers",
    "ownerReferences",
    "generateName",
    "deletionGracePeriodSeconds",
];

/// Annotations that describe how the MetalLB object was managed, not what it configures.
fn is_management_annotation(key: &str) -> bool {
    key == "kubectl.kubernetes.io/last-applied-configuration" || key.starts_with("meta.helm.sh/")
}

/// Reads the fields of one JSON object, remembering which were read so the rest can be
/// reported as not carried over.
pub(super) struct Fields<'a> {
    object: &'a str,
    path: &'a str,
    map: Option<&'a Map<String, Value>>,
    read: Vec<&'static str>,
}

impl<'a> Fields<'a> {
    /// The fields of `value` (at `path` of `object`); an absent or null value has none.
    pub(super) fn new(
        object: &'a str,
        path: &'a str,
        value: &'a Value,
    ) -> Result<Self, MigrateError> {
        let map = match value {
            Value::Null => None,
            Value::Object(m) => Some(m),
            other => {
                return Err(invalid(
                    object,
                    path,
                    format!("expected a map, found {other}"),
                ));
            }
        };
        Ok(Self {
            object,
            path,
            map,
            read: Vec::new(),
        })
    }

    fn field_path(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    /// The raw value of `key`, marking it read.
    pub(super) fn raw(&mut self, key: &'static str) -> Option<&'a Value> {
        self.read.push(key);
        self.map.and_then(|m| m.get(key)).filter(|v| !v.is_null())
    }

    /// `key` decoded as `T`; a value of the wrong shape is an error naming the field.
    pub(super) fn get<T: DeserializeOwned>(
        &mut self,
        key: &'static str,
    ) -> Result<Option<T>, MigrateError> {
        let path = self.field_path(key);
        self.raw(key)
            .map(|v| {
                serde_json::from_value(v.clone())
                    .map_err(|e| invalid(self.object, &path, format!("{e} (found {v})")))
            })
            .transpose()
    }

    /// Warns about every field that was not read.
    pub(super) fn warn_unread(&self, out: &mut Collected, why: &str) {
        for key in self.map.into_iter().flat_map(|m| m.keys()) {
            if !self.read.contains(&key.as_str()) {
                out.warn(
                    self.object,
                    format!("{}: {why}; not carried over", self.field_path(key)),
                );
            }
        }
    }
}

pub(super) fn invalid(object: &str, field: &str, message: impl Into<String>) -> MigrateError {
    MigrateError::Invalid {
        object: object.to_owned(),
        field: field.to_owned(),
        message: message.into(),
    }
}

/// ferrolb metadata for a converted object: its name, labels (selectors may match them) and
/// annotations other than management ones.
fn metadata(object: &str, value: &Value, out: &mut Collected) -> Result<ObjectMeta, MigrateError> {
    let mut meta = Fields::new(object, "metadata", &value["metadata"])?;
    let name: String = meta
        .get("name")?
        .ok_or_else(|| invalid(object, "metadata.name", "missing"))?;
    let labels: Option<BTreeMap<String, String>> = meta.get("labels")?;
    let annotations: Option<BTreeMap<String, String>> = meta.get("annotations")?;
    let annotations = annotations
        .map(|a| {
            a.into_iter()
                .filter(|(k, _)| !is_management_annotation(k))
                .collect::<BTreeMap<_, _>>()
        })
        .filter(|a| !a.is_empty());
    for key in BOOKKEEPING {
        meta.raw(key);
    }
    meta.warn_unread(out, "no ferrolb equivalent");
    Ok(ObjectMeta {
        name: Some(name),
        labels,
        annotations,
        ..ObjectMeta::default()
    })
}

/// Warns about top-level fields other than the object's own; `status` is observed state.
fn warn_top_level(object: &str, value: &Value, out: &mut Collected) -> Result<(), MigrateError> {
    let mut top = Fields::new(object, "", value)?;
    for key in ["apiVersion", "kind", "metadata", "spec", "status"] {
        top.raw(key);
    }
    top.warn_unread(out, "unknown field");
    Ok(())
}

/// Addresses in ferrolb's stricter form: a range written with spaces loses them, a CIDR with
/// host bits set (MetalLB used its network) becomes that network, and an entry MetalLB would
/// refuse too is dropped; each change is a warning naming `field[i]`.
pub(super) fn addresses(
    object: &str,
    field: &str,
    entries: &[String],
    out: &mut Collected,
) -> Vec<String> {
    let mut kept = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let written = match entry.split_once('-') {
            Some((a, b)) if !entry.contains('/') => format!("{}-{}", a.trim(), b.trim()),
            _ => entry.trim().to_owned(),
        };
        match AddressRange::parse(&written) {
            Ok(_) => kept.push(written),
            Err(AddressError::HostBitsSet { network, .. }) => {
                out.warn(
                    object,
                    format!(
                        "{field}[{i}]: CIDR {written} has host bits set; MetalLB used its network \
                         and ferrolb needs it written as such: converted to {network}"
                    ),
                );
                kept.push(network);
            }
            Err(e) => out.warn(object, format!("{field}[{i}]: {e}; dropped")),
        }
    }
    kept
}

/// `metallb.io/v1beta1 IPAddressPool` → `ferrolb.io/v1alpha1 IPAddressPool`.
pub(super) fn pool(value: &Value, out: &mut Collected) -> Result<(), MigrateError> {
    let object = format!(
        "IPAddressPool {}",
        value["metadata"]["name"].as_str().unwrap_or("<unnamed>")
    );
    let object = object.as_str();
    warn_top_level(object, value, out)?;
    let meta = metadata(object, value, out)?;
    let mut spec = Fields::new(object, "spec", &value["spec"])?;
    let entries: Vec<String> = spec.get("addresses")?.unwrap_or_default();
    let auto_assign: Option<bool> = spec.get("autoAssign")?;
    let avoid_buggy_ips: Option<bool> = spec.get("avoidBuggyIPs")?;
    let service_allocation = match spec.raw("serviceAllocation") {
        Some(v) => {
            let mut sa = Fields::new(object, "spec.serviceAllocation", v)?;
            let allocation = ServiceAllocation {
                priority: sa.get("priority")?,
                namespaces: sa.get("namespaces")?.unwrap_or_default(),
                namespace_selectors: sa
                    .get::<Vec<LabelSelector>>("namespaceSelectors")?
                    .unwrap_or_default(),
                service_selectors: sa
                    .get::<Vec<LabelSelector>>("serviceSelectors")?
                    .unwrap_or_default(),
            };
            sa.warn_unread(out, "unknown field");
            Some(allocation)
        }
        None => None,
    };
    spec.warn_unread(out, "unknown field");
    let addresses = addresses(object, "spec.addresses", &entries, out);
    if addresses.is_empty() {
        out.warn(
            object,
            "spec.addresses: no usable address; pool not converted",
        );
        return Ok(());
    }
    let spec = IPAddressPoolSpec {
        addresses,
        auto_assign: auto_assign.unwrap_or(true),
        avoid_buggy_ips: avoid_buggy_ips.unwrap_or(false),
        service_allocation,
    };
    out.pools.push(IPAddressPool {
        metadata: meta,
        spec,
        status: None,
    });
    Ok(())
}

/// `metallb.io/v1beta1 L2Advertisement` → `ferrolb.io/v1alpha1 L2Advertisement`.
pub(super) fn advertisement(value: &Value, out: &mut Collected) -> Result<(), MigrateError> {
    let object = format!(
        "L2Advertisement {}",
        value["metadata"]["name"].as_str().unwrap_or("<unnamed>")
    );
    let object = object.as_str();
    warn_top_level(object, value, out)?;
    let meta = metadata(object, value, out)?;
    let mut spec = Fields::new(object, "spec", &value["spec"])?;
    let spec_out = L2AdvertisementSpec {
        ip_address_pools: spec.get("ipAddressPools")?.unwrap_or_default(),
        ip_address_pool_selectors: spec.get("ipAddressPoolSelectors")?.unwrap_or_default(),
        node_selectors: spec.get("nodeSelectors")?.unwrap_or_default(),
        interfaces: spec.get("interfaces")?.unwrap_or_default(),
        gratuitous_interval: None,
    };
    spec.warn_unread(out, "unknown field");
    out.advertisements.push(L2Advertisement {
        metadata: meta,
        spec: spec_out,
        status: None,
    });
    Ok(())
}
