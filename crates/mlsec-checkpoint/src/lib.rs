//! (being written)

use std::path::PathBuf;

use mlsec_core::{Context, Report, Rule, ScanError};

/// Every rule this subcommand can report.
pub static RULES: &[&Rule] = &[];

#[derive(Debug, clap::Args)]
pub struct Args {
    /// What to scan.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
}

pub fn run(args: &Args, _ctx: &Context) -> anyhow::Result<Report> {
    let mut report = Report::new();
    for path in &args.paths {
        report.errors.push(ScanError::new(path.display().to_string(), "not implemented yet"));
    }
    Ok(report)
}
