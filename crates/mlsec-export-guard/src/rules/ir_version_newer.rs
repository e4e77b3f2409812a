use mlsec_core::Finding;

use super::Cx;
use crate::ops;

mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags models whose IR version or standard opset is newer than the schema and operator table
    /// mlsec knows.
    /// ## Why is this bad?
    /// Fields and ops added after our schema are invisible to the lint, so a clean result covers
    /// less of the model than it seems.
    /// ## Remediation
    /// Update mlsec, or export with the IR version and opset your runtime targets.
    pub static IR_VERSION_NEWER = "EXPG011", "ir-version-newer", Low;
}

pub(crate) fn check(cx: &Cx, out: &mut Vec<Finding>) {
    let ir = cx.model.ir_version.unwrap_or(0);
    if ir > mlsec_onnx::SCHEMA_IR_VERSION {
        out.push(
            Finding::new(
                &IR_VERSION_NEWER,
                cx.field_at("ir_version"),
                format!(
                    "IR version {ir} is newer than the schema mlsec knows ({})",
                    mlsec_onnx::SCHEMA_IR_VERSION
                ),
            )
            .with_evidence("ir_version", ir)
            .with_evidence("schema_ir_version", mlsec_onnx::SCHEMA_IR_VERSION),
        );
    }
    if let Some(opset) = cx.default_opset().filter(|v| *v > ops::MAX_KNOWN_OPSET) {
        out.push(
            Finding::new(
                &IR_VERSION_NEWER,
                cx.field_at("opset_import"),
                format!(
                    "opset {opset} is newer than the operator table mlsec knows ({})",
                    ops::MAX_KNOWN_OPSET
                ),
            )
            .with_evidence("opset", opset)
            .with_evidence("known_opset", ops::MAX_KNOWN_OPSET),
        );
    }
}
