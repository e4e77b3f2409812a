//! The `activations` check: runs the probes through the model, records statistics of every
//! intermediate node output that depends on the input, and flags layers that explode or
//! collapse and units with a backdoor-neuron signature (the decisions are the rules':
//! `crate::rules::ACTIVATION_CHECKS`).
//!
//! Two passes over the probes: the first gathers moments, extremes, per-unit maxima and a
//! per-sample projection (for constant outputs); the second fills 32-bin histograms over the
//! range the first one found. Only the statistics are kept, never the activations themselves.

use std::collections::{BTreeMap, HashMap, HashSet};

use mlsec_core::Table;
use mlsec_runtime::ir::Graph;
use mlsec_runtime::{DType, Model, Tensor};
use serde_json::{Value, json};

use crate::error::CheckError;
use crate::probe::Probes;

/// Histogram bins per layer.
pub const BINS: usize = 32;
/// Samples per forward pass.
pub const BATCH: usize = 16;

/// A layer is constant when its per-sample projections spread by at most this fraction of
/// their magnitude.
pub const CONSTANT_TOLERANCE: f64 = 1e-6;
/// Trigger-like unit: on its hot probes, the robust z-score of its value (against the unit's
/// own median/MAD over the probes) is at least this ...
pub const TRIGGER_Z: f64 = 20.0;
/// ... and its excursion above its own median is at least this many times its peers' typical
/// excursion (the median over the layer's units of peak minus median) ...
pub const TRIGGER_PEER_RATIO: f64 = 10.0;
/// ... on at most this share of the probes (rounded up; at least one probe).
pub const TRIGGER_MAX_SHARE: f64 = 0.05;
/// The trigger-unit statistics need at least this many probes.
pub const TRIGGER_MIN_SAMPLES: usize = 8;
/// Per-probe unit maxima are kept for a layer only up to this many values (probes × units,
/// 16 MiB); wider layers get every statistic but the trigger-unit search.
pub const MAX_UNIT_VALUES: usize = 1 << 22;
/// One intermediate value: the output of a node.
#[derive(Debug, Clone)]
pub struct Layer {
    /// The value's name (what [`Model::activations`] returns).
    pub value: String,
    /// What findings point at: the node's name, or `node/value` for a node with several
    /// outputs.
    pub name: String,
    pub op: String,
    /// Input values of the node that depend on the model input.
    pub inputs: Vec<String>,
    /// A graph output (the model's logits or probabilities).
    pub is_output: bool,
}

/// The layers of a graph whose outputs depend on the model input (`Shape` cuts the
/// dependence: a shape is the same for every probe).
pub fn layers(graph: &Graph, input: &str) -> Vec<Layer> {
    let mut dependent: HashSet<&str> = HashSet::from([input]);
    let mut out = Vec::new();
    for node in &graph.nodes {
        let inputs: Vec<String> = node
            .inputs
            .iter()
            .filter(|i| dependent.contains(i.as_str()))
            .cloned()
            .collect();
        if inputs.is_empty() || node.op_type == "Shape" || node.op_type == "Size" {
            continue;
        }
        let outputs: Vec<&String> = node.outputs.iter().filter(|o| !o.is_empty()).collect();
        for value in &outputs {
            dependent.insert(value.as_str());
            out.push(Layer {
                value: (*value).clone(),
                name: if outputs.len() == 1 {
                    node.name.clone()
                } else {
                    format!("{}/{value}", node.name)
                },
                op: node.op_type.clone(),
                inputs: inputs.clone(),
                is_output: graph.outputs.contains(value),
            });
        }
    }
    out
}

/// Statistics of one layer over all probes.
#[derive(Debug, Clone)]
pub struct Stats {
    /// Shape of one sample's output.
    pub shape: Vec<usize>,
    pub count: u64,
    pub sum: f64,
    pub sumsq: f64,
    pub min: f64,
    pub max: f64,
    pub max_abs: f64,
    pub non_finite: u64,
    /// Units (features or channels) and, per unit, whether it was ever > 0.
    pub units: usize,
    pub unit_fired: Vec<bool>,
    /// Per sample and unit, the unit's largest value in that sample (`n × units`).
    pub unit_max: Vec<f32>,
    /// Per sample, a ±1 projection of the whole output (equal for all samples iff constant).
    pub projection: Vec<f64>,
    /// Largest squared norm of one sample's output.
    pub max_norm_sq: f64,
    pub histogram: [u64; BINS],
}

impl Default for Stats {
    fn default() -> Stats {
        Stats {
            shape: Vec::new(),
            count: 0,
            sum: 0.0,
            sumsq: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            max_abs: 0.0,
            non_finite: 0,
            units: 0,
            unit_fired: Vec::new(),
            unit_max: Vec::new(),
            projection: Vec::new(),
            max_norm_sq: 0.0,
            histogram: [0; BINS],
        }
    }
}

