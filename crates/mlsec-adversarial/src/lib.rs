//! `mlsec adversarial`: FGSM / PGD-L∞ / Carlini-Wagner L2 robustness tests on an ONNX model
//! and real labelled data, with model sanity checks, gradient-masking rules, and a baseline
//! gate (McNemar's exact test on paired per-sample outcomes).
//!
//! The flow ([`run`], then `execute`): resolve the settings (flags, else the `--baseline`
//! record, else defaults) and refuse a comparison that would be meaningless; load the model
//! and data; then measure once and decide after, in three phases, each followed by its rule
//! table (`rules/`, one rule per file with the check that decides it):
//!
//! 1. clean predictions, then the model checks ([`checks::run`]) → `rules::MODEL_CHECKS`;
//! 2. every attack at every budget ([`attacks`]), then a PGD whose ε is the whole input range
//!    ([`checks::unbounded`]) → `rules::SANITY_CHECKS`;
//! 3. the baseline, written or compared with ([`baseline::compare`]) → `rules::BASELINE_CHECKS`.
//!
//! Findings, the robustness and parameter tables, `report.data["adversarial"]` and the HTML
//! page (`--report`) make up the [`Report`].
//!
//! Runs are reproducible: every random choice (PGD starts, random targets) comes from
//! `--seed` and the sample's index only.

pub mod attacks;
pub mod baseline;
pub mod checks;
mod html;
pub mod rules;
pub mod settings;

/// The data readers live in the shared runtime (`inspect` reads its probes with them too).
pub use mlsec_runtime::data;

use std::path::{Path, PathBuf};
use std::time::Instant;

use mlsec_core::{Context, Report, Rule, ScanError, Table};
use mlsec_runtime::{Model, OnnxModel};
use serde_json::json;

use attacks::{Cw, Goal, Noise, Pgd, Setup};
use baseline::{Baseline, Comparison, Entry};
use rules::{GateCx, ModelCx, SanityCx};
use settings::{DataRef, Settings};

/// Every rule this subcommand can report.
pub static RULES: &[&Rule] = &[
    &rules::ROBUSTNESS_REGRESSION,
    &rules::ROBUSTNESS_IMPROVED,
    &rules::MODEL_OUTPUTS_PROBABILITIES,
    &rules::MODEL_NONDETERMINISTIC,
    &rules::MODEL_BATCH_DEPENDENT,
    &rules::PGD_WEAKER_THAN_FGSM,
    &rules::ACCURACY_NOT_DECREASING,
    &rules::UNBOUNDED_ATTACK_FAILS,
    &rules::ZERO_INPUT_GRADIENTS,
];

/// How targets are chosen for a targeted attack.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Targeted {
    /// A seeded random class other than the label.
    Random,
    /// The class with the lowest clean logit.
    LeastLikely,
}

/// An attack name.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum AttackKind {
    Fgsm,
    Pgd,
    Cw,
}

impl AttackKind {
    pub fn name(self) -> &'static str {
        match self {
            AttackKind::Fgsm => "fgsm",
            AttackKind::Pgd => "pgd",
            AttackKind::Cw => "cw",
        }
    }
}

