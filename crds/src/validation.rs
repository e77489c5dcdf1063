//! Schema validation: the CEL rules (`x-kubernetes-validations`) the API server runs, so a bad
//! pool is refused at `kubectl apply` time without an admission webhook.
//!
//! The rules use the Kubernetes CEL IP/CIDR library (`isIP`, `ip()`, `family()`, `isCIDR`,
//! `cidr()`, `masked()`, `containsIP`) and the strings extension (`split`, `trim`). IPs are not
//! orderable in CEL, so range order is checked by octet arithmetic for IPv4, and for IPv6 by
//! finding the first bit where the two ends differ with `cidr(...).containsIP(...)`.
//! Lists and strings carry `maxItems`/`maxLength` so the API server's cost estimate stays bounded.
//! [`crate::address`] implements the same grammar in Rust and is what the controller uses.

use schemars::{Schema, SchemaGenerator, json_schema};
use serde_json::{Value, json};

/// Maximum entries in `spec.addresses`: bounds the API server's CEL cost estimate (the IPv6
/// range-order rule walks 128 prefix lengths per entry).
pub const MAX_ADDRESSES: usize = 64;
/// Maximum length of one address entry (two full IPv6 addresses with spaces fit).
pub const MAX_ADDRESS_LEN: usize = 128;
/// Maximum entries in name lists (pools, namespaces, interfaces) and selector lists.
pub const MAX_LIST_ITEMS: usize = 64;

/// One `x-kubernetes-validations` entry; `message_expression` (with the value in it) is preferred
/// by the API server, `message` is its fallback.
pub fn rule(rule: &str, message: &str, message_expression: Option<&str>) -> Value {
    let mut v = json!({ "rule": rule, "message": message });
    if let Some(expr) = message_expression {
        v["messageExpression"] = json!(expr);
    }
    v
}

// Pieces of the per-entry rules; `self` is one entry of spec.addresses.
const START: &str = "self.split('-')[0].trim()";
const END: &str = "self.split('-')[1].trim()";

fn is_range() -> String {
    format!(
        "(!self.contains('/') && self.contains('-') && self.split('-').size() == 2 \
         && isIP({START}) && isIP({END}))"
    )
}

fn ipv4_value(ip: &str) -> String {
    format!(
        "(int({ip}.split('.')[0]) * 16777216 + int({ip}.split('.')[1]) * 65536 \
         + int({ip}.split('.')[2]) * 256 + int({ip}.split('.')[3]))"
    )
}

/// Example values used in messages.
const FORMS: &str = "a CIDR (192.168.100.240/28, fd00::/120), a range \
                     (192.168.100.240-192.168.100.249) or a single address";

/// The rules on one `spec.addresses` entry.
pub fn address_entry_rules() -> Vec<Value> {
    let range = is_range();
    vec![
        rule(
            &format!(
                "self.contains('/') ? isCIDR(self) : (self.contains('-') ? \
                 (self.split('-').size() == 2 && isIP({START}) && isIP({END})) : isIP(self))"
            ),
            &format!("must be {FORMS}"),
            Some(&format!("'\"' + self + '\" is not {FORMS}'")),
        ),
        rule(
            "!self.contains('/') || !isCIDR(self) || cidr(self) == cidr(self).masked()",
            "CIDR has host bits set: use its network address (192.168.100.240/28, not \
             192.168.100.241/28), or a range to cover part of that block",
            // The masked value cannot be computed in the message: the API server's cost
            // estimate for formatting a CIDR is unbounded and it refuses the whole schema.
            Some(
                "'CIDR ' + self + ' has host bits set: use its network address \
                 (192.168.100.240/28, not 192.168.100.241/28), or a range to cover part of \
                 that block'",
            ),
        ),
        rule(
            &format!("!{range} || ip({START}).family() == ip({END}).family()"),
            "a range mixes IPv4 and IPv6: list each family as its own entry",
            Some("'range ' + self + ' mixes IPv4 and IPv6: list each family as its own entry'"),
        ),
        rule(
            &format!(
                "!{range} || ip({START}).family() != ip({END}).family() || \
                 ip({START}).family() == 6 || {v4s} <= {v4e}",
                v4s = ipv4_value(START),
                v4e = ipv4_value(END),
            ),
            // IPv6 addresses are not orderable in CEL (a bit-by-bit comparison is far over
            // the API server's cost budget), so reversed IPv6 ranges are refused by the
            // controller instead and reported in the pool's status.
            "range is reversed: the first address must not be after the last",
            Some(&format!(
                "'range ' + self + ' is reversed: the first address must not be after the \
                 last; write ' + {END} + '-' + {START}"
            )),
        ),
    ]
}

