//! Cheap model checks before attacking, and the sanity (gradient-masking) rules after.

use mlsec_core::{Finding, Location, Pointer};
use mlsec_runtime::RuntimeError;
use serde::Serialize;

use crate::ResultRow;
use crate::attacks::{self, Goal, Noise, Pgd, Setup};
use crate::rules;

/// Samples used by the determinism and batch-independence checks.
pub const CHECK_SAMPLES: usize = 64;
/// Share of correctly classified samples with an all-zero input gradient that fires ADV009.
pub const ZERO_GRADIENT_SHARE: f64 = 0.05;
/// Accuracy under a PGD whose ε is the whole input range above which ADV008 fires.
pub const UNBOUNDED_ACCURACY: f64 = 0.10;
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

impl Checks {
    pub fn findings(&self, file: &str) -> Vec<Finding> {
        let loc = || Location::file(file).with_pointer(Pointer::Field("output".into()));
        let mut out = Vec::new();
        if !self.deterministic {
            out.push(
                Finding::new(
                    &rules::MODEL_NONDETERMINISTIC,
                    loc(),
                    format!(
                        "two identical forward passes differ by up to {:.3e}",
                        self.repeat_max_diff
                    ),
                )
                .with_evidence("max_diff", self.repeat_max_diff)
                .with_evidence("samples", self.samples),
            );
        }
        if !self.batch_independent {
            out.push(
                Finding::new(
                    &rules::MODEL_BATCH_DEPENDENT,
                    loc(),
                    format!(
                        "outputs depend on the rest of the batch (f(x[:k]) and f(x)[:k] differ by up to {:.3e})",
                        self.batch_max_diff
                    ),
                )
                .with_evidence("max_diff", self.batch_max_diff)
                .with_evidence("samples", self.samples),
            );
        }
        if self.probabilities {
            out.push(
                Finding::new(
                    &rules::MODEL_OUTPUTS_PROBABILITIES,
                    loc(),
                    "the model outputs probabilities (rows in [0, 1] summing to 1), not logits",
                )
                .with_evidence("samples", self.samples),
            );
        }
        if self.zero_gradient_share > ZERO_GRADIENT_SHARE {
            out.push(
                Finding::new(
                    &rules::ZERO_INPUT_GRADIENTS,
                    Location::file(file).with_pointer(Pointer::Field("input".into())),
                    format!(
                        "the input gradient is exactly zero for {} of {} correctly classified samples",
                        self.zero_gradient_samples, self.correct_samples
                    ),
                )
                .with_evidence("share", format!("{:.3}", self.zero_gradient_share))
                .with_evidence("threshold", ZERO_GRADIENT_SHARE),
            );
        }
        out
    }
}

/// Gradient-masking signals in the results, plus a PGD whose ε is the whole input range.
pub fn sanity(
    setup: &Setup<'_>,
    x: &[f32],
    y: &[i64],
    attacked: &[bool],
    results: &[ResultRow],
    file: &str,
) -> Result<Vec<Finding>, RuntimeError> {
    let loc = |key: &str| Location::file(file).with_pointer(Pointer::Field(key.to_owned()));
    let robust_count = |r: &ResultRow| r.robust.iter().filter(|&&b| b).count();
    let mut out = Vec::new();
    for pgd in results.iter().filter(|r| r.attack == "pgd") {
        if let Some(fgsm) = results
            .iter()
            .find(|r| r.attack == "fgsm" && r.budget == pgd.budget)
            && robust_count(pgd) > robust_count(fgsm) + 1
        {
            out.push(
                Finding::new(
                    &rules::PGD_WEAKER_THAN_FGSM,
                    loc(&pgd.key),
                    format!(
                        "pgd leaves {:.1}% accuracy at ε={} where fgsm leaves {:.1}%",
                        pgd.robust_accuracy * 100.0,
                        pgd.budget,
                        fgsm.robust_accuracy * 100.0
                    ),
                )
                .with_evidence("pgd_accuracy", format!("{:.4}", pgd.robust_accuracy))
                .with_evidence("fgsm_accuracy", format!("{:.4}", fgsm.robust_accuracy)),
            );
        }
    }
    for attack in ["fgsm", "pgd"] {
        let curve: Vec<&ResultRow> = results.iter().filter(|r| r.attack == attack).collect();
        for pair in curve.windows(2) {
            if pair[1].robust_accuracy > pair[0].robust_accuracy + 0.01 {
                out.push(
                    Finding::new(
                        &rules::ACCURACY_NOT_DECREASING,
                        loc(&pair[1].key),
                        format!(
                            "{attack} accuracy rises from {:.1}% at ε={} to {:.1}% at ε={}",
                            pair[0].robust_accuracy * 100.0,
                            pair[0].budget,
                            pair[1].robust_accuracy * 100.0,
                            pair[1].budget
                        ),
                    )
                    .with_evidence(
                        "smaller_eps_accuracy",
                        format!("{:.4}", pair[0].robust_accuracy),
                    )
                    .with_evidence(
                        "larger_eps_accuracy",
                        format!("{:.4}", pair[1].robust_accuracy),
                    ),
                );
            }
        }
    }
    if results
        .iter()
        .any(|r| r.attack == "fgsm" || r.attack == "pgd")
    {
        // Attack the first attacked samples with ε = the whole range.
        let mut subset = attacked.to_vec();
        let mut kept = 0;
        for s in subset.iter_mut() {
            if *s {
                kept += 1;
                *s = kept <= UNBOUNDED_SAMPLES;
            }
        }
        if kept > 0 {
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
            let acc = robust as f64 / total.max(1) as f64;
            if acc > UNBOUNDED_ACCURACY {
                out.push(
                    Finding::new(
                        &rules::UNBOUNDED_ATTACK_FAILS,
                        loc(&format!("pgd@{eps}")),
                        format!(
                            "{:.1}% of {total} samples stay correct under pgd with ε={eps} (the whole input range)",
                            acc * 100.0
                        ),
                    )
                    .with_evidence("accuracy", format!("{acc:.4}"))
                    .with_evidence("threshold", UNBOUNDED_ACCURACY),
                );
            }
        }
    }
    Ok(out)
}
