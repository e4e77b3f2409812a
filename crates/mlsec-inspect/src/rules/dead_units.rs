use mlsec_core::Finding;

use crate::weights::Summary;

mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags a weight matrix (or convolution) in which some units' incoming weights are all
    /// exactly zero: rows of a linear layer, filters of a convolution. Embedding tables are not
    /// checked (unused tokens are legitimately zero).
    /// ## Why is this bad?
    /// A unit whose weights are all zero never responds to its input. Structured pruning does
    /// this on purpose; otherwise it is a sign of a broken export or of weights overwritten to
    /// disable a unit.
    /// ## Remediation
    /// If the model was not pruned, compare it with the upstream release; the listed rows say
    /// which units are dead.
    pub static DEAD_UNITS = "INSP003", "dead-units", Low;
}

/// Fires when some, not all, rows of a matrix or filters of a convolution are all zero (the
/// rows are found by `crate::weights::rows`; embeddings have none).
pub(crate) fn check(s: &Summary, out: &mut Vec<Finding>) {
    let Some(r) = &s.rows else { return };
    if r.zero_count == 0 || r.zero_count >= r.rows {
        return;
    }
    out.push(
        Finding::new(
            &DEAD_UNITS,
            super::tensor_at(s),
            format!(
                "`{}`: {} of {} units have all-zero weights (rows {})",
                s.name,
                r.zero_count,
                r.rows,
                rows_list(&r.zero, r.zero_count)
            ),
        )
        .with_evidence("zero_rows", r.zero_count)
        .with_evidence("rows", r.rows)
        .with_evidence("first", rows_list(&r.zero, r.zero_count)),
    );
}

/// The first rows and how many more there are.
fn rows_list(rows: &[u64], total: u64) -> String {
    let list: Vec<String> = rows.iter().map(u64::to_string).collect();
    let more = total.saturating_sub(rows.len() as u64);
    if more > 0 {
        format!("{} and {more} more", list.join(", "))
    } else {
        list.join(", ")
    }
}
