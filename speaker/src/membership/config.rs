//! SWIM timing tuned for sub-second failure detection on a LAN.
//!
//! | setting                  | value               | why                                       |
//! |--------------------------|---------------------|-------------------------------------------|
//! | probe period             | 150 ms              | each speaker pings one member this often  |
//! | probe RTT                | 75 ms               | LAN round trips are < 1 ms; the rest is room for a busy node |
//! | indirect probes          | 3                   | members asked to ping a silent one for us |
//! | suspect to down          | 300 ms              | two probe periods for a live member to refute |
//! | periodic gossip          | 100 ms to 3 members | spreads suspicion and down news fast      |
//! | announce to down members | 5 s                 | heals a partition without an operator     |
//! | max packet size          | 1367 B              | a 1400-byte datagram less the envelope    |
//!
//! A crashed speaker is declared down one probe period after a member probes it, plus the
//! suspicion time. In the three-node simulation (`simulation.rs`, 40 samples at different
//! points of the probe cycle) survivors saw a crash in 590 ms on average and 815 ms at worst;
//! [`detection_bound`] is the worst case the tests hold the configuration to (900 ms for
//! three nodes). With 200/100/400 ms the same run gave 780 ms and 1.14 s, too slow for a
//! one-second failover once the gratuitous ARP is added.
//!
//! The price is sensitivity: a speaker stalled for about half a second is declared down, and
//! its addresses move and then move back when it rejoins under a renewed identity.

use std::num::{NonZeroU32, NonZeroUsize};
use std::time::Duration;

use foca::{Config, PeriodicParams};

use super::envelope::MAX_PAYLOAD_LEN;

/// How often each speaker probes one member.
pub const PROBE_PERIOD: Duration = Duration::from_millis(150);
/// How long a direct probe may take before members are asked to probe indirectly.
pub const PROBE_RTT: Duration = Duration::from_millis(75);
/// How long a suspected member has to refute before it is declared down.
pub const SUSPECT_TO_DOWN: Duration = Duration::from_millis(300);
/// How often updates are gossiped outside the probe cycle.
pub const GOSSIP_PERIOD: Duration = Duration::from_millis(100);

/// The SWIM configuration for a group of about `cluster_size` speakers.
pub fn swim_config(cluster_size: NonZeroU32) -> Config {
    // new_lan scales retransmissions with the group size; only the timing is ours.
    let mut config = Config::new_lan(cluster_size);
    config.probe_period = PROBE_PERIOD;
    config.probe_rtt = PROBE_RTT;
    config.num_indirect_probes = NonZeroUsize::MIN.saturating_add(2);
    config.suspect_to_down_after = SUSPECT_TO_DOWN;
    config.notify_down_members = true;
    config.periodic_gossip = Some(PeriodicParams {
        frequency: GOSSIP_PERIOD,
        num_members: NonZeroUsize::MIN.saturating_add(2),
    });
    config.periodic_announce_to_down_members = Some(PeriodicParams {
        frequency: Duration::from_secs(5),
        num_members: NonZeroUsize::MIN.saturating_add(1),
    });
    config.max_packet_size = NonZeroUsize::new(MAX_PAYLOAD_LEN).unwrap_or(NonZeroUsize::MIN);
    config
}

/// The latest a crash is noticed by some member with `config` in a group of `cluster_size`.
///
/// Each member probes the others in a shuffled round robin, so one member can go up to
/// 2 (n − 1) − 1 periods between two probes of the same peer; the failed probe is noticed at
/// the end of its period, and the suspicion then runs its course.
pub fn detection_bound(config: &Config, cluster_size: NonZeroU32) -> Duration {
    let others = cluster_size.get().saturating_sub(1).max(1);
    config.probe_period * (2 * others) + config.suspect_to_down_after
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timing_is_consistent() {
        let size = NonZeroU32::new(3).unwrap();
        let config = swim_config(size);
        // foca requires the probe to fit in its period, with room for the indirect cycle.
        assert!(config.probe_rtt * 2 <= config.probe_period);
        assert_eq!(config.max_packet_size.get(), 1367);
        assert_eq!(detection_bound(&config, size), Duration::from_millis(900));
    }
}
