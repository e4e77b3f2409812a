use mlsec_core::Finding;

use crate::weights::Summary;

mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags a weight matrix (or convolution) in which two units have bit-identical, non-zero
    /// incoming weights. Embedding tables are not checked.
    /// ## Why is this bad?
    /// Independently trained units never end up bit-identical. A copied filter or row is left by
    /// hand editing (a unit duplicated to strengthen a planted path) or by a broken conversion.
    /// ## Remediation
    /// Compare the tensor with the upstream release; the evidence lists which row repeats which.
    pub static DUPLICATE_UNITS = "INSP004", "duplicate-units", Medium;
}

/// Fires when a row repeats an earlier row bit for bit (found by `crate::weights::rows`).
pub(crate) fn check(s: &Summary, out: &mut Vec<Finding>) {
    let Some(r) = &s.rows else { return };
    if r.duplicate_count == 0 {
        return;
    }
    let pairs: Vec<String> = r
        .duplicates
        .iter()
        .map(|(row, first)| format!("{row} = {first}"))
        .collect();
    out.push(
        Finding::new(
            &DUPLICATE_UNITS,
            super::tensor_at(s),
            format!(
                "`{}`: {} unit(s) repeat another unit's weights bit for bit (row {})",
                s.name,
                r.duplicate_count,
                pairs.join(", ")
            ),
        )
        .with_evidence("duplicates", r.duplicate_count)
        .with_evidence("rows", pairs.join(", ")),
    );
}
