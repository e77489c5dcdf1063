//! The ARP flood: a generator in the client namespace keeps a fixed number of ARP requests in
//! flight to one responder (the speaker for an owned address, or the node's kernel for its own
//! address) and times every reply.
//!
//! Each request carries its slot number in the sender MAC (`02:fb:00:00:<slot>`), which the
//! reply returns as its target MAC; the sender IP is an unused lab address so no host's
//! neighbour entry for a real peer changes. Requests go unicast to the responder's MAC, as a
//! kernel revalidating an entry sends them, so the other nodes see none of the flood.

use std::collections::VecDeque;
use std::net::Ipv4Addr;
use std::os::fd::IntoRawFd;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use ferrolb_tests::bench::percentile;
use pnet::datalink::{self, Channel, ChannelType};
use serde::{Deserialize, Serialize};
use socket2::{Domain, Protocol, Socket, Type};

use crate::cluster::Cluster;

/// Requests per flood.
pub const REQUESTS: u32 = 200_000;
/// Requests in flight at any time: enough to keep a responder busy, few enough that no
/// socket buffer on the way overflows.
pub const WINDOW: usize = 128;
/// Upper bound on one flood.
pub const LIMIT: Duration = Duration::from_secs(8);
/// A request unanswered for this long counts as lost.
const LOST_AFTER: Duration = Duration::from_millis(200);
/// The sender IP of every request: in the lab subnet, used by no host.
const SENDER_IP: Ipv4Addr = Ipv4Addr::new(192, 168, 100, 60);
/// Distinct sender MACs (slots); more than the window, so a slot is reused only long after
/// its request was answered or given up.
const SLOTS: usize = 4096;
const ETHERTYPE_ARP: u16 = 0x0806;

/// What one flood measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FloodResult {
    /// Requests sent.
    pub sent: u64,
    /// Replies matched to a request in time.
    pub replies: u64,
    /// Requests given up after 200 ms.
    pub lost: u64,
    /// Replies from a MAC other than the responder's.
    pub foreign: u64,
    /// Seconds from the first request to the last reply.
    pub elapsed_s: f64,
    /// Replies per second.
    pub replies_per_s: f64,
    /// Median reply latency, microseconds.
    pub p50_us: f64,
    /// 99th percentile reply latency, microseconds.
    pub p99_us: f64,
    /// Slowest reply, microseconds.
    pub max_us: f64,
}

/// Floods `target` (owned by the host with MAC `target_mac`) from the client namespace, with
/// the generator on CPU `generator_cpu`.
pub fn run(
    cluster: &Cluster,
    target: &str,
    target_mac: &str,
    generator_cpu: usize,
) -> anyhow::Result<FloodResult> {
    let exe = std::env::current_exe().context("locating this binary")?;
    let out = Command::new("ip")
        .args(["netns", "exec", &cluster.lab.netns("client")])
        .args(["taskset", "-c", &generator_cpu.to_string()])
        .arg(exe)
        .args([
            "__flood",
            "eth0",
            target,
            target_mac,
            &REQUESTS.to_string(),
            &LIMIT.as_millis().to_string(),
        ])
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .context("running the flood in the client namespace")?;
    if !out.status.success() {
        bail!("the flood failed: {}", out.status);
    }
    serde_json::from_slice(&out.stdout).context("reading the flood's result")
}

fn parse_mac(s: &str) -> anyhow::Result<[u8; 6]> {
    let bytes: Vec<u8> = s
        .split(':')
        .map(|b| u8::from_str_radix(b, 16))
        .collect::<Result<_, _>>()
        .with_context(|| format!("bad MAC {s}"))?;
    bytes.try_into().map_err(|_| anyhow::anyhow!("bad MAC {s}"))
}

fn slot_mac(slot: usize) -> [u8; 6] {
    let [hi, lo] = u16::try_from(slot).unwrap_or(0).to_be_bytes();
    [0x02, 0xfb, 0, 0, hi, lo]
}

/// A unicast ARP request for `target` from slot `slot`, padded to the Ethernet minimum.
fn request(dst: [u8; 6], slot: usize, target: Ipv4Addr) -> [u8; 60] {
    let src = slot_mac(slot);
    let mut f = [0u8; 60];
    f[0..6].copy_from_slice(&dst);
    f[6..12].copy_from_slice(&src);
    f[12..14].copy_from_slice(&ETHERTYPE_ARP.to_be_bytes());
    f[14..22].copy_from_slice(&[0, 1, 0x08, 0x00, 6, 4, 0, 1]);
    f[22..28].copy_from_slice(&src);
    f[28..32].copy_from_slice(&SENDER_IP.octets());
    f[38..42].copy_from_slice(&target.octets());
    f
}

/// The slot a reply for `target` answers, and whether it came from `responder`.
fn reply_slot(frame: &[u8], target: Ipv4Addr, responder: [u8; 6]) -> Option<(usize, bool)> {
    if frame.len() < 42
        || frame[12..14] != ETHERTYPE_ARP.to_be_bytes()
        || frame[20..22] != [0, 2]
        || frame[28..32] != target.octets()
        || frame[32..36] != [0x02, 0xfb, 0, 0]
        || frame[38..42] != SENDER_IP.octets()
    {
        return None;
    }
    let slot = usize::from(u16::from_be_bytes([frame[36], frame[37]]));
    (slot < SLOTS).then(|| (slot, frame[22..28] == responder))
}

