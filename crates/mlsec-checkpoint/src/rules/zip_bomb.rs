use mlsec_core::Finding;
use mlsec_formats::zip::{ZipEntry, ZipError};

use crate::site::{Locate, Site};

mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags a deflated member whose declared size or compression ratio exceeds the limits (ratio
    /// 1000, 4 GiB by default); the member is not inflated.
    /// ## Why is this bad?
    /// Decompression bombs exhaust memory or disk in whatever extracts them.
    /// ## Remediation
    /// Do not extract the archive; re-export the checkpoint.
    pub static ZIP_BOMB = "CKPT017", "zip-bomb", High;
}

/// A member the zip reader refused to inflate under the limits (`--max-zip-ratio`,
/// `--max-zip-member-mib`). The member's content is then not checked, which the caller reports
/// as an error beside the finding.
pub(crate) fn check(entry: &ZipEntry, error: &ZipError, site: &Site) -> Option<Finding> {
    let ZipError::Bomb {
        name,
        size,
        compressed,
        max_ratio,
        max_size,
    } = error
    else {
        return None;
    };
    Some(
        site.finding(
            &ZIP_BOMB,
            site.at(entry.local_offset),
            format!("member `{name}` would inflate {compressed} bytes to {size}"),
        )
        .with_evidence("member", name)
        .with_evidence("size", size)
        .with_evidence("compressed", compressed)
        .with_evidence("max_ratio", max_ratio)
        .with_evidence("max_size", max_size),
    )
}
