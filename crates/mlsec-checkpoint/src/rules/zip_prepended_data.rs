use mlsec_core::Finding;
use mlsec_formats::zip::ZipAnomaly;

use crate::site::{Locate, Site};

mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags bytes before the first local header of a zip archive.
    /// ## Why is this bad?
    /// A file that is both a valid zip and something else (a pickle, a script) is a polyglot:
    /// different loaders read different contents.
    /// ## Remediation
    /// Re-export the checkpoint; a model file has no reason to carry a prefix.
    pub static ZIP_PREPENDED_DATA = "CKPT015", "zip-prepended-data", High;
}

/// Bytes before the first local header, located at the start of the zip.
pub(crate) fn check(anomaly: &ZipAnomaly, site: &Site) -> Option<Finding> {
    let ZipAnomaly::PrependedData { len } = anomaly else {
        return None;
    };
    Some(
        site.finding(
            &ZIP_PREPENDED_DATA,
            site.at(0),
            format!("{len} bytes precede the first zip member"),
        )
        .with_evidence("prepended_bytes", len),
    )
}
