//! One rule per file.

// Rules of the `weights` check: see `crate::weights`.
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

pub use activation_explosion::ACTIVATION_EXPLOSION;
pub use activation_non_finite::ACTIVATION_NON_FINITE;
pub use constant_activation::CONSTANT_ACTIVATION;
pub use fgsm_fragile::FGSM_FRAGILE;
pub use trigger_like_unit::TRIGGER_LIKE_UNIT;
