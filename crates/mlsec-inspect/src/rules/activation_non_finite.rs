use std::collections::HashSet;

use mlsec_core::Finding;

use super::ActivationsCx;

mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags the first layer whose output contains NaN or infinite values on finite probe inputs
    /// (layers downstream that only inherit them are not reported again).
    /// ## Why is this bad?
    /// A model that produces NaN or Inf on ordinary inputs gives meaningless predictions; in a
    /// third-party model it points to corrupted or deliberately planted weights (a huge scale, a
    /// division by zero, `log`/`sqrt` of negative values) that can also be triggered on purpose.
    /// ## Remediation
    /// Find the layer's weights (`mlsec inspect --checks weights`), compare them with the
    /// publisher's original, and do not deploy the model until its outputs are finite.
    pub static ACTIVATION_NON_FINITE = "INSP010", "activation-non-finite", High;
}

/// Fires on each layer with NaN/Inf in its output whose inputs were finite.
pub(crate) fn check(cx: &ActivationsCx, out: &mut Vec<Finding>) {
    let mut non_finite: HashSet<&str> = HashSet::new();
    for (layer, s) in cx.measured() {
        if s.non_finite == 0 {
            continue;
        }
        if !super::inherits(layer, &non_finite) {
            out.push(
                Finding::new(
                    &ACTIVATION_NON_FINITE,
                    cx.at(layer),
                    format!(
                        "{} output has {} NaN/infinite values on finite probes",
                        layer.op, s.non_finite
                    ),
                )
                .with_evidence("op", &layer.op)
                .with_evidence("non_finite", s.non_finite)
                .with_evidence("values", s.count)
                .with_evidence("probes", cx.probes),
            );
        }
        non_finite.insert(&layer.value);
    }
}
