//! `mlsec checkpoint`: triage model files without executing them.
//!
//! Every file is sniffed by content (raw pickle, PyTorch zip, legacy `torch.save` as a pickle
//! or a tar, numpy `.npy`/`.npz`, joblib raw or compressed, safetensors, HDF5: Keras `.h5`,
//! `save_weights` files and the weights of a `.keras`, GGUF; ONNX and other recognised
//! formats are reported as not checked). Pickles go through a static emulation of CPython's unpickler
//! ([`mlsec_pickle`]) and every import and call is judged against the allowlist of
//! the file's format ([`policy`]). Tensors are reconstructed from the pickle (or read from
//! HDF5 datasets and joblib arrays) and checked for non-finite values, huge weights and
//! outliers, fingerprinted, compared with a reference, and optionally converted to
//! safetensors.
//!
//! ## The flow
//!
//! ```text
//! run ─▶ targets (mlsec_util::walk) ─▶ scan_target, per file, in parallel
//!          │
//!          ├─ mlsec_formats::walk  the one traversal: zip/tar members, pickles, tensors, HDF5
//!          │    │                  objects, GGUF metadata, each located by a walk::Site
//!          ├─ scan::Scanner        its visitor: every entry it hands over goes to
//!          │    ├─ audit           one pass over a pickle machine's events and imports
//!          │    │                  (nested payloads handed back to the walk)
//!          │    ├─ keras, torchscript   walk a Keras config / TorchScript code member
//!          │    └─▶ rules::<rule>::check(typed input, site) -> Option<Finding>
//!          ├─ fingerprint::compare ─▶ rules::fingerprint_*::check(reference, tensor)
//!          └─ convert (--convert-safetensors)
//! ```
//!
//! The decisions live in [`rules`], one file per rule with its declaration, its docs and its
//! `check` over a typed input (a zip anomaly, a tensor's statistics, a GGUF value, a pickle
//! call, a fingerprint entry); the traversal and the walks above only find those inputs and
//! collect the findings. To learn what CKPT0NN does, read its file.
//!
//! **Architecture Invariant:** nothing from a scanned file is imported, unpickled or run.

pub mod audit;
pub mod chat_template;
pub mod convert;
pub mod fingerprint;
pub mod keras;
pub mod policy;
pub mod rules;
pub mod scan;
pub mod site;
pub mod torchscript;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Context as _, bail};
use mlsec_core::{Context, Report, Rule, ScanError, Table};
use mlsec_formats::zip::ZipLimits;
use mlsec_util::walk::{Event, Flow, Skip, Walk};

pub use scan::{FileResult, Options, visit_tensors};

/// Every rule this subcommand can report.
pub static RULES: &[&Rule] = rules::ALL;

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Model files or directories to scan (recursively; symlinks are not followed out of
    /// the directory).
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Flag tensors whose largest finite |w| exceeds this.
    #[arg(long, default_value_t = 100.0, value_name = "X")]
    pub threshold: f64,
    /// KL divergence above which a tensor's distribution differs from the reference.
    #[arg(long, default_value_t = 0.5, value_name = "X")]
    pub kl_threshold: f64,
    /// Compare with this fingerprint (ours, or the original tool's JSON).
    #[arg(long, alias = "reference-fingerprint", value_name = "FP.json")]
    pub reference: Option<PathBuf>,
    /// Write `<stem>.fingerprint.json` for every checkpoint into DIR (`<name>.fingerprint.json`
    /// or the relative path with `__` when two files share a stem).
    #[arg(long, value_name = "DIR")]
    pub write_fingerprint: Option<PathBuf>,
    /// Write `<stem>.safetensors` beside each checkpoint (tensors only, verified by reading
    /// back).
    #[arg(long)]
    pub convert_safetensors: bool,
    /// Replace an existing `.safetensors` when converting.
    #[arg(long, requires = "convert_safetensors")]
    pub overwrite: bool,
    /// Convert even files with security findings.
    #[arg(long, requires = "convert_safetensors")]
    pub force: bool,
    /// Files scanned in parallel (default: the number of CPUs).
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Largest compression ratio of a zip member before it is treated as a zip bomb.
    #[arg(long, default_value_t = 1000, value_name = "N")]
    pub max_zip_ratio: u64,
    /// Largest inflated size of one zip member, in MiB.
    #[arg(long, default_value_t = 4096, value_name = "MIB")]
    pub max_zip_member_mib: u64,
}

