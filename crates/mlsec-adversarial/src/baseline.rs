//! The baseline gate: per-(attack, budget) robust accuracy and per-sample outcomes, compared
//! with McNemar's exact test on the paired outcomes.

use serde::{Deserialize, Serialize};

use crate::settings::{DataRef, Settings};

pub const SCHEMA: &str = "mlsec-adversarial-baseline/2";
/// Before the data and settings were recorded: refused with a hint.
pub const SCHEMA_V1: &str = "mlsec-adversarial-baseline/1";

/// A baseline file: what was measured, on what, and how, so that `--model M --baseline FILE`
/// alone repeats the evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    pub schema: String,
    /// The model the numbers were measured on (a later run gates a new model against them).
    pub model_sha256: String,
    pub data: DataRef,
    /// Every setting that changes the numbers.
    pub settings: Settings,
    pub results: Vec<Entry>,
}

/// One attack at one budget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// `fgsm@0.1`, `pgd@0.1`, `cw@l2=1`.
    pub key: String,
    pub robust_accuracy: f64,
    /// One character per sample: `1` robust (correct under attack), `0` not.
    pub outcomes: String,
}

impl Entry {
    pub fn new(key: String, robust: &[bool]) -> Entry {
        let n = robust.len().max(1) as f64;
        Entry {
            key,
            robust_accuracy: robust.iter().filter(|&&r| r).count() as f64 / n,
            outcomes: robust.iter().map(|&r| if r { '1' } else { '0' }).collect(),
        }
    }
}

/// Two-sided exact McNemar p-value for `b` and `c` discordant pairs: the binomial test of
/// `min(b, c)` against Bin(b + c, 1/2).
pub fn mcnemar_exact(b: u64, c: u64) -> f64 {
    let n = b + c;
    if n == 0 {
        return 1.0;
    }
    let k = b.min(c);
    let ln_half_n = n as f64 * 0.5f64.ln();
    // ln C(n, i) iteratively.
    let mut ln_choose = 0f64;
    let mut tail = 0f64;
    for i in 0..=k {
        if i > 0 {
            ln_choose += ((n - i + 1) as f64).ln() - (i as f64).ln();
        }
        tail += (ln_choose + ln_half_n).exp();
    }
    (2.0 * tail).min(1.0)
}

/// Why a baseline cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    #[error("cannot read the baseline: {0}")]
    Read(#[source] std::io::Error),
    #[error("not a baseline file: {0}")]
    Json(#[source] serde_json::Error),
    #[error("not a baseline file: no `schema`")]
    NoSchema,
    #[error(
        "a baseline of an older mlsec (schema 1), which does not record its data and settings: \
         write a new one with --update-baseline and the flags it was made with"
    )]
    Version1,
    #[error("unknown baseline schema `{0}`")]
    UnknownSchema(String),
    #[error("`{key}`: the baseline has {before} samples, this run {after}")]
    SampleCount {
        key: String,
        before: usize,
        after: usize,
    },
}

/// Reads a baseline file; `Ok(None)` when it does not exist yet.
pub fn read(path: &std::path::Path) -> Result<Option<Baseline>, BaselineError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(BaselineError::Read(e)),
    };
    let value: serde_json::Value = serde_json::from_str(&text).map_err(BaselineError::Json)?;
    match value.get("schema").and_then(|s| s.as_str()) {
        Some(SCHEMA) => serde_json::from_value(value)
            .map(Some)
            .map_err(BaselineError::Json),
        Some(SCHEMA_V1) => Err(BaselineError::Version1),
        Some(other) => Err(BaselineError::UnknownSchema(other.to_owned())),
        None => Err(BaselineError::NoSchema),
    }
}

/// How one entry compares with its baseline.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub key: String,
    pub before: f64,
    pub after: f64,
    /// Robust before, not now.
    pub lost: u64,
    /// Not robust before, robust now.
    pub gained: u64,
    pub p_value: f64,
}

pub fn compare(before: &Entry, after: &Entry) -> Result<Comparison, BaselineError> {
    if before.outcomes.len() != after.outcomes.len() {
        return Err(BaselineError::SampleCount {
            key: before.key.clone(),
            before: before.outcomes.len(),
            after: after.outcomes.len(),
        });
    }
    let mut lost = 0;
    let mut gained = 0;
    for (p, q) in before.outcomes.bytes().zip(after.outcomes.bytes()) {
        match (p, q) {
            (b'1', b'0') => lost += 1,
            (b'0', b'1') => gained += 1,
            _ => {}
        }
    }
    Ok(Comparison {
        key: before.key.clone(),
        before: before.robust_accuracy,
        after: after.robust_accuracy,
        lost,
        gained,
        p_value: mcnemar_exact(lost, gained),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mcnemar_matches_binomial_tail() {
        // b=0, c=10: p = 2 * 0.5^10.
        assert!((mcnemar_exact(0, 10) - 2.0 / 1024.0).abs() < 1e-12);
        // b=2, c=8: 2 * (1 + 10 + 45) / 1024 = 0.109375 (scipy.stats.binomtest).
        assert!((mcnemar_exact(2, 8) - 0.109_375).abs() < 1e-12);
        assert_eq!(mcnemar_exact(5, 5), 1.0);
        assert_eq!(mcnemar_exact(0, 0), 1.0);
        // Large n does not underflow to zero or NaN.
        let p = mcnemar_exact(400, 600);
        assert!(p > 0.0 && p < 1e-9, "{p}");
    }

    #[test]
    fn compare_counts_discordant_pairs() {
        let a = Entry::new("pgd@0.1".into(), &[true, true, false, false]);
        let b = Entry::new("pgd@0.1".into(), &[true, false, true, false]);
        let c = compare(&a, &b).unwrap();
        assert_eq!((c.lost, c.gained), (1, 1));
        assert_eq!(c.before, 0.5);
        let short = Entry::new("pgd@0.1".into(), &[true]);
        assert!(compare(&a, &short).is_err());
    }
}
