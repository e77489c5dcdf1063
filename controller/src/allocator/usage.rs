//! Pool status numbers (assigned / available per family) and overlap between pools.

use ferrolb_crds::{IPAddressPoolStatus, IpFamily};

use super::Allocator;

/// Counts for one family of one pool.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FamilyUsage {
    /// Addresses the pool can hand out (without `.0`/`.255` under `avoidBuggyIPs`); saturates.
    pub size: u128,
    /// Addresses of the pool held by at least one Service (shared addresses count once).
    pub assigned: u128,
    /// Addresses the pool could still hand out.
    pub available: u128,
}

/// Counts of one pool, per family.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolUsage {
    /// IPv4.
    pub ipv4: FamilyUsage,
    /// IPv6.
    pub ipv6: FamilyUsage,
}

impl PoolUsage {
    /// The counts of one family.
    pub fn family(&self, family: IpFamily) -> &FamilyUsage {
        match family {
            IpFamily::IPv4 => &self.ipv4,
            IpFamily::IPv6 => &self.ipv6,
        }
    }

    /// Write the counts into a pool status (assigned as int64, available as decimal strings).
    pub fn write_to(&self, status: &mut IPAddressPoolStatus) {
        let int = |n: u128| i64::try_from(n).unwrap_or(i64::MAX);
        status.assigned_ipv4 = Some(int(self.ipv4.assigned));
        status.available_ipv4 = Some(self.ipv4.available.to_string());
        status.assigned_ipv6 = Some(int(self.ipv6.assigned));
        status.available_ipv6 = Some(self.ipv6.available.to_string());
    }
}

impl Allocator {
    /// Assigned and available counts of a pool (as last applied, valid or not). Cost:
    /// proportional to the allocated addresses inside it.
    pub fn pool_usage(&self, name: &str) -> Option<PoolUsage> {
        let pool = &self.pools.get(name)?.pool;
        let mut usage = PoolUsage::default();
        for range in pool.ranges() {
            let family = match range.family() {
                IpFamily::IPv4 => &mut usage.ipv4,
                IpFamily::IPv6 => &mut usage.ipv6,
            };
            let size = if pool.avoid_buggy_ips {
                range.size_avoiding_buggy()
            } else {
                range.size()
            };
            family.size = family.size.saturating_add(size);
            // `offered` excludes kept .0/.255 addresses, which were never part of `size`.
            let mut offered = 0u128;
            for ip in self
                .addresses
                .range(range.start()..=range.end())
                .map(|(ip, _)| *ip)
            {
                family.assigned += 1;
                offered += u128::from(pool.offers(ip));
            }
            family.available = family.available.saturating_add(size - offered);
        }
        Some(usage)
    }

    /// The pools sharing addresses with `name`, sorted (for its `Overlapping` condition).
    pub fn pools_overlapping(&self, name: &str) -> Vec<String> {
        let Some(entry) = self.pools.get(name) else {
            return Vec::new();
        };
        self.pools
            .values()
            .filter(|e| e.pool.name != name && e.pool.overlaps(&entry.pool))
            .map(|e| e.pool.name.clone())
            .collect()
    }
}
