use mlsec_core::Finding;

use super::Cx;

mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags a key given twice in one map (`parameters`, `cc_model_filenames`, `input_map`,
    /// `priority_queue_policy`, ...).
    /// ## Why is this bad?
    /// Triton's parser silently keeps the last entry. A reviewer reading the first
    /// `EXECUTION_ENV_PATH` or `input_map` entry sees a value that is not the one in effect,
    /// which is also a way to hide a change in a long config.
    /// ## Remediation
    /// Keep exactly one entry per key.
    pub static DUPLICATE_MAP_KEY = "TRTN002", "duplicate-map-key", Medium;
}

pub(crate) fn check(cx: &Cx, out: &mut Vec<Finding>) {
    for d in &cx.validated.duplicate_keys {
        out.push(
            Finding::new(
                &DUPLICATE_MAP_KEY,
                cx.at(d.pos, &d.path),
                format!(
                    "map key {:?} given again (first at {}): Triton silently keeps this last one",
                    d.key, d.first
                ),
            )
            .with_evidence("key", &d.key)
            .with_evidence("first", d.first),
        );
    }
}
