//! Directory walking (over `walkdir`), with one policy for every subcommand that takes a
//! directory:
//!
//! - **Order**: depth first, each directory's entries sorted by file name, so every report is
//!   the same on every machine.
//! - **Symlinks** ([`Symlinks::InsideRoot`], the default): a symlink to a file is followed
//!   when its target resolves inside the walk's root (the file is reported with
//!   `via_symlink`); a symlink that leaves the root, or points to a directory, is not followed.
//!   [`Symlinks::Follow`] follows every link (loops are detected) and is only for mirroring a
//!   consumer that itself follows them: Triton loads a symlinked model directory, so its
//!   repository walk must see what Triton sees.
//! - **Hidden files** are walked like any other: the walk skips nothing by name. A caller whose
//!   format ignores some names (model_signing's `.git`) says so with [`Walk::prune`].
//! - **Depth** is bounded ([`Walk::max_depth`], default [`DEFAULT_MAX_DEPTH`] levels below the
//!   root) and so is the number of entries ([`Walk::max_entries`]).
//! - **Nothing is skipped silently**: every entry not walked (symlink not followed, directory
//!   too deep, special file, entry budget spent) is an [`Event::Skipped`] with its reason, and
//!   every unreadable entry an [`Event::Error`]; the caller turns them into warnings or errors.

use std::path::{Path, PathBuf};

/// How deep a walk goes below its root unless told otherwise.
pub const DEFAULT_MAX_DEPTH: usize = 64;

/// What to do with symbolic links (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Symlinks {
    #[default]
    InsideRoot,
    Follow,
}

/// Decides which entries a walk leaves out (see [`Walk::prune`]).
type Prune<'a> = Box<dyn Fn(&Entry) -> bool + 'a>;

/// A walk over a directory tree (see the module doc for the policy).
pub struct Walk<'a> {
    root: PathBuf,
    max_depth: usize,
    max_entries: usize,
    symlinks: Symlinks,
    prune: Option<Prune<'a>>,
}

/// A file or directory the walk reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub path: PathBuf,
    /// Relative to the root, `/`-separated (empty for the root itself).
    pub rel: String,
    /// 0 for the root, 1 for its entries, ...
    pub depth: usize,
    pub is_dir: bool,
    /// Reached through a symbolic link (the entry itself or a directory above it).
    pub via_symlink: bool,
}

/// Why an entry was not walked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// A symlink whose target is outside the root.
    SymlinkOutside,
    /// A symlink whose target does not exist (or cannot be resolved).
    BrokenSymlink,
    /// A symlink to a directory inside the root ([`Symlinks::InsideRoot`] follows only files).
    SymlinkedDirectory,
    /// A directory deeper than the depth limit: not descended.
    TooDeep,
    /// Neither a file nor a directory (FIFO, socket, device).
    NotAFile,
    /// The entry budget is spent: the walk stops here.
    Budget,
}

impl Skip {
    /// A short lowercase phrase for warnings.
    pub fn reason(self) -> &'static str {
        match self {
            Skip::SymlinkOutside => "symlink points outside the scanned directory; not followed",
            Skip::BrokenSymlink => "broken symlink; skipped",
            Skip::SymlinkedDirectory => "symlinked directory not followed",
            Skip::TooDeep => "directory nesting too deep; not descended",
            Skip::NotAFile => "not a regular file; skipped",
            Skip::Budget => "too many entries; the walk stopped here",
        }
    }
}

