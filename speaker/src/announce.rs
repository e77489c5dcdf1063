//! Telling the link about an address: the RFC 5227 probe before a first announcement, and the
//! burst of gratuitous ARP / unsolicited neighbour advertisements on takeover.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::metrics::{Metrics, Protocol, frame_labels};
use crate::socket::{Link, SharedTable};
use crate::wire::arp::ArpFrame;
use crate::wire::ndp::NdpFrame;

/// When the frames of a takeover burst go out, from the takeover: neighbours that miss the
/// first (a busy switch, a client asleep) get two more chances, then the burst ends.
pub const BURST: [Duration; 3] = [
    Duration::ZERO,
    Duration::from_millis(500),
    Duration::from_millis(1500),
];
/// Probes sent before a first announcement, and the gap between them (RFC 5227 uses 3 probes
/// over 1-2 s; a LAN answers in well under a millisecond, so two short ones are enough).
pub const PROBES: u32 = 2;
/// The gap between probes, and how long to listen after the last one.
pub const PROBE_GAP: Duration = Duration::from_millis(100);

fn protocol(ip: IpAddr) -> Protocol {
    match ip {
        IpAddr::V4(_) => Protocol::Arp,
        IpAddr::V6(_) => Protocol::Ndp,
    }
}

/// Sends one gratuitous ARP (an ARP announcement) or unsolicited NA for `ip` on `link`.
pub fn send_gratuitous(link: &Link, ip: IpAddr, metrics: &Metrics) {
    let sent = match ip {
        IpAddr::V4(v4) => link.send_arp(&ArpFrame::gratuitous_request(link.mac, v4).to_bytes()),
        IpAddr::V6(v6) => link.send_ndp(&NdpFrame::unsolicited_advert(link.mac, v6).to_bytes()),
    };
    if sent {
        metrics
            .gratuitous
            .get_or_create(&frame_labels(protocol(ip), &link.name))
            .inc();
    } else {
        tracing::warn!(interface = %link.name, %ip, "gratuitous announcement not sent");
    }
}

/// Sends the takeover burst for `ip` on `link`, stopping early once this node no longer
/// announces the address there.
pub async fn burst(link: Arc<Link>, ip: IpAddr, table: SharedTable, metrics: Arc<Metrics>) {
    let start = tokio::time::Instant::now();
    for at in BURST {
        tokio::time::sleep_until(start + at).await;
        let still_ours = table
            .read()
            .is_ok_and(|t| t.owned.get(&ip) == Some(&link.name));
        if !still_ours || link.stopped() {
            return;
        }
        send_gratuitous(&link, ip, &metrics);
    }
}

/// Probes for `ip` on `link`: while the probe runs the responders report any other host using
/// or probing the address as a conflict. Returns when the probe window is over.
pub async fn probe(link: Arc<Link>, ip: IpAddr, table: SharedTable, metrics: Arc<Metrics>) {
    if let Ok(mut t) = table.write() {
        t.probing.insert(ip, link.name.clone());
    }
    for _ in 0..PROBES {
        let sent = match ip {
            IpAddr::V4(v4) => link.send_arp(&ArpFrame::probe(link.mac, v4).to_bytes()),
            IpAddr::V6(v6) => link.send_ndp(&NdpFrame::dad_probe(link.mac, v6).to_bytes()),
        };
        if sent {
            metrics
                .probes
                .get_or_create(&frame_labels(protocol(ip), &link.name))
                .inc();
        }
        tokio::time::sleep(PROBE_GAP).await;
    }
    if let Ok(mut t) = table.write() {
        t.probing.remove(&ip);
    }
}
