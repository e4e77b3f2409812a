//! `cargo xtask testdata`: every fixture under `testdata/<name>/` is written by the generator
//! of that name, so fixtures are reviewed as code, never as hand-edited bytes.
//!
//! A generator owns its whole directory: `--check` regenerates into a temporary directory and
//! fails if any file differs, is missing, or is extra. The exception is [`SCRIPT_OWNED`]:
//! subdirectories written by a committed script with a reference tool (PyTorch), which the
//! generator leaves alone.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

mod bypass;
mod bypass_zip;
mod checkpoint;
mod export_guard;
mod formats;
mod gguf;
mod inspect;
mod inspect_models;
mod poison_monitor;
mod triton;

/// (generator, subdirectory) pairs a committed script writes instead of the generator:
/// `poison-monitor/real` holds PyTorch DDP recordings (`scripts/poison-monitor/record_real.py`).
pub const SCRIPT_OWNED: &[(&str, &str)] = &[("poison-monitor", "real")];

fn script_owned(name: &str, path: &Path) -> bool {
    SCRIPT_OWNED
        .iter()
        .any(|(n, dir)| *n == name && path.starts_with(dir))
}

/// A fixture generator: writes every file of its directory under the given (empty) path.
pub type Generator = fn(&Path) -> Result<()>;

/// Every generator, by the name of its directory under `testdata/`.
pub fn generators() -> Vec<(&'static str, Generator)> {
    vec![
        ("bypass", bypass::generate),
        ("checkpoint", checkpoint::generate),
        ("export-guard", export_guard::generate),
        ("gguf", gguf::generate),
        ("inspect", inspect::generate),
        ("poison-monitor", poison_monitor::generate),
        ("triton", triton::generate),
        ("formats", formats::generate),
    ]
}

pub fn run(names: &[&str], check: bool) -> Result<()> {
    let all = generators();
    for name in names {
        if !all.iter().any(|(n, _)| n == name) {
            bail!("no fixture generator named `{name}`");
        }
    }
    for (name, generate) in all {
        if !names.is_empty() && !names.contains(&name) {
            continue;
        }
        let target = crate::root().join("testdata").join(name);
        if check {
            check_one(name, generate, &target)?;
        } else {
            if target.exists() {
                for entry in std::fs::read_dir(&target)? {
                    let path = entry?.path();
                    if script_owned(name, path.strip_prefix(&target)?) {
                        continue;
                    }
                    if path.is_dir() {
                        std::fs::remove_dir_all(&path)
                    } else {
                        std::fs::remove_file(&path)
                    }
                    .with_context(|| format!("cannot clear {}", path.display()))?;
                }
            }
            std::fs::create_dir_all(&target)?;
            generate(&target).with_context(|| format!("generating testdata/{name}"))?;
            eprintln!("wrote testdata/{name}");
        }
    }
    Ok(())
}

/// Regenerates into a temporary directory and compares with what is committed.
pub fn check_one(name: &str, generate: Generator, committed: &Path) -> Result<()> {
    let scratch = tempfile::tempdir()?;
    generate(scratch.path()).with_context(|| format!("generating testdata/{name}"))?;
    let fresh = read_tree(scratch.path())?;
    let mut current = read_tree(committed)?;
    current.retain(|path, _| !script_owned(name, path));
    let mut stale = Vec::new();
    for (path, bytes) in &fresh {
        match current.get(path) {
            None => stale.push(format!("missing {}", path.display())),
            Some(old) if old != bytes => stale.push(format!("differs {}", path.display())),
            Some(_) => {}
        }
    }
    for path in current.keys().filter(|p| !fresh.contains_key(*p)) {
        stale.push(format!("extra {}", path.display()));
    }
    if !stale.is_empty() {
        bail!(
            "testdata/{name} is stale ({}): run `cargo xtask testdata {name}`",
            stale.join(", ")
        );
    }
    Ok(())
}

fn read_tree(root: &Path) -> Result<BTreeMap<PathBuf, Vec<u8>>> {
    let mut out = BTreeMap::new();
    if !root.exists() {
        return Ok(out);
    }
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in
            std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))?
        {
            let entry = entry?;
            let path = entry.path();
            let kind = entry.file_type()?;
            if kind.is_dir() {
                stack.push(path);
            } else if kind.is_symlink() {
                let target = std::fs::read_link(&path)?;
                out.insert(
                    path.strip_prefix(root)?.to_owned(),
                    format!("symlink -> {}", target.display()).into_bytes(),
                );
            } else {
                out.insert(path.strip_prefix(root)?.to_owned(), std::fs::read(&path)?);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn committed_fixtures_are_up_to_date() {
        for (name, generate) in super::generators() {
            let committed = crate::root().join("testdata").join(name);
            super::check_one(name, generate, &committed).unwrap();
        }
    }
}
