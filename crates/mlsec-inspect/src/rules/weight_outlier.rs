use mlsec_core::Finding;
use mlsec_formats::stats;

use crate::weights::{Summary, num};

mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags a weight tensor with values far outside its own distribution: more than 100 robust
    /// standard deviations (1.4826 × the median absolute deviation) from its median, whatever
    /// their absolute size.
    /// ## Why is this bad?
    /// A fixed threshold such as |w| > 100 misses a planted weight of 40 in a layer whose weights
    /// are all within ±0.1. A few huge weights in one layer are how hand-made backdoors route a
    /// trigger to an output, and how corrupted files look.
    /// ## Remediation
    /// Compare the tensor with the upstream release (`mlsec checkpoint --reference`), and look at
    /// the listed position: a single extreme weight has no place in a trained layer.
    pub static WEIGHT_OUTLIER = "INSP002", "outlier-weights", Medium;
}

/// Fires when the statistics counted weights beyond [`stats::OUTLIER_K`] robust deviations
/// (the count is made with the statistics, in `mlsec_formats::stats`).
pub(crate) fn check(s: &Summary, out: &mut Vec<Finding>) {
    let st = &s.stats;
    let fires = st.outliers > 0 && st.robust_scale > 0.0;
    if !fires {
        return;
    }
    let value = if st.max.abs() >= st.min.abs() {
        st.max
    } else {
        st.min
    };
    let deviations = (value - st.median).abs() / st.robust_scale;
    let at = position(&s.shape, st.max_abs_index);
    out.push(
        Finding::new(
            &WEIGHT_OUTLIER,
            super::tensor_at(s),
            format!(
                "`{}`: {} more than {} robust deviations from the median; the largest, {} at {at}, is {:.0} deviations out (median {}, robust scale {})",
                s.name,
                if st.outliers == 1 {
                    "1 weight lies".to_owned()
                } else {
                    format!("{} weights lie", st.outliers)
                },
                stats::OUTLIER_K,
                num(value),
                deviations,
                num(st.median),
                num(st.robust_scale)
            ),
        )
        .with_evidence("outliers", st.outliers)
        .with_evidence("largest", num(value))
        .with_evidence("position", at)
        .with_evidence("deviations", format!("{deviations:.0}"))
        .with_evidence("median", num(st.median))
        .with_evidence("robust_scale", num(st.robust_scale))
        .with_evidence("threshold", format!("{} robust deviations", stats::OUTLIER_K)),
    );
}

/// `[i, j, ...]` of a flat index in `shape`.
fn position(shape: &[u64], mut flat: u64) -> String {
    let mut idx = vec![0u64; shape.len()];
    for (d, &n) in shape.iter().enumerate().rev() {
        if n > 0 {
            idx[d] = flat % n;
            flat /= n;
        }
    }
    format!(
        "[{}]",
        idx.iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn positions() {
        assert_eq!(super::position(&[4, 3], 7), "[2, 1]");
    }
}
