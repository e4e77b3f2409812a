use mlsec_core::Finding;
use mlsec_formats::zip::ZipAnomaly;

use crate::site::{Locate, Site};

mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags a member whose local header disagrees with its central-directory record (name, flags,
    /// method, CRC or size).
    /// ## Why is this bad?
    /// Readers that walk local headers and readers that use the central directory see different
    /// files: a classic way to show a scanner one member and the loader another.
    /// ## Remediation
    /// Re-export the checkpoint with a standard writer.
    pub static ZIP_HEADER_MISMATCH = "CKPT011", "zip-header-mismatch", High;
}

/// A local header that disagrees with the central directory, as the zip reader reported it
/// (offsets in the zip's own bytes, located through `site`).
pub(crate) fn check(anomaly: &ZipAnomaly, site: &Site) -> Option<Finding> {
    let ZipAnomaly::HeaderMismatch {
        name,
        offset,
        field,
        central,
        local,
    } = anomaly
    else {
        return None;
    };
    Some(
        site.finding(
            &ZIP_HEADER_MISMATCH,
            site.at(*offset),
            format!("member `{name}`: local header {field} differs from the central directory"),
        )
        .with_evidence("member", name)
        .with_evidence("field", field)
        .with_evidence("central", central)
        .with_evidence("local", local),
    )
}
