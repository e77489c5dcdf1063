//! Failover figures: the owner's speaker is stopped (SIGKILL or SIGTERM) and a probe in the
//! client namespace times how long until the client's HTTP requests reach another node.
//!
//! Killing the speaker leaves its node up: the old node keeps answering HTTP for the address
//! as long as the client's neighbour entry points at it, so the probe measures exactly the
//! move of the client's traffic, which only the successor's gratuitous ARP can cause early.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::json;

use crate::cluster::{Cluster, VIP};

/// The Service whose address fails over.
pub const SERVICE: &str = "web";
/// How long one probe waits for the client to reach another node, for ferrolb; MetalLB's
/// failover takes seconds (its memberlist suspicion alone is 4 s), so its probe waits longer.
pub const PROBE_LIMIT: Duration = Duration::from_secs(10);
/// The pause between two probe requests: the resolution of the measurement.
const PROBE_GAP: Duration = Duration::from_millis(5);

/// The figures of one kind of failover over all trials.
#[derive(Debug, Default)]
pub struct Trials {
    /// Seconds from the signal to the client reaching the successor, per completed trial.
    pub samples: Vec<f64>,
    /// Trials whose client never reached another node within the probe limit.
    pub failed: usize,
    /// Successor nodes, in trial order.
    pub successors: Vec<String>,
}

/// A set of speakers, one per node, announcing one address the client reaches: ferrolb's, or
/// MetalLB's as the reference.
pub trait Fleet {
    /// The address that fails over.
    fn vip(&self) -> &'static str;
    /// Waits for a steady state and returns the node the client reaches.
    fn settle(&self, deadline: Duration) -> anyhow::Result<String>;
    /// Sends `signal` to the speaker of `node`.
    fn signal(&mut self, node: &str, signal: &str) -> anyhow::Result<()>;
    /// Whether the speaker of `node` still runs.
    fn is_running(&mut self, node: &str) -> bool;
    /// Starts the speaker of `node` again.
    fn restart(&mut self, node: &str) -> anyhow::Result<()>;
    /// The lab.
    fn cluster(&self) -> &Cluster;
}

impl Fleet for Cluster {
    fn vip(&self) -> &'static str {
        VIP
    }

    fn settle(&self, deadline: Duration) -> anyhow::Result<String> {
        Cluster::settle(self, SERVICE, VIP, deadline)
    }

    fn signal(&mut self, node: &str, signal: &str) -> anyhow::Result<()> {
        self.speaker(node)?.signal(signal);
        Ok(())
    }

    fn is_running(&mut self, node: &str) -> bool {
        self.speaker(node).is_ok_and(|s| s.is_running())
    }

    fn restart(&mut self, node: &str) -> anyhow::Result<()> {
        self.start_speaker(node)
    }

    fn cluster(&self) -> &Cluster {
        self
    }
}

/// Runs `trials` failovers, stopping the owner's speaker with `signal` (`KILL` or `TERM`) each
/// time and starting it again afterwards; a probe waits up to `limit` for another node.
pub fn run(
    fleet: &mut dyn Fleet,
    signal: &str,
    trials: usize,
    limit: Duration,
) -> anyhow::Result<Trials> {
    let mut out = Trials::default();
    for trial in 1..=trials {
        let owner = fleet.settle(Duration::from_secs(60))?;
        let (mut probe, mut lines) = start_probe(fleet.cluster(), fleet.vip(), &owner, limit)?;
        let outcome = (|| {
            expect_line(&mut lines, "ready")?;
            let signalled = Instant::now();
            fleet.signal(&owner, signal)?;
            let line = read_line(&mut lines)?;
            Ok::<_, anyhow::Error>((line, signalled.elapsed()))
        })();
        let _ = probe.kill();
        let _ = probe.wait();
        let (line, took) = outcome?;
        match line.strip_prefix("reached ") {
            Some(successor) => {
                println!(
                    "  {signal} trial {trial:>2}: {owner} -> {successor} in {:.0} ms",
                    took.as_secs_f64() * 1e3
                );
                out.samples.push(took.as_secs_f64());
                out.successors.push(successor.to_owned());
            }
            None => {
                println!("  {signal} trial {trial:>2}: {owner}: no successor reached ({line})");
                out.failed += 1;
            }
        }
        let stopped = Instant::now();
        while fleet.is_running(&owner) && stopped.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(20));
        }
        fleet.restart(&owner)?;
    }
    fleet.settle(Duration::from_secs(60))?;
    Ok(out)
}

