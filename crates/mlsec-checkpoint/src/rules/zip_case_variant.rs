use mlsec_core::Finding;
use mlsec_formats::zip::ZipEntry;

use crate::site::{Locate, Site};

/// Member names PyTorch's reader looks up, compared case-insensitively.
const KNOWN: [&str; 5] = [
    "data.pkl",
    "constants.pkl",
    "version",
    "byteorder",
    ".data/version",
];

mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags members whose names differ from a well-known member only by case, such as `DATA.PKL`
    /// next to or instead of `data.pkl`.
    /// ## Why is this bad?
    /// Case-insensitive file systems and readers resolve such names differently, which lets an
    /// archive show different pickles to different tools.
    /// ## Remediation
    /// Re-export the checkpoint with `torch.save`.
    pub static ZIP_CASE_VARIANT = "CKPT014", "zip-case-variant", High;
}

/// A member whose last path component spells a well-known member name in another case.
pub(crate) fn check(entry: &ZipEntry, site: &Site) -> Option<Finding> {
    let lower = entry.name.to_ascii_lowercase();
    let base = lower.rsplit('/').next().unwrap_or(&lower);
    let orig_base = entry.name.rsplit('/').next().unwrap_or(&entry.name);
    (KNOWN.contains(&base) && !KNOWN.contains(&orig_base)).then(|| {
        site.finding(
            &ZIP_CASE_VARIANT,
            site.at(entry.local_offset),
            format!("member `{}` differs from `{base}` only by case", entry.name),
        )
        .with_evidence("member", &entry.name)
    })
}
