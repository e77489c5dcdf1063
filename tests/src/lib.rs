//! The lab harness: starts a lab (`tests/lab/lab.sh`: a real kube-apiserver and etcd, and
//! network-namespace nodes) for a test suite, hands out `kube::Client`s for it, runs commands
//! inside its namespaces and waits for conditions with deadlines.
//!
//! It must not fake anything the lab provides: every test that uses it talks to the real API
//! server and to real sockets in the lab's namespaces.

pub mod objects;
mod process;
mod wait;

pub use process::LabProcess;
pub use wait::{WaitError, wait_for};

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

/// What can go wrong while driving the lab.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// The lab script failed; its message names the step.
    #[error("lab {step} failed: {message}")]
    Script {
        /// The lab.sh subcommand.
        step: String,
        /// What the script printed on stderr.
        message: String,
    },
    /// A command could not be started at all.
    #[error("could not run {command}: {source}")]
    Spawn {
        /// The command line.
        command: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A command ran but failed.
    #[error("{command} exited with {status}: {stderr}")]
    Command {
        /// The command line.
        command: String,
        /// Its exit status.
        status: std::process::ExitStatus,
        /// What it printed on stderr.
        stderr: String,
    },
    /// The lab's kubeconfig could not be turned into a client.
    #[error("kubeconfig {path}: {message}")]
    Kubeconfig {
        /// The kubeconfig file.
        path: PathBuf,
        /// Why it failed.
        message: String,
    },
}

/// A running lab. Dropping it stops the lab; [`Lab::shared`] labs end with the test process.
#[derive(Debug)]
pub struct Lab {
    name: String,
    dir: PathBuf,
    kubeconfig: PathBuf,
    kubeconfig_inlab: PathBuf,
    bin: PathBuf,
    nodes: usize,
    port: u16,
    stop_on_drop: bool,
}

/// The directory of this crate (`tests/`), where the lab scripts live.
pub fn tests_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The workspace root.
pub fn workspace_dir() -> &'static Path {
    tests_dir().parent().unwrap_or(Path::new("."))
}

/// The path of a binary of this workspace (`ferrolb-controller`, `ferrolb-speaker`), built by
/// `cargo build` before the suites run (the Makefile does this).
pub fn workspace_bin(name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_dir().join("target"));
    let profile = std::env::var("FERROLB_PROFILE").unwrap_or_else(|_| "debug".to_owned());
    target.join(profile).join(name)
}

/// Builds Go commands the tests use as clients (promtool, krew) from the pinned module in
/// `module_dir` (a directory under `tests/`), once, into a cache outside the checkout; returns
/// the directory that holds them, each named after its package's last element.
pub fn go_tools(name: &str, module_dir: &str, packages: &[&str]) -> Result<PathBuf, LabError> {
    let out = run(
        Command::new(tests_dir().join("lab").join("build-go-tools.sh"))
            .arg(name)
            .arg(tests_dir().join(module_dir))
            .args(packages)
            .stderr(std::process::Stdio::inherit()),
    )?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().into())
}

/// The directory of the lab's Go-built tools (`kubectl`, `helm`, ...), built first if needed.
pub fn lab_tools() -> Result<PathBuf, LabError> {
    let out = run(Command::new(tests_dir().join("lab").join("build-tools.sh"))
        .stderr(std::process::Stdio::inherit()))?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().into())
}

fn lab_script() -> PathBuf {
    tests_dir().join("lab").join("lab.sh")
}

fn command_line(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// Runs a command to completion; a non-zero exit is an error carrying its stderr.
pub fn run(cmd: &mut Command) -> Result<Output, LabError> {
    let line = command_line(cmd);
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|source| LabError::Spawn {
            command: line.clone(),
            source,
        })?;
    if !out.status.success() {
        return Err(LabError::Command {
            command: line,
            status: out.status,
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        });
    }
    Ok(out)
}

impl Lab {
    /// Starts a new lab with `nodes` node namespaces. It is removed when the returned value is
    /// dropped, and also when this process ends in any other way (the lab watches our pid).
    pub fn start(nodes: usize) -> Result<Lab, LabError> {
        let mut cmd = Command::new(lab_script());
        cmd.arg("start")
            .arg("--nodes")
            .arg(nodes.to_string())
            .arg("--owner-pid")
            .arg(std::process::id().to_string())
            .stderr(Stdio::inherit());
        let out = run(&mut cmd).map_err(|e| LabError::Script {
            step: "start".into(),
            message: e.to_string(),
        })?;
        let env = String::from_utf8_lossy(&out.stdout);
        let get = |key: &str| {
            env.lines()
                .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
                .map(str::to_owned)
                .ok_or_else(|| LabError::Script {
                    step: "start".into(),
                    message: format!("its output lacks {key}: {env}"),
                })
        };
        Ok(Lab {
            name: get("LAB_NAME")?,
            dir: get("LAB_DIR")?.into(),
            kubeconfig: get("KUBECONFIG")?.into(),
            kubeconfig_inlab: get("LAB_KUBECONFIG_INLAB")?.into(),
            bin: get("LAB_BIN")?.into(),
            nodes,
            port: get("LAB_PORT")?.parse().map_err(|e| LabError::Script {
                step: "start".into(),
                message: format!("bad LAB_PORT: {e}"),
            })?,
            stop_on_drop: true,
        })
    }

