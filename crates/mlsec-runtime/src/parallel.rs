//! A batch evaluated as consecutive parts on several threads at once, for the models whose
//! backend runs one evaluation on one thread ([`Model::sync`]: candle's ops, apart from its
//! matrix products, and ours are single-threaded loops; libtorch spreads a call over the cores
//! itself). Every model the runtime evaluates treats samples independently (inference mode:
//! no batch statistics), so the parts' results, concatenated, are the batch's: the outputs bit
//! for bit, the input gradients within rounding (the unit tests below).

use std::ops::Range;
use std::sync::OnceLock;

use candle_core::Tensor;
use rayon::prelude::*;

use crate::{Model, RuntimeError};

/// The fewest samples a part gets: handing a part to another thread costs some microseconds,
/// as much as a forward and backward pass of about ten samples of the smallest shipped model
/// (the digits MLP, 0.75 µs per sample in `cargo xtask bench adversarial`).
const MIN_ROWS: usize = 16;

/// The consecutive row ranges a batch of `n` samples is split into for `threads` threads: at
/// most one per thread, each of at least [`MIN_ROWS`] rows, sizes differing by at most one.
fn parts(n: usize, threads: usize) -> Vec<Range<usize>> {
    let k = threads.min(n / MIN_ROWS).max(1);
    (0..k).map(|i| i * n / k..(i + 1) * n / k).collect()
}

/// `f` of each part of the batch `x` (its rows and their range), on parallel threads when the
/// model allows it and the batch is large enough; otherwise one call with the whole batch.
fn each_part<T: Send>(
    model: &dyn Model,
    x: &Tensor,
    threads: usize,
    f: impl Fn(&dyn Model, &Tensor, Range<usize>) -> Result<T, RuntimeError> + Sync,
) -> Result<Vec<T>, RuntimeError> {
    let n = x.dim(0)?;
    let ranges = parts(n, threads);
    match model.sync() {
        Some(m) if ranges.len() > 1 => {
            let part = |r: Range<usize>| f(m, &x.narrow(0, r.start, r.len())?, r);
            match workers() {
                Some(pool) => pool.install(|| ranges.into_par_iter().map(part).collect()),
                // No threads to be had: the parts one after another, here.
                None => ranges.into_iter().map(part).collect(),
            }
        }
        _ => Ok(vec![f(model, x, 0..n)?]),
    }
}

/// Each worker's stack. Candle's backward walks the graph recursively, a frame per node on the
/// longest path, so a worker needs at least the room of the main thread (8 MiB on Linux; the
/// 2 MiB of rayon's default workers overflow on a chain of 9 800 nodes, within
/// [`crate::eval::MAX_DEPTH`]: `deep_graphs_run_on_the_workers`). Reserved, touched only as deep
/// as a graph goes.
const STACK: usize = 64 << 20;

/// The pool the parts run on: [`crate::threads`] workers with [`STACK`]; `None` when the
/// threads cannot be started.
fn workers() -> Option<&'static rayon::ThreadPool> {
    static POOL: OnceLock<Option<rayon::ThreadPool>> = OnceLock::new();
    POOL.get_or_init(|| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(crate::threads())
            .stack_size(STACK)
            .thread_name(|i| format!("mlsec-part-{i}"))
            .build()
            .ok()
    })
    .as_ref()
}

/// The model's output for the batch `x` (first dimension: samples), as [`Model::forward`]
/// gives it, on [`crate::threads`] threads.
pub fn forward(model: &dyn Model, x: &Tensor) -> Result<Tensor, RuntimeError> {
    forward_on(model, x, crate::threads())
}

fn forward_on(model: &dyn Model, x: &Tensor, threads: usize) -> Result<Tensor, RuntimeError> {
    let outs = each_part(model, x, threads, |m, part, _| m.forward(part))?;
    Ok(Tensor::cat(&outs, 0)?)
}

/// A loss that is a sum over samples: `loss(logits, rows)` is the summed loss of the samples
/// `rows` of the batch, whose logits are `logits`.
pub type RowLoss<'a> = dyn Fn(&Tensor, Range<usize>) -> candle_core::Result<Tensor> + Sync + 'a;

/// The logits of the batch `x` and the gradient of `loss` with respect to `x`, as
/// [`crate::loss_gradient`] gives them, on [`crate::threads`] threads.
pub fn loss_gradient(
    model: &dyn Model,
    x: &Tensor,
    loss: &RowLoss<'_>,
) -> Result<(Tensor, Tensor), RuntimeError> {
    loss_gradient_on(model, x, loss, crate::threads())
}

