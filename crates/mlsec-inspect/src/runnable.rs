//! The checks that run the model: `activations` (per-layer statistics, exploding/collapsing
//! layers, trigger-like units) and `fgsm` (prediction flips under one FGSM step).
//!
//! Each check measures once (`activations::collect`, `fgsm::run`), then its rule table
//! (`rules::ACTIVATION_CHECKS`, `rules::FGSM_CHECKS`) decides on what it measured; the
//! findings of one check are in the report before the next one runs.
//!
//! Only the model the user names is run, on probes from `--data` or synthetic ones. A model
//! that cannot be loaded or run is a `ScanError` naming the file and the problem, never a
//! clean result.

use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};

use mlsec_core::{Context, Report, ScanError, Table};
use mlsec_formats::sniff::{Format, sniff};
use mlsec_runtime::{Model, OnnxModel};
use serde_json::json;

use crate::error::LoadError;
pub use crate::probe::Kind;
use crate::probe::{self, ProbeRequest};
use crate::rules::{self, ActivationsCx, FgsmCx};
use crate::{activations, fgsm};

/// What the runnable checks need from the command line.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOptions {
    /// The kind of input, for synthetic probes (`--type`).
    pub kind: Option<Kind>,
    /// Probe inputs (`--data`): `.npz`/`.safetensors` key `x`, a folder with `x.npy`, or a
    /// single `.npy`, shaped `[samples, ...]`.
    pub data: Option<PathBuf>,
    /// `--input-shape`, batch dimension first (replaced by `samples`).
    pub input_shape: Vec<usize>,
    /// How many probes (the first rows of `--data`, or this many synthetic ones).
    pub samples: usize,
    pub seed: u64,
    /// Run the `activations` check.
    pub activations: bool,
    /// Run the `fgsm` check.
    pub fgsm: bool,
    /// FGSM step as a fraction of the input range.
    pub eps: f32,
    /// Vocabulary size for synthetic text probes (`--vocab`) when the model does not tell.
    pub vocab: Option<usize>,
    /// The checks run because none were named (no `--checks`): one that cannot run on this
    /// model (activations of a TorchScript module) is a warning, not an error.
    pub by_default: bool,
}

impl Default for RunOptions {
    fn default() -> RunOptions {
        RunOptions {
            kind: None,
            data: None,
            input_shape: Vec::new(),
            samples: 32,
            seed: 0,
            activations: true,
            fgsm: true,
            eps: 0.03,
            vocab: None,
            by_default: false,
        }
    }
}

/// The first bytes of a file, enough to sniff its format.
pub(crate) fn head(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut head = Vec::with_capacity(4096);
    std::fs::File::open(path)?
        .take(4096)
        .read_to_end(&mut head)?;
    Ok(head)
}

/// Whether `path` is a model the runtime can run, by content: ONNX; a `torch.export` archive
/// (`.pt2`); TorchScript (a zip with `code/`) only with the `torch` feature.
pub fn is_runnable(path: &Path) -> bool {
    if !path.is_file() {
        return false;
    }
    let Ok(head) = head(path) else { return false };
    match sniff(&head) {
        Format::Onnx => true,
        Format::Zip if mlsec_runtime::pt2::is_pt2(path) => true,
        #[cfg(feature = "torch")]
        Format::Zip => mlsec_runtime::is_torchscript(path),
        _ => false,
    }
}

/// A loaded model: ONNX (with the graph the activations check walks) or, with the `torch`
/// feature, TorchScript.
enum Loaded {
    Onnx(Box<OnnxModel>),
    #[cfg(feature = "torch")]
    Torch(mlsec_runtime::torch::TorchScriptModel),
}

impl Loaded {
    fn model(&self) -> &dyn Model {
        match self {
            Loaded::Onnx(m) => m.as_ref(),
            #[cfg(feature = "torch")]
            Loaded::Torch(m) => m,
        }
    }

    fn graph(&self) -> Option<&mlsec_runtime::ir::Graph> {
        match self {
            Loaded::Onnx(m) => Some(m.graph()),
            #[cfg(feature = "torch")]
            Loaded::Torch(_) => None,
        }
    }
}

fn load(path: &Path) -> Result<Loaded, LoadError> {
    let head = head(path).map_err(LoadError::Read)?;
    let format = sniff(&head);
    if format == Format::Zip && mlsec_runtime::pt2::is_pt2(path) {
        return mlsec_runtime::pt2::load(path)
            .map(|m| Loaded::Onnx(Box::new(m)))
            // The report names the file already.
            .map_err(|e| match e {
                mlsec_runtime::RuntimeError::Archive { message, .. } => {
                    LoadError::Onnx(mlsec_runtime::RuntimeError::Model(message))
                }
                other => LoadError::Onnx(other),
            });
    }
    if format == Format::Zip && mlsec_runtime::is_torchscript(path) {
        #[cfg(feature = "torch")]
        return mlsec_runtime::torch::TorchScriptModel::load(path)
            .map(Loaded::Torch)
            .map_err(|e| LoadError::TorchScript(format!("{e:#}")));
        #[cfg(not(feature = "torch"))]
        return Err(LoadError::NeedsTorch);
    }
    match format {
        Format::Onnx | Format::Unknown => OnnxModel::load(path)
            .map(|m| Loaded::Onnx(Box::new(m)))
            .map_err(LoadError::Onnx),
        Format::Zip | Format::Pickle => Err(LoadError::StateDict(format.name())),
        other => Err(LoadError::NotRunnable(other.name())),
    }
}

