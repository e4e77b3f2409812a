//! From command-line targets to the list of configs to scan: files, globs (expanded here when
//! the shell did not), model directories and model repositories.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use globset::GlobBuilder;
use mlsec_core::ScanError;

/// How deep a repository directory is searched for `config.pbtxt` files.
const MAX_DEPTH: usize = 8;
/// How many directory entries one target may visit.
const MAX_ENTRIES: usize = 200_000;

/// One config to scan.
#[derive(Debug, Clone)]
pub struct Target {
    /// The path shown in findings: relative to the scan root, or as given for a file.
    pub display: String,
    pub path: PathBuf,
    /// `<model>/` when the file is a `config.pbtxt` in a model directory.
    pub model_dir: Option<PathBuf>,
}

/// Resolves every target; problems (missing path, glob matching nothing) become errors.
pub fn resolve(
    targets: &[PathBuf],
    errors: &mut Vec<ScanError>,
    warnings: &mut Vec<String>,
) -> Vec<Target> {
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for target in targets {
        let given = target.display().to_string();
        let mut found = Vec::new();
        if target.is_file() {
            found.push(file_target(target, given.clone()));
        } else if target.is_dir() {
            dir_targets(target, &mut found, warnings);
            if found.is_empty() {
                errors.push(ScanError::new(
                    given.clone(),
                    "no config.pbtxt found: not a Triton model repository or model directory",
                ));
            }
        } else if given.contains(['*', '?', '[', '{']) {
            match expand_glob(&given) {
                Ok(paths) if paths.is_empty() => {
                    errors.push(ScanError::new(given.clone(), "glob matched no file"));
                }
                Ok(paths) => {
                    for path in paths {
                        let display = path.display().to_string();
                        found.push(file_target(&path, display));
                    }
                }
                Err(message) => errors.push(ScanError::new(given.clone(), message)),
            }
        } else {
            errors.push(ScanError::new(given.clone(), "no such file or directory"));
        }
        for t in found {
            let key = std::fs::canonicalize(&t.path).unwrap_or_else(|_| t.path.clone());
            if seen.insert(key) {
                out.push(t);
            }
        }
    }
    out
}

fn file_target(path: &Path, display: String) -> Target {
    let model_dir = if path.file_name().is_some_and(|n| n == "config.pbtxt") {
        path.parent().map(|p| {
            if p.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                p.to_owned()
            }
        })
    } else {
        None
    };
    Target {
        display,
        path: path.to_owned(),
        model_dir,
    }
}

/// A model directory (has `config.pbtxt`) or a repository (models below it).
fn dir_targets(dir: &Path, out: &mut Vec<Target>, warnings: &mut Vec<String>) {
    let config = dir.join("config.pbtxt");
    if config.is_file() {
        // A model directory: paths relative to its parent, so they name the model.
        let name = dir
            .canonicalize()
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "model".to_owned());
        out.push(Target {
            display: format!("{name}/config.pbtxt"),
            path: config,
            model_dir: Some(dir.to_owned()),
        });
        return;
    }
    let mut budget = MAX_ENTRIES;
    let mut configs = Vec::new();
    walk(dir, 0, &mut budget, &mut configs, warnings, dir);
    configs.sort();
    for path in configs {
        let rel = path.strip_prefix(dir).unwrap_or(&path);
        out.push(Target {
            display: rel.to_string_lossy().replace('\\', "/"),
            model_dir: path.parent().map(Path::to_owned),
            path,
        });
    }
}

fn walk(
    dir: &Path,
    depth: usize,
    budget: &mut usize,
    out: &mut Vec<PathBuf>,
    warnings: &mut Vec<String>,
    root: &Path,
) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        warnings.push(format!("cannot read directory {}", dir.display()));
        return;
    };
    let mut subdirs = Vec::new();
    let mut has_config = false;
    for entry in entries.flatten() {
        if *budget == 0 {
            warnings.push(format!(
                "stopped walking {} after {MAX_ENTRIES} entries",
                root.display()
            ));
            return;
        }
        *budget -= 1;
        let path = entry.path();
        // Triton follows symlinks; the depth limit and the entry budget bound loops.
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        if meta.is_file() && entry.file_name() == "config.pbtxt" {
            out.push(path);
            has_config = true;
        } else if meta.is_dir() {
            subdirs.push(path);
        }
    }
    // Below a model directory are versions and model files, not more models.
    if has_config {
        return;
    }
    // A model directory without a config: Triton may auto-complete one, we cannot check it.
    let versioned = subdirs.iter().any(|s| {
        s.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    });
    if depth > 0 && versioned {
        warnings.push(format!(
            "{} has version directories but no config.pbtxt: not checked (Triton may auto-complete a config for it)",
            dir.display()
        ));
        return;
    }
    if depth >= MAX_DEPTH {
        return;
    }
    subdirs.sort();
    for sub in subdirs {
        walk(&sub, depth + 1, budget, out, warnings, root);
    }
}

/// Expands a glob the shell left unexpanded: walks from its literal prefix.
fn expand_glob(pattern: &str) -> Result<Vec<PathBuf>, String> {
    let glob = GlobBuilder::new(pattern)
        .literal_separator(true)
        .build()
        .map_err(|e| format!("invalid glob: {e}"))?
        .compile_matcher();
    let mut base = PathBuf::new();
    for component in Path::new(pattern).components() {
        let text = component.as_os_str().to_string_lossy();
        if text.contains(['*', '?', '[', '{']) {
            break;
        }
        base.push(component);
    }
    let start = if base.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        base.clone()
    };
    let mut out = Vec::new();
    let mut stack = vec![(start, 0usize)];
    let mut budget = MAX_ENTRIES;
    while let Some((dir, depth)) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            if budget == 0 {
                return Err(format!("glob visits more than {MAX_ENTRIES} entries"));
            }
            budget -= 1;
            let path = entry.path();
            // Match against the path as the user would write it (no leading `./`).
            let shown = path.strip_prefix(".").unwrap_or(&path).to_owned();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                if depth < 32 {
                    stack.push((path, depth + 1));
                }
            } else if kind.is_file() && glob.is_match(&shown) {
                out.push(shown);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// A file beside a config: in `<model>/` or below (versions, environment directories).
#[derive(Debug, Clone)]
pub struct ModelFile {
    /// Relative to the model directory, `/`-separated.
    pub rel: String,
    pub path: PathBuf,
    pub size: u64,
    pub symlink: bool,
}

/// The files of a model directory, three levels deep at most.
pub fn model_files(dir: &Path) -> Vec<ModelFile> {
    let mut out = Vec::new();
    let mut stack = vec![(dir.to_owned(), 0usize)];
    while let Some((d, depth)) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            if out.len() >= 10_000 {
                return out;
            }
            let path = entry.path();
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            let rel = path
                .strip_prefix(dir)
                .unwrap_or(&path)
                .to_string_lossy()
                .replace('\\', "/");
            if meta.is_dir() {
                if depth < 2 {
                    stack.push((path, depth + 1));
                }
            } else {
                out.push(ModelFile {
                    rel,
                    path,
                    size: meta.len(),
                    symlink: meta.file_type().is_symlink(),
                });
            }
        }
    }
    out.sort_by(|a, b| a.rel.cmp(&b.rel));
    out
}
