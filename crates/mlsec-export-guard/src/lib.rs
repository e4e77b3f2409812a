//! `mlsec export-guard`: ONNX graph lint and an in-toto/SLSA provenance chain across export
//! stages.
//!
//! - `lint` ([`lint`]): decodes each model with `mlsec-onnx` (bounded, memory-mapped, unknown
//!   fields reported), then
//!   1. builds one context per model, `rules::Cx`: every scope and tensor ([`model`]),
//!      the external data references resolved once (`external`), the main graph with
//!      model-local functions inlined, its dataflow facts (`dataflow`) and what each selection
//!      chooses between (`selection`);
//!   2. runs the rule table, `rules::LINT_CHECKS`: one `(rule, check)` entry per rule, the check
//!      living in the rule's own file under `src/rules/`;
//!   3. returns the findings with the structural fingerprint and the weights hash
//!      ([`fingerprint`]).
//! - `record` / `verify` ([`provenance`]): one statement per stage, chained by digest. `verify`
//!   walks the chain and calls the decisions of EXPG021/EXPG022 in their rule files.
//! - `diff`: both models linted, their differences computed once (`diff::DiffCx`), then the
//!   `rules::DIFF_CHECKS` table (EXPG023, EXPG024).
//!
//! To add a lint rule: a file under `src/rules/` with `declare_rule!` and
//! `fn check(cx: &Cx, out: &mut Vec<Finding>)`, an entry in `rules::ALL` and
//! `rules::LINT_CHECKS`, a fixture in `xtask/src/testdata/export_guard.rs`, `cargo xtask docs`.
//! Analysis more than one rule needs goes into the context, computed once.
//!
//! Nothing under inspection is executed. The only process this crate starts is the user's own
//! `--command` in the one-shot form, and only when the ONNX file does not exist yet.

mod checkpoint;
mod dataflow;
mod diff;
mod dsse;
pub mod error;
mod external;
pub mod fingerprint;
pub mod lint;
mod manifest;
mod model;
pub mod ops;
pub mod provenance;
pub mod rules;
mod selection;

use std::path::{Path, PathBuf};

use mlsec_core::{Context, Report, Rule, ScanError, Table};
use mlsec_util::walk::{Event, Flow, Walk};
use serde_json::json;

/// Every rule this subcommand can report.
pub static RULES: &[&Rule] = rules::ALL;

#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// One-shot form: the source checkpoint to hash as the first stage.
    #[arg(long, value_name = "FILE")]
    pub model: Option<PathBuf>,
    /// One-shot form: the exported ONNX file (produced by `--command` if it does not exist).
    #[arg(long, value_name = "FILE", alias = "onnx-output")]
    pub onnx: Option<PathBuf>,
    /// One-shot form: the export command, run with `sh -c` only when `--onnx` does not exist.
    #[arg(long = "command", value_name = "CMD")]
    pub export_command: Option<String>,
    /// One-shot form: where to write the chained attestation (the checkpoint stage goes beside
    /// it as `<name>.checkpoint.json`).
    #[arg(long, alias = "hash-record", value_name = "FILE")]
    pub attestation: Option<PathBuf>,
    /// Sign the statements as DSSE envelopes with this P-256 private key (PEM).
    #[arg(long, value_name = "KEY")]
    pub sign_key: Option<PathBuf>,
}

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Lint ONNX graphs (files or directories) for suspicious constructs.
    Lint {
        #[arg(required = true, value_name = "MODEL")]
        models: Vec<PathBuf>,
    },
    /// Record one export stage as an in-toto attestation, chained to the previous stage.
    Record {
        /// Stage name: pytorch, onnx, tensorrt or any other.
        #[arg(long)]
        stage: String,
        /// A file the stage produced (repeatable). ONNX external data is added automatically.
        #[arg(long = "artifact", required = true, value_name = "FILE")]
        artifacts: Vec<PathBuf>,
        /// The previous stage's attestation.
        #[arg(long, value_name = "PREV.json")]
        from: Option<PathBuf>,
        /// The command that produced the artifacts (recorded, not run).
        #[arg(long)]
        command: Option<String>,
        /// Where to write the statement.
        #[arg(long, alias = "hash-record", value_name = "OUT.json")]
        attestation: PathBuf,
        /// Sign the statement as a DSSE envelope with this P-256 private key (PEM).
        #[arg(long, value_name = "KEY")]
        sign_key: Option<PathBuf>,
    },
    /// Recompute every digest of an attestation chain.
    Verify {
        #[arg(long, alias = "hash-record", value_name = "A.json")]
        attestation: PathBuf,
        /// Files that must be covered by the last stage.
        #[arg(long = "artifact", value_name = "FILE")]
        artifacts: Vec<PathBuf>,
        /// Require a valid DSSE signature by this P-256 public key (PEM).
        #[arg(long, value_name = "KEY")]
        verify_key: Option<PathBuf>,
    },
    /// Structural and weight diff of two ONNX models.
    Diff { old: PathBuf, new: PathBuf },
    /// Write (`--write`) or check (`--check`) the OpenSSF model_signing manifest of a model
    /// directory (per-file SHA-256 and root digest).
    Manifest {
        dir: PathBuf,
        /// Write the manifest here (signed as a Sigstore bundle with `--sign-key`).
        #[arg(
            long,
            value_name = "OUT",
            conflicts_with = "check",
            required_unless_present = "check"
        )]
        write: Option<PathBuf>,
        /// Check the directory against this manifest.
        #[arg(long, value_name = "MANIFEST")]
        check: Option<PathBuf>,
        /// Sign with this P-256 private key (PEM).
        #[arg(long, value_name = "KEY")]
        sign_key: Option<PathBuf>,
        /// Require a valid signature by this P-256 public key (PEM).
        #[arg(long, value_name = "KEY")]
        verify_key: Option<PathBuf>,
    },
}

