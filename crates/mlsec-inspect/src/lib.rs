//! `mlsec inspect`: quick triage of a model's weights, activations and FGSM sensitivity.
//!
//! Not implemented yet: the command line is parsed so scripts can be written against it, and
//! every invocation reports that it could not do its job (exit 1), never a clean result.

use std::path::PathBuf;

use mlsec_core::{Context, Report, Rule, ScanError};

/// Every rule this subcommand can report.
pub static RULES: &[&Rule] = &[];

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A model file or a folder (e.g. sharded safetensors with a config).
    #[arg(long)]
    pub model: PathBuf,
    /// The kind of input the model takes, for synthetic probes.
    #[arg(long = "type", value_parser = ["vision", "text", "tabular"])]
    pub kind: Option<String>,
    /// Which checks to run.
    #[arg(long, num_args = 1.., value_parser = ["weights", "activations", "fgsm"])]
    pub checks: Vec<String>,
    /// Probe inputs.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Input shape for synthetic probes, e.g. 1,3,224,224.
    #[arg(long, value_delimiter = ',')]
    pub input_shape: Vec<usize>,
    #[arg(long, default_value_t = 32)]
    pub samples: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

pub fn run(args: &Args, _ctx: &Context) -> anyhow::Result<Report> {
    let mut report = Report::new();
    report.errors.push(ScanError::new(
        args.model.display().to_string(),
        "inspect is not implemented in this version yet: nothing was checked",
    ));
    Ok(report)
}