/// Schema of `IPAddressPool.spec.addresses`: a non-empty bounded list of validated entries.
pub fn address_list(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "description": "CIDRs (192.168.100.240/28, fd00::/120), ranges \
            (192.168.100.240-192.168.100.249, fd00::10-fd00::1f) or single addresses this pool \
            hands out. A CIDR must be a network address: host bits set are rejected, not widened.",
        "type": "array",
        "maxItems": MAX_ADDRESSES,
        "items": {
            "type": "string",
            "maxLength": MAX_ADDRESS_LEN,
            "x-kubernetes-validations": address_entry_rules(),
        },
        "x-kubernetes-validations": [rule(
            "size(self) > 0",
            "at least one address is required: list CIDRs (192.168.100.240/28) or ranges \
             (192.168.100.240-192.168.100.249)",
            None,
        )],
    })
}

/// Rule on a duration string like `30s` or `1m30s`: the units Go's `time.ParseDuration` and
/// the advertisement's own interval parser both accept, between 1s and 1h.
pub fn interval_rules() -> Vec<Value> {
    vec![
        rule(
            "self.matches('^([0-9]+(ms|s|m|h))+$')",
            "must be a duration such as 30s, 2m or 1m30s (units ms, s, m, h)",
            Some(
                "'\"' + self + '\" is not a duration such as 30s, 2m or 1m30s (units ms, s, m, h)'",
            ),
        ),
        rule(
            "!self.matches('^([0-9]+(ms|s|m|h))+$') || \
             (duration(self) >= duration('1s') && duration(self) <= duration('1h'))",
            "must be between 1s and 1h",
            None,
        ),
    ]
}

/// Schema of `L2Advertisement.spec.gratuitousInterval`.
pub fn interval(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "description": "Send gratuitous ARP / unsolicited neighbour advertisements for every \
            owned address at this interval (for example 30s). Unset: only on takeover.",
        "type": "string",
        "maxLength": 32,
        "x-kubernetes-validations": interval_rules(),
    })
}

fn bounded_names(max_len: usize) -> Schema {
    json_schema!({
        "type": "array",
        "maxItems": MAX_LIST_ITEMS,
        "items": { "type": "string", "maxLength": max_len },
    })
}

/// Schema of a list of object names (pools, namespaces): at most 253 characters each.
pub fn object_names(_: &mut SchemaGenerator) -> Schema {
    bounded_names(253)
}

/// The longest interface name Linux allows (`IFNAMSIZ - 1`).
pub const IFNAME_MAX: usize = 15;

/// Schema of a list of network interface names: at most [`IFNAME_MAX`] characters each.
pub fn interface_names(_: &mut SchemaGenerator) -> Schema {
    bounded_names(IFNAME_MAX)
}

/// Maximum requirements in one label selector, and values in one requirement.
pub const MAX_SELECTOR_ITEMS: usize = 32;

/// The rules on one `matchExpressions` requirement, as the API defines them for built-in kinds
/// (and [`crate::selector::check`] implements): a known operator, values for `In` and `NotIn`
/// only.
pub fn requirement_rules() -> Vec<Value> {
    let has_values = "(has(self.values) && size(self.values) > 0)";
    vec![
        rule(
            "self.operator in ['In', 'NotIn', 'Exists', 'DoesNotExist']",
            "operator must be In, NotIn, Exists or DoesNotExist",
            Some("'operator \"' + self.operator + '\" is not In, NotIn, Exists or DoesNotExist'"),
        ),
        rule(
            &format!("!(self.operator in ['In', 'NotIn']) || {has_values}"),
            "In and NotIn need at least one value",
            Some("self.operator + ' needs at least one value'"),
        ),
        rule(
            &format!("!(self.operator in ['Exists', 'DoesNotExist']) || !{has_values}"),
            "Exists and DoesNotExist take no values",
            Some("self.operator + ' takes no values'"),
        ),
    ]
}

/// Schema of a list of label selectors. The API server checks the selectors of built-in kinds
/// but not those inside custom resources, so the same checks are CEL rules here: a selector
/// that could never be evaluated is refused when written, not silently matched against nothing.
pub fn label_selectors(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "array",
        "maxItems": MAX_LIST_ITEMS,
        "items": {
            "description": "A label query. matchLabels and matchExpressions are ANDed; an empty \
                selector matches everything.",
            "type": "object",
            "properties": {
                "matchLabels": {
                    "description": "Labels that must all be present with these values.",
                    "type": "object",
                    "additionalProperties": { "type": "string", "maxLength": 63 },
                },
                "matchExpressions": {
                    "description": "Requirements that must all hold.",
                    "type": "array",
                    "maxItems": MAX_SELECTOR_ITEMS,
                    "items": {
                        "type": "object",
                        "required": ["key", "operator"],
                        "properties": {
                            "key": {
                                "description": "The label key.",
                                "type": "string",
                                "maxLength": 317,
                            },
                            "operator": {
                                "description": "In, NotIn, Exists or DoesNotExist.",
                                "type": "string",
                                "maxLength": 16,
                            },
                            "values": {
                                "description": "The values for In and NotIn; none for Exists \
                                    and DoesNotExist.",
                                "type": "array",
                                "maxItems": MAX_SELECTOR_ITEMS,
                                "items": { "type": "string", "maxLength": 63 },
                            },
                        },
                        "x-kubernetes-validations": requirement_rules(),
                    },
                },
            },
        },
    })
}