fn start_probe(
    cluster: &Cluster,
    vip: &str,
    owner: &str,
    limit: Duration,
) -> anyhow::Result<(Child, BufReader<ChildStdout>)> {
    let exe = std::env::current_exe().context("locating this binary")?;
    let mut child = Command::new("ip")
        .args(["netns", "exec", &cluster.lab.netns("client")])
        .arg(exe)
        .args(["__probe", vip, owner, &limit.as_millis().to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("starting the probe in the client namespace")?;
    let stdout = child.stdout.take().context("probe stdout")?;
    Ok((child, BufReader::new(stdout)))
}

fn read_line(lines: &mut BufReader<ChildStdout>) -> anyhow::Result<String> {
    let mut line = String::new();
    lines.read_line(&mut line).context("reading the probe")?;
    if line.is_empty() {
        bail!("the probe ended without a word");
    }
    Ok(line.trim().to_owned())
}

fn expect_line(lines: &mut BufReader<ChildStdout>, want: &str) -> anyhow::Result<()> {
    let line = read_line(lines)?;
    if line != want {
        bail!("the probe said {line:?}, not {want:?}");
    }
    Ok(())
}

/// The node that answers one HTTP request to `addr`, if any answers quickly.
fn ask(addr: SocketAddr) -> Option<String> {
    let timeout = Duration::from_millis(200);
    let mut stream = TcpStream::connect_timeout(&addr, timeout).ok()?;
    stream.set_read_timeout(Some(timeout)).ok()?;
    stream.set_write_timeout(Some(timeout)).ok()?;
    stream
        .write_all(b"GET / HTTP/1.0\r\nHost: bench\r\n\r\n")
        .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (_, body) = response.split_once("\r\n\r\n")?;
    body.split(' ')
        .next()
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
}

/// The probe, run inside the client namespace (`__probe <ip> <owner> <limit ms>`): prints
/// `ready` once it reaches `owner`, then `reached <node>` once it reaches another node, or
/// `timeout`. Each phase lasts at most the limit.
pub fn probe_main(args: &[String]) -> anyhow::Result<()> {
    let [ip, owner, limit] = args else {
        bail!("usage: __probe <ip> <owner> <limit ms>");
    };
    let addr = SocketAddr::new(ip.parse()?, 80);
    let limit = Duration::from_millis(limit.parse()?);
    let mut stdout = std::io::stdout();
    let wait = |want: &dyn Fn(&str) -> bool| {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Some(node) = ask(addr).filter(|n| want(n)) {
                return Some(node);
            }
            std::thread::sleep(PROBE_GAP);
        }
        None
    };
    if wait(&|n| n == owner).is_none() {
        writeln!(stdout, "timeout")?;
        return Ok(());
    }
    writeln!(stdout, "ready")?;
    stdout.flush()?;
    match wait(&|n| n != owner) {
        Some(node) => writeln!(stdout, "reached {node}")?,
        None => writeln!(stdout, "timeout")?,
    }
    stdout.flush()?;
    Ok(())
}

/// What the client's kernel would cost without gratuitous ARP: it keeps sending to the dead
/// MAC until its neighbour entry leaves REACHABLE (a random 0.5–1.5 × base_reachable_time
/// after the last confirmation), waits delay_first_probe_time, and sends ucast_solicit unicast
/// probes retrans_time apart before it asks the segment again. Read from the client's sysctls.
#[derive(Debug)]
pub struct KernelReference {
    /// net.ipv4.neigh.eth0.base_reachable_time_ms.
    pub base_reachable_ms: u64,
    /// net.ipv4.neigh.eth0.delay_first_probe_time (seconds).
    pub delay_first_probe_s: u64,
    /// net.ipv4.neigh.eth0.retrans_time_ms.
    pub retrans_ms: u64,
    /// net.ipv4.neigh.eth0.ucast_solicit.
    pub ucast_solicit: u64,
}

impl KernelReference {
    /// Reads the client's neighbour settings for eth0.
    pub fn read(cluster: &Cluster) -> anyhow::Result<KernelReference> {
        let get = |name: &str| cluster.sysctl("client", &format!("net/ipv4/neigh/eth0/{name}"));
        Ok(KernelReference {
            base_reachable_ms: get("base_reachable_time_ms")?,
            delay_first_probe_s: get("delay_first_probe_time")?,
            retrans_ms: get("retrans_time_ms")?,
            ucast_solicit: get("ucast_solicit")?,
        })
    }

    /// The best case: the entry went stale just as the owner died.
    pub fn min_s(&self) -> f64 {
        self.delay_first_probe_s as f64 + (self.ucast_solicit * self.retrans_ms) as f64 / 1e3
    }

    /// The worst case: the entry was confirmed just before the owner died.
    pub fn max_s(&self) -> f64 {
        1.5 * self.base_reachable_ms as f64 / 1e3 + self.min_s()
    }

    /// The figures as JSON.
    pub fn json(&self) -> serde_json::Value {
        json!({
            "what": "client kernel neighbour-cache expiry without gratuitous ARP (from its sysctls)",
            "base_reachable_time_ms": self.base_reachable_ms,
            "delay_first_probe_time_s": self.delay_first_probe_s,
            "retrans_time_ms": self.retrans_ms,
            "ucast_solicit": self.ucast_solicit,
            "min_s": self.min_s(),
            "max_s": self.max_s(),
        })
    }
}
