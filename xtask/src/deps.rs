//! `cargo xtask deps`: no crate declares a dependency it does not use (install-free, in the
//! spirit of `cargo machete`).
//!
//! For every workspace member, each `[dependencies]` name (hyphens as underscores, or the
//! `package =` it renames) must appear in the crate's own sources as a path (`name::`), a
//! `use name`, or an `extern crate name`; `[dev-dependencies]` may also be used from `tests/`,
//! `benches/` and `examples/`. A dependency needed without being named in code (a feature
//! switch, a `links` build) is listed in `[package.metadata.cargo-machete] ignored = [...]`
//! (the key `cargo machete` reads), and an ignore that matches a used dependency is an error,
//! so the list cannot go stale.
//!
//! It also checks that the three builds of `cargo xtask ci` (xtask itself, the tests, the
//! wheel's `cargo build -p mlsec`) give every third-party crate a feature set the tests also use
//! ([`features_unified`]); otherwise a crate low in the graph (`num-complex` under candle) is
//! compiled twice and everything above it with it. `crates/mlsec-workspace-hack` turns the
//! missing features on.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

pub fn run() -> Result<()> {
    let mut problems = check(&crate::root())?;
    problems.extend(features_unified()?);
    if !problems.is_empty() {
        bail!("{}", problems.join("\n"));
    }
    eprintln!(
        "no unused dependencies; xtask, the tests and the wheel build third-party crates with the same features"
    );
    Ok(())
}

/// Every problem found, one line each (`<crate>: ...`).
pub fn check(root: &Path) -> Result<Vec<String>> {
    let mut manifests = vec![root.join("xtask/Cargo.toml")];
    for entry in std::fs::read_dir(root.join("crates")).context("reading crates/")? {
        let path = entry?.path().join("Cargo.toml");
        if path.is_file() {
            manifests.push(path);
        }
    }
    manifests.sort();
    let mut problems = Vec::new();
    for manifest in manifests {
        problems.extend(check_crate(&manifest)?);
    }
    Ok(problems)
}

