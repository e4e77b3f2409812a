//! The `torch` cargo feature in CI: libtorch from PyPI (`scripts/setup-libtorch.sh`) into the
//! target dir, then clippy and the tests of every crate that has the feature, so TorchScript
//! support cannot rot unseen behind a feature flag.
//!
//! Offline, `MLSEC_CI_SKIP_TORCH=1` skips this part, loudly.

use std::ffi::OsString;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::{cargo_with, root, target_dir};

/// Set to skip the `torch` part of `ci` (it downloads libtorch, about 540 MB).
const SKIP: &str = "MLSEC_CI_SKIP_TORCH";

/// Every crate with a `torch` feature, and the feature of each.
const FEATURES: &str =
    "mlsec-runtime/torch,mlsec-adversarial/torch,mlsec-inspect/torch,mlsec/torch";

pub fn ci() -> Result<()> {
    if std::env::var_os(SKIP).is_some_and(|v| !v.is_empty() && v != "0") {
        eprintln!(
            "xtask: WARNING: {SKIP} is set: the `torch` feature (TorchScript) is NOT built or tested"
        );
        return Ok(());
    }
    let dir = target_dir().join("libtorch");
    let script = root().join("scripts/setup-libtorch.sh");
    eprintln!("$ {} {}", script.display(), dir.display());
    let status = Command::new("bash")
        .arg(&script)
        .arg(&dir)
        .stdout(std::process::Stdio::null())
        .status()
        .context("cannot run bash")?;
    if !status.success() {
        bail!(
            "installing libtorch failed ({status}); without network access set {SKIP}=1 to skip the `torch` feature"
        );
    }
    let lib = dir.join("torch/lib");
    let mut library_path = OsString::from(lib.as_os_str());
    if let Some(old) = std::env::var_os("LD_LIBRARY_PATH") {
        library_path.push(":");
        library_path.push(old);
    }
    let libtorch = dir.join("torch");
    let env = [
        ("LIBTORCH", libtorch.as_os_str()),
        ("LIBTORCH_BYPASS_VERSION_CHECK", "1".as_ref()),
        ("LD_LIBRARY_PATH", library_path.as_os_str()),
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
    cargo_with(&args, &env)
}
