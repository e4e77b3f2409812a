//! The command line: subcommands, aliases and the global flags every scanning subcommand takes.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};
use mlsec_core::Severity;

#[derive(Debug, Parser)]
#[command(
    name = "mlsec",
    version,
    about = "Security toolkit for machine-learning pipelines",
    long_about = "Security toolkit for machine-learning pipelines.\n\n\
        Exit status: 0 clean, 1 the tool could not do its job (bad input, I/O, usage error), \
        2 a finding at or above --fail-on.",
    propagate_version = true,
    disable_help_subcommand = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Triage model files without executing them: pickle imports, weight anomalies, drift.
    #[command(visible_alias = "ckpt")]
    Checkpoint {
        #[command(flatten)]
        common: CommonArgs,
        #[command(flatten)]
        args: mlsec_checkpoint::Args,
    },
    /// Audit Triton Inference Server model repositories (config.pbtxt).
    Triton {
        #[command(flatten)]
        common: CommonArgs,
        #[command(flatten)]
        args: mlsec_triton::Args,
    },
    /// Lint ONNX graphs and keep a provenance chain across export stages.
    #[command(name = "export-guard", visible_alias = "export")]
    ExportGuard {
        #[command(flatten)]
        common: CommonArgs,
        #[command(flatten)]
        args: mlsec_export_guard::Args,
    },
    /// Detect gradient poisoning in distributed training from per-worker statistics.
    #[command(name = "poison-monitor", visible_alias = "poison")]
    PoisonMonitor {
        #[command(flatten)]
        common: CommonArgs,
        #[command(flatten)]
        args: mlsec_poison_monitor::Args,
    },
    /// FGSM / PGD / Carlini-Wagner robustness tests with a baseline regression gate.
    #[command(visible_alias = "adv")]
    Adversarial {
        #[command(flatten)]
        common: CommonArgs,
        #[command(flatten)]
        args: mlsec_adversarial::Args,
    },
    /// Quick triage of a model: weights, activations, a fast FGSM probe.
    Inspect {
        #[command(flatten)]
        common: CommonArgs,
        #[command(flatten)]
        args: mlsec_inspect::Args,
    },
    /// List every rule.
    Rules {
        /// Only the rules whose id starts with this prefix (e.g. CKPT).
        #[arg(long)]
        prefix: Option<String>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Print a rule's documentation.
    Explain {
        /// Rule id (e.g. CKPT001) or name.
        rule: String,
    },
}

/// Output formats. Every one renders the same finished report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
    Sarif,
    Github,
}

/// Flags every scanning subcommand takes (also after a nested subcommand).
#[derive(Debug, Clone, clap::Args)]
pub struct CommonArgs {
    /// Output format.
    #[arg(long, value_enum, global = true, default_value_t = Format::Text)]
    pub format: Format,
    /// Same as --format json.
    #[arg(long, global = true, conflicts_with = "format")]
    pub json: bool,
    /// Write the report to FILE instead of standard output.
    #[arg(long, short = 'o', global = true, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Lowest severity that makes the run fail with exit status 2 [default: low, or the policy file's].
    #[arg(long, global = true, value_name = "SEVERITY", value_parser = parse_severity)]
    pub fail_on: Option<Severity>,
    /// Policy file [default: ./mlsec.toml when present].
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print only findings and errors: no summary, status or progress.
    #[arg(long, short = 'q', global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Print more: passing checks and rule documentation where the subcommand has them.
    #[arg(long, short = 'v', global = true)]
    pub verbose: bool,
    /// Never show a progress bar.
    #[arg(long, global = true)]
    pub no_progress: bool,
}

impl CommonArgs {
    pub fn format(&self) -> Format {
        if self.json { Format::Json } else { self.format }
    }
}

fn parse_severity(s: &str) -> Result<Severity, String> {
    s.parse::<Severity>().map_err(|e| e.to_string())
}