/// One step of a walk.
#[derive(Debug)]
pub enum Event<'e> {
    /// A directory (the root first). Return [`Flow::SkipDir`] not to descend into it.
    Dir(&'e Entry),
    File(&'e Entry),
    Skipped(&'e Entry, Skip),
    /// An entry that could not be read (`path`, and the I/O error as text).
    Error(&'e Path, String),
}

/// What the visitor wants next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    /// Do not descend into the directory just visited (ignored for other events).
    SkipDir,
    /// End the walk here.
    Stop,
}

impl<'a> Walk<'a> {
    pub fn new(root: impl Into<PathBuf>) -> Walk<'a> {
        Walk {
            root: root.into(),
            max_depth: DEFAULT_MAX_DEPTH,
            max_entries: usize::MAX,
            symlinks: Symlinks::default(),
            prune: None,
        }
    }

    /// Directories deeper than `depth` levels below the root are reported as
    /// [`Skip::TooDeep`] and not descended.
    pub fn max_depth(mut self, depth: usize) -> Walk<'a> {
        self.max_depth = depth;
        self
    }

    /// After this many entries the walk reports [`Skip::Budget`] and stops.
    pub fn max_entries(mut self, n: usize) -> Walk<'a> {
        self.max_entries = n;
        self
    }

    pub fn symlinks(mut self, symlinks: Symlinks) -> Walk<'a> {
        self.symlinks = symlinks;
        self
    }

    /// Entries for which `prune` is true are left out without an event (and not descended):
    /// for names a format itself ignores, documented by the caller.
    pub fn prune(mut self, prune: impl Fn(&Entry) -> bool + 'a) -> Walk<'a> {
        self.prune = Some(Box::new(prune));
        self
    }

    /// Walks, calling `visit` for every event in order.
    pub fn run(&self, mut visit: impl FnMut(Event<'_>) -> Flow) {
        let stopped = std::cell::Cell::new(false);
        let mut visit = |event: Event<'_>| {
            let flow = visit(event);
            if flow == Flow::Stop {
                stopped.set(true);
            }
            flow
        };
        let follow = self.symlinks == Symlinks::Follow;
        let canon_root = std::fs::canonicalize(&self.root).ok();
        let mut it = walkdir::WalkDir::new(&self.root)
            .follow_links(follow)
            .follow_root_links(true)
            .sort_by_file_name()
            .into_iter();
        let mut seen = 0usize;
        // Depth of the shallowest directory entered through a link, while inside it.
        let mut link_depth: Option<usize> = None;
        while let Some(next) = it.next() {
            if stopped.get() {
                return;
            }
            let de = match next {
                Ok(de) => de,
                Err(e) => {
                    let path = e.path().unwrap_or(&self.root).to_owned();
                    let message = match e.io_error() {
                        Some(io) => io.to_string(),
                        None => e.to_string(),
                    };
                    visit(Event::Error(&path, message));
                    continue;
                }
            };
            if link_depth.is_some_and(|d| de.depth() <= d) {
                link_depth = None;
            }
            let mut entry = Entry {
                rel: rel(&self.root, de.path()),
                depth: de.depth(),
                path: de.into_path(),
                is_dir: false,
                via_symlink: link_depth.is_some(),
            };
            if self.prune.as_ref().is_some_and(|p| p(&entry)) {
                if std::fs::symlink_metadata(&entry.path).is_ok_and(|m| m.is_dir()) {
                    it.skip_current_dir();
                }
                continue;
            }
            if entry.depth > 0 {
                seen += 1;
                if seen > self.max_entries {
                    visit(Event::Skipped(&entry, Skip::Budget));
                    return;
                }
            }
            let meta = match std::fs::symlink_metadata(&entry.path) {
                Ok(m) => m,
                Err(e) => {
                    visit(Event::Error(&entry.path, e.to_string()));
                    continue;
                }
            };
            let target = if meta.file_type().is_symlink() && entry.depth > 0 {
                entry.via_symlink = true;
                if follow {
                    match std::fs::metadata(&entry.path) {
                        Ok(m) => m,
                        Err(_) => {
                            visit(Event::Skipped(&entry, Skip::BrokenSymlink));
                            continue;
                        }
                    }
                } else {
                    let inside = std::fs::canonicalize(&entry.path)
                        .ok()
                        .zip(canon_root.as_ref())
                        .is_some_and(|(t, root)| t.starts_with(root));
                    let meta = std::fs::metadata(&entry.path);
                    match meta {
                        Ok(m) if inside && m.is_file() => m,
                        Ok(m) if inside && m.is_dir() => {
                            visit(Event::Skipped(&entry, Skip::SymlinkedDirectory));
                            continue;
                        }
                        Ok(_) if inside => {
                            visit(Event::Skipped(&entry, Skip::NotAFile));
                            continue;
                        }
                        Err(_) => {
                            visit(Event::Skipped(&entry, Skip::BrokenSymlink));
                            continue;
                        }
                        _ => {
                            visit(Event::Skipped(&entry, Skip::SymlinkOutside));
                            continue;
                        }
                    }
                }
            } else if entry.depth == 0 {
                std::fs::metadata(&entry.path).unwrap_or(meta)
            } else {
                meta
            };
            if target.is_dir() {
                entry.is_dir = true;
                if entry.via_symlink && link_depth.is_none() {
                    link_depth = Some(entry.depth);
                }
                if entry.depth > self.max_depth {
                    visit(Event::Skipped(&entry, Skip::TooDeep));
                    it.skip_current_dir();
                    continue;
                }
                if visit(Event::Dir(&entry)) == Flow::SkipDir {
                    it.skip_current_dir();
                }
            } else if target.is_file() {
                visit(Event::File(&entry));
            } else {
                visit(Event::Skipped(&entry, Skip::NotAFile));
            }
        }
    }
}

