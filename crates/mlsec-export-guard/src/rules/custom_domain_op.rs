use mlsec_core::Finding;

use super::{Cx, node_label};
use crate::ops;

mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags nodes in a custom operator domain that is neither a standard ONNX domain, a known
    /// runtime domain, nor a model-local function.
    /// ## Why is this bad?
    /// A custom-domain op is implemented by a native library the runtime must load
    /// (`register_custom_ops_library`): shipping such a model means shipping and executing native
    /// code that no ONNX checker looks at.
    /// ## Remediation
    /// Replace the op by standard operators or a model-local function, or review and pin the native
    /// library it needs.
    pub static CUSTOM_DOMAIN_OP = "EXPG007", "custom-domain-op", High;
}

pub(crate) fn check(cx: &Cx, out: &mut Vec<Finding>) {
    for n in cx.scope_nodes() {
        let domain = n.node.domain();
        // Runtime-specific domains are EXPG008's.
        if ops::is_runtime_domain(domain) || ops::is_standard_domain(domain) {
            continue;
        }
        let op = n.node.op_type();
        out.push(
            Finding::new(
                &CUSTOM_DOMAIN_OP,
                cx.node_at(&n.path()),
                format!(
                    "{domain}::{op} {}is a custom-domain op with no model-local function: it needs a native library",
                    node_label(n.node)
                ),
            )
            .with_evidence("domain", domain)
            .with_evidence("op_type", op),
        );
    }
}