/// The generator, run inside the client namespace
/// (`__flood <iface> <target ip> <target mac> <requests> <limit ms>`); prints a
/// [`FloodResult`] as JSON.
pub fn flood_main(args: &[String]) -> anyhow::Result<()> {
    let [iface, target, mac, requests, limit] = args else {
        bail!("usage: __flood <iface> <target ip> <target mac> <requests> <limit ms>");
    };
    let target: Ipv4Addr = target.parse()?;
    let responder = parse_mac(mac)?;
    let requests: usize = requests.parse()?;
    let limit = Duration::from_millis(limit.parse()?);
    let interface = datalink::interfaces()
        .into_iter()
        .find(|i| i.name == *iface)
        .with_context(|| format!("no interface {iface}"))?;
    // Bound to the ARP ethertype, so the generator reads nothing but ARP.
    let socket = Socket::new(
        Domain::PACKET,
        Type::RAW,
        Some(Protocol::from(i32::from(ETHERTYPE_ARP.to_be()))),
    )?;
    let config = datalink::Config {
        channel_type: ChannelType::Layer3(ETHERTYPE_ARP),
        socket_fd: Some(socket.into_raw_fd()),
        // Replies go to the slot MACs, not the interface's own.
        promiscuous: true,
        read_timeout: Some(Duration::from_millis(10)),
        write_timeout: Some(Duration::from_millis(100)),
        ..Default::default()
    };
    let Channel::Ethernet(mut tx, mut rx) = datalink::channel(&interface, config)? else {
        bail!("{iface}: not an Ethernet channel");
    };

    let mut sent_at: Vec<Instant> = Vec::with_capacity(requests);
    let mut closed: Vec<bool> = Vec::with_capacity(requests);
    let mut slot_seq = vec![usize::MAX; SLOTS];
    let mut in_flight: VecDeque<usize> = VecDeque::with_capacity(WINDOW);
    let mut open = 0usize;
    let mut latencies_us: Vec<f64> = Vec::with_capacity(requests);
    let (mut lost, mut foreign) = (0u64, 0u64);
    let start = Instant::now();
    let mut last_reply = start;
    while start.elapsed() < limit && (sent_at.len() < requests || open > 0) {
        while open < WINDOW && sent_at.len() < requests {
            let seq = sent_at.len();
            let slot = seq % SLOTS;
            let frame = request(responder, slot, target);
            slot_seq[slot] = seq;
            sent_at.push(Instant::now());
            closed.push(false);
            match tx.send_to(&frame, None) {
                Some(Ok(())) => {
                    in_flight.push_back(seq);
                    open += 1;
                }
                _ => {
                    closed[seq] = true;
                    lost += 1;
                }
            }
        }
        if let Ok(frame) = rx.next() {
            let now = Instant::now();
            if let Some((slot, from_responder)) = reply_slot(frame, target, responder) {
                let seq = slot_seq[slot];
                if seq != usize::MAX && !closed[seq] {
                    closed[seq] = true;
                    open -= 1;
                    if from_responder {
                        latencies_us.push((now - sent_at[seq]).as_secs_f64() * 1e6);
                        last_reply = now;
                    } else {
                        foreign += 1;
                    }
                }
            }
        }
        let now = Instant::now();
        while let Some(&seq) = in_flight.front() {
            if closed[seq] {
                in_flight.pop_front();
            } else if now - sent_at[seq] > LOST_AFTER {
                closed[seq] = true;
                open -= 1;
                lost += 1;
                in_flight.pop_front();
            } else {
                break;
            }
        }
    }
    lost += open as u64;
    let elapsed = (last_reply - start).as_secs_f64();
    let replies = latencies_us.len() as u64;
    let result = FloodResult {
        sent: sent_at.len() as u64,
        replies,
        lost,
        foreign,
        elapsed_s: elapsed,
        replies_per_s: if elapsed > 0.0 {
            replies as f64 / elapsed
        } else {
            0.0
        },
        p50_us: percentile(&latencies_us, 50.0).unwrap_or(f64::NAN),
        p99_us: percentile(&latencies_us, 99.0).unwrap_or(f64::NAN),
        max_us: percentile(&latencies_us, 100.0).unwrap_or(f64::NAN),
    };
    println!("{}", serde_json::to_string(&result)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_returns_the_slot_of_its_request() {
        let target = Ipv4Addr::new(192, 168, 100, 240);
        let owner = [0x0a, 0, 0, 0, 0, 1];
        let req = request(owner, 4095, target);
        // What a responder sends back: sender = owner/target, target = the request's sender.
        let mut reply = [0u8; 42];
        reply[0..6].copy_from_slice(&req[6..12]);
        reply[6..12].copy_from_slice(&owner);
        reply[12..22].copy_from_slice(&req[12..22]);
        reply[20..22].copy_from_slice(&[0, 2]);
        reply[22..28].copy_from_slice(&owner);
        reply[28..32].copy_from_slice(&target.octets());
        reply[32..42].copy_from_slice(&req[22..32]);
        assert_eq!(reply_slot(&reply, target, owner), Some((4095, true)));
        assert_eq!(reply_slot(&reply, target, [0; 6]), Some((4095, false)));
        assert_eq!(
            reply_slot(&req, target, owner),
            None,
            "a request is no reply"
        );
        assert_eq!(reply_slot(&reply[..41], target, owner), None);
    }
}
