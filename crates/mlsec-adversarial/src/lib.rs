//! `mlsec adversarial`: FGSM / PGD / Carlini-Wagner robustness tests with a baseline gate.
//!
//! Not implemented yet: the command line is parsed so scripts can be written against it, and
//! every invocation reports that it could not do its job (exit 1), never a clean result.

use std::path::PathBuf;

use mlsec_core::{Context, Report, Rule, ScanError};

/// Every rule this subcommand can report.
pub static RULES: &[&Rule] = &[];

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The model to attack (ONNX).
    #[arg(long)]
    pub model: PathBuf,
    /// Inputs and integer labels (.npz, .safetensors, or a folder of .npy).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Attacks to run.
    #[arg(long, value_delimiter = ',', num_args = 1.., default_value = "fgsm")]
    pub attack: Vec<String>,
    /// Perturbation budgets (L∞).
    #[arg(long, value_delimiter = ',', num_args = 1.., default_value = "0.03")]
    pub epsilon: Vec<f64>,
    /// Baseline file to compare with (written when missing).
    #[arg(long)]
    pub baseline: Option<PathBuf>,
}

pub fn run(args: &Args, _ctx: &Context) -> anyhow::Result<Report> {
    let mut report = Report::new();
    report.errors.push(ScanError::new(
        args.model.display().to_string(),
        "adversarial testing is not implemented in this version yet: nothing was checked",
    ));
    Ok(report)
}