/// Loads the model, makes the probes and runs the requested checks. Findings, the
/// `activations` / `fgsm` tables and `report.data` entries (`probes`, `activations`, `fgsm`)
/// go into `report`; anything that cannot be done is a `ScanError` for `file`.
pub fn check(path: &Path, file: &str, opts: &RunOptions, report: &mut Report, ctx: &Context) {
    if !opts.activations && !opts.fgsm {
        return;
    }
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
        run_checks(path, file, opts, report, ctx)
    }));
    if outcome.is_err() {
        report.errors.push(ScanError::new(
            file,
            "internal error while running the model (this is a bug in mlsec; please report it)",
        ));
    }
}

fn run_checks(path: &Path, file: &str, opts: &RunOptions, report: &mut Report, ctx: &Context) {
    let loaded = match load(path) {
        Ok(l) => l,
        Err(e) => {
            report.errors.push(ScanError::new(file, e.to_string()));
            return;
        }
    };
    let model = loaded.model();
    let graph = loaded.graph();
    let req = ProbeRequest {
        kind: opts.kind,
        data: opts.data.as_deref(),
        input_shape: &opts.input_shape,
        samples: opts.samples,
        seed: opts.seed,
        vocab: opts.vocab,
    };
    let probes = match probe::make(&req, model.input(), graph) {
        Ok(p) => p,
        Err(e) => {
            report.errors.push(ScanError::new(file, e.to_string()));
            return;
        }
    };
    if !ctx.quiet {
        ctx.events.status(&format!("{file}: {}", probes.source));
    }
    report.data.insert(
        "probes".into(),
        json!({
            "source": probes.source,
            "samples": probes.len(),
            "sample_shape": probes.sample_shape,
            "range": probes.range.map(|(lo, hi)| [lo, hi]),
        }),
    );
    if opts.activations {
        activations_check(file, model, graph, &probes, opts, report, ctx);
    }
    if opts.fgsm {
        fgsm_check(file, model, &probes, opts, report, ctx);
    }
}

/// The `activations` check: collect every layer's statistics once, then
/// `rules::ACTIVATION_CHECKS` decide; the table and `report.data["activations"]` follow.
fn activations_check(
    file: &str,
    model: &dyn Model,
    graph: Option<&mlsec_runtime::ir::Graph>,
    probes: &probe::Probes,
    opts: &RunOptions,
    report: &mut Report,
    ctx: &Context,
) {
    const ONLY_ONNX: &str =
        "intermediate outputs are only available for ONNX models; export to ONNX";
    let Some(graph) = graph else {
        if opts.by_default {
            report
                .warnings
                .push(format!("{file}: activations skipped: {ONLY_ONNX}"));
        } else {
            report
                .errors
                .push(ScanError::new(file, format!("activations: {ONLY_ONNX}")));
        }
        return;
    };
    let layers = activations::layers(graph, &model.input().name);
    let progress = |done, total| ctx.events.progress(done, total);
    let stats = match activations::collect(model, &layers, probes, &progress) {
        Ok(stats) => stats,
        Err(e) => {
            report
                .errors
                .push(ScanError::new(file, format!("activations: {e}")));
            return;
        }
    };
    let cx = ActivationsCx {
        file,
        layers: &layers,
        stats: &stats,
        probes: probes.len(),
        input_rms: activations::input_rms(probes),
    };
    for (_, check) in rules::ACTIVATION_CHECKS {
        check(&cx, &mut report.findings);
    }
    let out = activations::analyse(&layers, &stats);
    report.tables.push(out.table);
    report.data.insert("activations".into(), out.data);
}

/// The `fgsm` check: one step once; the table and `report.data["fgsm"]`, then
/// `rules::FGSM_CHECKS` decide.
fn fgsm_check(
    file: &str,
    model: &dyn Model,
    probes: &probe::Probes,
    opts: &RunOptions,
    report: &mut Report,
    ctx: &Context,
) {
    if probes.integer {
        report.warnings.push(format!(
            "{file}: fgsm skipped: text models take token ids, which FGSM cannot perturb"
        ));
        return;
    }
    let progress = |done, total| ctx.events.progress(done, total);
    match fgsm::run(model, probes, opts.eps, &progress) {
        Ok(r) => {
            fgsm_report(&r, report);
            let cx = FgsmCx { file, result: &r };
            for (_, check) in rules::FGSM_CHECKS {
                check(&cx, &mut report.findings);
            }
        }
        Err(e) => report
            .errors
            .push(ScanError::new(file, format!("fgsm: {e}"))),
    }
}

/// The `fgsm` table and JSON data.
fn fgsm_report(r: &fgsm::FgsmResult, report: &mut Report) {
    let rate = r.flip_rate();
    report.tables.push(Table {
        title: "fgsm".into(),
        columns: ["probes", "flipped", "flip rate", "eps", "step"]
            .map(String::from)
            .to_vec(),
        rows: vec![vec![
            r.n.to_string(),
            r.flipped.to_string(),
            format!("{:.1} %", 100.0 * rate),
            r.eps.to_string(),
            r.step.to_string(),
        ]],
    });
    report.data.insert(
        "fgsm".into(),
        json!({
            "n": r.n,
            "flipped": r.flipped,
            "flip_rate": rate,
            "eps": r.eps,
            "step": r.step,
            "range": r.range.map(|(lo, hi)| [lo, hi]),
            "threshold": rules::FRAGILE_FLIP_RATE,
        }),
    );
}
