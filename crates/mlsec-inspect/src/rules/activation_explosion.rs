use std::collections::HashSet;

use mlsec_core::Finding;

use super::ActivationsCx;
use crate::activations::{Stats, fmt};

mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags a layer whose output magnitude (root mean square over all probes) is at least 1000
    /// times that of its inputs, or at least 10⁶ times that of the model input where its inputs
    /// were still below that.
    /// ## Why is this bad?
    /// Trained layers keep activations within a few orders of magnitude of each other. A jump by
    /// orders of magnitude means a weight or scale was inflated: the model is numerically fragile
    /// (overflow in half precision, saturated outputs) and may have been tampered with.
    /// ## Remediation
    /// Inspect the layer's weights and normalisation parameters against the original checkpoint;
    /// retrain or re-export the model if the scale is not intended.
    pub static ACTIVATION_EXPLOSION = "INSP011", "activation-explosion", Medium;
}

/// A layer output is explosive when its RMS is at least this many times its inputs' RMS.
pub const EXPLOSION_JUMP: f64 = 1e3;
/// ... or at least this many times the model input's RMS (first layer to cross it).
pub const EXPLOSION_TOTAL: f64 = 1e6;

/// Fires on each finite, varying layer that jumps by [`EXPLOSION_JUMP`] over its inputs, or is
/// the first on its path to grow [`EXPLOSION_TOTAL`] times the model input.
pub(crate) fn check(cx: &ActivationsCx, out: &mut Vec<Finding>) {
    let input_rms = cx.input_rms;
    let rms_of = |value: &str| cx.stats.get(value).map(Stats::rms);
    let mut exploded: HashSet<&str> = HashSet::new();
    for (layer, s) in cx.healthy() {
        let rms = s.rms();
        let in_rms = layer
            .inputs
            .iter()
            .map(|i| rms_of(i).unwrap_or(input_rms))
            .fold(0f64, f64::max);
        let jump = if in_rms > 0.0 { rms / in_rms } else { f64::NAN };
        let total = if input_rms > 0.0 {
            rms / input_rms
        } else {
            f64::NAN
        };
        let inputs_below =
            in_rms <= EXPLOSION_TOTAL * input_rms && !super::inherits(layer, &exploded);
        let by_jump = layer.op != "Reciprocal" && jump >= EXPLOSION_JUMP && rms >= input_rms;
        let by_total = total >= EXPLOSION_TOTAL && inputs_below;
        if by_jump || by_total {
            out.push(
                Finding::new(
                    &ACTIVATION_EXPLOSION,
                    cx.at(layer),
                    format!(
                        "{} output magnitude is {} times its input's ({} times the model input's)",
                        layer.op,
                        fmt(jump),
                        fmt(total)
                    ),
                )
                .with_evidence("op", &layer.op)
                .with_evidence("rms", fmt(rms))
                .with_evidence("input_rms", fmt(in_rms))
                .with_evidence("model_input_rms", fmt(input_rms))
                .with_evidence("jump", fmt(jump))
                .with_evidence("jump_threshold", EXPLOSION_JUMP)
                .with_evidence("growth", fmt(total))
                .with_evidence("growth_threshold", EXPLOSION_TOTAL),
            );
            exploded.insert(&layer.value);
        }
    }
}