pub fn run(args: &Args, ctx: &Context) -> anyhow::Result<Report> {
    let mut report = Report::new();
    match &args.command {
        Some(Command::Lint { models }) => lint_paths(models, ctx, &mut report)?,
        Some(Command::Record {
            stage,
            artifacts,
            from,
            command,
            attestation,
            sign_key,
        }) => {
            let input = provenance::RecordInput {
                stage,
                artifacts,
                from: from.as_deref(),
                command: command.as_deref(),
                attestation,
                sign_key: sign_key.as_deref(),
            };
            if let Err(e) = provenance::record(&input, &mut report) {
                report.errors.push(ScanError::new(
                    attestation.display().to_string(),
                    format!("{e:#}"),
                ));
            }
        }
        Some(Command::Verify {
            attestation,
            artifacts,
            verify_key,
        }) => provenance::verify(attestation, artifacts, verify_key.as_deref(), &mut report)?,
        Some(Command::Diff { old, new }) => diff::diff(old, new, &mut report),
        Some(Command::Manifest {
            dir,
            write,
            check,
            sign_key,
            verify_key,
        }) => match (write, check) {
            (Some(out), _) => {
                if let Err(e) = manifest::write(dir, out, sign_key.as_deref(), &mut report) {
                    report
                        .errors
                        .push(ScanError::new(out.display().to_string(), format!("{e:#}")));
                }
            }
            (None, Some(m)) => manifest::check(dir, m, verify_key.as_deref(), &mut report)?,
            (None, None) => anyhow::bail!("give --write OUT or --check MANIFEST"),
        },
        None => one_shot(args, ctx, &mut report)?,
    }
    Ok(report)
}

