use mlsec_core::Finding;
use mlsec_formats::zip::ZipAnomaly;

use crate::site::{Locate, Site};

mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags two zip members with the same name.
    /// ## Why is this bad?
    /// Which copy is loaded depends on the reader (first or last wins), so a scanner may check the
    /// harmless copy while the loader runs the other.
    /// ## Remediation
    /// Re-export the checkpoint with a standard writer.
    pub static ZIP_DUPLICATE_ENTRY = "CKPT012", "zip-duplicate-entry", High;
}

/// Two central-directory records with one name.
pub(crate) fn check(anomaly: &ZipAnomaly, site: &Site) -> Option<Finding> {
    let ZipAnomaly::Duplicate { name, offset } = anomaly else {
        return None;
    };
    Some(
        site.finding(
            &ZIP_DUPLICATE_ENTRY,
            site.at(*offset),
            format!("member `{name}` appears more than once"),
        )
        .with_evidence("member", name),
    )
}
