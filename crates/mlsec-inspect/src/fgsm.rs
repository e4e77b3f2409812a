//! The `fgsm` check: one FGSM step of size ε (a fraction of the input range) against the
//! model's own predictions, `x' = clip(x + ε·(hi − lo)·sign(∇ₓ CE(f(x), ŷ)), lo, hi)`, and how
//! many predictions flip. The gradient is `mlsec_runtime::loss::ce_gradient`, the same code
//! `adversarial` attacks with.

use mlsec_runtime::loss::{ce_gradient, rows};
use mlsec_runtime::{Device, Model, Tensor, parallel};

use crate::error::CheckError;
use crate::probe::Probes;

/// Probes per forward/backward pass.
pub const BATCH: usize = 32;

/// The result of the probe.
#[derive(Debug, Clone, PartialEq)]
pub struct FgsmResult {
    pub n: usize,
    pub flipped: usize,
    /// ε as a fraction of the input range, and in input units.
    pub eps: f32,
    pub step: f32,
    /// The range inputs were clipped to, if any.
    pub range: Option<(f32, f32)>,
    /// Per probe: the clean prediction and the prediction after the step.
    pub clean: Vec<i64>,
    pub adversarial: Vec<i64>,
}

impl FgsmResult {
    pub fn flip_rate(&self) -> f64 {
        if self.n == 0 {
            0.0
        } else {
            self.flipped as f64 / self.n as f64
        }
    }
}

/// Index of the largest logit, the first on ties (as `adversarial` does).
pub fn argmax(row: &[f32]) -> i64 {
    let mut best = None::<(usize, f32)>;
    for (i, &v) in row.iter().enumerate() {
        if best.is_none_or(|(_, b)| v > b) {
            best = Some((i, v));
        }
    }
    best.map_or(-1, |(i, _)| i as i64)
}

fn sign(v: f32) -> f32 {
    if v > 0.0 {
        1.0
    } else if v < 0.0 {
        -1.0
    } else {
        0.0
    }
}

/// Runs the probe. Without a declared range (tabular data) the step is ε in input units (a
/// standardised feature's standard deviation) and nothing is clipped.
pub fn run(
    model: &dyn Model,
    probes: &Probes,
    eps: f32,
    progress: &dyn Fn(u64, u64),
) -> Result<FgsmResult, CheckError> {
    if probes.integer {
        return Err(CheckError::TokenIds);
    }
    if !(eps.is_finite() && eps >= 0.0) {
        return Err(CheckError::Eps(eps));
    }
    let step = match probes.range {
        Some((lo, hi)) => eps * (hi - lo),
        None => eps,
    };
    let n = probes.len();
    let d = probes.sample_len();
    let mut shape = probes.sample_shape.clone();
    shape.insert(0, 0);
    let mut clean = Vec::with_capacity(n);
    let mut adversarial = Vec::with_capacity(n);
    let total = n.div_ceil(BATCH) as u64;
    for (b, start) in (0..n).step_by(BATCH).enumerate() {
        let end = (start + BATCH).min(n);
        let x = probes.batch(start, end)?;
        let logits = rows(&parallel::forward(model, &x)?)?;
        let classes = logits.first().map_or(0, Vec::len);
        if classes < 2 || logits.len() != end - start {
            return Err(CheckError::NotAClassifier {
                rows: logits.len(),
                classes,
            });
        }
        let labels: Vec<i64> = logits.iter().map(|r| argmax(r)).collect();
        let (_, grad) = ce_gradient(model, &x, &labels)?;
        let grad = grad
            .flatten_all()
            .and_then(|g| g.to_vec1::<f32>())
            .map_err(CheckError::Gradient)?;
        let xs = &probes.x[start * d..end * d];
        let adv: Vec<f32> = xs
            .iter()
            .zip(&grad)
            .map(|(&v, &g)| {
                let moved = v + step * sign(g);
                match probes.range {
                    Some((lo, hi)) => moved.clamp(lo, hi),
                    None => moved,
                }
            })
            .collect();
        shape[0] = end - start;
        let adv_t =
            Tensor::from_vec(adv, shape.clone(), &Device::Cpu).map_err(CheckError::Perturbed)?;
        let adv_logits = rows(&parallel::forward(model, &adv_t)?)?;
        clean.extend(labels);
        adversarial.extend(adv_logits.iter().map(|r| argmax(r)));
        progress(b as u64 + 1, total);
    }
    let flipped = clean
        .iter()
        .zip(&adversarial)
        .filter(|(a, b)| a != b)
        .count();
    Ok(FgsmResult {
        n,
        flipped,
        eps,
        step,
        range: probes.range,
        clean,
        adversarial,
    })
}