impl Stats {
    pub fn finite(&self) -> u64 {
        self.count - self.non_finite
    }

    pub fn mean(&self) -> f64 {
        if self.finite() == 0 {
            f64::NAN
        } else {
            self.sum / self.finite() as f64
        }
    }

    pub fn std(&self) -> f64 {
        let n = self.finite() as f64;
        if n == 0.0 {
            return f64::NAN;
        }
        (self.sumsq / n - self.mean().powi(2)).max(0.0).sqrt()
    }

    pub fn rms(&self) -> f64 {
        let n = self.finite() as f64;
        if n == 0.0 {
            f64::NAN
        } else {
            (self.sumsq / n).sqrt()
        }
    }

    /// Share of units never > 0, for layers whose outputs are never negative (after a ReLU).
    pub fn dead_share(&self) -> Option<f64> {
        (self.finite() > 0 && self.min >= 0.0 && self.units > 0)
            .then(|| self.unit_fired.iter().filter(|f| !**f).count() as f64 / self.units as f64)
    }

    /// Whether every probe gave the same output.
    pub fn constant(&self) -> bool {
        if self.projection.len() < 2 || self.non_finite > 0 {
            return false;
        }
        let (lo, hi) = self
            .projection
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &p| {
                (lo.min(p), hi.max(p))
            });
        hi - lo <= CONSTANT_TOLERANCE * self.max_norm_sq.sqrt()
    }

    /// The histogram's range: the finite minimum and maximum.
    pub fn hist_range(&self) -> (f64, f64) {
        if self.finite() == 0 {
            (0.0, 0.0)
        } else {
            (self.min, self.max)
        }
    }
}

/// The unit of element `i` of one sample's output of shape `shape`: features of a vector,
/// the last axis of a sequence `[T, D]`, the channel of `[C, H, W, ...]`.
fn unit_layout(shape: &[usize]) -> (usize, Box<dyn Fn(usize) -> usize>) {
    match shape.len() {
        0 => (1, Box::new(|_| 0)),
        1 => (shape[0], Box::new(|i| i)),
        2 => {
            let d = shape[1].max(1);
            (d, Box::new(move |i| i % d))
        }
        _ => {
            let inner: usize = shape[1..].iter().product::<usize>().max(1);
            (shape[0], Box::new(move |i| i / inner))
        }
    }
}

fn sign_of(i: usize) -> f64 {
    if (i.wrapping_mul(2_654_435_761) >> 13) & 1 == 0 {
        1.0
    } else {
        -1.0
    }
}

/// One batch of a layer's output: the per-sample shape and the values.
type Sample = (Vec<usize>, Vec<f32>);

/// Per-sample output values of a batch as f32, with the per-sample shape; `None` for a value
/// that is not a floating-point per-sample tensor.
fn per_sample(t: &Tensor, batch: usize) -> Result<Option<Sample>, CheckError> {
    if !matches!(
        t.dtype(),
        DType::F32 | DType::F64 | DType::F16 | DType::BF16
    ) {
        return Ok(None);
    }
    let dims = t.dims();
    let Some(&first) = dims.first() else {
        return Ok(None);
    };
    if first == 0 || first % batch != 0 {
        return Ok(None);
    }
    let mut shape = dims[1..].to_vec();
    if first != batch {
        shape.insert(0, first / batch);
    }
    let values = t
        .to_dtype(DType::F32)
        .and_then(|t| t.flatten_all())
        .and_then(|t| t.to_vec1::<f32>())
        .map_err(CheckError::Activation)?;
    Ok(Some((shape, values)))
}