    /// One lab for the whole test binary, started on first use with three nodes. Tests that
    /// share it must use their own Kubernetes namespaces and object names.
    pub fn shared() -> &'static Lab {
        static LAB: OnceLock<Lab> = OnceLock::new();
        LAB.get_or_init(|| {
            let mut lab = Lab::start(3).unwrap_or_else(|e| panic!("starting the lab: {e}"));
            // Statics are never dropped; the lab's owner-pid watch removes it at exit.
            lab.stop_on_drop = false;
            lab
        })
    }

    /// The lab's unique name (its namespaces are `flb-<name>-*`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The lab's state directory (logs, certificates, kubeconfigs).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Admin kubeconfig for processes on the host (API server forwarded to loopback).
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// Admin kubeconfig for processes inside the lab's namespaces.
    pub fn kubeconfig_inlab(&self) -> &Path {
        &self.kubeconfig_inlab
    }

    /// The node names, `node1`..`nodeN`.
    pub fn node_names(&self) -> Vec<String> {
        (1..=self.nodes).map(|i| format!("node{i}")).collect()
    }

    /// The IPv4 address of a lab host (`cp`, `nodeN`, `client`).
    pub fn host_ipv4(host: &str) -> String {
        let last = match host {
            "cp" => 10,
            "client" => 50,
            n => {
                10 + n
                    .strip_prefix("node")
                    .and_then(|i| i.parse::<u8>().ok())
                    .unwrap_or_else(|| panic!("unknown lab host {n}"))
            }
        };
        format!("192.168.100.{last}")
    }

    /// The network namespace of a lab host.
    pub fn netns(&self, host: &str) -> String {
        format!("flb-{}-{host}", self.name)
    }

    /// The path of one of the lab's Go-built tools (`kubectl`, `helm`, ...).
    pub fn tool(&self, name: &str) -> PathBuf {
        self.bin.join(name)
    }

    /// A client for the lab's API server with admin credentials.
    pub async fn client(&self) -> Result<kube::Client, LabError> {
        let err = |message: String| LabError::Kubeconfig {
            path: self.kubeconfig.clone(),
            message,
        };
        let kc = kube::config::Kubeconfig::read_from(&self.kubeconfig)
            .map_err(|e| err(e.to_string()))?;
        let config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
            .await
            .map_err(|e| err(e.to_string()))?;
        kube::Client::try_from(config).map_err(|e| err(e.to_string()))
    }

    /// A `kubectl` command against the lab, ready for arguments.
    pub fn kubectl_cmd(&self) -> Command {
        let mut cmd = Command::new(self.tool("kubectl"));
        cmd.env("KUBECONFIG", &self.kubeconfig);
        cmd
    }

    /// Runs `helm` with `args` against the lab, with its cache and config inside the lab's
    /// directory; fails on a non-zero exit.
    pub fn helm(&self, args: &[&str]) -> Result<Output, LabError> {
        let home = self.dir.join("helm");
        run(Command::new(self.tool("helm"))
            .env("KUBECONFIG", self.kubeconfig())
            .env("HELM_CACHE_HOME", home.join("cache"))
            .env("HELM_CONFIG_HOME", home.join("config"))
            .env("HELM_DATA_HOME", home.join("data"))
            .args(args))
    }

    /// Runs `kubectl` with `args` against the lab; fails on a non-zero exit.
    pub fn kubectl(&self, args: &[&str]) -> Result<Output, LabError> {
        run(self.kubectl_cmd().args(args))
    }

    /// Applies YAML documents with `kubectl apply --server-side` plus `extra` arguments.
    pub fn apply_yaml(&self, yaml: &str, extra: &[&str]) -> Result<Output, LabError> {
        let mut args = vec!["apply", "--server-side", "--force-conflicts", "-f", "-"];
        args.extend_from_slice(extra);
        let out = self.kubectl_with_input(&args, yaml)?;
        if !out.status.success() {
            return Err(LabError::Command {
                command: format!("kubectl {}", args.join(" ")),
                status: out.status,
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            });
        }
        Ok(out)
    }

    /// Runs `kubectl` with `args` and `input` on its stdin; returns its output whatever its exit
    /// status (the caller asserts on it).
    pub fn kubectl_with_input(&self, args: &[&str], input: &str) -> Result<Output, LabError> {
        use std::io::Write;
        let mut cmd = self.kubectl_cmd();
        cmd.args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let line = command_line(&cmd);
        let spawn_err = |source| LabError::Spawn {
            command: line.clone(),
            source,
        };
        let mut child = cmd.spawn().map_err(spawn_err)?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(input.as_bytes()).map_err(spawn_err)?;
        }
        child.wait_with_output().map_err(spawn_err)
    }

    /// Installs the ferrolb CRDs (`crds/yaml/`) and waits until the API server serves them.
    pub fn install_crds(&self) -> Result<(), LabError> {
        let dir = workspace_dir().join("crds").join("yaml");
        run(self
            .kubectl_cmd()
            .args(["apply", "--server-side", "--force-conflicts", "-f"])
            .arg(&dir))?;
        run(self.kubectl_cmd().args([
            "wait",
            "--for=condition=Established",
            "--timeout=30s",
            "crd/ipaddresspools.ferrolb.io",
            "crd/l2advertisements.ferrolb.io",
        ]))?;
        Ok(())
    }

    /// Kills the API server (SIGKILL) and starts it again on the same etcd; returns once it is
    /// ready.
    pub fn restart_apiserver(&self) -> Result<(), LabError> {
        let mut cmd = Command::new(lab_script());
        cmd.args(["restart-apiserver", "--name", &self.name]);
        run(&mut cmd).map(|_| ())
    }

    /// Starts a ferrolb controller in the control-plane namespace with the in-lab admin
    /// kubeconfig; `args` are extra flags (leader election is off unless they turn it on).
    pub fn start_controller(&self, tag: &str, args: &[&str]) -> Result<LabProcess, LabError> {
        let bin = workspace_bin("ferrolb-controller");
        let bin = bin.to_string_lossy();
        let mut argv = vec![bin.as_ref()];
        if !args.iter().any(|a| a.starts_with("--leader-elect")) {
            argv.push("--leader-elect=false");
        }
        if !args.iter().any(|a| a.starts_with("--metrics-addr")) {
            argv.extend(["--metrics-addr", "127.0.0.1:0"]);
        }
        argv.extend_from_slice(args);
        let kubeconfig = self.kubeconfig_inlab.to_string_lossy().into_owned();
        let log = component_log_filter();
        self.spawn(
            "cp",
            tag,
            &argv,
            &[("KUBECONFIG", &kubeconfig), ("RUST_LOG", &log)],
        )
    }

    /// Merges `status` (a JSON object, e.g. `{"status": {"loadBalancer": ...}}`) into the status
    /// of Service `namespace/name`, as a controller would write it.
    pub fn patch_service_status(
        &self,
        namespace: &str,
        name: &str,
        status: &str,
    ) -> Result<Output, LabError> {
        self.kubectl(&[
            "patch",
            "svc",
            name,
            "-n",
            namespace,
            "--subresource=status",
            "--type=merge",
            "-p",
            status,
        ])
    }

    /// The API server's address for clients on the host.
    pub fn server_url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    /// Runs `kubectl` with `args` authenticated only by a bearer `token` (no admin
    /// certificate), as a component with that ServiceAccount would be.
    pub fn kubectl_as(&self, token: &str, args: &[&str]) -> Result<Output, LabError> {
        let mut cmd = Command::new(self.tool("kubectl"));
        cmd.env("KUBECONFIG", "/dev/null")
            .arg("--server")
            .arg(self.server_url())
            .arg("--certificate-authority")
            .arg(self.dir.join("pki").join("ca.crt"))
            .arg("--token")
            .arg(token)
            .args(args);
        run(&mut cmd)
    }

    /// A command that runs inside a host's network namespace.
    pub fn netns_cmd(&self, host: &str, program: &str) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.netns(host), program]);
        cmd
    }

    /// Runs a command inside a host's network namespace to completion (any exit status).
    pub fn exec(&self, host: &str, argv: &[&str]) -> Result<Output, LabError> {
        let (program, args) = argv.split_first().expect("exec needs a command");
        let mut cmd = self.netns_cmd(host, program);
        cmd.args(args).stdin(Stdio::null());
        let line = command_line(&cmd);
        cmd.output().map_err(|source| LabError::Spawn {
            command: line,
            source,
        })
    }

    /// Starts a long-running process inside a host's namespace; it is killed when the returned
    /// handle is dropped. Its output goes to `<lab dir>/logs/<tag>.log`.
    pub fn spawn(
        &self,
        host: &str,
        tag: &str,
        argv: &[&str],
        env: &[(&str, &str)],
    ) -> Result<LabProcess, LabError> {
        let (program, args) = argv.split_first().expect("spawn needs a command");
        let mut cmd = self.netns_cmd(host, program);
        cmd.args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        LabProcess::spawn(cmd, tag, &self.dir.join("logs").join(format!("{tag}.log")))
    }
}

/// The log filter for the ferrolb processes a test starts: `info`, or `FERROLB_LOG` when set
/// (e.g. `FERROLB_LOG=info,kube_runtime=debug` while chasing a failure).
pub fn component_log_filter() -> String {
    std::env::var("FERROLB_LOG").unwrap_or_else(|_| "info".to_owned())
}

impl Drop for Lab {
    fn drop(&mut self) {
        if self.stop_on_drop {
            let _ = Command::new(lab_script())
                .args(["stop", "--name", &self.name])
                .stdin(Stdio::null())
                .status();
        }
    }
}

mod token;
pub use token::TokenKubeconfig;

pub mod bench;
