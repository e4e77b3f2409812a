//! From command-line targets to the list of configs to scan: files, globs (expanded here when
//! the shell did not), model directories and model repositories.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use globset::GlobBuilder;
use mlsec_core::ScanError;
use mlsec_util::walk::{self, Event, Flow, Skip, Symlinks, Walk};

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
    let mut configs = Vec::new();
    walk(dir, &mut configs, warnings);
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

/// The `config.pbtxt` files of a repository: the shared walk (`mlsec_util::walk`), following
/// symlinks as Triton does (loops are detected; the depth limit and the entry budget bound
/// the rest). Below a model directory are versions and model files, not more models.
fn walk(root: &Path, out: &mut Vec<PathBuf>, warnings: &mut Vec<String>) {
    Walk::new(root)
        .symlinks(Symlinks::Follow)
        .max_depth(MAX_DEPTH)
        .max_entries(MAX_ENTRIES)
        .run(|event| match event {
            Event::Dir(entry) => {
                let config = entry.path.join("config.pbtxt");
                if entry.depth > 0 && config.is_file() {
                    out.push(config);
                    return Flow::SkipDir;
                }
                // A model directory without a config: Triton may auto-complete one, we cannot
                // check it.
                if entry.depth > 0 && has_version_dirs(&entry.path) {
                    warnings.push(format!(
                        "{} has version directories but no config.pbtxt: not checked (Triton may auto-complete a config for it)",
                        entry.path.display()
                    ));
                    return Flow::SkipDir;
                }
                Flow::Continue
            }
            Event::File(_) => Flow::Continue,
            Event::Skipped(_, Skip::Budget) => {
                warnings.push(format!(
                    "stopped walking {} after {MAX_ENTRIES} entries",
                    root.display()
                ));
                Flow::Stop
            }
            Event::Skipped(entry, why) => {
                warnings.push(format!("{}: {}", entry.path.display(), why.reason()));
                Flow::Continue
            }
            Event::Error(path, _) => {
                warnings.push(format!("cannot read directory {}", path.display()));
                Flow::Continue
            }
        });
}

fn has_version_dirs(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries.flatten().any(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
                && e.path().is_dir()
        })
    })
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
    let mut over_budget = false;
    Walk::new(&start)
        .max_depth(32)
        .max_entries(MAX_ENTRIES)
        .run(|event| {
            match event {
                Event::File(entry) => {
                    // Match against the path as the user would write it (no leading `./`).
                    let shown = entry.path.strip_prefix(".").unwrap_or(&entry.path);
                    if glob.is_match(shown) {
                        out.push(shown.to_owned());
                    }
                }
                Event::Skipped(_, Skip::Budget) => {
                    over_budget = true;
                    return Flow::Stop;
                }
                // A glob names what it matches; what the walk passes over is not an error.
                Event::Dir(_) | Event::Skipped(..) | Event::Error(..) => {}
            }
            Flow::Continue
        });
    if over_budget {
        return Err(format!("glob visits more than {MAX_ENTRIES} entries"));
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

/// The files of a model directory, three levels deep at most (the depth the checks look
/// at; deeper directories are left out by design), symlinks included as such whether or not
/// the shared walk follows them.
pub fn model_files(dir: &Path) -> Vec<ModelFile> {
    let mut out = Vec::new();
    let mut add = |entry: &walk::Entry, symlink: bool| {
        let meta = if symlink {
            std::fs::symlink_metadata(&entry.path)
        } else {
            std::fs::metadata(&entry.path)
        };
        if let Ok(meta) = meta {
            out.push(ModelFile {
                rel: entry.rel.clone(),
                path: entry.path.clone(),
                size: meta.len(),
                symlink,
            });
        }
        if out.len() >= 10_000 {
            Flow::Stop
        } else {
            Flow::Continue
        }
    };
    Walk::new(dir).max_depth(2).run(|event| match event {
        Event::File(entry) => add(entry, entry.via_symlink),
        Event::Skipped(
            entry,
            Skip::SymlinkOutside | Skip::SymlinkedDirectory | Skip::BrokenSymlink,
        ) => add(entry, true),
        Event::Skipped(entry, Skip::NotAFile) => add(entry, false),
        Event::Dir(_) | Event::Skipped(..) | Event::Error(..) => Flow::Continue,
    });
    out.sort_by(|a, b| a.rel.cmp(&b.rel));
    out
}