impl Args {
    /// Defaults for library use: scan `paths` with every option at its default.
    pub fn new(paths: Vec<PathBuf>) -> Args {
        Args {
            paths,
            threshold: 100.0,
            kl_threshold: 0.5,
            reference: None,
            write_fingerprint: None,
            convert_safetensors: false,
            overwrite: false,
            force: false,
            jobs: None,
            max_zip_ratio: 1000,
            max_zip_member_mib: 4096,
        }
    }
}

/// A file to scan: its path, its name relative to the scan root, and whether an
/// unrecognised format is an error (named explicitly, or a model extension).
/// A file's result and its status notes.
type Scanned = (FileResult, Vec<String>);

struct Target {
    path: PathBuf,
    rel: String,
    explicit: bool,
    /// Named on the command line (not found in a directory walk).
    named: bool,
}

/// The files under `root`, by the shared walk policy (`mlsec_util::walk`: sorted, symlinks
/// followed only to files inside `root`, 64 levels deep); what it does not walk is a warning.
fn walk(root: &Path, out: &mut Vec<Target>, report: &mut Report) {
    Walk::new(root).run(|event| {
        match event {
            Event::File(entry) => out.push(Target {
                explicit: mlsec_formats::sniff::model_extension(&entry.path),
                path: entry.path.clone(),
                rel: entry.rel.clone(),
                named: false,
            }),
            Event::Skipped(entry, why @ Skip::TooDeep) => {
                report
                    .warnings
                    .push(format!("{}: {}", entry.path.display(), why.reason()))
            }
            Event::Skipped(entry, why) => {
                report
                    .warnings
                    .push(format!("{}: {}", entry.rel, why.reason()))
            }
            Event::Error(path, e) => report.errors.push(ScanError::new(
                path.display().to_string(),
                format!("cannot read directory: {e}"),
            )),
            Event::Dir(_) => {}
        }
        Flow::Continue
    });
}

fn targets(args: &Args, report: &mut Report) -> Vec<Target> {
    let mut out = Vec::new();
    for path in &args.paths {
        match std::fs::metadata(path) {
            Ok(m) if m.is_dir() => walk(path, &mut out, report),
            Ok(_) => out.push(Target {
                path: path.clone(),
                rel: path.display().to_string(),
                explicit: true,
                named: true,
            }),
            Err(e) => report.errors.push(ScanError::new(
                path.display().to_string(),
                format!("cannot read: {e}"),
            )),
        }
    }
    out
}

/// Scans one file's bytes with the given options (the library entry point for tests and
/// benchmarks).
pub fn scan_bytes(data: &[u8], file: &str, opts: &Options) -> FileResult {
    let mut s = scan::Scanner::new(opts, file);
    s.scan_file(data, true);
    s.out
}

