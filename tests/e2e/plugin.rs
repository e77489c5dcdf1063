//! How `kubectl ferrolb` reaches users: packaged for krew (the archive and the manifest that
//! `make plugin` makes), checked by the validator krew's index runs, installed by a real krew
//! from the local archive and found by a real kubectl. What the plugin says about a cluster is
//! tested in the speaker suite (`kubectl_plugin`), where a controller and speakers run.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ferrolb_tests::{go_tools, lab_tools, workspace_bin, workspace_dir};

fn krew_tools() -> PathBuf {
    go_tools(
        "krew",
        "plugin/go/krew",
        &[
            "sigs.k8s.io/krew/cmd/krew",
            "sigs.k8s.io/krew/cmd/validate-krew-manifest",
        ],
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

fn output(cmd: &mut Command) -> Output {
    cmd.stdin(std::process::Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e}"))
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Packages the debug binary (the release one differs only in size) into `dir`.
fn package(dir: &Path) -> PathBuf {
    let script = workspace_dir()
        .join("controller")
        .join("krew")
        .join("package.sh");
    let out = output(
        Command::new(&script)
            .arg(workspace_bin("kubectl-ferrolb"))
            .arg(dir),
    );
    assert!(out.status.success(), "{}", text(&out));
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

#[test]
fn the_krew_manifest_passes_krews_validator_and_names_the_archive_it_ships() {
    let tools = krew_tools();
    let dir = tempfile::tempdir().expect("temp dir");
    let manifest = package(dir.path());
    let out = output(
        Command::new(tools.join("validate-krew-manifest"))
            .arg("-manifest")
            .arg(&manifest)
            .arg("-skip-install"),
    );
    assert!(out.status.success(), "{}", text(&out));

    let yaml: serde_json::Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(&manifest).expect("manifest"))
            .expect("manifest parses");
    // The manifest's version is the binary's.
    let version = output(Command::new(workspace_bin("kubectl-ferrolb")).arg("--version"));
    let said = String::from_utf8_lossy(&version.stdout);
    assert_eq!(
        yaml["spec"]["version"]
            .as_str()
            .map(|v| v.trim_start_matches('v')),
        said.trim().strip_prefix("kubectl-ferrolb "),
        "the chart's appVersion and the workspace version disagree"
    );
    let platform = &yaml["spec"]["platforms"][0];
    assert_eq!(platform["bin"], "kubectl-ferrolb");
    // A manifest naming another checksum would be refused by every krew.
    let archive = dir.path().join("kubectl-ferrolb_linux_amd64.tar.gz");
    let sum = output(Command::new("sha256sum").arg(&archive));
    let sum = String::from_utf8_lossy(&sum.stdout);
    assert_eq!(
        platform["sha256"].as_str(),
        sum.split(' ').next(),
        "{platform}"
    );
}

#[test]
fn krew_installs_the_plugin_from_its_archive_and_kubectl_runs_it() {
    let tools = krew_tools();
    let kubectl_dir = lab_tools().unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().expect("temp dir");
    let manifest = package(&dir.path().join("package"));
    let archive = manifest.with_file_name("kubectl-ferrolb_linux_amd64.tar.gz");
    // krew runs as a kubectl plugin itself.
    let krew_path = dir.path().join("krew-bin");
    std::fs::create_dir_all(&krew_path).expect("krew bin");
    std::fs::copy(tools.join("krew"), krew_path.join("kubectl-krew")).expect("krew");
    let krew_root = dir.path().join("krew-root");
    let path = |first: &Path| {
        format!(
            "{}:{}:{}:/usr/bin:/bin",
            first.display(),
            krew_path.display(),
            kubectl_dir.display()
        )
    };
    let kubectl = |args: &[&str], path: String| {
        output(
            Command::new(kubectl_dir.join("kubectl"))
                .args(args)
                .env_clear()
                .env("PATH", path)
                .env("HOME", dir.path())
                .env("KREW_ROOT", &krew_root)
                .env("KREW_NO_UPGRADE_CHECK", "1")
                .env("KUBECONFIG", dir.path().join("no-such-kubeconfig")),
        )
    };
    let bin = krew_root.join("bin");
    let out = kubectl(
        &[
            "krew",
            "install",
            &format!("--manifest={}", manifest.display()),
            &format!("--archive={}", archive.display()),
        ],
        path(&bin),
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(bin.join("kubectl-ferrolb").exists(), "{}", text(&out));

    let list = kubectl(&["plugin", "list"], path(&bin));
    assert!(
        text(&list).contains(&bin.join("kubectl-ferrolb").display().to_string()),
        "{}",
        text(&list)
    );
    let help = kubectl(&["ferrolb", "--help"], path(&bin));
    assert!(help.status.success(), "{}", text(&help));
    for command in ["status", "pools", "why"] {
        assert!(text(&help).contains(command), "{}", text(&help));
    }
    // Without a cluster to read: exit status 2 and a sentence saying what is missing.
    let status = kubectl(&["ferrolb", "status"], path(&bin));
    assert_eq!(status.status.code(), Some(2), "{}", text(&status));
    assert!(text(&status).starts_with("error: "), "{}", text(&status));
}