/// Runs the probes and computes every layer's statistics (two passes).
pub fn collect(
    model: &dyn Model,
    layers: &[Layer],
    probes: &Probes,
    progress: &dyn Fn(u64, u64),
) -> Result<BTreeMap<String, Stats>, CheckError> {
    let n = probes.len();
    let wanted: HashMap<&str, usize> = layers
        .iter()
        .enumerate()
        .map(|(i, l)| (l.value.as_str(), i))
        .collect();
    let mut stats: BTreeMap<String, Stats> = BTreeMap::new();
    // Outputs that turned out not to be per-sample (their first dimension does not follow the
    // batch): left out of the statistics.
    let mut dropped: HashSet<String> = HashSet::new();
    let batches: Vec<(usize, usize)> = (0..n)
        .step_by(BATCH)
        .map(|s| (s, (s + BATCH).min(n)))
        .collect();
    let total = 2 * batches.len() as u64;
    let mut done = 0;
    for pass in 0..2 {
        for (index, &(start, end)) in batches.iter().enumerate() {
            let x = probes.batch(start, end)?;
            let acts = model.activations(&x)?;
            let b = end - start;
            for (value, t) in acts {
                if !wanted.contains_key(value.as_str()) || dropped.contains(&value) {
                    continue;
                }
                // The layers are those of the first batch.
                if index > 0 && !stats.contains_key(&value) {
                    continue;
                }
                let sample = per_sample(&t, b)?;
                match (pass, sample) {
                    (0, Some((shape, v))) => {
                        let s = stats.entry(value.clone()).or_default();
                        if index > 0 && s.shape != shape {
                            stats.remove(&value);
                            dropped.insert(value);
                        } else {
                            first_pass(s, &shape, &v, b, n);
                        }
                    }
                    (0, None) => {
                        if stats.remove(&value).is_some() {
                            dropped.insert(value);
                        }
                    }
                    (_, Some((_, v))) => {
                        if let Some(s) = stats.get_mut(&value) {
                            second_pass(s, &v);
                        }
                    }
                    (_, None) => {}
                }
            }
            done += 1;
            progress(done, total);
        }
    }
    Ok(stats)
}

fn first_pass(s: &mut Stats, shape: &[usize], v: &[f32], b: usize, n: usize) {
    if s.projection.is_empty() {
        s.shape = shape.to_vec();
        let (units, _) = unit_layout(shape);
        s.units = units;
        s.unit_fired = vec![false; units];
        if n.saturating_mul(units) <= MAX_UNIT_VALUES {
            s.unit_max.reserve(n * units);
        }
    }
    let (units, unit_of) = unit_layout(shape);
    let e = v.len() / b;
    for sample in v.chunks_exact(e.max(1)) {
        let mut maxes = vec![f32::NEG_INFINITY; units];
        let mut proj = 0f64;
        let mut norm = 0f64;
        for (i, &a) in sample.iter().enumerate() {
            let u = unit_of(i);
            if !a.is_finite() {
                s.non_finite += 1;
                maxes[u] = f32::NAN;
                continue;
            }
            let a64 = f64::from(a);
            s.sum += a64;
            s.sumsq += a64 * a64;
            s.min = s.min.min(a64);
            s.max = s.max.max(a64);
            s.max_abs = s.max_abs.max(a64.abs());
            if a > 0.0 {
                s.unit_fired[u] = true;
            }
            if !maxes[u].is_nan() {
                maxes[u] = maxes[u].max(a);
            }
            proj += sign_of(i) * a64;
            norm += a64 * a64;
        }
        s.count += e as u64;
        if n.saturating_mul(units) <= MAX_UNIT_VALUES {
            s.unit_max.extend_from_slice(&maxes);
        }
        s.projection.push(proj);
        s.max_norm_sq = s.max_norm_sq.max(norm);
    }
}

fn second_pass(s: &mut Stats, v: &[f32]) {
    let (lo, hi) = s.hist_range();
    let width = hi - lo;
    for &a in v {
        if !a.is_finite() {
            continue;
        }
        let bin = if width > 0.0 {
            (((f64::from(a) - lo) / width * BINS as f64) as usize).min(BINS - 1)
        } else {
            0
        };
        s.histogram[bin] += 1;
    }
}

fn median(v: &mut [f64]) -> f64 {
    mlsec_util::stats::median(v).unwrap_or(f64::NAN)
}

/// A unit with a backdoor-neuron signature.
#[derive(Debug, Clone, PartialEq)]
pub struct TriggerUnit {
    pub unit: usize,
    /// Probes (indices) on which it is hot.
    pub hot: Vec<usize>,
    pub median: f64,
    pub mad: f64,
    pub hot_min: f64,
    pub peak: f64,
    /// Robust z-score of its weakest hot probe.
    pub z: f64,
    /// Its excursion over the peers' typical excursion.
    pub peer_ratio: f64,
    pub peer_excursion: f64,
}

