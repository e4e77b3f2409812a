use mlsec_core::Finding;
use mlsec_formats::zip::ZipAnomaly;

use crate::site::{Locate, Site};

mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags a zip archive that `torch.load`'s reader (PyTorchStreamReader over miniz) and
    /// Python's `zipfile` (used by `numpy.load` for `.npz`, Keras and skops) read differently:
    /// a different end-of-central-directory record, a different ZIP64 end record (miniz follows
    /// the locator's offset, `zipfile` takes the record right before the locator), offsets taken
    /// as absolute (miniz) or shifted by the bytes in front of the directory (`zipfile`: two
    /// zips glued together), an entry count that disagrees with the directory's size (miniz
    /// reads the count, `zipfile` reads until the size is used up), or an archive only one of
    /// them can open (a name flagged UTF-8 that is not, an end signature cut short, an
    /// end-of-central-directory comment longer than the file). Every member either reader sees is
    /// scanned; the evidence names the members only one of them reads.
    /// ## Why is this bad?
    /// A conforming writer never produces these archives. They show one loader, or one
    /// scanner, a harmless member while the other loader runs a different one: torch reads the
    /// first of two concatenated zips, numpy the second.
    /// ## Remediation
    /// Treat the file as malicious: do not load it. Regenerate it from a trusted source with a
    /// standard writer (`torch.save`, `numpy.savez`).
    pub static ZIP_READER_DIFFERENTIAL = "CKPT018", "zip-reader-differential", High;
}

/// An archive torch's reader and Python's `zipfile` read differently (the zip reader's
/// `ReaderDifferential`), or an end-of-central-directory comment longer than the file, which
/// stricter readers refuse.
pub(crate) fn check(anomaly: &ZipAnomaly, site: &Site) -> Option<Finding> {
    match anomaly {
        ZipAnomaly::CommentOverrun {
            offset,
            declared,
            available,
        } => Some(
            site.finding(
                &ZIP_READER_DIFFERENTIAL,
                site.at(*offset),
                format!(
                    "the end-of-central-directory comment declares {declared} bytes, {available} follow"
                ),
            )
            .with_evidence("declared", declared)
            .with_evidence("available", available),
        ),
        ZipAnomaly::ReaderDifferential {
            offset,
            message,
            torch_only,
            zipfile_only,
        } => {
            let mut f = site.finding(&ZIP_READER_DIFFERENTIAL, site.at(*offset), message.clone());
            if !torch_only.is_empty() {
                f = f.with_evidence("torch_only", torch_only);
            }
            if !zipfile_only.is_empty() {
                f = f.with_evidence("zipfile_only", zipfile_only);
            }
            Some(f)
        }
        _ => None,
    }
}