/// The attack settings that decide the numbers are optional here: a run takes each one from
/// the command line, else from `--baseline`'s record, else from the default in brackets
/// (see [`settings`]).
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// The model to attack: ONNX, or TorchScript with the `torch` feature (its output must be
    /// logits). Recognised by content, not by name.
    #[arg(long)]
    pub model: PathBuf,
    /// Inputs and integer labels: .npz, .safetensors, or a folder with x.npy and y.npy
    /// [default: the data recorded in --baseline].
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Key (or file stem) of the inputs in --data [default: x].
    #[arg(long)]
    pub x_key: Option<String>,
    /// Key (or file stem) of the labels in --data [default: y].
    #[arg(long)]
    pub y_key: Option<String>,
    /// Valid input range `lo,hi` [default: the model's `mlsec.input_range` metadata, else
    /// 0,1 when the data lies in it, else 0,255 when it lies in that, else the data's range].
    #[arg(long, value_parser = parse_range)]
    pub input_range: Option<(f32, f32)>,
    /// Use only the first N samples.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Seed for PGD random starts and random targets (runs are reproducible) [default: 0].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Samples per forward/backward pass.
    #[arg(long, default_value_t = 256)]
    pub batch_size: usize,
    /// Attacks to run [default: fgsm]; with a baseline, a subset of its attacks.
    #[arg(long, value_delimiter = ',', num_args = 1..)]
    pub attack: Option<Vec<AttackKind>>,
    /// L∞ budgets for FGSM and PGD (a list gives a robustness curve) [default: 0.03]; with a
    /// baseline, a subset of its budgets.
    #[arg(long, value_delimiter = ',', num_args = 1..)]
    pub epsilon: Option<Vec<f32>>,
    /// L2 budgets at which CW robust accuracy is reported [default: 0.5,1,2].
    #[arg(long, value_delimiter = ',', num_args = 1..)]
    pub l2_budget: Option<Vec<f32>>,
    /// Targeted attacks instead of untargeted.
    #[arg(long)]
    pub targeted: Option<Targeted>,
    /// PGD steps [default: 20].
    #[arg(long)]
    pub steps: Option<usize>,
    /// PGD step size [default: 2.5·ε/steps].
    #[arg(long)]
    pub step_size: Option<f32>,
    /// PGD restarts (a point is robust only if no restart fools it) [default: 1].
    #[arg(long)]
    pub restarts: Option<usize>,
    /// CW Adam steps per binary-search step [default: 1000].
    #[arg(long)]
    pub cw_steps: Option<usize>,
    /// CW binary-search steps over the constant c [default: 9].
    #[arg(long)]
    pub cw_binary_steps: Option<usize>,
    /// CW initial constant c₀ [default: 0.001].
    #[arg(long)]
    pub cw_initial_const: Option<f64>,
    /// CW Adam learning rate [default: 0.01].
    #[arg(long)]
    pub cw_learning_rate: Option<f64>,
    /// CW confidence κ [default: 0].
    #[arg(long)]
    pub cw_confidence: Option<f64>,
    /// Run every step for every attacked point, as torchattacks and foolbox do: PGD points do
    /// not leave the batch when fooled (the final iterate decides), CW does not abort when its
    /// loss stalls. Slower; for timing and for comparing with reference libraries.
    #[arg(long)]
    pub no_early_stop: bool,
    /// Baseline file: written when missing, otherwise compared with. It records the data and
    /// every attack setting, so `--model M --baseline FILE` alone repeats that evaluation.
    #[arg(long)]
    pub baseline: Option<PathBuf>,
    /// Write the baseline even when it exists (accept the current numbers).
    #[arg(long, requires = "baseline")]
    pub update_baseline: bool,
    /// Significance level of the McNemar test for a regression.
    #[arg(long, default_value_t = 0.01)]
    pub alpha: f64,
    /// Minimum drop in robust accuracy (points) for a regression.
    #[arg(long, default_value_t = 1.0)]
    pub tolerance: f64,
    /// Write an HTML report with the accuracy-vs-budget curves.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Skip the pre-attack model checks and the sanity rules.
    #[arg(long)]
    pub no_checks: bool,
}

/// Why `--input-range` cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum RangeError {
    #[error("expected lo,hi")]
    NoComma,
    #[error(transparent)]
    Number(#[from] std::num::ParseFloatError),
    #[error("expected finite lo < hi")]
    Order,
}

fn parse_range(s: &str) -> Result<(f32, f32), RangeError> {
    let (lo, hi) = s.split_once(',').ok_or(RangeError::NoComma)?;
    let lo: f32 = lo.trim().parse()?;
    let hi: f32 = hi.trim().parse()?;
    if lo >= hi || !lo.is_finite() || !hi.is_finite() {
        return Err(RangeError::Order);
    }
    Ok((lo, hi))
}

/// What one attack at one budget measured (a row of the table).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ResultRow {
    pub attack: &'static str,
    /// `fgsm@0.1`, `cw@l2=1`.
    pub key: String,
    /// ε for FGSM/PGD, the L2 budget for CW.
    pub budget: f32,
    pub samples: usize,
    pub clean_accuracy: f64,
    pub robust_accuracy: f64,
    pub success_rate: f64,
    pub median_linf: Option<f32>,
    pub median_l2: Option<f32>,
    pub seconds: f64,
    pub samples_per_second: f64,
    #[serde(skip)]
    pub robust: Vec<bool>,
}

/// The median of the finite values (computed in f64, rounded once to f32).
fn median(v: Vec<f32>) -> Option<f32> {
    let mut v: Vec<f64> = v
        .into_iter()
        .filter(|x| x.is_finite())
        .map(f64::from)
        .collect();
    mlsec_util::stats::median(&mut v).map(|m| m as f32)
}

fn share(v: &[bool]) -> f64 {
    v.iter().filter(|&&b| b).count() as f64 / v.len().max(1) as f64
}

/// Display path of an argument, as given.
fn shown(p: &Path) -> String {
    p.display().to_string()
}

