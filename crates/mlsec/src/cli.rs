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

/// What `--format` names: a report format, or — only in export-guard's one-shot form, the
/// original tool's `--format onnx --output model.onnx` — the format of the exported model.
/// The two sets of names do not overlap, so the flag is never ambiguous.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormatArg {
    Report(Format),
    Export(ExportTarget),
}

/// Export targets the original tool's `--format` took.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportTarget {
    Onnx,
    Tensorrt,
}

impl ExportTarget {
    pub fn name(self) -> &'static str {
        match self {
            ExportTarget::Onnx => "onnx",
            ExportTarget::Tensorrt => "tensorrt",
        }
    }
}

fn parse_format(s: &str) -> Result<FormatArg, String> {
    if let Ok(f) = Format::from_str(s, true) {
        return Ok(FormatArg::Report(f));
    }
    if let Ok(t) = ExportTarget::from_str(s, true) {
        return Ok(FormatArg::Export(t));
    }
    Err("expected one of: text, json, sarif, github".into())
}

/// Flags every scanning subcommand takes (also after a nested subcommand).
#[derive(Debug, Clone, clap::Args)]
pub struct CommonArgs {
    /// Output format: text, json, sarif or github.
    #[arg(long, global = true, value_name = "FORMAT", value_parser = parse_format,
          default_value = "text", hide_possible_values = true)]
    pub format: FormatArg,
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
    /// The report format; an export target here is a usage error (only export-guard's
    /// one-shot form takes one, and it turns it into its own arguments before this is asked).
    pub fn format(&self) -> anyhow::Result<Format> {
        match self.format {
            _ if self.json => Ok(Format::Json),
            FormatArg::Report(f) => Ok(f),
            FormatArg::Export(t) => anyhow::bail!(
                "--format {} names an export target, which only `mlsec export-guard --model FILE --format onnx --output FILE --attestation FILE` takes; report formats are text, json, sarif and github",
                t.name()
            ),
        }
    }
}

fn parse_severity(s: &str) -> Result<Severity, String> {
    s.parse::<Severity>().map_err(|e| e.to_string())
}

/// export-guard's one-shot form as the original tool printed it, `--model M --format onnx
/// --output OUT --attestation P`: there `--format`/`--output` name the exported model, so they
/// become `--onnx OUT` and the report goes to standard output as text.
pub fn export_guard_article_form(
    common: &mut CommonArgs,
    args: &mut mlsec_export_guard::Args,
) -> anyhow::Result<()> {
    let FormatArg::Export(target) = common.format else {
        return Ok(());
    };
    let output = common.output.take();
    common.format = FormatArg::Report(Format::Text);
    let shown = |p: &Option<PathBuf>, default: &str| {
        p.as_ref()
            .map_or_else(|| default.to_owned(), |p| p.display().to_string())
    };
    match target {
        ExportTarget::Onnx => {
            let Some(output) = output else {
                anyhow::bail!("--format onnx needs --output FILE: the exported ONNX model");
            };
            if args.onnx.as_ref().is_some_and(|o| *o != output) {
                anyhow::bail!(
                    "--output {} and --onnx name different ONNX files",
                    output.display()
                );
            }
            args.onnx = Some(output);
            Ok(())
        }
        ExportTarget::Tensorrt => anyhow::bail!(
            "the one-shot form records a PyTorch → ONNX export; record a TensorRT engine as the next stage of the chain:\n  \
             mlsec export-guard record --stage tensorrt --artifact {} --from {} --attestation {}",
            shown(&output, "model.engine"),
            shown(&args.attestation, "provenance.json"),
            "provenance.tensorrt.json"
        ),
    }
}
