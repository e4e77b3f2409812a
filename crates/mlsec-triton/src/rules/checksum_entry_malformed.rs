use mlsec_core::Finding;

use super::checksum_md5_only::entries;
use super::{Cx, escape_reason};

mlsec_core::declare_rule! {
    /// ## What it does
    /// Checks the checksum agent's entries: each key must be `MD5:<path in the model
    /// directory>` and each value 32 hex digits; with the model directory on disk, the file
    /// must exist.
    /// ## Why is this bad?
    /// A malformed entry makes the agent fail the load or, worse, check nothing for that
    /// file; a path outside the model directory verifies a file that is not the model.
    /// ## Remediation
    /// Regenerate the entries with `md5sum` over the files of the model directory.
    pub static CHECKSUM_ENTRY_MALFORMED = "TRTN032", "checksum-entry-malformed", Medium;
}

pub(crate) fn check(cx: &Cx, out: &mut Vec<Finding>) {
    for (key, value, field) in entries(cx) {
        let loc = cx.at(field.pos, &field.path);
        let problem = match key.split_once(':') {
            None => Some(format!("key {key:?} is not `MD5:<path>`")),
            Some((algo, _)) if algo != "MD5" => {
                Some(format!("algorithm {algo:?} is not supported (only MD5)"))
            }
            Some((_, "")) => Some("empty path".to_owned()),
            Some((_, path)) => {
                if let Some(reason) = escape_reason(path) {
                    Some(format!("path {path:?} is {reason}"))
                } else if value.len() != 32 || !value.bytes().all(|b| b.is_ascii_hexdigit()) {
                    Some(format!(
                        "value {value:?} is not an MD5 digest (32 hex digits)"
                    ))
                } else if cx.model_dir.is_some()
                    && !cx
                        .files
                        .iter()
                        .any(|f| f.rel == path.trim_start_matches("./"))
                {
                    Some(format!("{path} does not exist in the model directory"))
                } else {
                    None
                }
            }
        };
        if let Some(problem) = problem {
            out.push(
                Finding::new(
                    &CHECKSUM_ENTRY_MALFORMED,
                    loc,
                    format!("checksum entry: {problem}"),
                )
                .with_evidence("key", &key),
            );
        }
    }
}
