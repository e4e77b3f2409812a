use std::collections::{HashMap, HashSet};

use mlsec_core::Finding;

use super::ActivationsCx;
use crate::activations::{TRIGGER_PEER_RATIO, TRIGGER_Z, TriggerUnit, fmt, trigger_units};

mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags a unit (feature or channel) that is silent on almost every probe but takes an
    /// extreme value on a tiny fraction of them (at least one probe, at most 5 % rounded up). A
    /// probe is extreme for the unit when the unit's largest value on it is at least 20 robust
    /// z-scores above the unit's own median (median/MAD over the probes) and exceeds that median
    /// by at least 10 times the typical excursion (peak minus median) of the units of its layer.
    /// ## Why is this bad?
    /// This is the activation signature of a backdoor neuron: a unit wired to a trigger pattern
    /// stays quiet on clean inputs and fires hard when the trigger is present, overriding the
    /// model's normal decision.
    /// ## Example
    /// A hidden unit with large weights on four corner pixels and a large negative bias is zero
    /// on ordinary images and fires with a value 50 times its neighbours' when the corners are
    /// lit.
    /// ## Remediation
    /// Look at the probes that fire it (they share the trigger), check the unit's weights, and
    /// prune or fine-tune the unit away on clean data, or do not use the model.
    pub static TRIGGER_LIKE_UNIT = "INSP014", "trigger-like-unit", High;
}

/// At most this many trigger-like units are reported per layer (the count is in evidence).
const TRIGGER_MAX_PER_LAYER: usize = 5;

/// Unary element-wise ops: a unit flagged in their input is not reported again in their output.
const ELEMENTWISE: &[&str] = &[
    "Relu",
    "LeakyRelu",
    "Sigmoid",
    "Tanh",
    "Gelu",
    "Erf",
    "Clip",
    "Identity",
    "Dropout",
    "BatchNormalization",
    "Abs",
    "Neg",
    "Exp",
    "Cast",
];

/// Ops that only move values around: a unit of theirs is a unit upstream (or an input
/// feature), so they are not searched for trigger-like units. Neither are normalised outputs
/// (`Softmax`) and the model's outputs: a class that wins on one probe out of many is not a
/// hidden trigger.
const NO_TRIGGER_SEARCH: &[&str] = &[
    "Flatten",
    "Reshape",
    "Transpose",
    "Squeeze",
    "Unsqueeze",
    "Identity",
    "Dropout",
    "Slice",
    "Concat",
    "Gather",
    "Cast",
    "Pad",
    "Softmax",
    "LogSoftmax",
];

/// Searches each finite, varying hidden layer for trigger-like units
/// ([`crate::activations::trigger_units`]) and reports those its element-wise input did not
/// already have, at most [`TRIGGER_MAX_PER_LAYER`] per layer.
pub(crate) fn check(cx: &ActivationsCx, out: &mut Vec<Finding>) {
    let n = cx.probes;
    let mut flagged_units: HashMap<&str, HashSet<usize>> = HashMap::new();
    for (layer, s) in cx.healthy() {
        let units = if layer.is_output || NO_TRIGGER_SEARCH.contains(&layer.op.as_str()) {
            Vec::new()
        } else {
            trigger_units(s, n)
        };
        let upstream: HashSet<usize> = if ELEMENTWISE.contains(&layer.op.as_str()) {
            layer
                .inputs
                .iter()
                .filter_map(|i| flagged_units.get(i.as_str()))
                .flatten()
                .copied()
                .collect()
        } else {
            HashSet::new()
        };
        let mine = flagged_units.entry(&layer.value).or_default();
        let fresh: Vec<&TriggerUnit> = units
            .iter()
            .filter(|t| !upstream.contains(&t.unit))
            .collect();
        for t in &units {
            mine.insert(t.unit);
        }
        for t in fresh.iter().take(TRIGGER_MAX_PER_LAYER) {
            let hot: Vec<String> = t.hot.iter().take(10).map(usize::to_string).collect();
            out.push(
                Finding::new(
                    &TRIGGER_LIKE_UNIT,
                    cx.at(layer),
                    format!(
                        "unit {} is silent on {} of {n} probes and fires {} times harder than its peers on {}",
                        t.unit,
                        n - t.hot.len(),
                        fmt(t.peer_ratio),
                        t.hot.len()
                    ),
                )
                .with_evidence("unit", t.unit)
                .with_evidence("op", &layer.op)
                .with_evidence("hot_probes", hot.join(","))
                .with_evidence("hot_count", t.hot.len())
                .with_evidence("probes", n)
                .with_evidence("median", fmt(t.median))
                .with_evidence("mad", fmt(t.mad))
                .with_evidence("hot_min", fmt(t.hot_min))
                .with_evidence("peak", fmt(t.peak))
                .with_evidence("robust_z", fmt(t.z))
                .with_evidence("z_threshold", TRIGGER_Z)
                .with_evidence("peer_ratio", fmt(t.peer_ratio))
                .with_evidence("peer_ratio_threshold", TRIGGER_PEER_RATIO)
                .with_evidence("peer_excursion", fmt(t.peer_excursion))
                .with_evidence("flagged_units_in_layer", fresh.len()),
            );
        }
    }
}
