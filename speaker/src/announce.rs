//! Telling the link about an address: the RFC 5227 probe before a first announcement, and the
//! burst of gratuitous ARP / unsolicited neighbour advertisements on takeover.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::mpsc::{self, UnboundedReceiver, UnboundedSender};
use tokio_util::time::DelayQueue;

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
/// Probes sent before an address's first announcement in the cluster (RFC 5227 section 2.1.1:
/// three probes, randomly spaced, so that two hosts probing at once do not stay in step).
pub const PROBES: usize = 3;
/// The shortest and longest gap between probes: three probes take one to two seconds.
pub const PROBE_GAP: std::ops::Range<Duration> =
    Duration::from_millis(500)..Duration::from_millis(1000);
/// How long to listen after the last probe before the address is announced.
pub const ANNOUNCE_WAIT: Duration = Duration::from_millis(500);

/// A random gap from [`PROBE_GAP`].
fn probe_gap() -> Duration {
    rand::random_range(PROBE_GAP)
}

fn protocol(ip: IpAddr) -> Protocol {
    match ip {
        IpAddr::V4(_) => Protocol::Arp,
        IpAddr::V6(_) => Protocol::Ndp,
    }
}

/// Announces `ip` on `link` unasked: for IPv4 a gratuitous ARP request and a gratuitous ARP
/// reply (switches and hosts differ in which of the two they learn from), for IPv6 an
/// unsolicited neighbour advertisement.
pub fn send_gratuitous(link: &Link, ip: IpAddr, metrics: &Metrics) {
    let sent = |ok: bool| {
        if ok {
            metrics
                .gratuitous
                .get_or_create(&frame_labels(protocol(ip), &link.name))
                .inc();
        } else {
            tracing::warn!(interface = %link.name, %ip, "gratuitous announcement not sent");
        }
    };
    match ip {
        IpAddr::V4(v4) => {
            sent(link.send_arp(&ArpFrame::gratuitous_request(link.mac, v4).to_bytes()));
            sent(link.send_arp(&ArpFrame::gratuitous_reply(link.mac, v4).to_bytes()));
        }
        IpAddr::V6(v6) => {
            sent(link.send_ndp(&NdpFrame::unsolicited_advert(link.mac, v6).to_bytes()));
        }
    }
}

/// Work for the [`Announcer`]: the addresses a pass took over on one link share a job, so a
/// takeover of thousands of addresses is one entry in the queue, not thousands.
#[derive(Debug)]
pub enum Job {
    /// Send the takeover burst for the addresses on the link.
    Burst(Arc<Link>, Vec<IpAddr>),
    /// Probe for the addresses on the link before their first announcement.
    Probe(Arc<Link>, Vec<IpAddr>),
}

/// One job's progress: how many frames went out.
struct Pending {
    job: Job,
    sent: usize,
}

/// Sends the timed frames of every address from one task: the takeover bursts and the probes.
///
/// A node can take over thousands of addresses at once; a task (and a timer) per address
/// would hold megabytes for the seconds a burst lasts. Jobs wait in one [`DelayQueue`].
/// A job with no address is dropped.
#[derive(Debug, Clone)]
pub struct Announcer {
    jobs: UnboundedSender<Job>,
}

impl Announcer {
    /// Starts the task. A probe's end is reported on `probe_done` once its window is over.
    pub fn start(
        table: SharedTable,
        metrics: Arc<Metrics>,
        probe_done: UnboundedSender<Vec<IpAddr>>,
    ) -> Announcer {
        let (jobs, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(rx, table, metrics, probe_done));
        Announcer { jobs }
    }

    /// Queues a job; its first frame goes out as soon as the task runs.
    pub fn send(&self, job: Job) {
        if let Job::Burst(_, ips) | Job::Probe(_, ips) = &job
            && ips.is_empty()
        {
            return;
        }
        if self.jobs.send(job).is_err() {
            tracing::warn!("the announcer stopped; frame not sent");
        }
    }
}

async fn run(
    mut jobs: UnboundedReceiver<Job>,
    table: SharedTable,
    metrics: Arc<Metrics>,
    probe_done: UnboundedSender<Vec<IpAddr>>,
) {
    let mut queue: DelayQueue<Pending> = DelayQueue::new();
    loop {
        let pending = tokio::select! {
            job = jobs.recv() => match job {
                Some(job) => Pending { job, sent: 0 },
                None => return,
            },
            Some(expired) = queue.next(), if !queue.is_empty() => expired.into_inner(),
        };
        match step(pending, &table, &metrics) {
            Next::After(delay, pending) => {
                queue.insert(pending, delay);
            }
            Next::ProbeOver(ips) => {
                if let Ok(mut t) = table.write() {
                    for ip in &ips {
                        t.probing.remove(ip);
                    }
                }
                let _ = probe_done.send(ips);
            }
            Next::Done => {}
        }
        // After a takeover of thousands of addresses the queue's storage would stay that big.
        if queue.is_empty() {
            queue.compact();
        }
    }
}

enum Next {
    After(Duration, Pending),
    ProbeOver(Vec<IpAddr>),
    Done,
}

/// Sends the job's next frames and says when the ones after are due.
fn step(mut p: Pending, table: &SharedTable, metrics: &Metrics) -> Next {
    match &mut p.job {
        Job::Burst(link, ips) => {
            // Stop early for the addresses this node no longer announces there.
            let Ok(t) = table.read() else {
                return Next::Done;
            };
            ips.retain(|ip| t.owned.get(ip) == Some(&link.name));
            drop(t);
            if ips.is_empty() || link.stopped() {
                return Next::Done;
            }
            for ip in ips.iter() {
                send_gratuitous(link, *ip, metrics);
            }
            p.sent += 1;
            match (BURST.get(p.sent), BURST.get(p.sent - 1)) {
                (Some(next), Some(this)) => Next::After(*next - *this, p),
                _ => Next::Done,
            }
        }
        Job::Probe(link, ips) => {
            if p.sent == 0
                && let Ok(mut t) = table.write()
            {
                for ip in ips.iter() {
                    t.probing.insert(*ip, link.name.clone());
                }
            }
            if p.sent >= PROBES {
                return Next::ProbeOver(std::mem::take(ips));
            }
            for ip in ips.iter() {
                send_probe(link, *ip, metrics);
            }
            p.sent += 1;
            // After the last probe the responders listen a little longer.
            let wait = if p.sent == PROBES {
                ANNOUNCE_WAIT
            } else {
                probe_gap()
            };
            Next::After(wait, p)
        }
    }
}

/// Sends one RFC 5227 ARP probe (IPv4) or DAD neighbour solicitation (IPv6) for `ip`. While
/// the address is in the table's `probing` set, the responders report any other host using
/// or probing it as a conflict.
fn send_probe(link: &Link, ip: IpAddr, metrics: &Metrics) {
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
}
