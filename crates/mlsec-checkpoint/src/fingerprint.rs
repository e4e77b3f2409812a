//! Fingerprints: per-tensor statistics written as JSON, and comparison with a reference
//! (ours, or the original tool's `{name: {shape, histogram, range}}`).

use std::collections::{BTreeMap, HashMap};

use mlsec_core::{Finding, Location, Pointer};
use serde::{Deserialize, Serialize};

use crate::rules;
use crate::scan::TensorRecord;
use mlsec_formats::stats;

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

/// Compares a file's tensors with the reference.
pub fn compare(
    file: &str,
    tensors: &[TensorRecord],
    reference: &Reference,
    kl_threshold: f64,
) -> Vec<Finding> {
    let mut out = Vec::new();
    let loc = |name: &str| Location::file(file).with_pointer(Pointer::Tensor(name.to_owned()));
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
    // Renames: same bytes (ours) under another name.
    let mut renamed_from: HashMap<&str, &str> = HashMap::new();
    if let Reference::Ours(fp) = reference {
        for t in &unexpected {
            if let Some(old) = missing.iter().find(|n| {
                fp.tensors[n.as_str()].sha256 == t.stats.sha256
                    && !renamed_from.values().any(|v| v == &n.as_str())
            }) {
                renamed_from.insert(&t.name, old);
            }
        }
    }
    for name in &missing {
        if renamed_from.values().any(|v| v == &name.as_str()) {
            continue;
        }
        out.push(Finding::new(
            &rules::FINGERPRINT_MISSING_TENSOR,
            loc(name),
            format!("tensor `{name}` of the reference is missing"),
        ));
    }
    for t in &unexpected {
        if let Some(old) = renamed_from.get(t.name.as_str()) {
            out.push(
                Finding::new(
                    &rules::FINGERPRINT_RENAMED_TENSOR,
                    loc(&t.name),
                    format!(
                        "tensor `{}` has the bytes of reference tensor `{old}`",
                        t.name
                    ),
                )
                .with_evidence("reference_name", old),
            );
        } else {
            out.push(Finding::new(
                &rules::FINGERPRINT_UNEXPECTED_TENSOR,
                loc(&t.name),
                format!("tensor `{}` is not in the reference", t.name),
            ));
        }
    }
    for t in tensors {
        match reference {
            Reference::Ours(fp) => {
                let Some(r) = fp.tensors.get(&t.name) else {
                    continue;
                };
                if r.shape != t.shape || r.dtype != t.dtype.to_string() {
                    out.push(
                        Finding::new(
                            &rules::FINGERPRINT_SHAPE_CHANGE,
                            loc(&t.name),
                            format!(
                                "tensor `{}` changed from {} {:?} to {} {:?}",
                                t.name, r.dtype, r.shape, t.dtype, t.shape
                            ),
                        )
                        .with_evidence("reference", format!("{} {:?}", r.dtype, r.shape))
                        .with_evidence("current", format!("{} {:?}", t.dtype, t.shape)),
                    );
                    continue;
                }
                let mut flagged = false;
                let d = stats::kl(&r.histogram, &t.stats.histogram);
                if d > kl_threshold {
                    flagged = true;
                    out.push(
                        Finding::new(&rules::FINGERPRINT_DISTRIBUTION_SHIFT, loc(&t.name), format!("tensor `{}` value distribution diverges from the reference (KL {d:.3})", t.name))
                            .with_evidence("kl", format!("{d:.6}"))
                            .with_evidence("kl_threshold", kl_threshold),
                    );
                }
                let s = &t.stats;
                let mean_shift = (s.mean - r.mean).abs();
                let ratio = if r.std > 0.0 {
                    s.std / r.std
                } else if s.std > 0.0 {
                    f64::INFINITY
                } else {
                    1.0
                };
                if mean_shift > 0.25 * r.std + 1e-12 || !(1.0 / 1.5..=1.5).contains(&ratio) {
                    flagged = true;
                    out.push(
                        Finding::new(
                            &rules::FINGERPRINT_MOMENT_SHIFT,
                            loc(&t.name),
                            format!(
                                "tensor `{}` moments moved: mean {} -> {}, std {} -> {}",
                                t.name, r.mean, s.mean, r.std, s.std
                            ),
                        )
                        .with_evidence("reference_mean", r.mean)
                        .with_evidence("mean", s.mean)
                        .with_evidence("reference_std", r.std)
                        .with_evidence("std", s.std),
                    );
                }
                if !flagged && r.sha256 != s.sha256 {
                    out.push(
                        Finding::new(
                            &rules::FINGERPRINT_HASH_CHANGED,
                            loc(&t.name),
                            format!(
                                "tensor `{}` bytes changed within statistical thresholds",
                                t.name
                            ),
                        )
                        .with_evidence("reference_sha256", &r.sha256)
                        .with_evidence("sha256", &s.sha256),
                    );
                }
            }
            Reference::Legacy(map) => {
                let Some(r) = map.get(&t.name) else { continue };
                if r.shape != t.shape {
                    out.push(
                        Finding::new(
                            &rules::FINGERPRINT_SHAPE_CHANGE,
                            loc(&t.name),
                            format!(
                                "tensor `{}` changed shape from {:?} to {:?}",
                                t.name, r.shape, t.shape
                            ),
                        )
                        .with_evidence("reference", format!("{:?}", r.shape))
                        .with_evidence("current", format!("{:?}", t.shape)),
                    );
                    continue;
                }
                let Some(ours) = &t.stats.range_histogram else {
                    continue;
                };
                // The reference histogram may hold densities or counts: scale to counts.
                let total: f64 = r.histogram.iter().sum();
                let counts: Vec<u64> = r
                    .histogram
                    .iter()
                    .map(|v| {
                        if total > 0.0 {
                            (v / total * 1e6).round() as u64
                        } else {
                            0
                        }
                    })
                    .collect();
                let d = stats::kl(&counts, ours);
                if d > kl_threshold {
                    out.push(
                        Finding::new(&rules::FINGERPRINT_DISTRIBUTION_SHIFT, loc(&t.name), format!("tensor `{}` value distribution diverges from the reference (KL {d:.3} over the reference range)", t.name))
                            .with_evidence("kl", format!("{d:.6}"))
                            .with_evidence("kl_threshold", kl_threshold)
                            .with_evidence("reference_range", format!("[{}, {}]", r.range.min, r.range.max)),
                    );
                }
            }
        }
    }
    out
}
