use mlsec_core::Finding;

use crate::weights::Summary;

mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags a weight tensor holding NaN or infinite values.
    /// ## Why is this bad?
    /// One NaN weight turns every output it reaches into NaN; an infinite one saturates or
    /// poisons the layer. Trained weights are always finite: non-finite values come from a
    /// diverged training run, a broken conversion (overflow to `float16`) or tampering.
    /// ## Remediation
    /// Do not deploy the model. Re-export it from a known-good checkpoint, and check the
    /// conversion step (dtype casts) that produced this file.
    pub static WEIGHT_NON_FINITE = "INSP001", "non-finite-weights", High;
}

/// Fires when the tensor holds any NaN or infinite value.
pub(crate) fn check(s: &Summary, out: &mut Vec<Finding>) {
    let st = &s.stats;
    if st.nan + st.inf == 0 {
        return;
    }
    out.push(
        Finding::new(
            &WEIGHT_NON_FINITE,
            super::tensor_at(s),
            format!(
                "`{}` holds {} NaN and {} infinite values among {} weights",
                s.name, st.nan, st.inf, st.count
            ),
        )
        .with_evidence("nan", st.nan)
        .with_evidence("inf", st.inf)
        .with_evidence("count", st.count),
    );
}
