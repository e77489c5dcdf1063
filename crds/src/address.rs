//! Address ranges as written in `IPAddressPool.spec.addresses`.
//!
//! An entry is a CIDR (`192.168.100.240/28`, `fd00::/120`), a range of two addresses of one family
//! (`192.168.100.240-192.168.100.249`, spaces around `-` allowed) or a single address
//! (`192.168.100.240`, meaning a range of one). The parser here accepts exactly what the CEL rules
//! in the CRD schema accept (see [`crate::validation`]), so an object the API server stored always
//! parses; the controller still parses defensively and reports failures in the pool status.
//!
//! Arithmetic is done on `u128` so an IPv6 `/64` (or larger) never has to be enumerated.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// An IP address family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum IpFamily {
    /// IPv4.
    IPv4,
    /// IPv6.
    IPv6,
}

impl IpFamily {
    /// The family of an address.
    pub fn of(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(_) => IpFamily::IPv4,
            IpAddr::V6(_) => IpFamily::IPv6,
        }
    }

    /// Both families, IPv4 first.
    pub const ALL: [IpFamily; 2] = [IpFamily::IPv4, IpFamily::IPv6];

    /// Number of bits in an address of this family.
    pub fn bits(self) -> u32 {
        match self {
            IpFamily::IPv4 => 32,
            IpFamily::IPv6 => 128,
        }
    }

    /// The name Kubernetes uses in `spec.ipFamilies` (`IPv4` / `IPv6`).
    pub fn as_str(self) -> &'static str {
        match self {
            IpFamily::IPv4 => "IPv4",
            IpFamily::IPv6 => "IPv6",
        }
    }
}

impl fmt::Display for IpFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An address as an unsigned integer (IPv4 in the low 32 bits); orders like the address.
pub fn ip_to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// The address of `family` with integer value `value`, or `None` if it does not fit the family.
pub fn ip_from_u128(family: IpFamily, value: u128) -> Option<IpAddr> {
    match family {
        IpFamily::IPv4 => u32::try_from(value)
            .ok()
            .map(|v| IpAddr::V4(Ipv4Addr::from(v))),
        IpFamily::IPv6 => Some(IpAddr::V6(Ipv6Addr::from(value))),
    }
}

/// True for IPv4 addresses ending in `.0` or `.255`, which some consumer routers drop
/// (`avoidBuggyIPs`).
pub fn is_buggy_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => matches!(v4.octets()[3], 0 | 255),
        IpAddr::V6(_) => false,
    }
}

/// Why a string is not a valid pool address entry. Messages name the entry and say what to write.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// The entry is empty.
    #[error("empty address entry: write a CIDR (192.168.100.240/28), a range or a single address")]
    Empty,
    /// A pool lists no address at all.
    #[error(
        "at least one address is required: list CIDRs (192.168.100.240/28) or ranges \
         (192.168.100.240-192.168.100.249)"
    )]
    NoAddresses,
    /// Neither a CIDR, a range nor a single address.
    #[error(
        "\"{0}\" is not a CIDR (192.168.100.240/28, fd00::/120), a range \
         (192.168.100.240-192.168.100.249) or a single address"
    )]
    Malformed(String),
    /// A CIDR whose address has bits set after the prefix; it is rejected, not widened.
    #[error(
        "CIDR {value} has host bits set: use {network}, or a range to cover part of that block"
    )]
    HostBitsSet {
        /// The entry as written.
        value: String,
        /// The network the user probably meant.
        network: String,
    },
    /// A range whose two ends are of different families.
    #[error("range {0} mixes IPv4 and IPv6: list each family as its own entry")]
    MixedFamilies(String),
    /// A range whose start is after its end.
    #[error(
        "range {value} is reversed: the first address must not be after the last; write {fixed}"
    )]
    Reversed {
        /// The entry as written.
        value: String,
        /// The same range written in order.
        fixed: String,
    },
}

/// An inclusive range of addresses of one family (`start <= end`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AddressRange {
    start: IpAddr,
    end: IpAddr,
}

impl AddressRange {
    /// A range from `start` to `end` inclusive; both must be of one family and in order.
    pub fn new(start: IpAddr, end: IpAddr) -> Result<Self, AddressError> {
        let value = format!("{start}-{end}");
        if IpFamily::of(start) != IpFamily::of(end) {
            return Err(AddressError::MixedFamilies(value));
        }
        if ip_to_u128(start) > ip_to_u128(end) {
            return Err(AddressError::Reversed {
                value,
                fixed: format!("{end}-{start}"),
            });
        }
        Ok(Self { start, end })
    }

    /// A range of exactly one address.
    pub fn single(ip: IpAddr) -> Self {
        Self { start: ip, end: ip }
    }

