use std::collections::BTreeSet;
use std::path::Path;

use mlsec_core::{Finding, Pointer, Severity};
use mlsec_onnx::proto::{AttributeProto, TensorProto};
use mlsec_onnx::tensor;

use super::{Cx, GraphCx, node_label};
use crate::ops;

/// At most this many dead nodes are reported one by one.
const MAX_DEAD_REPORTED: usize = 20;

mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags nodes whose outputs never reach a graph output and initializers that no node uses.
    ///
    /// Dead elements that can carry something fail at the rule's severity: a node computing
    /// from input values (a dormant branch), a learned layer, a custom-domain node, a node
    /// with a string, subgraph or multi-valued attribute, an initializer with more than one
    /// distinct value. Dead code that only computes from constants and input shapes (the
    /// leftovers of the ONNX suite's function expansions: unused `Shape`, `Size`, scalar
    /// `Constant`) is one information finding, and an unused tensor of a single repeated
    /// value (silero-vad's zero-filled `val_7`, model-zoo blob queues) is information: neither
    /// has room for a payload.
    /// ## Why is this bad?
    /// Dead elements are invisible in behaviour but travel with the model: they can hold a payload,
    /// or a dormant subgraph that a small later edit activates.
    /// ## Remediation
    /// Run an optimiser that removes unused nodes and initializers (e.g. `onnxsim`, `onnxruntime`
    /// offline optimisation) before shipping.
    pub static DEAD_GRAPH_ELEMENTS = "EXPG017", "dead-graph-elements", Low;
}

/// Dead nodes and initializers. Dead elements that can carry something fail (rule severity):
/// a node computing from input values (a dormant branch), a learned layer, a constant or
/// initializer holding more than one distinct value (a payload). Dead code that only computes
/// from constants and input shapes, and unused tensors of one repeated value (zero buffers,
/// scalars), carry nothing: exporters leave them (the ONNX suite's function expansions,
/// torch.onnx's unused zero initializers in silero-vad), so they are information.
pub(crate) fn check(cx: &Cx, out: &mut Vec<Finding>) {
    let Some(g) = &cx.graph else { return };
    dead_nodes(cx, g, out);
    unused_initializers(cx, g, out);
}

fn dead_nodes(cx: &Cx, g: &GraphCx<'_>, out: &mut Vec<Finding>) {
    let (flat, facts) = (&g.flat, &g.facts);
    let dead: Vec<usize> = (0..flat.nodes.len())
        .filter(|&i| facts.to_output[i].is_none())
        .collect();
    let (can_carry, inert): (Vec<usize>, Vec<usize>) = dead.iter().partition(|&&i| {
        let n = &flat.nodes[i];
        facts.from_input[i]
            || facts.trunk[i]
            || !ops::normal_domain(n.node.domain()).is_empty()
            || n.node.attribute.iter().any(|a| !attribute_inert(a))
    });
    for &i in can_carry.iter().take(MAX_DEAD_REPORTED) {
        let n = &flat.nodes[i];
        out.push(
            Finding::new(
                &DEAD_GRAPH_ELEMENTS,
                cx.node_at(&n.path),
                format!(
                    "{} {}never contributes to a graph output",
                    n.node.op_type(),
                    node_label(n.node)
                ),
            )
            .with_evidence("dead_nodes", dead.len()),
        );
    }
    if can_carry.len() > MAX_DEAD_REPORTED {
        out.push(
            Finding::new(
                &DEAD_GRAPH_ELEMENTS,
                cx.field_at("graph.node"),
                format!("{} more dead nodes", can_carry.len() - MAX_DEAD_REPORTED),
            )
            .with_evidence("dead_nodes", dead.len()),
        );
    }
    if let Some(&first) = inert.first() {
        let first_ops: Vec<&str> = inert
            .iter()
            .take(8)
            .map(|&i| flat.nodes[i].node.op_type())
            .collect();
        out.push(
            Finding::new(
                &DEAD_GRAPH_ELEMENTS,
                cx.node_at(&flat.nodes[first].path),
                format!(
                    "{} dead node(s) compute only from constants and input shapes",
                    inert.len()
                ),
            )
            .with_severity(Severity::Info)
            .with_evidence("inert_dead_nodes", inert.len())
            .with_evidence("ops", first_ops.join(", ")),
        );
    }
}

fn unused_initializers(cx: &Cx, g: &GraphCx<'_>, out: &mut Vec<Finding>) {
    let flat = &g.flat;
    let mut used: BTreeSet<&str> = flat.outputs.iter().map(String::as_str).collect();
    for n in &flat.nodes {
        used.extend(n.inputs.iter().chain(&n.outer).map(String::as_str));
    }
    let Some(graph) = &cx.model.graph else { return };
    for (i, t) in graph.initializer.iter().enumerate() {
        if used.contains(t.name()) {
            continue;
        }
        let mut finding = Finding::new(
            &DEAD_GRAPH_ELEMENTS,
            cx.at(Pointer::Tensor(t.name().to_owned())),
            format!("initializer `{}` is not used by any node", t.name()),
        )
        .with_evidence("path", format!("graph.initializer[{i}]"))
        .with_evidence("bytes", tensor::expected_bytes(t).unwrap_or(0));
        if is_uniform(t) {
            finding = finding
                .with_severity(Severity::Info)
                .with_evidence("uniform", true);
        }
        out.push(finding);
    }
}

/// Whether an attribute of a dead node can carry nothing: numbers, one repeated value, or a
/// tensor of one repeated value. Strings and subgraphs can carry a payload.
fn attribute_inert(a: &AttributeProto) -> bool {
    if a.g.is_some() || !a.graphs.is_empty() || !a.strings.is_empty() || a.s.is_some() {
        return false;
    }
    if a.sparse_tensor.is_some() || !a.sparse_tensors.is_empty() || !a.tensors.is_empty() {
        return false;
    }
    if let Some(t) = &a.t {
        return is_uniform(t);
    }
    a.ints.windows(2).all(|w| w[0] == w[1])
        && a.floats
            .windows(2)
            .all(|w| w[0].to_bits() == w[1].to_bits())
}

/// A tensor whose elements are all the same (or that has at most one): no room for a payload.
/// External and unreadable data count as not uniform.
fn is_uniform(t: &TensorProto) -> bool {
    let Some(bits) = tensor::element_bits(t.data_type()) else {
        return false;
    };
    let Ok(bytes) = tensor::tensor_bytes(t, Path::new("/nonexistent")) else {
        return false;
    };
    let width = usize::try_from(bits / 8).unwrap_or(1).max(1);
    let mut chunks = bytes.chunks(width);
    let first = chunks.next();
    chunks.all(|c| Some(c) == first)
}
