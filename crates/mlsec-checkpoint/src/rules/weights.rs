//! What the weight rules (`weight-non-finite`, `weight-above-threshold`, `weight-outlier`)
//! judge, and the three of them over one tensor's statistics.

use mlsec_core::{Finding, Location};
use mlsec_formats::dtype::DType;
use mlsec_formats::stats::Stats;

use super::{weight_above_threshold, weight_non_finite, weight_outlier};

/// The weight-rule findings of one tensor of a file in `format` (the scan's format name),
/// located at `loc`; none when the tensor is not a weight ([`is_weight`]).
pub(crate) fn check(
    format: &str,
    name: &str,
    dtype: DType,
    s: &Stats,
    threshold: f64,
    loc: &Location,
    out: &mut Vec<Finding>,
) {
    if !is_weight(format, name, dtype) {
        return;
    }
    out.extend(weight_non_finite::check(name, s, loc));
    // An outlier in a tensor above the threshold is the value already reported.
    match weight_above_threshold::check(name, s, threshold, loc) {
        Some(f) => out.push(f),
        None => out.extend(weight_outlier::check(name, s, loc)),
    }
}

/// Whether the weight-integrity rules (CKPT030-032) judge a tensor: floating-point model
/// parameters. In model formats (torch, safetensors, Keras/HDF5 weights) every floating tensor
/// is one; in formats that mostly hold data (`.npy`, `.npz`, joblib, plain pickles: scientific
/// data and lookup tables, where NaN means "missing") only arrays named like parameters
/// (`weight`, `bias`, `kernel`, `coef_`, `intercept_`, `embedding`). Never batch-norm running
/// statistics (a `running_var` of 1e4 is normal), counters, or optimizer state (`exp_avg_sq`,
/// momentum buffers, step counts) saved beside the weights.
pub(crate) fn is_weight(format: &str, name: &str, dtype: DType) -> bool {
    let data_format = matches!(format, "npy" | "npz" | "pickle") || format.starts_with("joblib");
    let last = name.rsplit('.').next().unwrap_or(name);
    let lower = last.to_ascii_lowercase();
    let named_like_a_parameter = ["weight", "bias", "kernel", "coef", "intercept", "embedding"]
        .iter()
        .any(|p| lower.contains(p));
    let model_format = !data_format || named_like_a_parameter;
    let statistic = matches!(
        last,
        "running_mean" | "running_var" | "num_batches_tracked" | "step" | "iterations"
    ) || last.starts_with("iteration");
    let optimizer = name.split(['.', '/']).any(|c| {
        matches!(
            c,
            "optimizer"
                | "optimizer_state_dict"
                | "exp_avg"
                | "exp_avg_sq"
                | "momentum_buffer"
                | "max_exp_avg_sq"
                | "optimizer_weights"
        )
    });
    dtype.is_float() && model_format && !statistic && !optimizer
}
