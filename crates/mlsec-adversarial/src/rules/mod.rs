//! One rule per file.

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
pub use unbounded_attack_fails::UNBOUNDED_ATTACK_FAILS;
pub use zero_input_gradients::ZERO_INPUT_GRADIENTS;