pub fn run(args: &Args, ctx: &Context) -> anyhow::Result<Report> {
    let mut report = Report::new();
    let reference = match &args.reference {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read reference fingerprint {}", path.display()))?;
            match fingerprint::Reference::parse(&text) {
                Ok(r) => Some(r),
                Err(e) => bail!("{}: {e}", path.display()),
            }
        }
        None => None,
    };
    if let Some(dir) = &args.write_fingerprint {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let opts = Options {
        threshold: args.threshold,
        zip_limits: ZipLimits {
            max_ratio: args.max_zip_ratio,
            max_member_size: args.max_zip_member_mib.saturating_mul(1 << 20),
        },
        ranges: reference
            .as_ref()
            .map(fingerprint::Reference::ranges)
            .unwrap_or_default(),
        threads: 1,
    };
    let targets = targets(args, &mut report);
    if targets.is_empty() && report.errors.is_empty() {
        bail!("nothing to scan: no files under the given paths");
    }
    let fingerprint_names = fingerprint_names(&targets);
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .clamp(1, 256);
    // One file: its tensors are summarised in parallel instead.
    let opts = Options {
        threads: if targets.len() == 1 { jobs } else { 1 },
        ..opts
    };
    let results: Mutex<Vec<Option<Scanned>>> =
        Mutex::new((0..targets.len()).map(|_| None).collect());
    let done = AtomicUsize::new(0);
    // Files named like the companion of an old joblib file next to them (`m.pkl_01.npy` beside
    // `m.pkl`) wait until that file has been scanned, which reads them with it; those it did
    // not read are scanned on their own afterwards. Each is scanned once.
    let (later, first): (Vec<usize>, Vec<usize>) =
        (0..targets.len()).partition(|&i| is_companion_target(&targets, i));
    let scan_all = |indices: &[usize]| {
        let next = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for _ in 0..jobs.min(indices.len().max(1)) {
                scope.spawn(|| {
                    loop {
                        let k = next.fetch_add(1, Ordering::Relaxed);
                        let Some(&i) = indices.get(k) else { break };
                        let name = &fingerprint_names[i];
                        let result =
                            scan_target(&targets[i], name, args, &opts, reference.as_ref());
                        results.lock().expect("no panics while locked")[i] = Some(result);
                        let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                        ctx.events.progress(n as u64, targets.len() as u64);
                    }
                });
            }
        });
    };
    scan_all(&first);
    if !later.is_empty() {
        let read: std::collections::HashSet<PathBuf> = results
            .lock()
            .expect("no panics while locked")
            .iter()
            .flatten()
            .flat_map(|(r, _)| r.companions.iter().cloned())
            .collect();
        let rest: Vec<usize> = later
            .into_iter()
            .filter(|&i| {
                std::fs::canonicalize(&targets[i].path).map_or(true, |c| !read.contains(&c))
            })
            .collect();
        scan_all(&rest);
    }
    let mut summary = Table {
        title: "checkpoint files".into(),
        columns: ["file", "format", "tensors", "findings", "errors"]
            .map(String::from)
            .to_vec(),
        rows: Vec::new(),
    };
    let mut files = Vec::new();
    let mut not_scanned = Vec::new();
    for (result, notes) in results
        .into_inner()
        .expect("threads joined")
        .into_iter()
        .flatten()
    {
        for note in notes {
            ctx.events.status(&note);
            report.warnings.push(note);
        }
        if result.skipped {
            continue;
        }
        if let Some(message) = &result.not_scanned {
            report.not_scanned += 1;
            report.warnings.push(format!("{}: {message}", result.file));
            not_scanned.push(serde_json::json!({
                "file": result.file,
                "format": result.format,
            }));
            continue;
        }
        report.warnings.extend(result.notes.iter().cloned());
        report.scanned += 1;
        summary.rows.push(vec![
            result.file.clone(),
            result.format.clone(),
            result.tensors.len().to_string(),
            result.findings.len().to_string(),
            result.errors.len().to_string(),
        ]);
        files.push(serde_json::json!({
            "file": result.file,
            "format": result.format,
            "tensors": result.tensors.len(),
        }));
        report.findings.extend(result.findings);
        report.errors.extend(result.errors);
    }
    report.tables.push(summary);
    report
        .data
        .insert("files".into(), serde_json::Value::Array(files));
    if !not_scanned.is_empty() {
        report
            .data
            .insert("not_scanned".into(), serde_json::Value::Array(not_scanned));
    }
    Ok(report)
}

/// Whether target `i` is named like a companion file of an old joblib file (joblib < 0.10)
/// that is itself a target in the same directory.
fn is_companion_target(targets: &[Target], i: usize) -> bool {
    let t = &targets[i];
    let (Some(dir), Some(name)) = (t.path.parent(), t.path.file_name().and_then(|n| n.to_str()))
    else {
        return false;
    };
    mlsec_formats::joblib::companion_of(name).is_some_and(|main| {
        let main = dir.join(main);
        targets.iter().any(|o| o.path == main)
    })
}

/// The `--write-fingerprint` file name of each target: `<stem>.fingerprint.json`, unless two
/// targets share the stem (`model.pt`, `model.safetensors`, or `a/model.pt`, `b/model.pt`):
/// then the file name with its extension, and, if that is shared too, the path relative to
/// the scan root with `/` as `__`. No two targets write the same file.
fn fingerprint_names(targets: &[Target]) -> Vec<String> {
    let stem = |t: &Target| {
        t.path
            .file_stem()
            .map_or_else(|| "model".into(), |s| s.to_string_lossy().into_owned())
    };
    let name = |t: &Target| {
        t.path
            .file_name()
            .map_or_else(|| "model".into(), |s| s.to_string_lossy().into_owned())
    };
    let count = |key: &dyn Fn(&Target) -> String, value: &str| {
        targets.iter().filter(|t| key(t) == value).count()
    };
    targets
        .iter()
        .map(|t| {
            let base = if count(&stem, &stem(t)) == 1 {
                stem(t)
            } else if count(&name, &name(t)) == 1 {
                name(t)
            } else {
                t.rel.replace(['/', '\\'], "__")
            };
            format!("{base}.fingerprint.json")
        })
        .collect()
}

