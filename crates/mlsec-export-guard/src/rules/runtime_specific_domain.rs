use mlsec_core::{Finding, Severity};

use super::{Cx, node_label};
use crate::ops;

mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags nodes in runtime-specific domains such as `com.microsoft`, `ai.onnx.contrib` or
    /// `org.pytorch.aten`.
    ///
    /// onnxruntime's own contrib domains (`com.microsoft`, `com.microsoft.*`,
    /// `com.ms.internal.nhwc`) are information: they are compiled into every official
    /// onnxruntime build and are what its own quantizer and optimizer write (ddddocr ships a
    /// `com.microsoft::DynamicQuantizeLSTM`), so they tie the model to one runtime but load
    /// nothing. Domains served by a separately loaded library or another framework
    /// (`ai.onnx.contrib`, `org.pytorch.*`, `com.intel.ai`, `trt.plugins`) keep the rule's
    /// severity.
    /// ## Why is this bad?
    /// These ops only run on one runtime, are not covered by the ONNX specification or checker, and
    /// `ai.onnx.contrib`/`aten` ops load extension libraries.
    /// ## Remediation
    /// Export with standard operators (e.g. `operator_export_type=ONNX`), or accept the runtime
    /// dependency explicitly with an ignore in the policy file.
    pub static RUNTIME_SPECIFIC_DOMAIN = "EXPG008", "runtime-specific-domain", Low;
}

pub(crate) fn check(cx: &Cx, out: &mut Vec<Finding>) {
    for n in cx.scope_nodes() {
        let domain = n.node.domain();
        if !ops::is_runtime_domain(domain) {
            continue;
        }
        let op = n.node.op_type();
        let mut finding = Finding::new(
            &RUNTIME_SPECIFIC_DOMAIN,
            cx.node_at(&n.path()),
            format!(
                "{domain}::{op} {}runs only on a specific runtime",
                node_label(n.node)
            ),
        )
        .with_evidence("domain", domain)
        .with_evidence("op_type", op);
        // Built into the runtime: a portability note, not code to load (see above).
        if ops::is_builtin_runtime_domain(domain) {
            finding = finding
                .with_severity(Severity::Info)
                .with_evidence("builtin", true);
        }
        out.push(finding);
    }
}
