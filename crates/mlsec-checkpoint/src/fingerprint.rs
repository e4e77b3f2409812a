//! Fingerprints: per-tensor statistics written as JSON, and comparison with a reference
//! (ours, or the original tool's `{name: {shape, histogram, range}}`) by the `fingerprint-*`
//! rules (`rules::fingerprint_*::check`).

use std::collections::{BTreeMap, HashMap};

use mlsec_core::{Finding, Location, Pointer};
use serde::{Deserialize, Serialize};

use crate::rules;
use crate::scan::TensorRecord;

pub const FORMAT: &str = "mlsec-fingerprint";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TensorPrint {
    pub dtype: String,
    pub shape: Vec<u64>,
    pub count: u64,
    pub nan: u64,
    pub inf: u64,
    pub min: f64,
    pub max: f64,
    pub mean: f64,
    pub std: f64,
    pub l2: f64,
    /// Counts per sign and power of two (see `histogram_bins`).
    pub histogram: Vec<u64>,
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Fingerprint {
    pub format: String,
    pub version: u32,
    pub file: String,
    /// How `histogram` bins values.
    pub histogram_bins: String,
    pub tensors: BTreeMap<String, TensorPrint>,
}

pub fn build(file: &str, tensors: &[TensorRecord]) -> Fingerprint {
    Fingerprint {
        format: FORMAT.into(),
        version: 1,
        file: file.into(),
        histogram_bins: "64 bins: bin 31-k holds negative values with floor(log2|v|) = k-24, bin 32+k positive ones (k in 0..32, clamped); zero goes to the smallest bin".into(),
        tensors: tensors
            .iter()
            .map(|t| {
                let s = &t.stats;
                (
                    t.name.clone(),
                    TensorPrint {
                        dtype: t.dtype.to_string(),
                        shape: t.shape.clone(),
                        count: s.count,
                        nan: s.nan,
                        inf: s.inf,
                        min: s.min,
                        max: s.max,
                        mean: s.mean,
                        std: s.std,
                        l2: s.l2,
                        histogram: s.histogram.clone(),
                        sha256: s.sha256.clone(),
                    },
                )
            })
            .collect(),
    }
}

/// The original tool's per-tensor entry.
#[derive(Debug, Clone, Deserialize)]
pub struct LegacyPrint {
    pub shape: Vec<u64>,
    pub histogram: Vec<f64>,
    pub range: LegacyRange,
}

#[derive(Debug, Clone, Copy, Deserialize)]
pub struct LegacyRange {
    pub min: f64,
    pub max: f64,
}

/// A reference fingerprint in either format.
#[derive(Debug, Clone)]
pub enum Reference {
    Ours(Fingerprint),
    Legacy(BTreeMap<String, LegacyPrint>),
}

/// Why a reference fingerprint cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ReferenceError {
    #[error("not JSON: {0}")]
    Json(serde_json::Error),
    #[error("invalid mlsec fingerprint: {0}")]
    Ours(serde_json::Error),
    #[error("neither an mlsec fingerprint nor a `{{name: {{shape, histogram, range}}}}` map: {0}")]
    Neither(serde_json::Error),
}

impl Reference {
    pub fn parse(text: &str) -> Result<Reference, ReferenceError> {
        let value: serde_json::Value = serde_json::from_str(text).map_err(ReferenceError::Json)?;
        if value.get("format").and_then(|f| f.as_str()) == Some(FORMAT) {
            return serde_json::from_value(value)
                .map(Reference::Ours)
                .map_err(ReferenceError::Ours);
        }
        serde_json::from_value(value)
            .map(Reference::Legacy)
            .map_err(ReferenceError::Neither)
    }

    /// Per-tensor ranges for the original format's histograms.
    pub fn ranges(&self) -> HashMap<String, (f64, f64)> {
        match self {
            Reference::Ours(_) => HashMap::new(),
            Reference::Legacy(map) => map
                .iter()
                .map(|(k, v)| (k.clone(), (v.range.min, v.range.max)))
                .collect(),
        }
    }
}

/// Where a finding about tensor `name` of `file` is.
pub(crate) fn tensor_location(file: &str, name: &str) -> Location {
    Location::file(file).with_pointer(Pointer::Tensor(name.to_owned()))
}

/// Compares a file's tensors with the reference: names first (missing, unexpected, renamed),
/// then each tensor the reference has (shape, then distribution, moments and hash).
pub fn compare(
    file: &str,
    tensors: &[TensorRecord],
    reference: &Reference,
    kl_threshold: f64,
) -> Vec<Finding> {
    let mut out = Vec::new();
    let current: BTreeMap<&str, &TensorRecord> =
        tensors.iter().map(|t| (t.name.as_str(), t)).collect();
    let ref_names: Vec<String> = match reference {
        Reference::Ours(fp) => fp.tensors.keys().cloned().collect(),
        Reference::Legacy(map) => map.keys().cloned().collect(),
    };
    let missing: Vec<&String> = ref_names
        .iter()
        .filter(|n| !current.contains_key(n.as_str()))
        .collect();
    let unexpected: Vec<&TensorRecord> = tensors
        .iter()
        .filter(|t| !ref_names.iter().any(|n| n == &t.name))
        .collect();
    let renamed_from = rules::fingerprint_renamed_tensor::renames(reference, &missing, &unexpected);
    for name in &missing {
        out.extend(rules::fingerprint_missing_tensor::check(
            name,
            &renamed_from,
            file,
        ));
    }
    for t in &unexpected {
        out.extend(
            rules::fingerprint_renamed_tensor::check(&t.name, &renamed_from, file).or_else(|| {
                rules::fingerprint_unexpected_tensor::check(&t.name, &renamed_from, file)
            }),
        );
    }
    for t in tensors {
        match reference {
            Reference::Ours(fp) => {
                let Some(r) = fp.tensors.get(&t.name) else {
                    continue;
                };
                if let Some(f) = rules::fingerprint_shape_change::check(r, t, file) {
                    out.push(f);
                    continue;
                }
                let shift = rules::fingerprint_distribution_shift::check(r, t, kl_threshold, file);
                let moved = rules::fingerprint_moment_shift::check(r, t, file);
                let explained = shift.is_some() || moved.is_some();
                out.extend(shift);
                out.extend(moved);
                out.extend(rules::fingerprint_hash_changed::check(
                    r, t, explained, file,
                ));
            }
            Reference::Legacy(map) => {
                let Some(r) = map.get(&t.name) else { continue };
                if let Some(f) = rules::fingerprint_shape_change::check_legacy(r, t, file) {
                    out.push(f);
                    continue;
                }
                out.extend(rules::fingerprint_distribution_shift::check_legacy(
                    r,
                    t,
                    kl_threshold,
                    file,
                ));
            }
        }
    }
    out
}