fn rel(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(walk: &Walk<'_>) -> Vec<String> {
        let mut out = Vec::new();
        walk.run(|e| {
            out.push(match e {
                Event::Dir(e) => format!("dir {}", e.rel),
                Event::File(e) if e.via_symlink => format!("file {} (link)", e.rel),
                Event::File(e) => format!("file {}", e.rel),
                Event::Skipped(e, why) => format!("skip {} {why:?}", e.rel),
                Event::Error(p, _) => format!("error {}", p.display()),
            });
            Flow::Continue
        });
        out
    }

    #[cfg(unix)]
    #[test]
    fn the_policy() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "x").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("a/b/c")).unwrap();
        std::fs::write(root.join("a/b/c/deep.pt"), "x").unwrap();
        std::fs::write(root.join(".hidden"), "x").unwrap();
        std::fs::write(root.join("z.pt"), "x").unwrap();
        std::os::unix::fs::symlink(root.join("z.pt"), root.join("link.pt")).unwrap();
        std::os::unix::fs::symlink(root.join("a"), root.join("linkdir")).unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), root.join("out")).unwrap();
        assert_eq!(
            events(&Walk::new(root).max_depth(2)),
            [
                "dir ",
                "file .hidden",
                "dir a",
                "dir a/b",
                "skip a/b/c TooDeep",
                "file link.pt (link)",
                "skip linkdir SymlinkedDirectory",
                "skip out SymlinkOutside",
                "file z.pt",
            ]
        );
        let follow = events(&Walk::new(root).symlinks(Symlinks::Follow));
        assert!(follow.contains(&"file linkdir/b/c/deep.pt (link)".to_owned()));
        assert!(follow.contains(&"file out (link)".to_owned()));
        assert_eq!(
            events(&Walk::new(root).max_entries(2)),
            ["dir ", "file .hidden", "dir a", "skip a/b Budget"]
        );
        let mut files = 0;
        Walk::new(root).run(|e| {
            files += usize::from(matches!(e, Event::File(_)));
            Flow::Stop
        });
        assert_eq!(files, 0, "stopped at the root");
        let pruned = events(&Walk::new(root).prune(|e| e.rel == "a" || e.rel.starts_with('.')));
        assert!(
            !pruned
                .iter()
                .any(|e| e.contains(" a") || e.contains(".hidden"))
        );
    }
}
