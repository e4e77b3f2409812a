use mlsec_core::Finding;

use super::{Cx, unresolved_locations};

mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags external data files that are symbolic links or have more than one hard link.
    /// ## Why is this bad?
    /// A link lets the bytes a runtime loads change without the model directory changing, or points
    /// at a file outside it; a hard link shares content with a file elsewhere that someone else can
    /// rewrite.
    /// ## Remediation
    /// Copy the data into the model directory as a regular file and re-record the provenance.
    pub static EXTERNAL_DATA_LINK = "EXPG002", "external-data-link", High;
}

pub(crate) fn check(cx: &Cx, out: &mut Vec<Finding>) {
    unresolved_locations(cx, &EXTERNAL_DATA_LINK, out);
}