/// How to make a model `adversarial` can run from PyTorch.
const EXPORT: &str = "export the model with \
    `torch.export.save(torch.export.export(model.eval(), (example_input,)), \"model.pt2\")` \
    or to ONNX with `torch.onnx.export(model.eval(), example_input, \"model.onnx\")`";

/// Why a model cannot be run.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read the model: {0}")]
    Read(#[source] std::io::Error),
    /// A `torch.export` archive the `.pt2` front end refused (shown without the file name,
    /// which the report gives).
    #[error("{}", without_file(.0))]
    Pt2(mlsec_runtime::RuntimeError),
    #[error("cannot run the TorchScript module: {0}; {EXPORT}", EXPORT = EXPORT)]
    TorchScript(mlsec_runtime::RuntimeError),
    #[error(
        "a TorchScript module: running it needs a build with the `torch` feature (scripts/setup-libtorch.sh); or {EXPORT}",
        EXPORT = EXPORT
    )]
    NeedsTorch,
    #[error(
        "a PyTorch state dict (weights only, no architecture) cannot be run: {EXPORT}",
        EXPORT = EXPORT
    )]
    StateDict,
    #[error(transparent)]
    Onnx(mlsec_runtime::RuntimeError),
}

/// A runtime error without the file name an archive error starts with.
fn without_file(e: &mlsec_runtime::RuntimeError) -> String {
    match e {
        mlsec_runtime::RuntimeError::Archive { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

/// Loads a model, explaining formats the runtime cannot run.
pub fn load_model(path: &Path) -> Result<Box<dyn Model>, LoadError> {
    use mlsec_formats::sniff::{self, Format};
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let mut head = Vec::with_capacity(4096);
    std::fs::File::open(path)
        .and_then(|f| std::io::Read::read_to_end(&mut std::io::Read::take(f, 4096), &mut head))
        .map_err(LoadError::Read)?;
    // By content; the extension only breaks the tie when the content says nothing.
    let pytorch = match sniff::sniff(&head) {
        Format::Zip | Format::Pickle | Format::Safetensors | Format::Tar => true,
        Format::Unknown => matches!(ext.as_str(), "pt" | "pth" | "bin" | "ckpt" | "safetensors"),
        _ => false,
    };
    // A torch.export archive runs natively (the runtime's .pt2 front end).
    if pytorch && mlsec_runtime::pt2::is_pt2(path) {
        return mlsec_runtime::pt2::load(path)
            .map(|m| Box::new(m) as Box<dyn Model>)
            .map_err(LoadError::Pt2);
    }
    if pytorch && mlsec_runtime::is_torchscript(path) {
        #[cfg(feature = "torch")]
        return match mlsec_runtime::torch::TorchScriptModel::load(path) {
            Ok(m) => Ok(Box::new(m)),
            Err(e) => Err(LoadError::TorchScript(e)),
        };
        #[cfg(not(feature = "torch"))]
        return Err(LoadError::NeedsTorch);
    }
    if pytorch {
        return Err(LoadError::StateDict);
    }
    OnnxModel::load(path)
        .map(|m| Box::new(m) as Box<dyn Model>)
        .map_err(LoadError::Onnx)
}

/// A `--baseline` file as found before the run.
enum Prior {
    /// No `--baseline`.
    None,
    /// `--baseline` names a file that does not exist yet: this run writes it.
    Missing,
    Found(Box<Baseline>),
}

fn read_prior(args: &Args) -> Result<Prior, baseline::BaselineError> {
    let Some(path) = &args.baseline else {
        return Ok(Prior::None);
    };
    Ok(match baseline::read(path)? {
        Some(b) => Prior::Found(Box::new(b)),
        None => Prior::Missing,
    })
}

pub fn run(args: &Args, ctx: &Context) -> anyhow::Result<Report> {
    let mut report = Report::new();
    let model_file = shown(&args.model);
    if args.batch_size == 0 {
        anyhow::bail!("--batch-size must be at least 1");
    }
    // The baseline first: it may say what to run.
    let prior = match read_prior(args) {
        Ok(p) => p,
        // An unreadable baseline is replaced by --update-baseline, and fails the run otherwise.
        Err(_) if args.update_baseline => Prior::Missing,
        Err(e) => {
            let file = args.baseline.as_deref().map(shown).unwrap_or_default();
            report.errors.push(ScanError::new(file, e.to_string()));
            return Ok(report);
        }
    };
    let recorded = match &prior {
        Prior::Found(b) => Some(b.as_ref()),
        _ => None,
    };
    let baseline_dir = args.baseline.as_deref().and_then(Path::parent).map(|p| {
        if p.as_os_str().is_empty() {
            Path::new(".")
        } else {
            p
        }
    });
    let data_path = match (&args.data, recorded, baseline_dir) {
        (Some(d), _, _) => d.clone(),
        (None, Some(b), Some(dir)) => dir.join(&b.data.path),
        (None, _, _) if matches!(prior, Prior::Missing) => anyhow::bail!(
            "{} does not exist yet, and without --data there is nothing to measure: pass the labelled data \
             (--data FILE.npz|FILE.safetensors|DIR with x.npy and y.npy) to write it",
            args.baseline.as_deref().map(shown).unwrap_or_default()
        ),
        (None, _, _) => anyhow::bail!(
            "no data to attack: pass --data FILE.npz|FILE.safetensors|DIR (inputs and integer labels; \
             a folder holds x.npy and y.npy), or --baseline FILE of an earlier run, which records its data and settings"
        ),
    };
    let x_key = args
        .x_key
        .clone()
        .or_else(|| recorded.map(|b| b.data.x_key.clone()))
        .unwrap_or_else(|| settings::DEFAULT_X_KEY.into());
    let y_key = args
        .y_key
        .clone()
        .or_else(|| recorded.map(|b| b.data.y_key.clone()))
        .unwrap_or_else(|| settings::DEFAULT_Y_KEY.into());
    let limit = args.limit.or(recorded.and_then(|b| b.data.limit));
    let mut settings = Settings::resolve(args, recorded.map(|b| &b.settings));
    if settings
        .epsilon
        .iter()
        .any(|e| !(e.is_finite() && *e >= 0.0))
    {
        anyhow::bail!("--epsilon values must be finite and non-negative");
    }

    let model = match load_model(&args.model) {
        Ok(m) => m,
        Err(e) => {
            report
                .errors
                .push(ScanError::new(model_file, e.to_string()));
            return Ok(report);
        }
    };
    let mut data = match data::load(&data_path, &x_key, &y_key) {
        Ok(d) => d,
        Err(message) => {
            report
                .errors
                .push(ScanError::new(shown(&data_path), message.to_string()));
            return Ok(report);
        }
    };
    if let Some(limit) = limit {
        data.truncate(limit);
    }
    if data.is_empty() {
        report
            .errors
            .push(ScanError::new(shown(&data_path), "no samples to attack"));
        return Ok(report);
    }
    report.scanned = 1;
    let [lo, hi] = match settings
        .input_range
        .or(model.input().range.map(|(l, h)| [l, h]))
    {
        Some(r) => r,
        None => {
            let (dlo, dhi) = data.value_range();
            if dlo >= 0.0 && dhi <= 1.0 {
                [0.0, 1.0]
            } else if dlo >= 0.0 && dhi <= 255.0 {
                [0.0, 255.0]
            } else {
                [dlo, dhi.max(dlo + f32::EPSILON)]
            }
        }
    };
    settings.input_range = Some([lo, hi]);
    let data_ref = DataRef {
        path: baseline_dir.map_or_else(
            || shown(&data_path),
            |dir| settings::relative_to(&data_path, dir),
        ),
        x_key,
        y_key,
        limit,
        samples: data.len(),
        sha256: data.digest(),
    };
    // A comparison that would be meaningless is refused before any attack runs.
    if let (Some(before), false) = (recorded, args.update_baseline) {
        let file = args.baseline.as_deref().map(shown).unwrap_or_default();
        if before.data.sha256 != data_ref.sha256 {
            report.errors.push(ScanError::new(
                file,
                format!(
                    "the baseline was made on different data ({}, {} samples; now {}, {} samples, and the digests differ): \
                     the comparison would be meaningless; use the same --data/--limit or write a new baseline with --update-baseline",
                    before.data.path, before.data.samples, data_ref.path, data_ref.samples
                ),
            ));
            return Ok(report);
        }
        let mismatches = settings.mismatches(&before.settings);
        if !mismatches.is_empty() {
            report.errors.push(ScanError::new(
                file,
                format!(
                    "the baseline was made with different attack parameters: {}; drop those flags to repeat its evaluation, \
                     or write a new baseline with --update-baseline",
                    mismatches.join("; ")
                ),
            ));
            return Ok(report);
        }
    }
    let setup = Setup {
        model: model.as_ref(),
        sample_shape: &data.sample_shape,
        lo,
        hi,
        batch_size: args.batch_size,
    };
    let run = Run {
        args,
        settings: &settings,
        data_ref: &data_ref,
        data_file: shown(&data_path),
        prior: &prior,
    };
    match execute(&run, ctx, &setup, model.as_ref(), &data, &mut report) {
        Ok(()) => {}
        Err(e) => report
            .errors
            .push(ScanError::new(model_file, format!("{e:#}"))),
    }
    Ok(report)
}

/// One evaluation, its settings resolved.
struct Run<'a> {
    args: &'a Args,
    settings: &'a Settings,
    data_ref: &'a DataRef,
    data_file: String,
    prior: &'a Prior,
}

/// One evaluation: measure, then decide. Each step computes once; after each of the three
/// phases its rule table runs over what the phase measured (`rules::MODEL_CHECKS`,
/// `SANITY_CHECKS`, `BASELINE_CHECKS`), so a finished phase's findings stay in the report
/// when a later step fails. `--no-checks` skips the first two phases' measurements and rules.
fn execute(
    run: &Run<'_>,
    ctx: &Context,
    setup: &Setup<'_>,
    model: &dyn Model,
    data: &data::Dataset,
    report: &mut Report,
) -> anyhow::Result<()> {
    let args = run.args;
    let clean = clean_predictions(setup, data, args.batch_size)?;
    let checks = if args.no_checks {
        None
    } else {
        Some(model_checks(run, ctx, setup, data, &clean, report)?)
    };
    let aim = aim(run.settings, &clean, data);
    let results = attack_all(run, ctx, setup, data, &aim, clean.accuracy, report)?;
    if !args.no_checks {
        sanity_checks(run, setup, data, &aim, &results, report)?;
    }
    report
        .tables
        .push(table(&results, data.len(), setup.lo, setup.hi));
    report.tables.push(params_table(args, run.settings));
    let current = Baseline {
        schema: baseline::SCHEMA.into(),
        model_sha256: model.digest().into(),
        data: run.data_ref.clone(),
        settings: run.settings.clone(),
        results: results
            .iter()
            .map(|r| Entry::new(r.key.clone(), &r.robust))
            .collect(),
    };
    let params = serde_json::to_value(run.settings)?;
    let gate = baseline_gate(run, &current, report);
    report.data.insert(
        "adversarial".into(),
        json!({
            "model": shown(&args.model),
            "model_sha256": model.digest(),
            "data": run.data_file,
            "data_sha256": current.data.sha256,
            "samples": data.len(),
            "input_range": [setup.lo, setup.hi],
            "clean_accuracy": clean.accuracy,
            "params": params,
            "checks": checks.unwrap_or_else(|| json!({})),
            "results": results,
            "baseline": gate,
        }),
    );
    if let Some(path) = &args.report {
        write_html(path, run, data.len(), clean.accuracy, &results, report);
    }
    Ok(())
}

/// Phase 1: the model checks before any attack, and their rules. Returns what they measured
/// (for `report.data`).
fn model_checks(
    run: &Run<'_>,
    ctx: &Context,
    setup: &Setup<'_>,
    data: &data::Dataset,
    clean: &Clean,
    report: &mut Report,
) -> anyhow::Result<serde_json::Value> {
    ctx.events
        .status("checking the model (determinism, batch independence, logits, gradients)");
    let checks = checks::run(setup, &data.x, &data.y, &clean.correct)?;
    let file = shown(&run.args.model);
    let cx = ModelCx {
        file: &file,
        checks: &checks,
    };
    for (_, check) in rules::MODEL_CHECKS {
        check(&cx, &mut report.findings);
    }
    Ok(serde_json::to_value(&checks)?)
}

/// Phase 2, after the attacks: the unbounded PGD, and the gradient-masking rules.
fn sanity_checks(
    run: &Run<'_>,
    setup: &Setup<'_>,
    data: &data::Dataset,
    aim: &Aim,
    results: &[ResultRow],
    report: &mut Report,
) -> anyhow::Result<()> {
    let unbounded = checks::unbounded(setup, &data.x, &data.y, &aim.attacked, results)?;
    let file = shown(&run.args.model);
    let cx = SanityCx {
        file: &file,
        results,
        unbounded: unbounded.as_ref(),
    };
    for (_, check) in rules::SANITY_CHECKS {
        check(&cx, &mut report.findings);
    }
    Ok(())
}

/// Phase 3: writes the baseline, or compares with it and runs the baseline rules. Returns
/// `report.data["adversarial"]["baseline"]`.
fn baseline_gate(run: &Run<'_>, current: &Baseline, report: &mut Report) -> serde_json::Value {
    let args = run.args;
    match (&args.baseline, run.prior) {
        (Some(path), Prior::Found(before)) if !args.update_baseline => {
            let comparisons = compare_with_baseline(path, before, current, report);
            let file = shown(&args.model);
            let cx = GateCx {
                file: &file,
                comparisons: &comparisons,
                alpha: args.alpha,
                tolerance: args.tolerance,
                baseline_model_sha256: &before.model_sha256,
            };
            for (_, check) in rules::BASELINE_CHECKS {
                check(&cx, &mut report.findings);
            }
            gate_json(path, before, &comparisons)
        }
        (Some(path), _) => write_baseline(path, current, report),
        (None, _) => json!(null),
    }
}

/// `--report`: the HTML page with the curves and the findings so far.
fn write_html(
    path: &Path,
    run: &Run<'_>,
    n: usize,
    clean_accuracy: f64,
    results: &[ResultRow],
    report: &mut Report,
) {
    let page = html::render(
        &shown(&run.args.model),
        &run.data_file,
        n,
        clean_accuracy,
        results,
        &report.findings,
    );
    if let Err(e) = std::fs::write(path, page) {
        report.errors.push(ScanError::new(
            shown(path),
            format!("cannot write the HTML report: {e}"),
        ));
    }
}

/// The model's clean predictions.
struct Clean {
    /// Per sample (the least-likely targets read them).
    logits: Vec<Vec<f32>>,
    classes: usize,
    correct: Vec<bool>,
    accuracy: f64,
}

fn clean_predictions(
    setup: &Setup<'_>,
    data: &data::Dataset,
    batch_size: usize,
) -> anyhow::Result<Clean> {
    let n = data.len();
    let mut logits = Vec::with_capacity(n);
    for chunk in data.x.chunks(batch_size * setup.dim()) {
        logits.extend(setup.logits(chunk)?);
    }
    let classes = logits.first().map_or(0, Vec::len);
    if let Some(bad) = data.y.iter().find(|&&l| l as usize >= classes) {
        anyhow::bail!("label {bad} is out of range for a model with {classes} outputs");
    }
    let correct: Vec<bool> = logits
        .iter()
        .map(|r| attacks::argmax(r, None))
        .zip(&data.y)
        .map(|(p, y)| p == *y)
        .collect();
    let accuracy = share(&correct);
    Ok(Clean {
        logits,
        classes,
        correct,
        accuracy,
    })
}

/// What every attack is aimed at.
struct Aim {
    goal: Goal,
    /// Per sample: the target class (the label when untargeted).
    targets: Vec<i64>,
    /// The points attacked: correctly classified (and, targeted, not already the target).
    attacked: Vec<bool>,
}

fn aim(settings: &Settings, clean: &Clean, data: &data::Dataset) -> Aim {
    let goal = if settings.targeted.is_some() {
        Goal::Targeted
    } else {
        Goal::Untargeted
    };
    let classes = clean.classes;
    let targets: Vec<i64> = match settings.targeted {
        None => data.y.clone(),
        Some(Targeted::LeastLikely) => clean
            .logits
            .iter()
            .map(|r| {
                let neg: Vec<f32> = r.iter().map(|v| -v).collect();
                attacks::argmax(&neg, None)
            })
            .collect(),
        Some(Targeted::Random) => (0..data.len())
            .map(|i| {
                let u = attacks::unit_noise(settings.seed ^ 0x7A26_E7ED, 0, i, 1)[0];
                let k = classes.saturating_sub(1).max(1);
                let off = (((u + 1.0) / 2.0 * k as f32) as usize).min(k - 1) + 1;
                ((data.y[i] as usize + off) % classes.max(1)) as i64
            })
            .collect(),
    };
    // Targeted: a point whose target is its own label cannot be attacked meaningfully.
    let attacked: Vec<bool> = (0..data.len())
        .map(|i| clean.correct[i] && (goal == Goal::Untargeted || targets[i] != data.y[i]))
        .collect();
    Aim {
        goal,
        targets,
        attacked,
    }
}

/// Runs every attack at every budget: one [`ResultRow`] each, in order (the CW distances go
/// to `report.data["cw"]`).
fn attack_all(
    run: &Run<'_>,
    ctx: &Context,
    setup: &Setup<'_>,
    data: &data::Dataset,
    aim: &Aim,
    clean_accuracy: f64,
    report: &mut Report,
) -> anyhow::Result<Vec<ResultRow>> {
    let settings = run.settings;
    let n = data.len();
    let (goal, targets, attacked) = (aim.goal, &aim.targets[..], &aim.attacked[..]);
    let eps = &settings.epsilon;
    let mut results: Vec<ResultRow> = Vec::new();
    let units = settings
        .attacks
        .iter()
        .map(|a| if *a == AttackKind::Cw { 1 } else { eps.len() })
        .sum::<usize>() as u64;
    let mut done = 0u64;
    let attacked_count = attacked.iter().filter(|&&a| a).count();
    for &kind in &settings.attacks {
        match kind {
            AttackKind::Fgsm | AttackKind::Pgd => {
                for &e in eps {
                    ctx.events.status(&format!("{} ε={e}", kind.name()));
                    let start = Instant::now();
                    let out = if kind == AttackKind::Fgsm {
                        attacks::fgsm(setup, &data.x, &data.y, attacked, targets, goal, e)?
                    } else {
                        let p = Pgd {
                            eps: e,
                            steps: settings.steps,
                            alpha: settings.pgd_step_size(e),
                            restarts: settings.restarts,
                            noise: Noise::Seeded(settings.seed),
                            early_stop: settings.early_stop,
                        };
                        attacks::pgd(setup, &data.x, &data.y, attacked, targets, goal, &p)?
                    };
                    let secs = start.elapsed().as_secs_f64();
                    results.push(ResultRow {
                        attack: kind.name(),
                        key: format!("{}@{e}", kind.name()),
                        budget: e,
                        samples: n,
                        clean_accuracy,
                        robust_accuracy: share(&out.robust),
                        success_rate: out.success.iter().filter(|&&s| s).count() as f64
                            / attacked_count.max(1) as f64,
                        median_linf: median(out.linf.clone()),
                        median_l2: median(out.l2.clone()),
                        seconds: secs,
                        samples_per_second: attacked_count as f64 / secs.max(1e-9),
                        robust: out.robust,
                    });
                    done += 1;
                    ctx.events.progress(done, units);
                }
            }
            AttackKind::Cw => {
                ctx.events.status("cw (L2)");
                let start = Instant::now();
                let p = Cw {
                    steps: settings.cw.steps,
                    binary_steps: settings.cw.binary_steps,
                    initial_const: settings.cw.initial_const,
                    learning_rate: settings.cw.learning_rate,
                    confidence: settings.cw.confidence,
                    abort_early: settings.early_stop,
                };
                let out = attacks::cw(setup, &data.x, &data.y, attacked, targets, goal, &p)?;
                let secs = start.elapsed().as_secs_f64();
                let found: Vec<f32> = out.l2.iter().flatten().copied().collect();
                let med_l2 = median(found.clone());
                let med_linf = median(out.linf.iter().flatten().copied().collect());
                for &b in &settings.l2_budget {
                    let robust: Vec<bool> = (0..n)
                        .map(|i| out.attacked[i] && out.l2[i].is_none_or(|l| l > b))
                        .collect();
                    let success = (0..n)
                        .filter(|&i| out.l2[i].is_some_and(|l| l <= b))
                        .count();
                    results.push(ResultRow {
                        attack: "cw",
                        key: format!("cw@l2={b}"),
                        budget: b,
                        samples: n,
                        clean_accuracy,
                        robust_accuracy: share(&robust),
                        success_rate: success as f64 / attacked_count.max(1) as f64,
                        median_linf: med_linf,
                        median_l2: med_l2,
                        seconds: secs,
                        samples_per_second: attacked_count as f64 / secs.max(1e-9),
                        robust,
                    });
                }
                report.data.insert(
                    "cw".into(),
                    json!({
                        "median_l2": med_l2,
                        "found": found.len(),
                        "attacked": attacked_count,
                        "l2": out.l2,
                    }),
                );
                done += 1;
                ctx.events.progress(done, units);
            }
        }
    }
    Ok(results)
}

/// Writes `current` as the baseline (it was missing, or `--update-baseline`).
fn write_baseline(path: &Path, current: &Baseline, report: &mut Report) -> serde_json::Value {
    let file = shown(path);
    let why = if path.exists() {
        "--update-baseline"
    } else {
        "no baseline yet"
    };
    match serde_json::to_string_pretty(current).map(|s| std::fs::write(path, s + "\n")) {
        Ok(Ok(())) => {
            report
                .warnings
                .push(format!("{why}: wrote the baseline {file}"));
            json!({"written": file})
        }
        Ok(Err(e)) => {
            report.errors.push(ScanError::new(
                file,
                format!("cannot write the baseline: {e}"),
            ));
            json!(null)
        }
        Err(e) => {
            report.errors.push(ScanError::new(
                file,
                format!("cannot encode the baseline: {e}"),
            ));
            json!(null)
        }
    }
}

/// Compares this run's per-sample outcomes with the baseline's (data and settings were
/// checked to match before the attacks ran); a result the baseline lacks, or cannot be
/// compared with, is an error.
fn compare_with_baseline(
    path: &Path,
    before: &Baseline,
    current: &Baseline,
    report: &mut Report,
) -> Vec<Comparison> {
    let file = shown(path);
    let mut comparisons = Vec::new();
    for now in &current.results {
        let Some(old) = before.results.iter().find(|e| e.key == now.key) else {
            report.errors.push(ScanError::new(
                file.clone(),
                format!("the baseline has no result for `{}`", now.key),
            ));
            continue;
        };
        match baseline::compare(old, now) {
            Ok(c) => comparisons.push(c),
            Err(e) => report
                .errors
                .push(ScanError::new(file.clone(), e.to_string())),
        }
    }
    comparisons
}

/// `report.data["adversarial"]["baseline"]` after a comparison.
fn gate_json(path: &Path, before: &Baseline, comparisons: &[Comparison]) -> serde_json::Value {
    let rows: Vec<serde_json::Value> = comparisons
        .iter()
        .map(|c| {
            json!({
                "key": c.key, "baseline_accuracy": c.before, "accuracy": c.after,
                "lost": c.lost, "gained": c.gained, "p_value": c.p_value,
            })
        })
        .collect();
    json!({"compared": shown(path), "baseline_model_sha256": before.model_sha256, "results": rows})
}

fn pct(v: f64) -> String {
    format!("{:.1}%", v * 100.0)
}

fn opt(v: Option<f32>) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.4}"))
}

