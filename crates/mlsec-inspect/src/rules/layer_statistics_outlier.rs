use std::collections::BTreeMap;

use mlsec_core::Finding;
use mlsec_util::stats::upper_median;

use super::WeightsCx;
use crate::weights::{Summary, num};

mlsec_core::declare_rule! {
    /// ## What it does
    /// Compares each weight with its peers, the tensors of the same role in the other blocks of
    /// the model (names equal up to their numbers, e.g. `layers.#.mlp.fc1.weight`, at least 4 of
    /// them), and flags one whose standard deviation or spectral norm is at least 2× away from
    /// the peers' median and more than 8 robust deviations (median absolute deviation of the
    /// logarithms) from it.
    /// ## Why is this bad?
    /// Blocks of a trained network keep similar scales. A block scaled up or down as a whole
    /// stands out among its peers although each of its weights looks ordinary on its own: a sign
    /// of tampering or of a block swapped in from another model.
    /// ## Remediation
    /// Compare the block with the upstream release (`mlsec checkpoint --reference`). Some
    /// architectures scale blocks on purpose (by depth, or the first and last block): if so,
    /// ignore the rule for these tensors in `mlsec.toml`.
    pub static LAYER_STATISTICS_OUTLIER = "INSP005", "layer-statistics-outlier", Low;
}

/// Peers: at least this many tensors of one role, compared on a log scale.
const PEER_MIN: usize = 4;
/// Flag a tensor this many robust deviations (MAD of the logarithms) from its peers' median...
const PEER_K: f64 = 8.0;
/// ...and at least this factor away from it.
const PEER_FACTOR: f64 = 2.0;

/// A statistic peers are compared on.
type Measure = fn(&Summary) -> Option<f64>;

/// Groups the floating-point tensors by role and shape and flags, per group of at least
/// [`PEER_MIN`], the members whose std or spectral norm stands out.
pub(crate) fn check(cx: &WeightsCx, out: &mut Vec<Finding>) {
    let mut groups: BTreeMap<(String, &[u64]), Vec<&Summary>> = BTreeMap::new();
    for s in cx.summaries {
        // Tensors already flagged for NaN or outliers have distorted statistics.
        if s.stats.nan + s.stats.inf + s.stats.outliers > 0 || !s.dtype.is_float() {
            continue;
        }
        // Peers have the same shape: a block that is wider on purpose is not compared.
        if let Some(r) = role(&s.name) {
            groups.entry((r, &s.shape)).or_default().push(s);
        }
    }
    for ((role, shape), members) in groups {
        if members.len() < PEER_MIN {
            continue;
        }
        let measures: [(&str, Measure); 2] = [
            ("std", |s| Some(s.stats.std)),
            ("spectral_norm", |s| {
                s.rows.as_ref().map(|r| r.spectral_norm)
            }),
        ];
        let mut flagged: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for (measure, get) in measures {
            let logs: Vec<(&Summary, f64)> = members
                .iter()
                .filter_map(|s| {
                    get(s)
                        .filter(|v| v.is_finite() && *v > 0.0)
                        .map(|v| (*s, v.ln()))
                })
                .collect();
            if logs.len() < PEER_MIN {
                continue;
            }
            let mut values: Vec<f64> = logs.iter().map(|(_, l)| *l).collect();
            // At least PEER_MIN values: the medians exist.
            let median = upper_median(&mut values).unwrap_or(0.0);
            let mut dev: Vec<f64> = values.iter().map(|l| (l - median).abs()).collect();
            let scale = 1.4826 * upper_median(&mut dev).unwrap_or(0.0);
            for (s, l) in &logs {
                let d = (l - median).abs();
                if d >= PEER_FACTOR.ln() && d > PEER_K * scale {
                    flagged.entry(s.name.as_str()).or_default().push(format!(
                        "{measure} {} vs a peer median of {} ({:.1}x {})",
                        num(l.exp()),
                        num(median.exp()),
                        d.exp(),
                        if *l > median { "higher" } else { "lower" }
                    ));
                }
            }
        }
        for (name, what) in flagged {
            let s = members.iter().find(|s| s.name == name).expect("member");
            out.push(
                Finding::new(
                    &LAYER_STATISTICS_OUTLIER,
                    super::tensor_at(s),
                    format!(
                        "`{name}` stands out among the {} tensors `{role}` of shape {shape:?}: {}",
                        members.len(),
                        what.join("; ")
                    ),
                )
                .with_evidence("role", &role)
                .with_evidence("peers", members.len())
                .with_evidence("deviation", what.join("; "))
                .with_evidence(
                    "threshold",
                    format!("{PEER_FACTOR}x and {PEER_K} robust deviations of the log"),
                ),
            );
        }
    }
}

/// The role of a tensor among numbered blocks: its name with every all-digit component
/// replaced by `#` (`layers.12.mlp.fc1.weight` → `layers.#.mlp.fc1.weight`).
fn role(name: &str) -> Option<String> {
    let parts: Vec<&str> = name
        .split('.')
        .map(|c| {
            if !c.is_empty() && c.bytes().all(|b| b.is_ascii_digit()) {
                "#"
            } else {
                c
            }
        })
        .collect();
    parts.contains(&"#").then(|| parts.join("."))
}

#[cfg(test)]
mod tests {
    use super::role;

    #[test]
    fn roles() {
        assert_eq!(
            role("model.layers.12.mlp.up_proj.weight").as_deref(),
            Some("model.layers.#.mlp.up_proj.weight")
        );
        assert_eq!(role("conv.weight"), None);
        assert_eq!(role("h.3.fc1.weight").as_deref(), Some("h.#.fc1.weight"));
    }
}
