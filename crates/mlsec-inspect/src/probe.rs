//! Probe inputs for the checks that run the model: read from `--data`, or synthetic by the
//! kind of model (`--type`), seeded and reproducible.

use std::path::Path;

use mlsec_runtime::ir::Graph;
use mlsec_runtime::{Device, InputSpec, Tensor};

use crate::error::ProbeError;

/// The kind of input a model takes, for synthetic probes (`--type`; a `clap::ValueEnum`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum Kind {
    /// Images: uniform in the model's declared input range, `[0, 1]` if it declares none.
    Vision,
    /// Token ids: uniform integers in `[0, vocab)`.
    Text,
    /// Standardised features: standard normal.
    Tabular,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Vision => "vision",
            Kind::Text => "text",
            Kind::Tabular => "tabular",
        }
    }
}

/// The vocabulary size used for text probes when neither the model nor `--vocab` tells it.
pub const DEFAULT_VOCAB: usize = 1000;
/// At most this many input values in all probes together (512 MiB of f32).
pub const MAX_PROBE_VALUES: usize = 1 << 27;

/// Probe inputs, row-major, `n` samples of `sample_shape`.
#[derive(Debug, Clone, PartialEq)]
pub struct Probes {
    pub sample_shape: Vec<usize>,
    pub x: Vec<f32>,
    /// Token ids (fed to the model as i64) rather than continuous values.
    pub integer: bool,
    /// The valid input range (FGSM clips to it), when there is one.
    pub range: Option<(f32, f32)>,
    /// Where the probes came from, for people: `data digits.npz (32 rows)`, `synthetic vision ...`.
    pub source: String,
}

impl Probes {
    pub fn sample_len(&self) -> usize {
        self.sample_shape.iter().product()
    }

