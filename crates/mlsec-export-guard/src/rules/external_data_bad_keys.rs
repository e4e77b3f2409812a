use mlsec_core::{Finding, Severity};

use super::Cx;

mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags `external_data` entries with unknown keys, keys given more than once, or no
    /// `location`.
    /// ## Why is this bad?
    /// With a duplicated key, one loader takes the first value and another the last, so two tools
    /// can read different files or ranges for the same tensor; unknown keys are ignored by runtimes
    /// and can carry hidden data.
    /// ## Remediation
    /// Keep only `location`, `offset`, `length` and `checksum`, each at most once.
    pub static EXTERNAL_DATA_BAD_KEYS = "EXPG005", "external-data-bad-keys", Low;
}

pub(crate) fn check(cx: &Cx, out: &mut Vec<Finding>) {
    for e in &cx.external.tensors {
        let r = &cx.tensors[e.tensor];
        let ext = &e.entries;
        let has_entries = !r.tensor.external_data.is_empty();
        if ext.unknown_keys.is_empty()
            && ext.duplicate_keys.is_empty()
            && (ext.location.is_some() || !has_entries)
        {
            continue;
        }
        let severity = if ext.duplicate_keys.is_empty() {
            Severity::Low
        } else {
            Severity::Medium
        };
        let mut what = Vec::new();
        if ext.location.is_none() {
            what.push("no `location`".to_owned());
        }
        if !ext.duplicate_keys.is_empty() {
            what.push(format!("duplicate keys {:?}", ext.duplicate_keys));
        }
        if !ext.unknown_keys.is_empty() {
            what.push(format!("unknown keys {:?}", ext.unknown_keys));
        }
        out.push(
            Finding::new(
                &EXTERNAL_DATA_BAD_KEYS,
                cx.tensor_at(r),
                format!("external_data has {}", what.join(", ")),
            )
            .with_severity(severity)
            .with_evidence("path", &r.path),
        );
    }
}
