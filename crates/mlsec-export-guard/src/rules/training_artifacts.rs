use mlsec_core::{Finding, Severity};

use super::{Cx, node_label};
use crate::model::ScopeKind;
use crate::ops;

mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags training operators (`ai.onnx.preview.training`) and `training_info` in a model shipped
    /// for inference.
    /// ## Why is this bad?
    /// Training graphs can rewrite initializers when run, and `training_info` graphs are ignored by
    /// inference tools, so they are a place to hide a second graph that reviewers do not see.
    ///
    /// Calibration: a training operator in the main graph (or its subgraphs) is reported as
    /// information only. It is visible to anyone reading the graph, and inference runtimes do
    /// not implement `ai.onnx.preview.training` ops, so such a model fails to load rather than
    /// doing something unseen; the ONNX package's own test models (`test_adam`, `test_adagrad`,
    /// `test_momentum`, `test_gradient_of_add`) are exactly that. `training_info` and the
    /// operators inside it keep the rule's severity.
    /// ## Remediation
    /// Export the inference graph only (`training=TrainingMode.EVAL`) and strip `training_info`.
    pub static TRAINING_ARTIFACTS = "EXPG009", "training-artifacts", Medium;
}

pub(crate) fn check(cx: &Cx, out: &mut Vec<Finding>) {
    for n in cx.scope_nodes() {
        if ops::normal_domain(n.node.domain()) != ops::TRAINING_DOMAIN {
            continue;
        }
        let mut finding = Finding::new(
            &TRAINING_ARTIFACTS,
            cx.node_at(&n.path()),
            format!(
                "training operator {} {}in an inference graph",
                n.node.op_type(),
                node_label(n.node)
            ),
        )
        .with_evidence("domain", n.node.domain());
        // Outside `training_info` the op is in plain sight and an inference runtime
        // refuses the model rather than running something hidden (see above).
        if n.scope.kind != ScopeKind::Training {
            finding = finding.with_severity(Severity::Info);
        }
        out.push(finding);
    }
    for (i, t) in cx.model.training_info.iter().enumerate() {
        let nodes = t.algorithm.as_ref().map_or(0, |g| g.node.len())
            + t.initialization.as_ref().map_or(0, |g| g.node.len());
        out.push(
            Finding::new(
                &TRAINING_ARTIFACTS,
                cx.field_at(format!("training_info[{i}]")),
                format!("training_info with {nodes} nodes travels with the model; inference tools ignore it"),
            )
            .with_evidence("nodes", nodes),
        );
    }
}
