//! Losses over a model's logits, shared by every caller that needs an input gradient
//! (`adversarial`'s attacks, `inspect`'s FGSM probe), so both use one implementation.

use std::ops::Range;

use candle_core::{DType, Device, Tensor};

use crate::{Model, RuntimeError, parallel};

/// One-hot rows `[n, k]` for integer labels; a label outside `0..k` gives an all-zero row.
pub fn one_hot(labels: &[i64], n: usize, k: usize) -> candle_core::Result<Tensor> {
    let mut v = vec![0f32; n * k];
    for (i, &l) in labels.iter().enumerate().take(n) {
        if let Ok(l) = usize::try_from(l)
            && l < k
        {
            v[i * k + l] = 1.0;
        }
    }
    Tensor::from_vec(v, (n, k), &Device::Cpu)
}

/// The logits `[n, classes]` of `x` and the gradient of the summed cross-entropy
/// `-Σ log softmax(logits)[label]` with respect to `x` (same shape as `x`). Log-softmax is
/// computed with the max subtracted, so large logits do not overflow.
pub fn ce_gradient(
    model: &dyn Model,
    x: &Tensor,
    labels: &[i64],
) -> Result<(Tensor, Tensor), RuntimeError> {
    let loss = |logits: &Tensor, rows: Range<usize>| -> candle_core::Result<Tensor> {
        let (n, k) = logits.dims2()?;
        let part = &labels[rows.start.min(labels.len())..rows.end.min(labels.len())];
        let onehot = one_hot(part, n, k)?.to_dtype(logits.dtype())?;
        let max = logits.max_keepdim(1)?.detach();
        let shifted = logits.broadcast_sub(&max)?;
        let lse = shifted.exp()?.sum_keepdim(1)?.log()?;
        let logp = shifted.broadcast_sub(&lse)?;
        (logp * onehot)?.sum_all()?.neg()
    };
    parallel::loss_gradient(model, x, &loss)
}

/// A logits tensor as rows (`[n, k]`; a vector is one row, higher ranks are flattened per
/// sample).
pub fn rows(t: &Tensor) -> Result<Vec<Vec<f32>>, RuntimeError> {
    let t = t.to_dtype(DType::F32)?;
    let t = match t.rank() {
        2 => t,
        1 => t.unsqueeze(0)?,
        _ => t.flatten_from(1)?,
    };
    Ok(t.to_vec2::<f32>()?)
}
