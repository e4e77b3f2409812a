//! The rules, one per file: each file holds a rule's declaration, its documentation and the
//! check that decides it (thresholds, message, evidence).
//!
//! The engine (`crate::execute`) measures first and decides after, in three phases; after each
//! phase it runs that phase's table over a context built once from what the phase measured:
//!
//! | phase | context | rules |
//! |---|---|---|
//! | model checks, before any attack (`crate::checks::run`) | `ModelCx` | ADV004, ADV005, ADV003, ADV009 |
//! | sanity, after the attacks (`crate::checks::unbounded`) | `SanityCx` | ADV006, ADV007, ADV008 |
//! | baseline gate (`crate::baseline::compare`) | `GateCx` | ADV001, ADV002 |
//!
//! A phase's findings are in the report before the next phase runs, so an attack that fails
//! later never hides what the model checks found.

use mlsec_core::{Finding, Location, Pointer, Rule};

use crate::ResultRow;
use crate::baseline::Comparison;
use crate::checks::{Checks, Unbounded};

mod accuracy_not_decreasing;
mod model_batch_dependent;
mod model_nondeterministic;
mod model_outputs_probabilities;
mod pgd_weaker_than_fgsm;
mod robustness_improved;
mod robustness_regression;
mod unbounded_attack_fails;
mod zero_input_gradients;

pub use accuracy_not_decreasing::ACCURACY_NOT_DECREASING;
pub use model_batch_dependent::MODEL_BATCH_DEPENDENT;
pub use model_nondeterministic::MODEL_NONDETERMINISTIC;
pub use model_outputs_probabilities::MODEL_OUTPUTS_PROBABILITIES;
pub use pgd_weaker_than_fgsm::PGD_WEAKER_THAN_FGSM;
pub use robustness_improved::ROBUSTNESS_IMPROVED;
pub use robustness_regression::ROBUSTNESS_REGRESSION;
pub use unbounded_attack_fails::{UNBOUNDED_ACCURACY, UNBOUNDED_ATTACK_FAILS};
pub use zero_input_gradients::{ZERO_GRADIENT_SHARE, ZERO_INPUT_GRADIENTS};

/// A model-check rule's check: reads the context, pushes its findings.
pub(crate) type ModelCheck = fn(&ModelCx, &mut Vec<Finding>);
/// A gradient-masking rule's check.
pub(crate) type SanityCheck = fn(&SanityCx, &mut Vec<Finding>);
/// A baseline rule's check.
pub(crate) type GateCheck = fn(&GateCx, &mut Vec<Finding>);

/// The rules decided by the pre-attack model checks.
pub(crate) static MODEL_CHECKS: &[(&Rule, ModelCheck)] = &[
    (&MODEL_NONDETERMINISTIC, model_nondeterministic::check),
    (&MODEL_BATCH_DEPENDENT, model_batch_dependent::check),
    (
        &MODEL_OUTPUTS_PROBABILITIES,
        model_outputs_probabilities::check,
    ),
    (&ZERO_INPUT_GRADIENTS, zero_input_gradients::check),
];

/// The gradient-masking rules, decided by the attack results.
pub(crate) static SANITY_CHECKS: &[(&Rule, SanityCheck)] = &[
    (&PGD_WEAKER_THAN_FGSM, pgd_weaker_than_fgsm::check),
    (&ACCURACY_NOT_DECREASING, accuracy_not_decreasing::check),
    (&UNBOUNDED_ATTACK_FAILS, unbounded_attack_fails::check),
];

/// The rules of the baseline gate.
pub(crate) static BASELINE_CHECKS: &[(&Rule, GateCheck)] = &[
    (&ROBUSTNESS_REGRESSION, robustness_regression::check),
    (&ROBUSTNESS_IMPROVED, robustness_improved::check),
];

/// A location in the model file, pointing at a field (`output`, `input`, `pgd@0.1`).
fn at(file: &str, field: &str) -> Location {
    Location::file(file).with_pointer(Pointer::Field(field.to_owned()))
}

/// What the model-check rules see.
pub(crate) struct ModelCx<'a> {
    /// The model file as shown in findings.
    pub file: &'a str,
    pub checks: &'a Checks,
}

/// What the gradient-masking rules see.
pub(crate) struct SanityCx<'a> {
    pub file: &'a str,
    /// One row per attack and budget, in the order they ran (ε ascending per attack).
    pub results: &'a [ResultRow],
    /// The PGD whose ε is the whole input range (`None` when no FGSM/PGD ran or no sample
    /// was attacked).
    pub unbounded: Option<&'a Unbounded>,
}

impl SanityCx<'_> {
    pub fn at(&self, field: &str) -> Location {
        at(self.file, field)
    }
}

/// What the baseline rules see.
pub(crate) struct GateCx<'a> {
    pub file: &'a str,
    /// Each result compared with the baseline's (paired per-sample outcomes).
    pub comparisons: &'a [Comparison],
    /// `--alpha`: the McNemar p-value below which a change is significant.
    pub alpha: f64,
    /// `--tolerance`: the smallest change in points that counts.
    pub tolerance: f64,
    pub baseline_model_sha256: &'a str,
}

impl GateCx<'_> {
    /// The change in points and whether it is significant.
    pub fn delta(&self, c: &Comparison) -> (f64, bool) {
        ((c.after - c.before) * 100.0, c.p_value < self.alpha)
    }

    /// The evidence both baseline rules give.
    pub fn evidence(&self, c: &Comparison, f: Finding) -> Finding {
        f.with_evidence("baseline_accuracy", format!("{:.2}%", c.before * 100.0))
            .with_evidence("accuracy", format!("{:.2}%", c.after * 100.0))
            .with_evidence("lost", c.lost)
            .with_evidence("gained", c.gained)
            .with_evidence("p_value", format!("{:.3e}", c.p_value))
            .with_evidence("alpha", self.alpha)
            .with_evidence("tolerance_points", self.tolerance)
            .with_evidence("baseline_model_sha256", self.baseline_model_sha256)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_has_one_check() {
        let mut checked: Vec<&str> = MODEL_CHECKS
            .iter()
            .map(|(r, _)| r.id)
            .chain(SANITY_CHECKS.iter().map(|(r, _)| r.id))
            .chain(BASELINE_CHECKS.iter().map(|(r, _)| r.id))
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
