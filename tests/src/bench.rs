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

/// The resident bytes of each file a process maps (its binary, shared libraries), largest
/// first, from `/proc/<pid>/smaps`.
pub fn mapped_files(pid: u32) -> Option<Vec<(String, u64)>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps")).ok()?;
    Some(mapped_files_of(&text))
}

fn mapped_files_of(smaps: &str) -> Vec<(String, u64)> {
    let mut by_file: std::collections::BTreeMap<String, u64> = Default::default();
    let mut file: Option<String> = None;
    for line in smaps.lines() {
        let mut words = line.split_whitespace();
        let first = words.next().unwrap_or_default();
        if first.contains('-') && !first.ends_with(':') {
            // A mapping's header: range, perms, offset, device, inode, path.
            let inode = words.nth(3).unwrap_or("0");
            file = words
                .next()
                .filter(|p| inode != "0" && p.starts_with('/'))
                .map(str::to_owned);
        } else if first == "Rss:"
            && let Some(f) = &file
            && let Some(kb) = words.next().and_then(|k| k.parse::<u64>().ok())
        {
            *by_file.entry(f.clone()).or_default() += kb * 1024;
        }
    }
    let mut files: Vec<(String, u64)> = by_file.into_iter().collect();
    files.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    files
}

/// Bytes as mebibytes, for printing and JSON.
pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// MetalLB's build, the reference the benchmarks measure ferrolb against: `bin/speaker`,
/// `bin/controller` and `crds/`, built (once, then cached) by `tests/bench/build-metallb.sh`
/// from its Go module, or found in `FERROLB_METALLB_DIR`.
pub fn metallb_build() -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os("FERROLB_METALLB_DIR") {
        return Ok(dir.into());
    }
    let script = crate::workspace_dir()
        .join("tests")
        .join("bench")
        .join("build-metallb.sh");
    let out = std::process::Command::new(&script)
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| format!("running {}: {e}", script.display()))?;
    if !out.status.success() {
        return Err(format!("{} failed", script.display()));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().into())
}

/// Installs MetalLB's CRDs, from its build, into the lab.
pub fn install_metallb_crds(lab: &crate::Lab, build: &Path) -> Result<(), crate::LabError> {
    let crds = build.join("crds").display().to_string();
    lab.kubectl(&["apply", "--server-side", "-f", &crds])
        .map(|_| ())
}

/// The MetalLB version the reference is built from (its module's pin).
pub fn metallb_version() -> String {
    let go_mod = crate::workspace_dir()
        .join("tests")
        .join("bench")
        .join("go")
        .join("metallb")
        .join("go.mod");
    std::fs::read_to_string(go_mod)
        .ok()
        .and_then(|text| {
            text.lines().find_map(|l| {
                let rest = l.trim().strip_prefix("require go.universe.tf/metallb ")?;
                Some(rest.trim().to_owned())
            })
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapped_files_add_up_per_file_and_skip_anonymous_memory() {
        let smaps = "\
55d0-55e0 r--p 00000000 fd:01 123 /usr/bin/speaker
Size:                 64 kB
Rss:                  40 kB
55e0-55f0 r-xp 00010000 fd:01 123 /usr/bin/speaker
Rss:                 100 kB
7f00-7f10 rw-p 00000000 00:00 0 [heap]
Rss:                 900 kB
7f10-7f20 r-xp 00000000 fd:01 456 /usr/lib/libc.so.6
Rss:                 200 kB
7f20-7f30 rw-p 00000000 00:00 0
Rss:                 50 kB
";
        assert_eq!(
            mapped_files_of(smaps),
            vec![
                ("/usr/lib/libc.so.6".to_owned(), 200 * 1024),
                ("/usr/bin/speaker".to_owned(), 140 * 1024),
            ]
        );
    }

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
