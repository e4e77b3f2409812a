//! The GitHub Action's installer (`scripts/action-install.sh`) against a release laid out on
//! disk the way `.github/workflows/release.yml` publishes it: the archive for this runner is
//! downloaded, checked against SHA256SUMS and installed; a tampered archive is refused; a
//! release without a binary for this runner falls back to compiling (refused here with
//! MLSEC_NO_FALLBACK=1, so the test does not compile).
#![cfg(all(target_os = "linux", target_arch = "x86_64"))]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn sh(cmd: &str, cwd: &Path) {
    let status = Command::new("sh")
        .args(["-c", cmd])
        .current_dir(cwd)
        .status()
        .unwrap();
    assert!(status.success(), "{cmd}");
}

/// A release directory `<base>/download/v9.9.9/` holding mlsec-x86_64-unknown-linux-musl.tar.gz
/// and its SHA256SUMS. The archived `mlsec` is a stand-in script (what is tested is the
/// installer, and an 80 MB debug binary would only make the test slow).
fn release(base: &Path) -> PathBuf {
    let dir = base.join("download/v9.9.9");
    let stage = base.join("stage/mlsec-x86_64-unknown-linux-musl");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::create_dir_all(&stage).unwrap();
    std::fs::write(stage.join("mlsec"), "#!/bin/sh\necho mlsec 9.9.9\n").unwrap();
    sh("chmod +x mlsec", &stage);
    sh(
        &format!(
            "tar czf {}/mlsec-x86_64-unknown-linux-musl.tar.gz mlsec-x86_64-unknown-linux-musl",
            dir.display()
        ),
        &base.join("stage"),
    );
    sh(
        "sha256sum mlsec-x86_64-unknown-linux-musl.tar.gz > SHA256SUMS",
        &dir,
    );
    dir
}

fn install(base: &Path, dest: &Path, extra: &[(&str, &str)]) -> Output {
    Command::new("bash")
        .arg(repo_root().join("scripts/action-install.sh"))
        .env("MLSEC_INSTALL_DIR", dest)
        .env("MLSEC_VERSION", "v9.9.9")
        .env(
            "MLSEC_RELEASE_BASE_URL",
            format!("file://{}", base.display()),
        )
        .env("MLSEC_VERIFY_ATTESTATION", "false")
        .env("MLSEC_NO_FALLBACK", "1")
        .env("RUNNER_OS", "Linux")
        .env("RUNNER_ARCH", "X64")
        .env_remove("GITHUB_OUTPUT")
        .envs(extra.iter().copied())
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn downloads_checks_and_installs_the_release_binary() {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().join("releases");
    release(&base);
    let dest = tmp.path().join("install");
    let out = install(&base, &dest, &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("matches SHA256SUMS"), "{}", text(&out));
    let version = Command::new(dest.join("bin/mlsec"))
        .arg("--version")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&version.stdout), "mlsec 9.9.9\n");
    // The step output the Action's scan step reads.
    let outputs = tmp.path().join("github_output");
    let out = install(
        &base,
        &tmp.path().join("again"),
        &[("GITHUB_OUTPUT", outputs.to_str().unwrap())],
    );
    assert!(out.status.success(), "{}", text(&out));
    let written = std::fs::read_to_string(&outputs).unwrap();
    assert!(written.starts_with("mlsec=") && written.trim_end().ends_with("again/bin/mlsec"));
}

#[test]
fn a_tampered_archive_is_refused_and_nothing_is_installed() {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().join("releases");
    let dir = release(&base);
    let archive = dir.join("mlsec-x86_64-unknown-linux-musl.tar.gz");
    let mut bytes = std::fs::read(&archive).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&archive, bytes).unwrap();
    let dest = tmp.path().join("install");
    let out = install(&base, &dest, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("checksum mismatch"), "{}", text(&out));
    assert!(!dest.join("bin/mlsec").exists());
}

#[test]
fn no_binary_for_this_runner_falls_back_to_compiling() {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().join("releases");
    release(&base);
    // No prebuilt target for this platform, and no archive for a version that is not there.
    for extra in [
        &[("RUNNER_OS", "Plan9"), ("RUNNER_ARCH", "MIPS")][..],
        &[("MLSEC_VERSION", "v0.0.1")][..],
    ] {
        let out = install(&base, &tmp.path().join("install"), extra);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        assert!(
            text(&out).contains("no release binary for this runner")
                && text(&out).contains("MLSEC_NO_FALLBACK=1"),
            "{}",
            text(&out)
        );
    }
}
