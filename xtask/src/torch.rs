//! `cargo xtask ci-torch`, CI's second command: PyTorch 2.13.0 from PyPI into a venv under the
//! target dir (`scripts/setup-libtorch.sh --with-python`), then clippy and the tests of every
//! crate that has the `torch` feature against that libtorch, so TorchScript support cannot rot
//! unseen behind a feature flag, and the poison monitor's live test: a real DDP job with the
//! hook registered as documented, beside `mlsec poison-monitor listen`.
//!
//! Offline, `MLSEC_CI_SKIP_TORCH=1` skips this part, loudly.
//!
//! Disk, not time, is what this part can run out of (a CI run once died of a full disk while
//! pip unpacked PyTorch), so it first makes sure the space it needs is free ([`make_room`]).

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::{cargo_with, root, target_dir};

/// Set to skip `ci-torch` (it downloads PyTorch with its CUDA libraries, 4.0 GB on disk).
const SKIP: &str = "MLSEC_CI_SKIP_TORCH";

/// Every crate with a `torch` feature, and the feature of each.
const FEATURES: &str =
    "mlsec-runtime/torch,mlsec-adversarial/torch,mlsec-inspect/torch,mlsec/torch";

/// Disk the PyTorch install needs while it runs: the venv (4.0 GB measured, see
/// `setup-libtorch.sh`) plus the largest wheel being unpacked, rounded up.
const INSTALL_BYTES: u64 = 5 << 30;

/// Disk the `torch`-feature build and its test binaries add to a target directory that
/// already holds the default build: 2.7 GB measured on a fresh clone (incremental
/// compilation on), rounded up.
const BUILD_BYTES: u64 = 3 << 30;

/// Frees space in the target directory when the disk cannot hold what this part adds: first
/// the incremental-compilation caches, then the default build (`target/debug`, rebuilt by the
/// next `cargo` that needs it). Says what it removed; fails, naming the numbers, when even
/// that is not enough.
fn make_room(dir: &std::path::Path) -> Result<()> {
    let installed = std::fs::read_dir(dir.join("venv/lib")).is_ok_and(|pythons| {
        pythons.flatten().any(|python| {
            python
                .path()
                .join("site-packages/torch/lib/libtorch_cpu.so")
                .is_file()
        })
    });
    let need = BUILD_BYTES + if installed { 0 } else { INSTALL_BYTES };
    let target = target_dir();
    let gib = |b: u64| b as f64 / f64::from(1u32 << 30);
    for removable in [target.join("debug/incremental"), target.join("debug")] {
        let free = free_bytes(&target)?;
        if free >= need {
            return Ok(());
        }
        if removable.exists() {
            eprintln!(
                "xtask: {:.1} GiB free, the `torch` part needs about {:.1} GiB: removing {}",
                gib(free),
                gib(need),
                removable.display()
            );
            std::fs::remove_dir_all(&removable)
                .with_context(|| format!("cannot remove {}", removable.display()))?;
        }
    }
    let free = free_bytes(&target)?;
    if free < need {
        bail!(
            "{:.1} GiB free on the disk of {}, the `torch` part needs about {:.1} GiB ({}); free some space",
            gib(free),
            target.display(),
            gib(need),
            if installed {
                "the torch-feature build"
            } else {
                "PyTorch and the torch-feature build"
            }
        );
    }
    Ok(())
}

/// Bytes available to this user on the file system that holds `path` (POSIX `df -Pk`).
fn free_bytes(path: &std::path::Path) -> Result<u64> {
    std::fs::create_dir_all(path).with_context(|| format!("cannot create {}", path.display()))?;
    let out = Command::new("df")
        .arg("-Pk")
        .arg(path)
        .output()
        .context("cannot run df")?;
    let text = String::from_utf8_lossy(&out.stdout);
    // Header, then: filesystem, 1024-blocks, used, available, capacity, mount point.
    let kib = text
        .lines()
        .nth(1)
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse::<u64>().ok())
        .with_context(|| format!("cannot read `df -Pk {}`: {text}", path.display()))?;
    Ok(kib * 1024)
}

/// What `setup-libtorch.sh` printed, read back.
struct Install {
    libtorch: PathBuf,
    library_path: OsString,
    python: PathBuf,
}

fn install() -> Result<Install> {
    let dir = target_dir().join("torch-python");
    make_room(&dir)?;
    let script = root().join("scripts/setup-libtorch.sh");
    eprintln!("$ {} --with-python {}", script.display(), dir.display());
    let out = Command::new("bash")
        .arg(&script)
        .arg("--with-python")
        .arg(&dir)
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("cannot run bash")?;
    if !out.status.success() {
        bail!(
            "installing PyTorch failed ({}); without network access set {SKIP}=1 to skip the `torch` part",
            out.status
        );
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let var = |name: &str| -> Result<String> {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(&format!("export {name}=")))
            .map(str::to_owned)
            .with_context(|| format!("setup-libtorch.sh printed no {name}"))
    };
    let libtorch = PathBuf::from(var("LIBTORCH")?);
    let mut library_path = OsString::from(libtorch.join("lib"));
    library_path.push(":");
    library_path.push(libtorch.join("../nvidia/cu13/lib"));
    if let Some(old) = std::env::var_os("LD_LIBRARY_PATH") {
        library_path.push(":");
        library_path.push(old);
    }
    Ok(Install {
        libtorch,
        library_path,
        python: PathBuf::from(var("MLSEC_TORCH_PYTHON")?),
    })
}

pub fn ci() -> Result<()> {
    if std::env::var_os(SKIP).is_some_and(|v| !v.is_empty() && v != "0") {
        eprintln!(
            "xtask: WARNING: {SKIP} is set: the `torch` feature (TorchScript) and the live DDP test are NOT run"
        );
        return Ok(());
    }
    let started = std::time::Instant::now();
    let torch = install()?;
    let env = [
        ("LIBTORCH", torch.libtorch.as_os_str()),
        ("LIBTORCH_BYPASS_VERSION_CHECK", "1".as_ref()),
        ("LD_LIBRARY_PATH", torch.library_path.as_os_str()),
    ];
    let packages = FEATURES.split(',').flat_map(|f| {
        let (package, _) = f.split_once('/').expect("package/feature");
        ["--package", package]
    });
    let mut args: Vec<&str> = vec!["clippy", "--all-targets", "--features", FEATURES];
    args.extend(packages.clone());
    args.extend(["--", "-D", "warnings"]);
    cargo_with(&args, &env)?;
    let mut args: Vec<&str> = vec!["test", "--all-targets", "--features", FEATURES];
    args.extend(packages);
    cargo_with(&args, &env)?;
    live_ddp(&torch)?;
    eprintln!(
        "xtask: ci-torch passed in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The poison monitor's live test: real `torch.distributed` ranks with the hook, and the
/// `mlsec` binary just built (with the `torch` feature, which does not matter to `listen`).
fn live_ddp(torch: &Install) -> Result<()> {
    let script = root().join("scripts/poison-monitor/live-test.sh");
    let mlsec = target_dir().join("debug/mlsec");
    eprintln!("$ {}", script.display());
    let status = Command::new("bash")
        .arg(&script)
        .env("MLSEC_TORCH_PYTHON", &torch.python)
        .env("MLSEC_BIN", &mlsec)
        .current_dir(root())
        .status()
        .context("cannot run bash")?;
    if !status.success() {
        bail!("the live DDP test failed ({status})");
    }
    Ok(())
}
