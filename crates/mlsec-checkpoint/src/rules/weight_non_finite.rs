use mlsec_core::{Finding, Location};
use mlsec_formats::stats::Stats;

mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags floating-point tensors that contain NaN or infinite values (counted separately from
    /// the statistics of finite values).
    /// ## Why is this bad?
    /// Non-finite weights make a model produce garbage or crash, and are a sign of a corrupted or
    /// sabotaged checkpoint.
    /// ## Remediation
    /// Retrain or restore the checkpoint from a known-good copy.
    pub static WEIGHT_NON_FINITE = "CKPT030", "weight-non-finite", Medium;
}

/// A weight tensor (see [`super::weights::is_weight`]) with any NaN or infinite element.
pub(crate) fn check(tensor: &str, s: &Stats, loc: &Location) -> Option<Finding> {
    (s.nan + s.inf > 0).then(|| {
        Finding::new(
            &WEIGHT_NON_FINITE,
            loc.clone(),
            format!(
                "tensor `{tensor}` has {} NaN and {} infinite values",
                s.nan, s.inf
            ),
        )
        .with_evidence("tensor", tensor)
        .with_evidence("nan", s.nan)
        .with_evidence("inf", s.inf)
        .with_evidence("elements", s.count)
    })
}
