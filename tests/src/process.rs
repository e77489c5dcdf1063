//! Long-running processes a test starts inside the lab (controller, speakers, tcpdump, ...).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::LabError;

/// A process started in the lab; killed (SIGKILL) and reaped when dropped.
#[derive(Debug)]
pub struct LabProcess {
    tag: String,
    child: Option<Child>,
    log: PathBuf,
}

impl LabProcess {
    pub(crate) fn spawn(mut cmd: Command, tag: &str, log: &Path) -> Result<LabProcess, LabError> {
        let spawn_err = |source| LabError::Spawn {
            command: tag.to_owned(),
            source,
        };
        let out = File::create(log).map_err(spawn_err)?;
        let err = out.try_clone().map_err(spawn_err)?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(spawn_err)?;
        Ok(LabProcess {
            tag: tag.to_owned(),
            child: Some(child),
            log: log.to_owned(),
        })
    }

    /// The process id (of `ip netns exec`, which execs the program, so it is the program's).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Where its stdout and stderr go.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// Everything it has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends a signal (`"TERM"`, `"KILL"`, ...) without waiting.
    pub fn signal(&self, signal: &str) {
        let _ = Command::new("kill")
            .args([&format!("-{signal}"), &self.pid().to_string()])
            .status();
    }

    /// Whether it is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.as_mut().map(Child::try_wait), Some(Ok(None)))
    }

    /// Kills it now and waits for it to be gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Waits for it to exit by itself and returns whether it exited successfully.
    pub fn wait(&mut self) -> bool {
        self.child
            .take()
            .and_then(|mut c| c.wait().ok())
            .is_some_and(|s| s.success())
    }

    /// The tag it was started with.
    pub fn tag(&self) -> &str {
        &self.tag
    }
}

/// How much of a process's log a failing test prints, unless `FERROLB_LOG_TAIL` says otherwise.
const LOG_TAIL_LINES: usize = 40;

impl Drop for LabProcess {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            let log = self.log();
            let lines: Vec<&str> = log.lines().collect();
            let keep = std::env::var("FERROLB_LOG_TAIL")
                .ok()
                .and_then(|n| n.parse().ok())
                .unwrap_or(LOG_TAIL_LINES);
            let tail = &lines[lines.len().saturating_sub(keep)..];
            eprintln!(
                "--- last {} lines of {} ({}) ---",
                tail.len(),
                self.tag,
                self.log.display()
            );
            for line in tail {
                eprintln!("{line}");
            }
        }
    }
}
