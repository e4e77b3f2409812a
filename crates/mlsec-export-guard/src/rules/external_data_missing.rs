use mlsec_core::Finding;

use super::{Cx, unresolved_locations};

mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags tensors whose external data file does not exist or is not a regular file.
    /// ## Why is this bad?
    /// The model cannot be loaded as shipped, and a file that appears later (dropped by someone
    /// else) would be loaded without having been hashed or reviewed.
    /// ## Remediation
    /// Ship every external data file with the model and record them all with `mlsec export-guard
    /// record`.
    pub static EXTERNAL_DATA_MISSING = "EXPG003", "external-data-missing", Medium;
}

pub(crate) fn check(cx: &Cx, out: &mut Vec<Finding>) {
    unresolved_locations(cx, &EXTERNAL_DATA_MISSING, out);
}
