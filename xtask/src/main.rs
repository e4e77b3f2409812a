//! `cargo xtask <task>`: the project's development tasks.
//!
//! - `ci`: the README's test command, the default build (the whole test suite, the Python
//!   hook's tests, the wheel)
//! - `lint`: fmt check, unused dependencies, clippy with `-D warnings` (before every commit)
//! - `ci-realworld`: `realworld` when the package index is reachable (or everything is cached),
//!   else a visible SKIPPED line
//! - `ci-torch`: the second command: the `torch` feature with PyTorch installed into the target
//!   dir, and the poison monitor's live DDP test (`.ci/run` runs both)
//! - `wheel`: build the Python wheel and check it in a fresh venv (part of `ci`)
//! - `testdata [--check] [NAME...]`: regenerate the fixtures under `testdata/`
//! - `codegen [--check]`: regenerate committed code derived from the vendored `crates/*/proto/`
//! - `docs [--check]`: regenerate `docs/rules.md` from the rule declarations
//! - `deps`: fail when a crate declares a dependency its sources do not use
//! - `bench [NAME...]`: run benchmarks on generated inputs and print one table
//! - `realworld [--release] [--mlsec BIN] [--report FILE.json] [NAME...]`: mlsec on the genuine
//!   model and data files of the pinned PyPI packages in `xtask/realworld.toml`

#![allow(clippy::print_stdout, clippy::print_stderr, clippy::exit)]

mod bench;
mod codegen;
mod deps;
mod docs;
mod realworld;
mod testdata;
mod torch;
mod wheel;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

fn main() {
    if let Err(err) = run() {
        eprintln!("xtask: error: {err:#}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (task, rest) = args
        .split_first()
        .map_or(("help", &[][..]), |(t, r)| (t.as_str(), r));
    let check = rest.iter().any(|a| a == "--check");
    let names: Vec<&str> = rest
        .iter()
        .map(String::as_str)
        .filter(|a| !a.starts_with("--"))
        .collect();
    match task {
        "ci" => ci(),
        "lint" => lint(),
        "ci-torch" => torch::ci(),
        "wheel" => wheel::ci(),
        "testdata" => testdata::run(&names, check),
        "docs" => docs::run(check),
        "codegen" => codegen::run(check),
        "realworld" => realworld::run(rest),
        "ci-realworld" => realworld::ci(),
        "deps" => deps::run(),
        // Benchmarks measure optimised code: a debug xtask re-runs itself in release.
        "bench" if cfg!(debug_assertions) => {
            let mut args = vec![
                "run",
                "--quiet",
                "--release",
                "--package",
                "xtask",
                "--",
                "bench",
            ];
            args.extend(&names);
            cargo(&args)
        }
        "bench" => bench::run(&names),
        // The intermediate that measures one benchmark child's peak RSS (bench/mod.rs).
        bench::MEASURE_TASK => bench::measure_main(rest),
        "help" | "--help" | "-h" => {
            println!(
                "usage: cargo xtask <ci | lint | ci-realworld | ci-torch | wheel | testdata [--check] [NAME...] | codegen [--check] | docs [--check] | deps | bench [NAME...] | realworld [--release] [--mlsec BIN] [--report FILE.json] [NAME...]>"
            );
            Ok(())
        }
        other => bail!("unknown task `{other}` (try `cargo xtask help`)"),
    }
}

/// The repository root (the parent of `xtask/`).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace root")
        .to_owned()
}

/// Where cargo puts build output: `$CARGO_TARGET_DIR` when set, else `target/`.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map_or_else(|| root().join("target"), |p| root().join(p))
}

fn cargo(args: &[&str]) -> Result<()> {
    cargo_with(args, &[])
}

/// `cargo ARGS` in the workspace root with extra environment variables.
fn cargo_with(args: &[&str], env: &[(&str, &std::ffi::OsStr)]) -> Result<()> {
    eprintln!("$ cargo {}", args.join(" "));
    let started = std::time::Instant::now();
    let status = Command::new(env!("CARGO"))
        .args(args)
        .envs(env.iter().copied())
        .current_dir(root())
        .status()
        .context("cannot run cargo")?;
    eprintln!(
        "xtask: `cargo {}` took {:.0} s",
        args.first().copied().unwrap_or_default(),
        started.elapsed().as_secs_f64()
    );
    if !status.success() {
        bail!("`cargo {}` failed ({status})", args.join(" "));
    }
    Ok(())
}

/// The README's test command, the default build: every test in the workspace (which includes
/// the `--check` of generated fixtures and docs), the Python hook's tests and the wheel
/// installed into a fresh venv. Lints are `lint`, the real-world corpus `ci-realworld`, the
/// `torch` feature `ci-torch`; `.ci/run` runs all four.
fn ci() -> Result<()> {
    let started = std::time::Instant::now();
    python_tests()?;
    cargo(&["test", "--workspace", "--doc"])?;
    cargo(&["test", "--workspace", "--all-targets"])?;
    wheel::ci()?;
    eprintln!(
        "xtask: ci passed in {:.0} s (lints: cargo xtask lint; the `torch` feature and the live DDP test: cargo xtask ci-torch)",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Formatting, unused dependencies and clippy with `-D warnings`: what must pass before a
/// commit, beside the tests. CI runs it first (`.ci/run`).
fn lint() -> Result<()> {
    let started = std::time::Instant::now();
    cargo(&["fmt", "--all", "--", "--check"])?;
    deps::run()?;
    cargo(&[
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ])?;
    eprintln!(
        "xtask: lint passed in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The training-side integration is Python: its tests need only the standard library.
fn python_tests() -> Result<()> {
    let args = [
        "-m",
        "unittest",
        "discover",
        "-s",
        "integrations/pytorch",
        "-p",
        "test_*.py",
    ];
    eprintln!("$ python3 {}", args.join(" "));
    let status = Command::new("python3")
        .args(args)
        .current_dir(root())
        .status()
        .context("cannot run python3 (needed for the integration tests)")?;
    if !status.success() {
        bail!("python integration tests failed ({status})");
    }
    Ok(())
}