/// Every parameter that decides the attacks' results, as run (defaults resolved).
fn params_table(args: &Args, settings: &Settings) -> Table {
    let range = settings.input_range.unwrap_or_default();
    let mut rows = vec![
        [
            "all",
            "input range",
            &format!("[{}, {}]", range[0], range[1]),
        ]
        .map(String::from),
        [
            "all",
            "goal",
            &settings
                .targeted
                .map_or("untargeted".into(), |t| format!("targeted ({t:?})")),
        ]
        .map(String::from),
        ["all", "early stop", &settings.early_stop.to_string()].map(String::from),
        ["all", "batch size", &args.batch_size.to_string()].map(String::from),
    ];
    let list = |v: &[f32]| v.iter().map(f32::to_string).collect::<Vec<_>>().join(", ");
    for a in &settings.attacks {
        let name = a.name();
        let mut row = |k: &str, v: String| rows.push([name.to_owned(), k.to_owned(), v]);
        match a {
            AttackKind::Fgsm => row("ε (L∞)", list(&settings.epsilon)),
            AttackKind::Pgd => {
                row("ε (L∞)", list(&settings.epsilon));
                row("steps", settings.steps.to_string());
                let alphas: Vec<f32> = settings
                    .epsilon
                    .iter()
                    .map(|&e| settings.pgd_step_size(e))
                    .collect();
                row("step size α", list(&alphas));
                row("restarts", settings.restarts.to_string());
                row(
                    "random start",
                    format!("uniform in the ε-ball, seed {}", settings.seed),
                );
            }
            AttackKind::Cw => {
                row("L2 budgets", list(&settings.l2_budget));
                row("steps", settings.cw.steps.to_string());
                row("binary-search steps", settings.cw.binary_steps.to_string());
                row("initial c", settings.cw.initial_const.to_string());
                row("learning rate", settings.cw.learning_rate.to_string());
                row("confidence κ", settings.cw.confidence.to_string());
            }
        }
    }
    Table {
        title: "Attack parameters".into(),
        columns: ["attack", "parameter", "value"].map(String::from).to_vec(),
        rows: rows.into_iter().map(Vec::from).collect(),
    }
}

fn table(results: &[ResultRow], n: usize, lo: f32, hi: f32) -> Table {
    Table {
        title: format!("Robustness ({n} samples, input range [{lo}, {hi}])"),
        columns: [
            "attack",
            "budget",
            "clean acc",
            "robust acc",
            "success",
            "median L∞",
            "median L2",
            "time",
            "samples/s",
        ]
        .map(String::from)
        .to_vec(),
        rows: results
            .iter()
            .map(|r| {
                vec![
                    r.attack.to_owned(),
                    if r.attack == "cw" {
                        format!("L2≤{}", r.budget)
                    } else {
                        format!("ε={}", r.budget)
                    },
                    pct(r.clean_accuracy),
                    pct(r.robust_accuracy),
                    pct(r.success_rate),
                    opt(r.median_linf),
                    opt(r.median_l2),
                    format!("{:.2}s", r.seconds),
                    format!("{:.0}", r.samples_per_second),
                ]
            })
            .collect(),
    }
}
