//! MetalLB's legacy ConfigMap (before v0.13): a `config` key holding `address-pools` (and BGP
//! `peers`, `bgp-communities`, `bfd-profiles`, which ferrolb does not support).
//!
//! Each `protocol: layer2` pool becomes an `IPAddressPool` and an `L2Advertisement` of the same
//! name: the legacy format announced every layer-2 pool from every node.

use ferrolb_crds::{IPAddressPool, IPAddressPoolSpec, L2Advertisement, L2AdvertisementSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::Value;

use super::crs::{Fields, addresses, invalid};
use super::{Collected, MigrateError};

/// Converts one legacy ConfigMap.
pub(super) fn config_map(value: &Value, out: &mut Collected) -> Result<(), MigrateError> {
    let name = value["metadata"]["name"].as_str().unwrap_or("<unnamed>");
    let object = match value["metadata"]["namespace"].as_str() {
        Some(ns) => format!("ConfigMap {ns}/{name}"),
        None => format!("ConfigMap {name}"),
    };
    let object = object.as_str();
    let Some(text) = value["data"]["config"].as_str() else {
        out.warn(
            object,
            "data.config: missing, so this is not MetalLB's legacy configuration; not converted",
        );
        return Ok(());
    };
    let config: Value =
        serde_yaml_ng::from_str(text).map_err(|source| MigrateError::LegacyConfig {
            object: object.to_owned(),
            source,
        })?;
    let mut top = Fields::new(object, "config", &config)?;
    for key in ["peers", "bgp-communities", "bfd-profiles"] {
        if top.raw(key).is_some() {
            out.warn(
                object,
                format!(
                    "config.{key}: BGP mode is not supported by ferrolb (it announces in layer 2 \
                     with ARP/NDP); not carried over"
                ),
            );
        }
    }
    let pools: Vec<Value> = top.get("address-pools")?.unwrap_or_default();
    top.warn_unread(out, "unknown field");
    for (i, pool) in pools.iter().enumerate() {
        legacy_pool(object, i, pool, out)?;
    }
    Ok(())
}

fn legacy_pool(
    object: &str,
    i: usize,
    pool: &Value,
    out: &mut Collected,
) -> Result<(), MigrateError> {
    let path = format!("config.address-pools[{i}]");
    let mut f = Fields::new(object, &path, pool)?;
    let name: String = f
        .get("name")?
        .ok_or_else(|| invalid(object, &format!("{path}.name"), "missing"))?;
    let protocol: String = f.get("protocol")?.ok_or_else(|| {
        invalid(
            object,
            &format!("{path}.protocol"),
            "missing (layer2 or bgp)",
        )
    })?;
    let entries: Vec<String> = f.get("addresses")?.unwrap_or_default();
    let auto_assign: Option<bool> = f.get("auto-assign")?;
    let avoid_buggy_ips: Option<bool> = f.get("avoid-buggy-ips")?;
    let bgp_advertisements = f.raw("bgp-advertisements").is_some();
    f.warn_unread(out, "unknown field");
    let path = format!("{path} ({name})");
    if protocol != "layer2" {
        out.warn(
            object,
            format!(
                "{path}.protocol: {protocol} is not supported by ferrolb (it announces in layer 2 \
                 with ARP/NDP); pool not converted"
            ),
        );
        return Ok(());
    }
    if bgp_advertisements {
        out.warn(
            object,
            format!("{path}.bgp-advertisements: BGP is not supported by ferrolb; not carried over"),
        );
    }
    let addresses = addresses(object, &format!("{path}.addresses"), &entries, out);
    if addresses.is_empty() {
        out.warn(
            object,
            format!("{path}.addresses: no usable address; pool not converted"),
        );
        return Ok(());
    }
    let meta = || ObjectMeta {
        name: Some(name.clone()),
        ..ObjectMeta::default()
    };
    out.pools.push(IPAddressPool {
        metadata: meta(),
        spec: IPAddressPoolSpec {
            addresses,
            auto_assign: auto_assign.unwrap_or(true),
            avoid_buggy_ips: avoid_buggy_ips.unwrap_or(false),
            service_allocation: None,
        },
        status: None,
    });
    out.advertisements.push(L2Advertisement {
        metadata: meta(),
        spec: L2AdvertisementSpec {
            ip_address_pools: vec![name.clone()],
            ..L2AdvertisementSpec::default()
        },
        status: None,
    });
    Ok(())
}
