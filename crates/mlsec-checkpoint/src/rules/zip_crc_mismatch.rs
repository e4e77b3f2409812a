use mlsec_core::Finding;
use mlsec_formats::zip::ZipEntry;

use crate::site::{Locate, Site};

mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags a zip member whose data does not match the CRC-32 recorded in the central directory.
    /// ## Why is this bad?
    /// Loaders differ on whether they check CRCs, so a tampered member may load in one tool and be
    /// skipped by a scanner in another.
    /// ## Remediation
    /// Re-download or re-export the checkpoint; do not trust a file whose members were altered
    /// after writing.
    pub static ZIP_CRC_MISMATCH = "CKPT010", "zip-crc-mismatch", High;
}

/// A member read whole whose CRC-32 (`actual`) is not the one its central record declares.
pub(crate) fn check(entry: &ZipEntry, actual: u32, site: &Site) -> Option<Finding> {
    (actual != entry.crc32).then(|| {
        site.finding(
            &ZIP_CRC_MISMATCH,
            site.at(entry.local_offset),
            format!("member `{}` does not match its CRC-32", entry.name),
        )
        .with_evidence("member", &entry.name)
        .with_evidence("expected", format!("{:#010x}", entry.crc32))
        .with_evidence("actual", format!("{:#010x}", actual))
    })
}
