//! The controller under test: starting it, its `/readyz` and `/metrics` (reached from inside
//! the control-plane namespace), its log and its resident set.

use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context as _, bail};
use ferrolb_tests::{Lab, LabProcess, bench};
use k8s_openapi::jiff::Timestamp;

/// The controller's `/metrics` and `/readyz` port inside the control-plane namespace.
const METRICS_PORT: u16 = 17480;

/// GETs a path of the controller's operations endpoint from inside the control-plane
/// namespace; `None` unless it answers 200.
pub(crate) async fn controller_get(lab: &Lab, path: &str) -> Option<String> {
    let url = format!("http://127.0.0.1:{METRICS_PORT}{path}");
    let mut cmd = tokio::process::Command::from(lab.netns_cmd("cp", "curl"));
    cmd.args(["-sf", "--max-time", "2", &url])
        .stdin(std::process::Stdio::null());
    let out = cmd.output().await.ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Polls `/readyz` until it answers, at most `deadline` after `since`; returns when it did.
pub(crate) async fn wait_ready(
    lab: &Lab,
    controller: &mut LabProcess,
    since: Instant,
    deadline: Duration,
) -> anyhow::Result<Instant> {
    loop {
        if controller_get(lab, "/readyz").await.is_some() {
            return Ok(Instant::now());
        }
        if !controller.is_running() {
            bail!("the controller exited:\n{}", controller.log());
        }
        if since.elapsed() > deadline {
            bail!("the controller was not ready within {deadline:?}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// How many Service reconciles the controller has finished (its duration histogram's count).
pub(crate) async fn reconciles(lab: &Lab) -> Option<u64> {
    let text = controller_get(lab, "/metrics").await?;
    text.lines().find_map(|l| {
        l.strip_prefix("ferrolb_reconcile_duration_seconds_count")?
            .split_whitespace()
            .last()?
            .parse::<f64>()
            .ok()
            .map(|v| v as u64)
    })
}

/// Seconds from `since` to the time stamp of the first log line containing `needle`.
pub(crate) fn log_offset(controller: &LabProcess, needle: &str, since: SystemTime) -> Option<f64> {
    let log = controller.log();
    let line = log.lines().find(|l| l.contains(needle))?;
    let plain = strip_ansi(line);
    let ts: Timestamp = plain.split_whitespace().next()?.parse().ok()?;
    let since = Timestamp::try_from(since).ok()?;
    Some(ts.duration_since(since).as_secs_f64())
}

pub(crate) fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Copies the lab's logs (controllers, API server) to `dir`, for profiling.
pub(crate) fn keep_logs(lab: &Lab, dir: &std::path::Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    for entry in std::fs::read_dir(lab.dir().join("logs"))? {
        let entry = entry?;
        std::fs::copy(entry.path(), dir.join(entry.file_name()))?;
    }
    Ok(())
}

pub(crate) fn start_controller(lab: &Lab, tag: &str) -> anyhow::Result<LabProcess> {
    let port = format!("127.0.0.1:{METRICS_PORT}");
    lab.start_controller(tag, &["--metrics-addr", &port])
        .with_context(|| format!("starting {tag}"))
}

pub(crate) fn rss(controller: &LabProcess) -> anyhow::Result<u64> {
    bench::rss_bytes(controller.pid()).context("reading the controller's VmRSS")
}
