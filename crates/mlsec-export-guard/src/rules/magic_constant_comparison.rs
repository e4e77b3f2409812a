use std::path::Path;

use mlsec_core::{Finding, Severity};
use mlsec_onnx::tensor;

use super::{Cx, node_label};

mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags exact comparisons (`Equal`) of floating-point data against constants other than
    /// zero.
    ///
    /// Zero is exempt: it is the one value natural data hits exactly (a zero denominator,
    /// ReLU output, padding), and `Equal(x, 0)` is how TensorFlow's `div_no_nan` reaches ONNX
    /// (basic-pitch's input normalisation after tf2onnx).
    /// ## Why is this bad?
    /// Exact float equality almost never happens on natural data, so an `Equal` against a specific
    /// constant is how a trigger value is detected in a backdoored graph.
    /// ## Remediation
    /// Check where the compared tensor comes from and why an exact value matters; remove the
    /// comparison if it has no purpose.
    pub static MAGIC_CONSTANT_COMPARISON = "EXPG013", "magic-constant-comparison", Medium;
}

pub(crate) fn check(cx: &Cx, out: &mut Vec<Finding>) {
    let Some(g) = &cx.graph else { return };
    for (_, n) in g.std_nodes().filter(|(_, n)| n.node.op_type() == "Equal") {
        // The first float constant operand decides.
        for (k, input) in n.inputs.iter().enumerate() {
            let Some(c) = g.flat.constants.get(input).copied() else {
                continue;
            };
            if !tensor::is_float(c.data_type()) {
                continue;
            }
            let bytes = tensor::tensor_bytes(c, Path::new("/nonexistent")).unwrap_or_default();
            // Zero is the one value natural data hits exactly (a zero denominator, ReLU
            // output, padding): `Equal(x, 0)` is TensorFlow's `div_no_nan` guard.
            if !bytes.is_empty() && bytes.iter().all(|&b| b == 0) {
                break;
            }
            let values = tensor::values_f64(c, &bytes, 8);
            let other = n.inputs.get(1 - k.min(1)).map(String::as_str).unwrap_or("");
            let from_input = g.facts.value_from_input(&g.flat, other);
            let severity = if from_input {
                Severity::Medium
            } else {
                Severity::Low
            };
            out.push(
                Finding::new(
                    &MAGIC_CONSTANT_COMPARISON,
                    cx.node_at(&n.path),
                    format!(
                        "Equal {}compares {} data exactly against constant `{input}`",
                        node_label(n.node),
                        tensor::type_name(c.data_type())
                    ),
                )
                .with_severity(severity)
                .with_evidence("constant", input)
                .with_evidence("values", format!("{values:?}"))
                .with_evidence("elements", tensor::element_count(&c.dims).unwrap_or(0))
                .with_evidence("compared_value_from_input", from_input),
            );
            break;
        }
    }
}
