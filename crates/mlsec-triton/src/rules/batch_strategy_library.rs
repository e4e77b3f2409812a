use mlsec_core::{Finding, Severity};

use super::{Cx, escape_reason};

mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags a custom batching strategy: the `TRITON_BATCH_STRATEGY_PATH` parameter. Critical
    /// when the path leaves the model directory.
    /// ## Why is this bad?
    /// The dynamic batcher `dlopen`s that shared library into the server process: native code
    /// chosen by the config, running with every model's data in reach. (A
    /// `batchstrategy.so` found in the model directory is reported by TRTN025.)
    /// ## Remediation
    /// Remove it unless the library is built and reviewed by you; keep it inside the model
    /// directory and covered by a checksum.
    pub static BATCH_STRATEGY_LIBRARY = "TRTN023", "batch-strategy-library", High;
}

pub(crate) fn check(cx: &Cx, out: &mut Vec<Finding>) {
    let Some((value, field)) = cx.parameter("TRITON_BATCH_STRATEGY_PATH") else {
        return;
    };
    let mut finding = Finding::new(
        &BATCH_STRATEGY_LIBRARY,
        cx.at(field.value_pos, &field.path),
        format!(
            "TRITON_BATCH_STRATEGY_PATH {value:?}: a shared library loaded into the server process"
        ),
    )
    .with_evidence("path", &value);
    if let Some(reason) = escape_reason(&value) {
        finding = finding
            .with_severity(Severity::Critical)
            .with_evidence("escape", reason);
    }
    out.push(finding);
}