/// The original tool's form: checkpoint stage, then ONNX stage chained to it.
fn one_shot(args: &Args, ctx: &Context, report: &mut Report) -> anyhow::Result<()> {
    let (Some(model), Some(onnx), Some(attestation)) = (&args.model, &args.onnx, &args.attestation)
    else {
        anyhow::bail!(
            "give a subcommand (lint, record, verify, diff) or the one-shot form --model FILE --onnx FILE --attestation OUT.json"
        );
    };
    if !onnx.exists() {
        let Some(command) = &args.export_command else {
            anyhow::bail!(
                "{onnx} does not exist: mlsec never runs PyTorch, so it cannot export {model} itself. \
                 Export it first (`torch.onnx.export(model.eval(), example_input, \"{onnx}\")`, \
                 see docs/export-guard.md, \"Exporting from PyTorch\"), or pass \
                 --command \"python export.py\" to have your export script run before recording",
                onnx = onnx.display(),
                model = model.display()
            );
        };
        if !ctx.quiet {
            ctx.events
                .status(&format!("running export command: {command}"));
        }
        let status = std::process::Command::new("sh")
            .args(["-c", command])
            .status()
            .map_err(|e| anyhow::anyhow!("cannot run --command: {e}"))?;
        if !status.success() {
            anyhow::bail!("--command failed ({status})");
        }
        if !onnx.exists() {
            anyhow::bail!("--command succeeded but {} was not written", onnx.display());
        }
    }
    let stem = attestation.file_stem().map_or_else(
        || "provenance".to_owned(),
        |s| s.to_string_lossy().into_owned(),
    );
    let first = attestation.with_file_name(format!("{stem}.checkpoint.json"));
    let stage1 = provenance::RecordInput {
        stage: "pytorch",
        artifacts: std::slice::from_ref(model),
        from: None,
        command: None,
        attestation: &first,
        sign_key: args.sign_key.as_deref(),
    };
    if let Err(e) = provenance::record(&stage1, report) {
        report.errors.push(ScanError::new(
            first.display().to_string(),
            format!("{e:#}"),
        ));
        return Ok(());
    }
    let stage2 = provenance::RecordInput {
        stage: "onnx",
        artifacts: std::slice::from_ref(onnx),
        from: Some(&first),
        command: args.export_command.as_deref(),
        attestation,
        sign_key: args.sign_key.as_deref(),
    };
    if let Err(e) = provenance::record(&stage2, report) {
        report.errors.push(ScanError::new(
            attestation.display().to_string(),
            format!("{e:#}"),
        ));
    }
    Ok(())
}

/// ONNX files under a directory, by the shared walk policy (`mlsec_util::walk`: sorted,
/// symlinks followed only to files inside the directory, 32 levels deep); what it does not
/// walk is a warning, what it cannot read an error.
fn onnx_files(root: &Path, out: &mut Vec<PathBuf>, report: &mut Report) {
    Walk::new(root).max_depth(32).run(|event| {
        match event {
            Event::File(entry) if provenance::is_onnx(&entry.path) => out.push(entry.path.clone()),
            Event::Skipped(entry, why) => {
                report
                    .warnings
                    .push(format!("{}: {}", entry.path.display(), why.reason()))
            }
            Event::Error(path, e) => report.errors.push(ScanError::new(
                path.display().to_string(),
                format!("cannot list: {e}"),
            )),
            Event::File(_) | Event::Dir(_) => {}
        }
        Flow::Continue
    });
}

fn lint_paths(models: &[PathBuf], ctx: &Context, report: &mut Report) -> anyhow::Result<()> {
    let mut targets: Vec<(PathBuf, String)> = Vec::new();
    for m in models {
        if m.is_dir() {
            let mut files = Vec::new();
            onnx_files(m, &mut files, report);
            if files.is_empty() {
                report.errors.push(ScanError::new(
                    m.display().to_string(),
                    "no .onnx files in this directory",
                ));
            }
            for f in files {
                let display = f.strip_prefix(m).unwrap_or(&f).display().to_string();
                targets.push((f, display));
            }
        } else {
            targets.push((m.clone(), m.display().to_string()));
        }
    }
    let mut rows = Vec::new();
    let mut data = Vec::new();
    let total = targets.len() as u64;
    for (i, (path, display)) in targets.iter().enumerate() {
        ctx.events.progress(i as u64, total);
        match lint::lint_file(path, display) {
            Ok(o) => {
                report.scanned += 1;
                rows.push(vec![
                    display.clone(),
                    o.nodes.to_string(),
                    o.ir_version.to_string(),
                    o.opset.to_string(),
                    o.fingerprint[..16].to_owned(),
                    o.weights[..16].to_owned(),
                    o.findings.len().to_string(),
                ]);
                data.push(json!({
                    "file": display,
                    "nodes": o.nodes,
                    "ir_version": o.ir_version,
                    "opset": o.opset,
                    "fingerprint": o.fingerprint,
                    "weights": o.weights,
                    "external_data": o.external_files.keys().collect::<Vec<_>>(),
                    "ops": o.ops,
                }));
                report.findings.extend(o.findings);
            }
            Err(e) => report
                .errors
                .push(ScanError::new(display.clone(), format!("{e:#}"))),
        }
    }
    ctx.events.progress(total, total);
    report.tables.push(Table {
        title: "ONNX models".into(),
        columns: [
            "model",
            "nodes",
            "ir",
            "opset",
            "fingerprint",
            "weights",
            "findings",
        ]
        .map(String::from)
        .to_vec(),
        rows,
    });
    report.data.insert("models".into(), json!(data));
    Ok(())
}