fn check_crate(manifest: &Path) -> Result<Vec<String>> {
    let dir = manifest.parent().expect("a manifest has a directory");
    let text = std::fs::read_to_string(manifest)
        .with_context(|| format!("reading {}", manifest.display()))?;
    let toml: toml::Table = text
        .parse()
        .with_context(|| format!("parsing {}", manifest.display()))?;
    let name = toml
        .get("package")
        .and_then(|p| p.get("name"))
        .and_then(|n| n.as_str())
        .unwrap_or("?")
        .to_owned();
    let ignored: Vec<String> = toml
        .get("package")
        .and_then(|p| p.get("metadata"))
        .and_then(|m| m.get("cargo-machete"))
        .and_then(|m| m.get("ignored"))
        .and_then(|i| i.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let main_sources = sources(dir, &["src", "build.rs"]);
    let all_sources = sources(dir, &["src", "build.rs", "tests", "benches", "examples"]);
    let mut problems = Vec::new();
    // `[dependencies]` and the like, then the same tables under `[target.'cfg(..)']`.
    let platform_tables = toml
        .get("target")
        .and_then(|t| t.as_table())
        .into_iter()
        .flat_map(|t| t.values().filter_map(|v| v.as_table()));
    let tables: Vec<&toml::Table> = std::iter::once(&toml).chain(platform_tables).collect();
    for (table, code) in [
        ("dependencies", &main_sources),
        ("build-dependencies", &main_sources),
        ("dev-dependencies", &all_sources),
    ] {
        let deps = tables
            .iter()
            .filter_map(|t| t.get(table).and_then(|t| t.as_table()))
            .flatten();
        for (dep, spec) in deps {
            let krate = spec
                .get("package")
                .and_then(|p| p.as_str())
                .map_or_else(|| dep.replace('-', "_"), |p| p.replace('-', "_"));
            // A renamed dependency is named in code by its key.
            let ident = if spec.get("package").is_some() {
                dep.replace('-', "_")
            } else {
                krate
            };
            let used = code.iter().any(|src| mentions(src, &ident));
            let is_ignored = ignored.iter().any(|i| i == dep);
            if !used && !is_ignored {
                problems.push(format!(
                    "{name}: [{table}] `{dep}` is not used by the crate's sources (remove it, or list it in [package.metadata.cargo-machete] ignored with a comment saying why)"
                ));
            }
            if used && is_ignored {
                problems.push(format!(
                    "{name}: `{dep}` is ignored in [package.metadata.cargo-machete] but used: remove the ignore"
                ));
            }
        }
    }
    for i in &ignored {
        let declared = ["dependencies", "build-dependencies", "dev-dependencies"]
            .iter()
            .any(|name| {
                tables
                    .iter()
                    .any(|t| t.get(*name).and_then(|t| t.get(i)).is_some())
            });
        if !declared {
            problems.push(format!(
                "{name}: `{i}` is ignored in [package.metadata.cargo-machete] but not a dependency"
            ));
        }
    }
    Ok(problems)
}

/// Every third-party crate that `cargo build -p xtask` or `cargo build -p mlsec` compiles with a
/// feature set that `cargo test --workspace` does not use: one line per crate. (`cargo tree`
/// lists host and target builds of a crate together, so a build agrees when each of its feature
/// sets is one of the test build's.)
fn features_unified() -> Result<Vec<String>> {
    let tests = feature_sets(&["--workspace", "-e", "normal,build,dev"])?;
    let mut problems = Vec::new();
    for (build, args) in [
        ("cargo run -p xtask", ["-p", "xtask"]),
        ("the wheel (cargo build -p mlsec)", ["-p", "mlsec"]),
    ] {
        let mut args = args.to_vec();
        args.extend(["-e", "normal,build"]);
        for (krate, sets) in feature_sets(&args)? {
            let Some(test_sets) = tests.get(&krate) else {
                continue;
            };
            for set in sets.difference(test_sets) {
                problems.push(format!(
                    "{build} compiles {krate} with features [{set}], which the tests never use ({}): add them to crates/mlsec-workspace-hack",
                    test_sets.iter().cloned().collect::<Vec<_>>().join("] or [")
                ));
            }
        }
    }
    Ok(problems)
}

/// Third-party crate (`name vX.Y.Z`) → the feature sets `cargo tree <args>` shows it with.
fn feature_sets(
    args: &[&str],
) -> Result<std::collections::BTreeMap<String, std::collections::BTreeSet<String>>> {
    let out = std::process::Command::new(env!("CARGO"))
        .args(["tree", "--quiet", "--prefix", "none", "-f", "{p}|{f}"])
        .args(args)
        .current_dir(crate::root())
        .output()
        .context("running cargo tree")?;
    if !out.status.success() {
        bail!(
            "cargo tree {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut sets = std::collections::BTreeMap::<_, std::collections::BTreeSet<_>>::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let line = line.trim_end_matches(" (*)");
        let Some((package, features)) = line.split_once('|') else {
            continue;
        };
        // Workspace members carry their path: `name v0.1.0 (/path/to/crate)`.
        if package.ends_with(')') {
            continue;
        }
        sets.entry(package.trim().to_owned())
            .or_default()
            .insert(features.trim().to_owned());
    }
    Ok(sets)
}

/// Whether Rust source `src` names the crate `ident` as a path, a `use` or an `extern crate`.
fn mentions(src: &str, ident: &str) -> bool {
    let bytes = src.as_bytes();
    let mut from = 0;
    while let Some(at) = src[from..].find(ident) {
        let start = from + at;
        let end = start + ident.len();
        from = end;
        let before_ok = start == 0 || {
            let c = bytes[start - 1];
            !(c.is_ascii_alphanumeric() || c == b'_' || c == b':')
        };
        if !before_ok {
            continue;
        }
        let rest = &src[end..];
        if rest.starts_with("::") {
            return true;
        }
        let line_start = src[..start].rfind('\n').map_or(0, |i| i + 1);
        let head = src[line_start..start].trim();
        let after = rest.chars().next();
        let word_ends = after.is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_'));
        if word_ends && matches!(head, "use" | "pub use" | "pub(crate) use" | "extern crate") {
            return true;
        }
    }
    false
}

/// The text of every `.rs` file under the given paths of `dir` (files or directories).
fn sources(dir: &Path, parts: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack: Vec<PathBuf> = parts.iter().map(|p| dir.join(p)).collect();
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            if let Ok(entries) = std::fs::read_dir(&path) {
                stack.extend(entries.flatten().map(|e| e.path()));
            }
        } else if path.extension().is_some_and(|e| e == "rs")
            && let Ok(text) = std::fs::read_to_string(&path)
        {
            out.push(text);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::mentions;

    #[test]
    fn recognises_paths_uses_and_extern_crates() {
        assert!(mentions("let x = serde_json::json!({});", "serde_json"));
        assert!(mentions("use half;\n", "half"));
        assert!(mentions("  pub use mlsec_util::tar::*;", "mlsec_util"));
        assert!(mentions("#[derive(thiserror::Error)]", "thiserror"));
        assert!(!mentions("let half = 2;", "half"));
        assert!(!mentions("my_serde::x", "serde"));
        assert!(!mentions("crate::hex::encode", "hex"));
        assert!(!mentions("// uses sha2 somewhere", "sha2"));
        assert!(!mentions("// reuse sha2", "sha2"));
    }

    #[test]
    fn no_crate_has_an_unused_dependency() {
        let problems = super::check(&crate::root()).unwrap();
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }
}
