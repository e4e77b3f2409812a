//! `mlsec inspect`: quick triage of a third-party model before it is integrated.
//!
//! Three checks: `weights` reads every tensor of the model's files (any format `checkpoint`
//! reads, a sharded safetensors folder, ONNX initializers) without running anything;
//! `activations` and `fgsm` run the model the user names on probe inputs (`runnable`).
//!
//! Each check measures once, then its rule table decides (`rules/`, one rule per file with
//! the check that decides it):
//!
//! - `weights`: every tensor summarised once ([`weights::Summary`]) → `rules::TENSOR_CHECKS`
//!   tensor by tensor, then `rules::WEIGHTS_CHECKS` across tensors;
//! - `activations`: each layer's statistics over the probes ([`activations::collect`]) →
//!   `rules::ACTIVATION_CHECKS`;
//! - `fgsm`: one FGSM step ([`fgsm::run`]) → `rules::FGSM_CHECKS`.
//!
//! The findings, the tables, `report.data` and the HTML page (`--report`) make up the
//! [`Report`].

pub mod activations;
pub mod error;
pub mod fgsm;
mod html;
pub mod probe;
pub mod rules;
pub mod runnable;
pub mod weights;

use std::path::{Path, PathBuf};

use mlsec_core::{Context, Report, Rule, ScanError};

pub use probe::Kind;
pub use runnable::RunOptions;

/// Every rule this subcommand can report.
pub static RULES: &[&Rule] = &[
    &rules::WEIGHT_NON_FINITE,
    &rules::WEIGHT_OUTLIER,
    &rules::DEAD_UNITS,
    &rules::DUPLICATE_UNITS,
    &rules::LAYER_STATISTICS_OUTLIER,
    &rules::ACTIVATION_NON_FINITE,
    &rules::ACTIVATION_EXPLOSION,
    &rules::CONSTANT_ACTIVATION,
    &rules::TRIGGER_LIKE_UNIT,
    &rules::FGSM_FRAGILE,
];

/// A check `--checks` can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum Check {
    /// Weight statistics and anomalies (reads the tensors only).
    Weights,
    /// Per-layer activation statistics on probe inputs (runs the model).
    Activations,
    /// One FGSM step with the model's own predictions as labels (runs the model).
    Fgsm,
}

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// A model file or a folder (e.g. sharded safetensors with an index and a config).
    #[arg(long)]
    pub model: PathBuf,
    /// The kind of input the model takes, for synthetic probes.
    #[arg(long = "type", value_enum)]
    pub kind: Option<Kind>,
    /// Which checks to run (default: all; those that run the model are skipped with a warning
    /// when the model has no runnable graph).
    #[arg(long, num_args = 1.., value_enum)]
    pub checks: Vec<Check>,
    /// Probe inputs: `.npz`/`.safetensors` with key `x`, a folder with `x.npy`, or a `.npy`.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Input shape for synthetic probes, batch first, e.g. 1,3,224,224.
    #[arg(long, value_delimiter = ',')]
    pub input_shape: Vec<usize>,
    /// Number of probe inputs.
    #[arg(long, default_value_t = 32)]
    pub samples: usize,
    /// Seed of the synthetic probes.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// FGSM step as a fraction of the input range.
    #[arg(long, default_value_t = 0.03)]
    pub eps: f32,
    /// Vocabulary size for synthetic text probes when the model does not tell.
    #[arg(long)]
    pub vocab: Option<usize>,
    /// Also write a self-contained HTML report with per-layer histograms.
    #[arg(long, value_name = "FILE.html")]
    pub report: Option<PathBuf>,
    /// Threads for the weight statistics (default: all cores).
    #[arg(long)]
    pub jobs: Option<usize>,
}

impl Args {
    /// Arguments for `model` with every default, as the command line gives them.
    pub fn new(model: impl Into<PathBuf>) -> Args {
        Args {
            model: model.into(),
            kind: None,
            checks: Vec::new(),
            data: None,
            input_shape: Vec::new(),
            samples: 32,
            seed: 0,
            eps: 0.03,
            vocab: None,
            report: None,
            jobs: None,
        }
    }

    fn wants(&self, check: Check) -> bool {
        self.checks.is_empty() || self.checks.contains(&check)
    }
}

pub fn run(args: &Args, ctx: &Context) -> anyhow::Result<Report> {
    let mut report = Report::new();
    let model = &args.model;
    let shown = model.display().to_string();
    if !model.exists() {
        report
            .errors
            .push(ScanError::new(shown, "no such file or directory"));
        return Ok(report);
    }
    let mut summaries = Vec::new();
    if args.wants(Check::Weights) {
        let jobs = args.jobs.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
        });
        summaries = weights::check(model, jobs, &mut report);
    }
    let opts = RunOptions {
        kind: args.kind,
        data: args.data.clone(),
        input_shape: args.input_shape.clone(),
        samples: args.samples,
        seed: args.seed,
        activations: args.wants(Check::Activations),
        fgsm: args.wants(Check::Fgsm),
        eps: args.eps,
        vocab: args.vocab,
        by_default: args.checks.is_empty(),
    };
    if opts.activations || opts.fgsm {
        run_model_checks(model, &opts, &mut report, ctx);
    }
    if let Some(out) = &args.report {
        let page = html::render(&shown, &summaries, &report);
        if let Err(e) = std::fs::write(out, page) {
            report.errors.push(ScanError::new(
                out.display().to_string(),
                format!("cannot write the HTML report: {e}"),
            ));
        }
    }
    Ok(report)
}

/// The checks that run the model, on the model file or the runnable files of a folder. A model
/// without a runnable graph is an error when these checks were asked for, a warning when they
/// only ran by default.
fn run_model_checks(model: &Path, opts: &RunOptions, report: &mut Report, ctx: &Context) {
    let candidates: Vec<PathBuf> = if model.is_dir() {
        let mut v: Vec<PathBuf> = std::fs::read_dir(model)
            .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        v.sort();
        v.retain(|p| runnable::is_runnable(p));
        v
    } else {
        vec![model.to_owned()]
    };
    if opts.by_default && !candidates.iter().any(|p| runnable::is_runnable(p)) {
        let why = if candidates.iter().any(|p| mlsec_runtime::is_torchscript(p)) {
            "a TorchScript module, which needs a build with the `torch` feature (scripts/setup-libtorch.sh)"
        } else {
            "no runnable model (ONNX, torch.export .pt2) here, only weights"
        };
        report.warnings.push(format!(
            "{}: activations and fgsm skipped: {why}; export with `torch.export.save` or `torch.onnx.export` to run them",
            model.display()
        ));
        return;
    }
    if candidates.is_empty() {
        report.errors.push(ScanError::new(
            model.display().to_string(),
            "activations/fgsm: no runnable model (ONNX, torch.export .pt2) in this folder: export with `torch.export.save` or `torch.onnx.export`",
        ));
    }
    for path in candidates {
        let file = path.display().to_string();
        runnable::check(&path, &file, opts, report, ctx);
    }
}
