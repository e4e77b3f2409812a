use mlsec_core::Finding;
use mlsec_formats::zip::ZipEntry;

use crate::site::{Locate, Site};

mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags members of a PyTorch archive outside its `<prefix>/` directory, and members with
    /// absolute paths, `..` components or backslashes.
    /// ## Why is this bad?
    /// `torch.save` writes every member under one prefix; others are ignored by PyTorch but may be
    /// extracted by other tools (path traversal) or hide payloads.
    /// ## Remediation
    /// Re-export the checkpoint with `torch.save`, or remove the extra members.
    pub static ZIP_ENTRY_OUTSIDE_PREFIX = "CKPT013", "zip-entry-outside-prefix", Medium;
}

/// A member with an absolute path, a backslash or a `..` component, or (in a PyTorch archive,
/// whose `prefix` is given) a member not under the prefix.
pub(crate) fn check(entry: &ZipEntry, prefix: Option<&str>, site: &Site) -> Option<Finding> {
    let name = &entry.name;
    let traversal =
        name.starts_with('/') || name.contains('\\') || name.split('/').any(|c| c == "..");
    let outside = prefix.is_some_and(|p| !name.starts_with(p));
    (traversal || outside).then(|| {
        site.finding(
            &ZIP_ENTRY_OUTSIDE_PREFIX,
            site.at(entry.local_offset),
            format!(
                "member `{name}` is outside the archive prefix `{}`",
                prefix.unwrap_or("")
            ),
        )
        .with_evidence("member", name)
    })
}
