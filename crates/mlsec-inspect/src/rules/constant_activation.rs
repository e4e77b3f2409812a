use std::collections::HashSet;

use mlsec_core::Finding;

use super::ActivationsCx;
use crate::activations::fmt;

mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags the first layer whose output is the same for every probe input (a collapsed layer:
    /// zero weights, all units dead, saturated), when it depends on the input at all.
    /// ## Why is this bad?
    /// Everything after a constant layer ignores the input: the model's prediction cannot depend
    /// on what it is shown. Either the model is broken (a bad export or conversion) or its
    /// weights were replaced.
    /// ## Remediation
    /// Check the layer's weights and the export (train/eval mode, opset conversion); compare the
    /// model's outputs with the publisher's reference outputs.
    pub static CONSTANT_ACTIVATION = "INSP012", "constant-activation", Medium;
}

/// Fires on each finite layer whose output is the same for every probe (within
/// `crate::activations::CONSTANT_TOLERANCE`) while its inputs were not.
pub(crate) fn check(cx: &ActivationsCx, out: &mut Vec<Finding>) {
    let n = cx.probes;
    let mut constant: HashSet<&str> = HashSet::new();
    for (layer, s) in cx.measured() {
        if s.non_finite > 0 || !s.constant() {
            continue;
        }
        if !super::inherits(layer, &constant) {
            out.push(
                Finding::new(
                    &CONSTANT_ACTIVATION,
                    cx.at(layer),
                    format!("{} output is the same for all {n} probes", layer.op),
                )
                .with_evidence("op", &layer.op)
                .with_evidence("probes", n)
                .with_evidence("mean", fmt(s.mean()))
                .with_evidence("max_abs", fmt(s.max_abs)),
            );
        }
        constant.insert(&layer.value);
    }
}
