//! Why a check that runs the model could not run. The text becomes a `ScanError` for the
//! model file, so each variant reads as one lowercase phrase naming the flag to change.

use std::path::PathBuf;

use mlsec_runtime::RuntimeError;

use crate::probe::MAX_PROBE_VALUES;

/// The probe inputs could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("--samples must be at least 1")]
    NoSamples,
    #[error("--data {}: {source}", .path.display())]
    Data {
        path: PathBuf,
        #[source]
        source: mlsec_runtime::data::DataError,
    },
    #[error("--data {}: no samples", .0.display())]
    EmptyData(PathBuf),
    #[error("--data {}: samples have shape {got:?}, the model declares {declared:?}", .path.display())]
    ShapeMismatch {
        path: PathBuf,
        got: Vec<usize>,
        declared: Vec<usize>,
    },
    #[error("--data {}: --type text needs non-negative integer token ids", .0.display())]
    NotTokenIds(PathBuf),
    #[error(
        "synthetic probes need the kind of input: pass --type vision|text|tabular (or --data FILE)"
    )]
    NeedKind,
    #[error(
        "cannot determine the input shape (input `{input}` declares {declared}): pass --input-shape, e.g. --input-shape 1,3,224,224"
    )]
    UnknownShape { input: String, declared: String },
    #[error("input shape {0:?} has a zero dimension")]
    ZeroDimension(Vec<usize>),
    #[error(
        "{samples} probes of shape {shape:?} are more than {MAX_PROBE_VALUES} values: lower --samples"
    )]
    TooMany { samples: usize, shape: Vec<usize> },
    #[error("the vocabulary size is 0")]
    ZeroVocabulary,
    #[error("cannot build the probe batch: {0}")]
    Batch(candle_core::Error),
}

/// A check (activations, FGSM) failed while running the model.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error(transparent)]
    Probe(#[from] ProbeError),
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error("FGSM needs continuous inputs; token ids cannot be perturbed")]
    TokenIds,
    #[error("--eps {0} must be finite and non-negative")]
    Eps(f32),
    #[error(
        "FGSM needs a classifier with one row of at least 2 logits per input; the output has {rows} rows of {classes}"
    )]
    NotAClassifier { rows: usize, classes: usize },
    #[error("cannot read the input gradient: {0}")]
    Gradient(candle_core::Error),
    #[error("cannot build the perturbed batch: {0}")]
    Perturbed(candle_core::Error),
    #[error("cannot read an activation: {0}")]
    Activation(candle_core::Error),
}

const EXPORT: &str = "export the model with `torch.export.save(torch.export.export(model.eval(), (example_input,)), \"model.pt2\")` or to ONNX with `torch.onnx.export(model.eval(), example_input, \"model.onnx\")`";

/// The model cannot be run (the weight checks still can).
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read the model: {0}")]
    Read(std::io::Error),
    /// The TorchScript runtime's message (built with the `torch` feature).
    #[error("cannot run the TorchScript model: {0}; {EXPORT}")]
    TorchScript(String),
    #[error(
        "cannot run the model: a TorchScript module, which needs a build with the `torch` feature (scripts/setup-libtorch.sh); or {EXPORT}"
    )]
    NeedsTorch,
    #[error("cannot run the model: {0}")]
    Onnx(RuntimeError),
    #[error("cannot run the model: a {0} file (a PyTorch state dict holds weights only); {EXPORT}")]
    StateDict(&'static str),
    #[error(
        "cannot run the model: a {0} file holds weights or data, not a runnable graph; {EXPORT}"
    )]
    NotRunnable(&'static str),
}
