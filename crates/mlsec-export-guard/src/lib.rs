//! `mlsec export-guard`: ONNX graph lint and a SHA-256 provenance chain across export stages.
//!
//! Not implemented yet: the command line is parsed so scripts can be written against it, and
//! every invocation reports that it could not do its job (exit 1), never a clean result.

use std::path::PathBuf;

use mlsec_core::{Context, Report, Rule, ScanError};

/// Every rule this subcommand can report.
pub static RULES: &[&Rule] = &[];

#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Source checkpoint to hash (the original tool's one-shot form).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// The exported ONNX file (one-shot form).
    #[arg(long = "onnx-output", value_name = "FILE")]
    pub onnx_output: Option<PathBuf>,
    /// Where to write the chained attestation.
    #[arg(long, alias = "hash-record", value_name = "FILE")]
    pub attestation: Option<PathBuf>,
}

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Lint ONNX graphs for suspicious constructs.
    Lint {
        #[arg(required = true)]
        models: Vec<PathBuf>,
    },
    /// Record one export stage as an in-toto attestation.
    Record {
        #[arg(long)]
        stage: String,
        #[arg(long = "artifact", required = true)]
        artifacts: Vec<PathBuf>,
        #[arg(long)]
        from: Option<PathBuf>,
        #[arg(long)]
        command: Option<String>,
        #[arg(long, alias = "hash-record")]
        attestation: PathBuf,
    },
    /// Recompute every digest of an attestation chain.
    Verify {
        #[arg(long, alias = "hash-record")]
        attestation: PathBuf,
        #[arg(long = "artifact")]
        artifacts: Vec<PathBuf>,
    },
    /// Structural diff of two ONNX graphs.
    Diff { old: PathBuf, new: PathBuf },
}

pub fn run(_args: &Args, _ctx: &Context) -> anyhow::Result<Report> {
    let mut report = Report::new();
    report.errors.push(ScanError::new(
        "export-guard",
        "not implemented in this version yet: nothing was checked",
    ));
    Ok(report)
}
