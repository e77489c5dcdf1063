//! What every benchmark binary (`tests/bench/*.rs`) shares: the `--out` argument, percentiles,
//! ratios, resident memory of a lab process, and the JSON result file.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// The value of `--out <file>` (or `--out=<file>`) in this process's arguments.
pub fn out_path() -> Option<PathBuf> {
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--out" {
            return args.next().map(PathBuf::from);
        }
        if let Some(p) = a.strip_prefix("--out=") {
            return Some(PathBuf::from(p));
        }
    }
    None
}

/// Writes a benchmark's result as pretty JSON, creating the directory if needed.
pub fn write_json(path: &Path, value: &serde_json::Value) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let text = serde_json::to_string_pretty(value).map_err(std::io::Error::other)?;
    std::fs::write(path, text + "\n")
}

/// The `p`-th percentile (0–100, nearest rank) of `values`; `None` when there are none.
pub fn percentile(values: &[f64], p: f64) -> Option<f64> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(f64::total_cmp);
    let rank = (p.clamp(0.0, 100.0) / 100.0 * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// `measured / reference`, the figure each benchmark compares with its target.
pub fn ratio(measured: f64, reference: f64) -> f64 {
    if reference > 0.0 {
        measured / reference
    } else {
        f64::INFINITY
    }
}

/// A duration in seconds, for printing and JSON.
pub fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// A field of `/proc/<pid>/status` given in kB (`VmRSS`, `VmHWM`, ...), in bytes.
pub fn proc_status_bytes(pid: u32, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines().find_map(|l| {
        let rest = l.strip_prefix(field)?.strip_prefix(':')?;
        let kb = rest.trim().strip_suffix("kB")?.trim().parse::<u64>().ok()?;
        Some(kb * 1024)
    })
}

/// The resident set size of a process (`VmRSS`), in bytes.
pub fn rss_bytes(pid: u32) -> Option<u64> {
    proc_status_bytes(pid, "VmRSS")
}

/// Bytes as mebibytes, for printing and JSON.
pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), Some(50.0));
        assert_eq!(percentile(&v, 99.0), Some(99.0));
        assert_eq!(percentile(&v, 100.0), Some(100.0));
        assert_eq!(percentile(&v, 0.0), Some(1.0));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn this_process_has_a_resident_set() {
        assert!(rss_bytes(std::process::id()).is_some_and(|b| b > 0));
    }
}