fn loss_gradient_on(
    model: &dyn Model,
    x: &Tensor,
    loss: &RowLoss<'_>,
    threads: usize,
) -> Result<(Tensor, Tensor), RuntimeError> {
    let outs = each_part(model, x, threads, |m, part, rows| {
        m.loss_gradient(part, &|logits| loss(logits, rows.clone()))
    })?;
    let (logits, grads): (Vec<_>, Vec<_>) = outs.into_iter().unzip();
    Ok((Tensor::cat(&logits, 0)?, Tensor::cat(&grads, 0)?))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::OnnxModel;
    use crate::loss::one_hot;

    #[test]
    fn parts_cover_the_batch_in_order() {
        assert_eq!(parts(0, 4), vec![0..0]);
        assert_eq!(parts(31, 2), vec![0..31]);
        assert_eq!(parts(32, 2), vec![0..16, 16..32]);
        assert_eq!(parts(100, 3), vec![0..33, 33..66, 66..100]);
        assert_eq!(parts(100, 1), vec![0..100]);
    }

    /// On every model of `testdata/adversarial/grad/` (convolutions, max and average pooling,
    /// batch norm, skip connections), 2 and 3 parts give the logits of one call bit for bit,
    /// and its cross-entropy gradient within rounding.
    #[test]
    fn parts_give_the_values_of_one_call() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/adversarial/grad");
        for name in ["digits_cnn", "pool_skip", "odd_pool", "resnet_stem"] {
            let model = OnnxModel::load(&dir.join(format!("{name}.onnx"))).unwrap();
            let data = crate::data::load(&dir.join(format!("{name}.npz")), "x", "y").unwrap();
            // The 32 samples, then the same moved a little: 64 distinct rows.
            let mut x = data.x.clone();
            x.extend(data.x.iter().map(|v| v * 0.9 + 0.05));
            let mut y = data.y.clone();
            y.extend_from_slice(&data.y);
            let mut shape = vec![y.len()];
            shape.extend_from_slice(&data.sample_shape);
            let x = Tensor::from_vec(x, shape, &candle_core::Device::Cpu).unwrap();
            let loss = |logits: &Tensor, rows: Range<usize>| {
                let (n, k) = logits.dims2()?;
                let lse = logits.exp()?.sum_keepdim(1)?.log()?.sum_all()?;
                lse - (logits * one_hot(&y[rows], n, k)?)?.sum_all()?
            };
            let flat = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            let one = forward_on(&model, &x, 1).unwrap();
            let (one_logits, one_grad) = loss_gradient_on(&model, &x, &loss, 1).unwrap();
            assert_eq!(flat(&one), flat(&one_logits), "{name}");
            for threads in [2, 3] {
                assert_eq!(parts(64, threads).len(), threads);
                let out = forward_on(&model, &x, threads).unwrap();
                assert_eq!(flat(&out), flat(&one), "{name}: forward, {threads} parts");
                let (logits, grad) = loss_gradient_on(&model, &x, &loss, threads).unwrap();
                assert_eq!(flat(&logits), flat(&one), "{name}: logits, {threads} parts");
                // The gradient's rounding can differ: the matrix products of the backward pass
                // (gemm) pick their blocking by the matrices' sizes. Measured: at most 1 in the
                // last place (resnet_stem).
                let (a, b) = (flat(&grad), flat(&one_grad));
                let scale = b.iter().fold(0f32, |m, v| m.max(v.abs()));
                for (i, (u, v)) in a.iter().zip(&b).enumerate() {
                    assert!(
                        (u - v).abs() <= 1e-6 * scale,
                        "{name}: gradient {i}, {threads} parts: {u} against {v} in one call"
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod deep_graphs {
    use std::collections::BTreeMap;

    use super::*;
    use crate::OnnxModel;
    use crate::ir::{Graph, Node, TensorData, ValueInfo};

    /// A chain of `depth` Relu/Add pairs on a [n, 4] input.
    fn chain(depth: usize) -> Result<OnnxModel, RuntimeError> {
        let mut nodes = Vec::new();
        let mut prev = "x".to_owned();
        for i in 0..depth {
            for (op, inputs) in [
                ("Relu", vec![prev.clone()]),
                ("Add", vec![format!("r{i}"), "one".into()]),
            ] {
                let out = if op == "Relu" {
                    format!("r{i}")
                } else {
                    format!("a{i}")
                };
                nodes.push(Node {
                    name: out.clone(),
                    op_type: op.into(),
                    domain: String::new(),
                    inputs,
                    outputs: vec![out.clone()],
                    attrs: BTreeMap::new(),
                });
                prev = out;
            }
        }
        let g = Graph {
            name: "deep".into(),
            opset: 17,
            nodes,
            initializers: [("one".to_owned(), TensorData::f32(vec![1], vec![1.0]))].into(),
            inputs: vec![ValueInfo {
                name: "x".into(),
                dims: None,
            }],
            outputs: vec![prev],
            metadata: BTreeMap::new(),
        };
        OnnxModel::from_graph(g, "deep".into())
    }

    /// Deeper than `eval::MAX_DEPTH`: refused with an error, not a stack overflow later.
    #[test]
    fn deeper_graphs_are_refused_when_loaded() {
        let err = chain(5001).unwrap_err().to_string();
        assert!(err.contains("more than 10000 nodes deep"), "{err}");
        assert!(chain(5000).is_ok());
    }

    /// A chain of 9 800 nodes (within `eval::MAX_DEPTH`), which rayon's default 2 MiB workers
    /// cannot differentiate.
    #[test]
    fn deep_graphs_run_on_the_workers() {
        let model = chain(4900).unwrap();
        let x =
            Tensor::from_vec(vec![-0.5f32; 64 * 4], (64, 4), &candle_core::Device::Cpu).unwrap();
        let loss = |logits: &Tensor, _rows: Range<usize>| logits.sum_all();
        let (logits, g) = loss_gradient_on(&model, &x, &loss, 2).unwrap();
        // relu(-0.5) + 1 = 1, then every pair adds 1: the output is 4900, the gradient is
        // that of the first ReLU at -0.5, zero.
        let flat = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert!(flat(&logits).iter().all(|&v| v == 4900.0));
        assert!(flat(&g).iter().all(|&v| v == 0.0));
    }
}
