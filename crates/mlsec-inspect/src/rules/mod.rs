//! The rules, one per file: each file holds a rule's declaration, its documentation and the
//! check that decides it (thresholds, message, evidence).
//!
//! The checks measure first and decide after: `weights` summarises every tensor once
//! (`crate::weights`), `activations` collects each layer's statistics over the probes once
//! (`crate::activations`), `fgsm` runs its step once (`crate::fgsm`). Each then runs its
//! rule table over a context built from what it measured:
//!
//! | measured by | context | rules |
//! |---|---|---|
//! | `weights`, tensor by tensor | `Summary` | INSP001, INSP002, INSP003, INSP004 |
//! | `weights`, across tensors | `WeightsCx` | INSP005 |
//! | `activations` | `ActivationsCx` | INSP010, INSP012, INSP011, INSP014 |
//! | `fgsm` | `FgsmCx` | INSP020 |

use std::collections::{BTreeMap, HashSet};

use mlsec_core::{Finding, Location, Pointer, Rule};

use crate::activations::{Layer, Stats};
use crate::fgsm::FgsmResult;
use crate::weights::Summary;

// Rules of the `weights` check.
mod dead_units;
mod duplicate_units;
mod layer_statistics_outlier;
mod weight_non_finite;
mod weight_outlier;

pub use dead_units::DEAD_UNITS;
pub use duplicate_units::DUPLICATE_UNITS;
pub use layer_statistics_outlier::LAYER_STATISTICS_OUTLIER;
pub use weight_non_finite::WEIGHT_NON_FINITE;
pub use weight_outlier::WEIGHT_OUTLIER;

// Rules of the checks that run the model (`activations`, `fgsm`): see `crate::runnable`.
mod activation_explosion;
mod activation_non_finite;
mod constant_activation;
mod fgsm_fragile;
mod trigger_like_unit;

pub use activation_explosion::{ACTIVATION_EXPLOSION, EXPLOSION_JUMP, EXPLOSION_TOTAL};
pub use activation_non_finite::ACTIVATION_NON_FINITE;
pub use constant_activation::CONSTANT_ACTIVATION;
pub use fgsm_fragile::{FGSM_FRAGILE, FRAGILE_FLIP_RATE};
pub use trigger_like_unit::TRIGGER_LIKE_UNIT;

/// A per-tensor rule's check: reads the tensor's summary, pushes its findings.
pub(crate) type TensorCheck = fn(&Summary, &mut Vec<Finding>);
/// A check that compares tensors.
pub(crate) type WeightsCheck = fn(&WeightsCx, &mut Vec<Finding>);
/// An activation rule's check.
pub(crate) type ActivationCheck = fn(&ActivationsCx, &mut Vec<Finding>);
/// The FGSM rule's check.
pub(crate) type FgsmCheck = fn(&FgsmCx, &mut Vec<Finding>);

/// The rules decided on one tensor; the engine runs them tensor by tensor, in read order.
pub(crate) static TENSOR_CHECKS: &[(&Rule, TensorCheck)] = &[
    (&WEIGHT_NON_FINITE, weight_non_finite::check),
    (&WEIGHT_OUTLIER, weight_outlier::check),
    (&DEAD_UNITS, dead_units::check),
    (&DUPLICATE_UNITS, duplicate_units::check),
];

/// The rules that compare tensors with each other.
pub(crate) static WEIGHTS_CHECKS: &[(&Rule, WeightsCheck)] =
    &[(&LAYER_STATISTICS_OUTLIER, layer_statistics_outlier::check)];

/// The rules decided on the activation statistics.
pub(crate) static ACTIVATION_CHECKS: &[(&Rule, ActivationCheck)] = &[
    (&ACTIVATION_NON_FINITE, activation_non_finite::check),
    (&CONSTANT_ACTIVATION, constant_activation::check),
    (&ACTIVATION_EXPLOSION, activation_explosion::check),
    (&TRIGGER_LIKE_UNIT, trigger_like_unit::check),
];

/// The rules decided on the FGSM step.
pub(crate) static FGSM_CHECKS: &[(&Rule, FgsmCheck)] = &[(&FGSM_FRAGILE, fgsm_fragile::check)];

/// Where a finding about a tensor points.
fn tensor_at(s: &Summary) -> Location {
    Location::file(&s.file).with_pointer(Pointer::Tensor(s.name.clone()))
}

/// What the rules that compare tensors see.
pub(crate) struct WeightsCx<'a> {
    /// Every tensor's summary, in read order.
    pub summaries: &'a [Summary],
}

/// What the activation rules see.
pub(crate) struct ActivationsCx<'a> {
    /// The model file as shown in findings.
    pub file: &'a str,
    /// The layers that depend on the input, in graph order.
    pub layers: &'a [Layer],
    /// Per layer value: its statistics over the probes (absent for outputs that are not
    /// per-sample).
    pub stats: &'a BTreeMap<String, Stats>,
    /// Number of probes.
    pub probes: usize,
    /// Root mean square of the probes: the model input's magnitude.
    pub input_rms: f64,
}

impl<'a> ActivationsCx<'a> {
    /// The layers with statistics, in graph order.
    pub fn measured(&self) -> impl Iterator<Item = (&'a Layer, &'a Stats)> {
        let stats = self.stats;
        self.layers
            .iter()
            .filter_map(move |l| Some((l, stats.get(&l.value)?)))
    }

    /// The measured layers whose output is finite and varies with the input: a layer with
    /// NaN/Inf (INSP010) or a constant output (INSP012) is left to those rules alone.
    pub fn healthy(&self) -> impl Iterator<Item = (&'a Layer, &'a Stats)> {
        self.measured()
            .filter(|(_, s)| s.non_finite == 0 && !s.constant())
    }

    /// Where a finding about a layer points: its node.
    pub fn at(&self, layer: &Layer) -> Location {
        Location::file(self.file).with_pointer(Pointer::Node(layer.name.clone()))
    }
}

/// Whether a layer takes one of `values` as input: a state it only inherits from upstream is
/// not reported again.
fn inherits(layer: &Layer, values: &HashSet<&str>) -> bool {
    layer.inputs.iter().any(|i| values.contains(i.as_str()))
}

/// What the FGSM rule sees.
pub(crate) struct FgsmCx<'a> {
    pub file: &'a str,
    pub result: &'a FgsmResult,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_has_one_check() {
        let mut checked: Vec<&str> = TENSOR_CHECKS
            .iter()
            .map(|(r, _)| r.id)
            .chain(WEIGHTS_CHECKS.iter().map(|(r, _)| r.id))
            .chain(ACTIVATION_CHECKS.iter().map(|(r, _)| r.id))
            .chain(FGSM_CHECKS.iter().map(|(r, _)| r.id))
            .collect();
        checked.sort_unstable();
        let mut all: Vec<&str> = crate::RULES.iter().map(|r| r.id).collect();
        all.sort_unstable();
        assert_eq!(checked, all);
        for rule in crate::RULES {
            assert!(rule.convention_errors().is_empty(), "{}", rule.id);
        }
    }
}
