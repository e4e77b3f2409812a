//! The Python wheel in CI (`pyproject.toml`): built by maturin (pinned, in a venv under the
//! target dir) from the dev profile, whose dependencies the test build already compiled, then
//! installed into a fresh venv and used from outside the repository: `mlsec --version`, a real
//! scan with its exit code, and `import mlsec_hook` from the installed wheel.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::{root, target_dir};

/// The maturin that builds the wheel (pinned: the build backend in `pyproject.toml` accepts
/// `>=1.7,<2`).
const MATURIN: &str = "maturin==1.16.0";

fn run(program: &Path, args: &[&str], cwd: &Path) -> Result<std::process::Output> {
    eprintln!("$ {} {}", program.display(), args.join(" "));
    let out = Command::new(program)
        .args(args)
        .current_dir(cwd)
        .stderr(std::process::Stdio::inherit())
        .output()
        .with_context(|| format!("cannot run {}", program.display()))?;
    Ok(out)
}

fn ok(program: &Path, args: &[&str], cwd: &Path) -> Result<String> {
    let out = run(program, args, cwd)?;
    if !out.status.success() {
        bail!(
            "`{} {}` failed ({})",
            program.display(),
            args.join(" "),
            out.status
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn venv(dir: &Path) -> Result<PathBuf> {
    ok(
        Path::new("python3"),
        &["-m", "venv", &dir.display().to_string()],
        &root(),
    )?;
    Ok(dir.join("bin"))
}

pub fn ci() -> Result<()> {
    let started = Instant::now();
    let work = target_dir().join("wheel-ci");
    let tools = work.join("tools");
    if !tools.join("bin/maturin").is_file() {
        let bin = venv(&tools)?;
        ok(
            &bin.join("python"),
            &[
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                MATURIN,
            ],
            &root(),
        )
        .context("cannot install maturin from PyPI")?;
    }
    let wheels = work.join("wheels");
    let _ = std::fs::remove_dir_all(&wheels);
    ok(
        &tools.join("bin/maturin"),
        &[
            "build",
            "--profile",
            "dev",
            "--out",
            &wheels.display().to_string(),
        ],
        &root(),
    )?;
    let wheel = std::fs::read_dir(&wheels)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|e| e == "whl"))
        .context("maturin wrote no wheel")?;

    // A fresh venv, used from a directory outside the repository so nothing of the checkout
    // (integrations/pytorch on sys.path, target/debug/mlsec) can stand in for the wheel.
    let fresh = work.join("fresh");
    let _ = std::fs::remove_dir_all(&fresh);
    let bin = venv(&fresh)?;
    let elsewhere = work.join("elsewhere");
    std::fs::create_dir_all(&elsewhere)?;
    let installed = Instant::now();
    ok(
        &bin.join("python"),
        &[
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-index",
            "--disable-pip-version-check",
            &wheel.display().to_string(),
        ],
        &elsewhere,
    )?;
    let install_secs = installed.elapsed().as_secs_f64();
    let version = ok(&bin.join("mlsec"), &["--version"], &elsewhere)?;
    let expected = format!("mlsec {}", env!("CARGO_PKG_VERSION"));
    if version.trim() != expected {
        bail!("the wheel's mlsec says {version:?}, expected {expected:?}");
    }
    let example = root().join("testdata/triton/example-repo");
    let scan = run(
        &bin.join("mlsec"),
        &["triton", &example.display().to_string(), "--quiet"],
        &elsewhere,
    )?;
    if scan.status.code() != Some(2) {
        bail!(
            "the wheel's mlsec on the example repository exited {:?}, expected 2 (findings)",
            scan.status.code()
        );
    }
    let import = ok(
        &bin.join("python"),
        &[
            "-c",
            "import mlsec_hook, sys; \
             assert mlsec_hook.__file__.startswith(sys.prefix), mlsec_hook.__file__; \
             assert callable(mlsec_hook.PoisonMonitorHook); print(mlsec_hook.__file__)",
        ],
        &elsewhere,
    )?;
    eprintln!(
        "xtask: wheel {} installs in {install_secs:.1} s; mlsec --version, a scan and `import mlsec_hook` ({}) work (wheel check {:.0} s)",
        wheel.file_name().unwrap_or_default().to_string_lossy(),
        import.trim(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