    /// Parse a pool entry: a CIDR, an `a-b` range or a single address.
    pub fn parse(entry: &str) -> Result<Self, AddressError> {
        if entry.is_empty() {
            return Err(AddressError::Empty);
        }
        let malformed = || AddressError::Malformed(entry.to_string());
        if let Some((addr, prefix)) = entry.split_once('/') {
            let ip = parse_ip(addr).ok_or_else(malformed)?;
            let prefix = parse_prefix(prefix, IpFamily::of(ip)).ok_or_else(malformed)?;
            return Self::from_cidr(entry, ip, prefix);
        }
        if let Some((a, b)) = entry.split_once('-') {
            let start = parse_ip(a.trim()).ok_or_else(malformed)?;
            let end = parse_ip(b.trim()).ok_or_else(malformed)?;
            return Self::new(start, end).map_err(|e| match e {
                AddressError::MixedFamilies(_) => AddressError::MixedFamilies(entry.to_string()),
                AddressError::Reversed { fixed, .. } => AddressError::Reversed {
                    value: entry.to_string(),
                    fixed,
                },
                other => other,
            });
        }
        parse_ip(entry).map(Self::single).ok_or_else(malformed)
    }

    fn from_cidr(entry: &str, ip: IpAddr, prefix: u32) -> Result<Self, AddressError> {
        let family = IpFamily::of(ip);
        let host_bits = family.bits() - prefix;
        let host_mask: u128 = if host_bits == 128 {
            u128::MAX
        } else {
            (1u128 << host_bits) - 1
        };
        let value = ip_to_u128(ip);
        let network = value & !host_mask;
        let start =
            ip_from_u128(family, network).ok_or_else(|| AddressError::Malformed(entry.into()))?;
        if network != value {
            return Err(AddressError::HostBitsSet {
                value: entry.to_string(),
                network: format!("{start}/{prefix}"),
            });
        }
        let end = ip_from_u128(family, network | host_mask)
            .ok_or_else(|| AddressError::Malformed(entry.into()))?;
        Ok(Self { start, end })
    }

    /// First address.
    pub fn start(&self) -> IpAddr {
        self.start
    }

    /// Last address (inclusive).
    pub fn end(&self) -> IpAddr {
        self.end
    }

    /// First address as an integer.
    pub fn start_u128(&self) -> u128 {
        ip_to_u128(self.start)
    }

    /// Last address as an integer.
    pub fn end_u128(&self) -> u128 {
        ip_to_u128(self.end)
    }

    /// The family of both ends.
    pub fn family(&self) -> IpFamily {
        IpFamily::of(self.start)
    }

    /// Number of addresses; saturates at `u128::MAX` for the one range that has 2^128 (`::/0`).
    pub fn size(&self) -> u128 {
        (self.end_u128() - self.start_u128()).saturating_add(1)
    }

    /// Number of addresses not ending in `.0` or `.255` (all of them, for IPv6).
    pub fn size_avoiding_buggy(&self) -> u128 {
        match self.family() {
            IpFamily::IPv6 => self.size(),
            IpFamily::IPv4 => {
                // Count values <= n that are congruent to 0 or 255 mod 256.
                let buggy_upto = |n: u128| n / 256 + 1 + (n + 1) / 256;
                let (s, e) = (self.start_u128(), self.end_u128());
                let before = if s == 0 { 0 } else { buggy_upto(s - 1) };
                self.size() - (buggy_upto(e) - before)
            }
        }
    }

    /// Whether `ip` lies in the range.
    pub fn contains(&self, ip: IpAddr) -> bool {
        IpFamily::of(ip) == self.family()
            && (self.start_u128()..=self.end_u128()).contains(&ip_to_u128(ip))
    }

    /// Whether the two ranges share at least one address.
    pub fn overlaps(&self, other: &AddressRange) -> bool {
        self.family() == other.family()
            && self.start_u128() <= other.end_u128()
            && other.start_u128() <= self.end_u128()
    }

    /// The addresses in order. Lazy: fine on a `/64` as long as the caller stops early.
    pub fn iter(&self) -> impl Iterator<Item = IpAddr> + use<> {
        let family = self.family();
        (self.start_u128()..=self.end_u128()).filter_map(move |v| ip_from_u128(family, v))
    }
}

impl FromStr for AddressRange {
    type Err = AddressError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for AddressRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.start == self.end {
            write!(f, "{}", self.start)
        } else {
            write!(f, "{}-{}", self.start, self.end)
        }
    }
}

/// Parse one address the way the Kubernetes CEL `ip()` function does: no zone, no IPv4-mapped
/// IPv6, no leading zeros in IPv4 octets, no surrounding spaces.
pub fn parse_ip(s: &str) -> Option<IpAddr> {
    let ip = IpAddr::from_str(s).ok()?;
    match ip {
        IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some() => None,
        ip => Some(ip),
    }
}

fn parse_prefix(s: &str, family: IpFamily) -> Option<u32> {
    let leading_zero = s.len() > 1 && s.starts_with('0');
    if s.is_empty() || leading_zero || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<u32>().ok().filter(|p| *p <= family.bits())
}

/// Merge ranges into a sorted list of disjoint ranges (adjacent ranges are joined).
pub fn normalize(ranges: impl IntoIterator<Item = AddressRange>) -> Vec<AddressRange> {
    let mut sorted: Vec<AddressRange> = ranges.into_iter().collect();
    sorted.sort_by_key(|r| (r.family(), r.start_u128(), r.end_u128()));
    let mut out: Vec<AddressRange> = Vec::with_capacity(sorted.len());
    for r in sorted {
        if let Some(last) = out.last_mut()
            && last.family() == r.family()
            && r.start_u128() <= last.end_u128().saturating_add(1)
        {
            if r.end_u128() > last.end_u128() {
                last.end = r.end;
            }
            continue;
        }
        out.push(r);
    }
    out
}