/// Scans one file, then compares, fingerprints and converts it as asked. Returns the result
/// and status notes.
fn scan_target(
    target: &Target,
    fingerprint_name: &str,
    args: &Args,
    opts: &Options,
    reference: Option<&fingerprint::Reference>,
) -> (FileResult, Vec<String>) {
    let mut notes = Vec::new();
    let data = match mlsec_formats::sniff::read_file(&target.path) {
        Ok(d) => d,
        Err(e) => {
            let mut r = FileResult {
                file: target.rel.clone(),
                ..FileResult::default()
            };
            r.errors
                .push(ScanError::new(&target.rel, format!("cannot read: {e}")));
            return (r, notes);
        }
    };
    let mut s = scan::Scanner::new(opts, &target.rel);
    s.dir = Some(match target.path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    });
    s.named = target.named;
    s.scan_file(&data, target.explicit);
    let mut result = s.out;
    notes.append(&mut result.notes);
    if result.skipped
        || result.tensors.is_empty() && result.format != "safetensors" && !result.errors.is_empty()
    {
        return (result, notes);
    }
    // Files without tensors (a stray pickle beside the model) are not compared.
    if let Some(reference) = reference.filter(|_| !result.tensors.is_empty()) {
        result.findings.extend(fingerprint::compare(
            &target.rel,
            &result.tensors,
            reference,
            args.kl_threshold,
        ));
    }
    if let Some(dir) = &args.write_fingerprint
        && !result.tensors.is_empty()
    {
        let fp = fingerprint::build(&target.rel, &result.tensors);
        let out = dir.join(fingerprint_name);
        let text = serde_json::to_string_pretty(&fp).expect("fingerprint serialises");
        match std::fs::write(&out, text + "\n") {
            Ok(()) => notes.push(format!("wrote {}", out.display())),
            Err(e) => result.errors.push(ScanError::new(
                &target.rel,
                format!("cannot write {}: {e}", out.display()),
            )),
        }
    }
    if args.convert_safetensors && result.format != "safetensors" && !result.tensors.is_empty() {
        let security = result.security_findings();
        if result.format == "gguf" && !result.notes.is_empty() {
            // Dropping the quantized tensors would write a model that silently lacks them.
            result.errors.push(ScanError::new(
                &target.rel,
                "not converted: the file has quantized GGUF tensors, which safetensors cannot hold",
            ));
        } else if security > 0 && !args.force {
            result.errors.push(ScanError::new(
                &target.rel,
                format!(
                    "not converted: {security} security finding(s); pass --force to convert anyway"
                ),
            ));
        } else {
            match convert::convert(&target.path, &data, &target.rel, args.overwrite) {
                Ok(c) => notes.push(format!(
                    "wrote {} ({} tensors{})",
                    c.output.display(),
                    c.tensors,
                    if c.tied.is_empty() {
                        String::new()
                    } else {
                        format!(", {} tied group(s) copied", c.tied.len())
                    }
                )),
                Err(e) => result
                    .errors
                    .push(ScanError::new(&target.rel, format!("not converted: {e}"))),
            }
        }
    }
    (result, notes)
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::Args;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    #[test]
    fn arguments_parse_with_aliases() {
        Cli::command().debug_assert();
        let cli = Cli::try_parse_from([
            "mlsec",
            "a.pt",
            "dir",
            "--reference-fingerprint",
            "fp.json",
            "--jobs",
            "3",
        ])
        .unwrap();
        assert_eq!(cli.args.paths.len(), 2);
        assert_eq!(
            cli.args.reference.as_deref(),
            Some(std::path::Path::new("fp.json"))
        );
        assert_eq!(cli.args.jobs, Some(3));
        assert_eq!(cli.args.threshold, 100.0);
        assert_eq!(cli.args.kl_threshold, 0.5);
        // --force and --overwrite only make sense with --convert-safetensors.
        assert!(Cli::try_parse_from(["mlsec", "a.pt", "--force"]).is_err());
        assert!(
            Cli::try_parse_from([
                "mlsec",
                "a.pt",
                "--convert-safetensors",
                "--force",
                "--overwrite"
            ])
            .is_ok()
        );
        assert!(Cli::try_parse_from(["mlsec"]).is_err());
    }
}