/// Units of a layer that are silent on almost all probes and extreme on a few.
pub fn trigger_units(s: &Stats, n: usize) -> Vec<TriggerUnit> {
    let units = s.units;
    if n < TRIGGER_MIN_SAMPLES || units < 2 || Some(s.unit_max.len()) != n.checked_mul(units) {
        return Vec::new();
    }
    let max_hot = ((n as f64 * TRIGGER_MAX_SHARE).ceil() as usize).max(1);
    let column = |u: usize| -> Vec<f64> {
        (0..n)
            .map(|i| f64::from(s.unit_max[i * units + u]))
            .collect()
    };
    // Per unit: median, MAD, peak excursion above the median.
    let mut per_unit = Vec::with_capacity(units);
    for u in 0..units {
        let col = column(u);
        if col.iter().any(|v| !v.is_finite()) {
            per_unit.push(None);
            continue;
        }
        let med = median(&mut col.clone());
        let mad = median(&mut col.iter().map(|v| (v - med).abs()).collect::<Vec<_>>());
        let peak = col.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        per_unit.push(Some((col, med, mad, peak)));
    }
    let mut excursions: Vec<f64> = per_unit
        .iter()
        .flatten()
        .map(|(_, med, _, peak)| peak - med)
        .collect();
    let peer_excursion = median(&mut excursions);
    let mut out = Vec::new();
    for (u, entry) in per_unit.iter().enumerate() {
        let Some((col, med, mad, peak)) = entry else {
            continue;
        };
        let scale = 1.4826 * mad;
        let z_of = |v: f64| {
            if v <= *med {
                0.0
            } else if scale > 0.0 {
                (v - med) / scale
            } else {
                f64::INFINITY
            }
        };
        // Hot: extreme against the unit's own distribution and against its peers.
        let hot: Vec<usize> = (0..n)
            .filter(|&i| {
                z_of(col[i]) >= TRIGGER_Z
                    && (peer_excursion <= 0.0
                        || col[i] - med >= TRIGGER_PEER_RATIO * peer_excursion)
            })
            .collect();
        if hot.is_empty() || hot.len() > max_hot {
            continue;
        }
        let hot_min = hot.iter().map(|&i| col[i]).fold(f64::INFINITY, f64::min);
        let excursion = hot_min - med;
        let peer_ratio = if peer_excursion > 0.0 {
            excursion / peer_excursion
        } else {
            f64::INFINITY
        };
        out.push(TriggerUnit {
            unit: u,
            hot,
            median: *med,
            mad: *mad,
            hot_min,
            peak: *peak,
            z: z_of(hot_min),
            peer_ratio,
            peer_excursion,
        });
    }
    out
}

/// A statistic for people: 4 decimals, scientific outside [1e-3, 1e4), `-` for NaN.
pub(crate) fn fmt(v: f64) -> String {
    if v.is_nan() {
        "-".into()
    } else if v == 0.0 {
        "0".into()
    } else if v.abs() >= 1e4 || v.abs() < 1e-3 {
        format!("{v:.3e}")
    } else {
        format!("{v:.4}")
    }
}

fn finite_or_null(v: f64) -> Value {
    if v.is_finite() { json!(v) } else { Value::Null }
}

/// The model input's magnitude: the root mean square of the probes.
pub fn input_rms(probes: &Probes) -> f64 {
    let sq: f64 = probes.x.iter().map(|&v| f64::from(v).powi(2)).sum();
    (sq / probes.x.len().max(1) as f64).sqrt()
}

/// The activations table and JSON data.
pub struct Outcome {
    pub table: Table,
    pub data: Value,
}

/// Turns statistics into the table and the JSON data (the findings are the rules'
/// business: `crate::rules::ACTIVATION_CHECKS`).
pub fn analyse(layers: &[Layer], stats: &BTreeMap<String, Stats>) -> Outcome {
    let mut table = Table {
        title: "activations".into(),
        columns: [
            "layer",
            "op",
            "shape",
            "mean",
            "std",
            "max|a|",
            "dead %",
            "non-finite",
        ]
        .map(String::from)
        .to_vec(),
        rows: Vec::new(),
    };
    let mut data = Vec::new();
    for layer in layers {
        let Some(s) = stats.get(&layer.value) else {
            continue;
        };
        let shape = format!(
            "[{}]",
            std::iter::once("n".to_owned())
                .chain(s.shape.iter().map(usize::to_string))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let dead = s.dead_share();
        table.rows.push(vec![
            layer.name.clone(),
            layer.op.clone(),
            shape,
            fmt(s.mean()),
            fmt(s.std()),
            fmt(s.max_abs),
            dead.map_or("-".into(), |d| format!("{:.1}", 100.0 * d)),
            s.non_finite.to_string(),
        ]);
        let (lo, hi) = s.hist_range();
        data.push(json!({
            "layer": layer.name,
            "value": layer.value,
            "op": layer.op,
            "shape": s.shape,
            "mean": finite_or_null(s.mean()),
            "std": finite_or_null(s.std()),
            "max_abs": s.max_abs,
            "units": s.units,
            "dead_fraction": dead,
            "non_finite": s.non_finite,
            "count": s.count,
            "constant": s.constant(),
            "histogram": { "lo": lo, "hi": hi, "counts": s.histogram.to_vec() },
        }));
    }
    Outcome {
        table,
        data: Value::Array(data),
    }
}
