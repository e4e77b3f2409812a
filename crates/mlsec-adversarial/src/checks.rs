//! The measurements the model-check and sanity rules decide on: cheap model checks before
//! attacking ([`run`]), and a PGD whose ε is the whole input range after ([`unbounded`]).
//! The decisions are in `crate::rules`.

use mlsec_runtime::RuntimeError;
use serde::Serialize;

use crate::ResultRow;
use crate::attacks::{self, Goal, Noise, Pgd, Setup};

/// Samples used by the determinism and batch-independence checks.
pub const CHECK_SAMPLES: usize = 64;
/// Samples attacked by the unbounded PGD check.
pub const UNBOUNDED_SAMPLES: usize = 200;

/// What the pre-attack checks measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Checks {
    pub samples: usize,
    pub deterministic: bool,
    /// Largest difference between two identical forward passes.
    pub repeat_max_diff: f32,
    pub batch_independent: bool,
    /// Largest difference between `f(x[:k])` and `f(x)[:k]`.
    pub batch_max_diff: f32,
    /// The outputs look like probabilities (rows in [0, 1] summing to 1).
    pub probabilities: bool,
    pub zero_gradient_samples: usize,
    pub correct_samples: usize,
    pub zero_gradient_share: f64,
}

fn max_diff(a: &[Vec<f32>], b: &[Vec<f32>]) -> f32 {
    let mut m = 0f32;
    for (r, s) in a.iter().zip(b) {
        for (p, q) in r.iter().zip(s) {
            let d = (p - q).abs();
            // NaN differences count as maximal.
            m = if d.is_nan() { f32::INFINITY } else { m.max(d) };
        }
    }
    m
}

pub fn run(
    setup: &Setup<'_>,
    x: &[f32],
    y: &[i64],
    correct: &[bool],
) -> Result<Checks, RuntimeError> {
    let d = setup.dim();
    let m = y.len().min(CHECK_SAMPLES).min(setup.batch_size.max(2));
    let xs = &x[..m * d];
    let first = setup.logits(xs)?;
    let second = setup.logits(xs)?;
    let repeat_max_diff = max_diff(&first, &second);
    let scale = first
        .iter()
        .flatten()
        .fold(0f32, |a, v| a.max(v.abs()))
        .max(1.0);
    let k = (m / 2).max(1);
    let part = setup.logits(&xs[..k * d])?;
    let batch_max_diff = max_diff(&part, &first[..k]);
    let probabilities = first.iter().all(|row| {
        row.iter().all(|&v| (-1e-6..=1.0 + 1e-6).contains(&v))
            && (row.iter().sum::<f32>() - 1.0).abs() < 1e-3
    });
    // Input gradients of the loss at every correctly classified point.
    let idx: Vec<usize> = (0..y.len()).filter(|&i| correct[i]).collect();
    let mut zero = 0;
    for batch in idx.chunks(setup.batch_size.max(1)) {
        let mut xs = Vec::with_capacity(batch.len() * d);
        for &i in batch {
            xs.extend_from_slice(&x[i * d..(i + 1) * d]);
        }
        let labels: Vec<i64> = batch.iter().map(|&i| y[i]).collect();
        let (_, g) = setup.ce_gradient(&xs, &labels)?;
        zero += g
            .chunks(d)
            .filter(|row| row.iter().all(|&v| v == 0.0))
            .count();
    }
    Ok(Checks {
        samples: m,
        deterministic: repeat_max_diff == 0.0,
        repeat_max_diff,
        batch_independent: batch_max_diff <= 1e-4 * scale,
        batch_max_diff,
        probabilities,
        zero_gradient_samples: zero,
        correct_samples: idx.len(),
        zero_gradient_share: zero as f64 / idx.len().max(1) as f64,
    })
}

/// What the PGD whose ε is the whole input range left (ADV008 decides on it).
#[derive(Debug, Clone, PartialEq)]
pub struct Unbounded {
    /// ε: the width of the input range.
    pub eps: f32,
    /// Samples attacked (the first [`UNBOUNDED_SAMPLES`] attacked ones).
    pub samples: usize,
    /// Share of them still correctly classified.
    pub accuracy: f64,
}

/// Attacks the first attacked samples with a PGD whose ε is the whole input range; `None`
/// when no FGSM/PGD result is there to sanity-check or no sample is attacked.
pub fn unbounded(
    setup: &Setup<'_>,
    x: &[f32],
    y: &[i64],
    attacked: &[bool],
    results: &[ResultRow],
) -> Result<Option<Unbounded>, RuntimeError> {
    if !results
        .iter()
        .any(|r| r.attack == "fgsm" || r.attack == "pgd")
    {
        return Ok(None);
    }
    let mut subset = attacked.to_vec();
    let mut kept = 0;
    for s in subset.iter_mut() {
        if *s {
            kept += 1;
            *s = kept <= UNBOUNDED_SAMPLES;
        }
    }
    if kept == 0 {
        return Ok(None);
    }
    let eps = setup.hi - setup.lo;
    let p = Pgd {
        eps,
        steps: 10,
        alpha: 2.5 * eps / 10.0,
        restarts: 1,
        noise: Noise::Seeded(0),
        early_stop: true,
    };
    let o = attacks::pgd(setup, x, y, &subset, y, Goal::Untargeted, &p)?;
    let total = subset.iter().filter(|&&s| s).count();
    let robust = o.robust.iter().filter(|&&r| r).count();
    Ok(Some(Unbounded {
        eps,
        samples: total,
        accuracy: robust as f64 / total.max(1) as f64,
    }))
}