    pub fn len(&self) -> usize {
        self.x.len().checked_div(self.sample_len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Samples `start..end` as a model input tensor (i64 for token ids).
    pub fn batch(&self, start: usize, end: usize) -> Result<Tensor, ProbeError> {
        let d = self.sample_len();
        let mut shape = vec![end - start];
        shape.extend_from_slice(&self.sample_shape);
        let values = &self.x[start * d..end * d];
        let t = if self.integer {
            let ids: Vec<i64> = values.iter().map(|&v| v as i64).collect();
            Tensor::from_vec(ids, shape, &Device::Cpu)
        } else {
            Tensor::from_slice(values, shape, &Device::Cpu)
        };
        t.map_err(ProbeError::Batch)
    }
}

/// What the probes are made from.
#[derive(Debug, Clone)]
pub struct ProbeRequest<'a> {
    pub kind: Option<Kind>,
    pub data: Option<&'a Path>,
    pub input_shape: &'a [usize],
    pub samples: usize,
    pub seed: u64,
    pub vocab: Option<usize>,
}

/// Makes the probes for a model with input `spec` (and its graph, to find a vocabulary size).
pub fn make(
    req: &ProbeRequest<'_>,
    spec: &InputSpec,
    graph: Option<&Graph>,
) -> Result<Probes, ProbeError> {
    if req.samples == 0 {
        return Err(ProbeError::NoSamples);
    }
    match req.data {
        Some(path) => from_data(req, spec, path),
        None => synthetic(req, spec, graph),
    }
}

fn from_data(req: &ProbeRequest<'_>, spec: &InputSpec, path: &Path) -> Result<Probes, ProbeError> {
    let inputs =
        mlsec_runtime::data::load_inputs(path, "x").map_err(|source| ProbeError::Data {
            path: path.to_owned(),
            source,
        })?;
    if inputs.is_empty() {
        return Err(ProbeError::EmptyData(path.to_owned()));
    }
    if let Some(declared) = declared_sample_shape(spec)
        && declared != inputs.sample_shape
    {
        return Err(ProbeError::ShapeMismatch {
            path: path.to_owned(),
            got: inputs.sample_shape,
            declared,
        });
    }
    let available = inputs.len();
    let n = available.min(req.samples);
    let d = inputs.sample_len();
    let x = inputs.x[..n * d].to_vec();
    let kind = req.kind.unwrap_or(Kind::Vision);
    let integer = kind == Kind::Text;
    if integer && x.iter().any(|v| v.fract() != 0.0 || *v < 0.0) {
        return Err(ProbeError::NotTokenIds(path.to_owned()));
    }
    let range = match spec.range {
        Some(r) => Some(r),
        None if integer => None,
        None => Some(data_range(&x)),
    };
    Ok(Probes {
        sample_shape: inputs.sample_shape,
        x,
        integer,
        range,
        source: format!("data {} (first {n} of {available} samples)", path.display()),
    })
}

/// The range of data without a declared one: `[0, 1]` or `[0, 255]` when the values fit,
/// else their own minimum and maximum (what `adversarial` does too).
fn data_range(x: &[f32]) -> (f32, f32) {
    let (lo, hi) = x
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    if lo >= 0.0 && hi <= 1.0 {
        (0.0, 1.0)
    } else if lo >= 0.0 && hi <= 255.0 {
        (0.0, 255.0)
    } else {
        (lo, hi.max(lo + f32::EPSILON))
    }
}

/// The shape of one sample as the model declares it, when every non-batch dimension is known.
fn declared_sample_shape(spec: &InputSpec) -> Option<Vec<usize>> {
    let dims = spec.dims.as_ref()?;
    if dims.is_empty() {
        return None;
    }
    dims[1..].iter().copied().collect()
}

/// The shape of one sample: `--input-shape` (its first dimension is the batch, replaced by
/// `--samples`, unless it is one shorter than the model's declared rank or has one dimension),
/// else the model's declared input dimensions.
pub fn sample_shape(input_shape: &[usize], spec: &InputSpec) -> Result<Vec<usize>, ProbeError> {
    let shape = if !input_shape.is_empty() {
        let declared_rank = spec.dims.as_ref().map(Vec::len);
        if input_shape.len() == 1 || declared_rank == Some(input_shape.len() + 1) {
            input_shape.to_vec()
        } else {
            input_shape[1..].to_vec()
        }
    } else {
        declared_sample_shape(spec).ok_or_else(|| {
            let declared = match &spec.dims {
                None => "no shape".to_owned(),
                Some(d) => format!(
                    "[{}]",
                    d.iter()
                        .map(|v| v.map_or("?".to_owned(), |v| v.to_string()))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            ProbeError::UnknownShape {
                input: spec.name.clone(),
                declared,
            }
        })?
    };
    if shape.contains(&0) {
        return Err(ProbeError::ZeroDimension(shape));
    }
    Ok(shape)
}

/// The vocabulary size of a text model: the rows of the embedding table that a `Gather` reads
/// with the model input as indices.
pub fn model_vocab(graph: &Graph, input: &str) -> Option<usize> {
    graph.nodes.iter().find_map(|n| {
        if n.op_type != "Gather" || n.inputs.get(1).map(String::as_str) != Some(input) {
            return None;
        }
        graph
            .initializers
            .get(n.inputs.first()?)
            .and_then(|t| t.dims.first().copied())
    })
}

fn synthetic(
    req: &ProbeRequest<'_>,
    spec: &InputSpec,
    graph: Option<&Graph>,
) -> Result<Probes, ProbeError> {
    let kind = req.kind.ok_or(ProbeError::NeedKind)?;
    let sample_shape = sample_shape(req.input_shape, spec)?;
    let d: usize = sample_shape.iter().product();
    let total = d
        .checked_mul(req.samples)
        .filter(|&t| t <= MAX_PROBE_VALUES)
        .ok_or_else(|| ProbeError::TooMany {
            samples: req.samples,
            shape: sample_shape.clone(),
        })?;
    let mut rng = Rng::new(req.seed);
    let (x, range, integer, what) = match kind {
        Kind::Vision => {
            let (lo, hi) = spec.range.unwrap_or((0.0, 1.0));
            let from = if spec.range.is_some() {
                "declared by the model"
            } else {
                "default"
            };
            let x = (0..total).map(|_| lo + (hi - lo) * rng.uniform()).collect();
            (
                x,
                Some((lo, hi)),
                false,
                format!("uniform in [{lo}, {hi}] ({from})"),
            )
        }
        Kind::Text => {
            let (vocab, from) = match (req.vocab, graph.and_then(|g| model_vocab(g, &spec.name))) {
                (Some(v), _) => (v, "--vocab"),
                (None, Some(v)) => (v, "the model's embedding table"),
                (None, None) => (DEFAULT_VOCAB, "default, pass --vocab"),
            };
            if vocab == 0 {
                return Err(ProbeError::ZeroVocabulary);
            }
            let x = (0..total)
                .map(|_| ((rng.next_u64() % vocab as u64) as f32).min((vocab - 1) as f32))
                .collect();
            (
                x,
                None,
                true,
                format!("token ids in [0, {vocab}) (vocabulary from {from})"),
            )
        }
        Kind::Tabular => {
            let x = (0..total).map(|_| rng.normal()).collect();
            (x, spec.range, false, "standard normal".to_owned())
        }
    };
    Ok(Probes {
        sample_shape,
        x,
        integer,
        range,
        source: format!(
            "synthetic {} probes: {} samples, {what}, seed {}",
            kind.name(),
            req.samples,
            req.seed
        ),
    })
}

/// SplitMix64: small, seeded, the same on every platform.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x5EED_1A5E_C0DE_F00D)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn uniform(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Standard normal (Box-Muller).
    pub fn normal(&mut self) -> f32 {
        let u1 = ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
        let u2 = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
    }
}
