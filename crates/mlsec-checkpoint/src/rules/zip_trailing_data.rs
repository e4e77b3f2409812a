use mlsec_core::Finding;
use mlsec_formats::zip::ZipAnomaly;

use crate::site::{Locate, Site};

mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags bytes after the end-of-central-directory record of a zip archive (or after the
    /// storages of a legacy checkpoint).
    /// ## Why is this bad?
    /// Trailing bytes are ignored by zip readers but can carry a second payload for another reader.
    /// ## Remediation
    /// Re-export the checkpoint.
    pub static ZIP_TRAILING_DATA = "CKPT016", "zip-trailing-data", Medium;
}

/// Bytes after the end-of-central-directory record and its comment.
pub(crate) fn check(anomaly: &ZipAnomaly, site: &Site) -> Option<Finding> {
    let ZipAnomaly::TrailingData { offset, len } = anomaly else {
        return None;
    };
    Some(
        site.finding(
            &ZIP_TRAILING_DATA,
            site.at(*offset),
            format!("{len} bytes follow the end of the zip archive"),
        )
        .with_evidence("trailing_bytes", len),
    )
}

/// A legacy (pre-1.6 `torch.save`) checkpoint of `total` bytes whose last storage ends at
/// `end`: any byte after it is never read by `torch.load`.
pub(crate) fn check_legacy(site: &Site, end: usize, total: usize) -> Option<Finding> {
    (end < total).then(|| {
        site.finding(
            &ZIP_TRAILING_DATA,
            end as u64,
            format!(
                "{} bytes follow the last storage of a legacy checkpoint",
                total - end
            ),
        )
        .with_evidence("trailing_bytes", total - end)
    })
}
