//! Evaluation of the IR on candle tensors. Every floating-point op is built from candle ops
//! that have a backward pass, so gradients flow from the logits back to the input.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};

use crate::RuntimeError;
use crate::ir::{Attr, Graph, Node, TensorData, TensorValues};
use crate::kernels::{self, Pointwise, PoolAxis, PoolKind};

type R<T> = Result<T, RuntimeError>;

/// An op's implementation: the node's outputs from its context (inputs, attributes, opset).
type OpFn = fn(&Ctx<'_>) -> R<Vec<Tensor>>;

/// Every op the evaluator implements (default ONNX domain), sorted by name. [`SUPPORTED_OPS`]
/// and the dispatch in [`run`] are both derived from this one table, so they cannot drift
/// apart; the gradient tests (`tests/gradients.rs`) are keyed by the same names.
const OPS: &[(&str, OpFn)] = &[
    ("Abs", |c| float_kink(c, Pointwise::Abs, |x| x.abs())),
    ("Add", |c| one(binary(c, |a, b| a.broadcast_add(b))?)),
    ("AveragePool", |c| {
        let count_include_pad = c.int("count_include_pad", 0)? != 0;
        one(pool(c, PoolKind::Average { count_include_pad })?)
    }),
    ("BatchNormalization", |c| one(batch_norm(c)?)),
    ("Cast", cast),
    ("Clip", clip),
    ("Concat", |c| {
        let tensors: Vec<&Tensor> = c.args.iter().flatten().collect();
        let first = tensors.first().ok_or_else(|| c.err("no inputs"))?;
        let axis = c.axis(c.int("axis", 0)?, first.rank())?;
        let dtype = first.dtype();
        let same: Vec<Tensor> = tensors
            .iter()
            .map(|t| t.to_dtype(dtype))
            .collect::<Result<_, _>>()?;
        one(Tensor::cat(&same, axis)?)
    }),
    ("Constant", constant),
    ("ConstantOfShape", |c| {
        let shape: Vec<usize> = int_values(c.input(0)?)?
            .iter()
            .map(|&d| usize::try_from(d).map_err(|_| c.err(format!("negative dimension {d}"))))
            .collect::<R<_>>()?;
        check_size(c, &shape)?;
        let value = match c.node.attrs.get("value") {
            Some(Attr::Tensor(t)) => c.float_const(to_tensor(t, c.device)?)?.flatten_all()?,
            _ => Tensor::zeros(1, c.ftype, c.device)?,
        };
        one(value.reshape(())?.broadcast_as(shape)?.contiguous()?)
    }),
    ("Conv", |c| one(conv(c)?)),
    ("ConvTranspose", |c| one(conv_transpose(c)?)),
    ("Div", |c| one(binary(c, |a, b| a.broadcast_div(b))?)),
    ("Dropout", |c| {
        // Eval mode: Dropout is the identity; the optional mask output is all true.
        let x = c.input(0)?.clone();
        let mask = Tensor::ones(x.shape(), DType::I64, x.device())?;
        Ok(vec![x, mask])
    }),
    ("Erf", |c| one(c.input(0)?.erf()?)),
    ("Exp", |c| one(c.input(0)?.exp()?)),
    ("Flatten", |c| {
        let x = c.input(0)?;
        let rank = x.rank();
        let axis = c.int("axis", 1)?;
        let axis = if axis == rank as i64 {
            rank
        } else {
            c.axis(axis, rank)?
        };
        let dims = x.dims();
        let outer: usize = dims[..axis].iter().product();
        let inner: usize = dims[axis..].iter().product();
        one(x.reshape((outer, inner))?)
    }),
    ("Gather", |c| one(gather(c)?)),
    ("Gelu", |c| one(gelu(c)?)),
    ("Gemm", |c| one(gemm(c)?)),
    ("GlobalAveragePool", |c| {
        let x = c.input(0)?;
        one(x.mean_keepdim((2..x.rank()).collect::<Vec<_>>())?)
    }),
    ("GlobalMaxPool", |c| one(global_max_pool(c)?)),
    ("Identity", |c| one(c.input(0)?.clone())),
    ("LayerNormalization", |c| one(layer_norm(c)?)),
    ("LeakyRelu", |c| {
        let alpha = f64::from(c.float("alpha", 0.01)?);
        float_kink(c, Pointwise::LeakyRelu { alpha }, |x| {
            x.relu()? + x.minimum(0f64)?.affine(alpha, 0.0)?
        })
    }),
    ("Log", |c| one(c.input(0)?.log()?)),
    ("LogSoftmax", |c| one(softmax(c, true)?)),
    ("MatMul", |c| one(matmul(c.input(0)?, c.input(1)?)?)),
    ("MaxPool", |c| one(pool(c, PoolKind::Max)?)),
    ("Mul", |c| one(binary(c, |a, b| a.broadcast_mul(b))?)),
    ("Neg", |c| one(c.input(0)?.neg()?)),
    ("Pad", |c| one(pad(c)?)),
    ("Pow", |c| one(pow(c)?)),
    ("RandomNormalLike", |c| {
        let like = Tensor::zeros(c.input(0)?.shape(), c.ftype, c.device)?;
        let mean = f64::from(c.float("mean", 0.0)?);
        one(like.randn_like(mean, f64::from(c.float("scale", 1.0)?))?)
    }),
    ("RandomUniformLike", |c| {
        let like = Tensor::zeros(c.input(0)?.shape(), c.ftype, c.device)?;
        let low = f64::from(c.float("low", 0.0)?);
        one(like.rand_like(low, f64::from(c.float("high", 1.0)?))?)
    }),
    ("Reciprocal", |c| one(c.input(0)?.recip()?)),
    ("ReduceMax", |c| one(reduce(c)?)),
    ("ReduceMean", |c| one(reduce(c)?)),
    ("ReduceSum", |c| one(reduce(c)?)),
    ("Relu", |c| float_kink(c, Pointwise::Relu, |x| x.relu())),
    ("Reshape", |c| one(reshape(c)?)),
    ("Shape", |c| {
        let x = c.input(0)?;
        let dims: Vec<i64> = x.dims().iter().map(|&d| d as i64).collect();
        let rank = dims.len() as i64;
        let clampi = |v: i64| if v < 0 { (v + rank).max(0) } else { v.min(rank) } as usize;
        let start = clampi(c.int("start", 0)?);
        let end = clampi(c.int("end", rank)?);
        let part = if start < end {
            dims[start..end].to_vec()
        } else {
            Vec::new()
        };
        let n = part.len();
        one(Tensor::from_vec(part, n, c.device)?)
    }),
    ("Sigmoid", |c| one(sigmoid(c.input(0)?)?)),
    ("Slice", |c| one(slice(c)?)),
    ("Softmax", |c| one(softmax(c, false)?)),
    ("Sqrt", |c| one(c.input(0)?.sqrt()?)),
    ("Squeeze", |c| {
        let x = c.input(0)?;
        let axes = c.ints_input_or_attr(1, "axes")?;
        let dims = x.dims().to_vec();
        let drop: Vec<usize> = match axes {
            Some(a) => a.iter().map(|&a| c.axis(a, dims.len())).collect::<R<_>>()?,
            None => (0..dims.len()).filter(|&d| dims[d] == 1).collect(),
        };
        let new: Vec<usize> = dims
            .iter()
            .enumerate()
            .filter(|(i, _)| !drop.contains(i))
            .map(|(_, &d)| d)
            .collect();
        one(x.reshape(new)?)
    }),
    ("Sub", |c| one(binary(c, |a, b| a.broadcast_sub(b))?)),
    ("Tanh", |c| one(c.input(0)?.tanh()?)),
    ("Transpose", |c| {
        let x = c.input(0)?;
        let perm: Vec<usize> = match c.ints("perm")? {
            Some(p) => p.iter().map(|&a| c.axis(a, x.rank())).collect::<R<_>>()?,
            None => (0..x.rank()).rev().collect(),
        };
        if perm.len() != x.rank() {
            return Err(c.err(format!("perm {perm:?} does not match rank {}", x.rank())));
        }
        one(x.permute(perm)?.contiguous()?)
    }),
    ("Unsqueeze", |c| {
        let x = c.input(0)?;
        let axes = c
            .ints_input_or_attr(1, "axes")?
            .ok_or_else(|| c.err("no axes"))?;
        let out_rank = x.rank() + axes.len();
        let mut axes: Vec<usize> = axes
            .iter()
            .map(|&a| c.axis(a, out_rank))
            .collect::<R<_>>()?;
        axes.sort_unstable();
        let mut dims = x.dims().to_vec();
        for a in axes {
            dims.insert(a.min(dims.len()), 1);
        }
        one(x.reshape(dims)?)
    }),
];

const fn op_names() -> [&'static str; OPS.len()] {
    let mut names = [""; OPS.len()];
    let mut i = 0;
    while i < OPS.len() {
        names[i] = OPS[i].0;
        i += 1;
    }
    names
}

/// The ops the evaluator implements (default ONNX domain), sorted: the names of the dispatch
/// table, so an op is listed here exactly when [`run`] can evaluate it.
pub const SUPPORTED_OPS: &[&str] = &op_names();

fn op_fn(name: &str) -> Option<OpFn> {
    OPS.binary_search_by(|(n, _)| (*n).cmp(name))
        .ok()
        .map(|i| OPS[i].1)
}

fn one(t: Tensor) -> R<Vec<Tensor>> {
    Ok(vec![t])
}
/// Converts a constant to a tensor on `device`.
pub fn to_tensor(data: &TensorData, device: &Device) -> R<Tensor> {
    Ok(match &data.values {
        TensorValues::F32(v) => Tensor::from_slice(v, data.dims.as_slice(), device)?,
        TensorValues::I64(v) => Tensor::from_slice(v, data.dims.as_slice(), device)?,
    })
}

/// Checks before any evaluation that every op is implemented, naming the first that is not, and
/// that no chain of nodes is longer than [`MAX_DEPTH`].
pub fn check_supported(graph: &Graph) -> R<()> {
    // Per value, the longest chain of nodes that computes it.
    let mut depth: HashMap<&str, usize> = HashMap::new();
    for node in &graph.nodes {
        let d = 1 + node
            .inputs
            .iter()
            .filter_map(|i| depth.get(i.as_str()))
            .max()
            .unwrap_or(&0);
        if d > MAX_DEPTH {
            return Err(RuntimeError::Model(format!(
                "the graph is more than {MAX_DEPTH} nodes deep (at node `{}`): the input gradient \
                 is taken recursively, a stack frame per node of the longest chain",
                node.name
            )));
        }
        for out in &node.outputs {
            depth.insert(out, d);
        }
        let default_domain = node.domain.is_empty() || node.domain == "ai.onnx";
        if !default_domain || !SUPPORTED_OPS.contains(&node.op_type.as_str()) {
            return Err(RuntimeError::UnsupportedOp {
                op: if default_domain {
                    node.op_type.clone()
                } else {
                    format!("{}::{}", node.domain, node.op_type)
                },
                node: node.name.clone(),
            });
        }
    }
    Ok(())
}

/// The longest chain of nodes a model may have. Candle's backward walks the graph recursively,
/// about 230 bytes of stack per node (measured: 2 MiB overflow at 9 800 nodes), so a chain far
/// deeper than any real model's (a 48-layer transformer's ONNX export is a few thousand) would
/// overflow the main thread's 8 MiB and abort the process; such a graph is refused when loaded.
pub const MAX_DEPTH: usize = 10_000;

/// Runs the graph. `keep` decides which intermediate values are kept in the returned map
/// (graph outputs always are); values nobody needs any more are dropped as soon as possible.
pub fn run(
    graph: &Graph,
    consts: &HashMap<String, Tensor>,
    inputs: &[(&str, Tensor)],
    keep_all: bool,
) -> R<HashMap<String, Tensor>> {
    let mut env: HashMap<String, Tensor> = HashMap::new();
    for (name, t) in inputs {
        env.insert((*name).to_owned(), t.clone());
    }
    let device = inputs
        .first()
        .map(|(_, t)| t.device().clone())
        .unwrap_or(Device::Cpu);
    // The float type of the run: the input's (f64 in gradient checks), else f32.
    let float = inputs
        .iter()
        .map(|(_, t)| t.dtype())
        .find(|d| d.is_float())
        .unwrap_or(DType::F32);
    for node in &graph.nodes {
        let mut args: Vec<Option<Tensor>> = Vec::with_capacity(node.inputs.len());
        for name in &node.inputs {
            if name.is_empty() {
                args.push(None);
                continue;
            }
            let value = env.get(name).or_else(|| consts.get(name)).cloned();
            match value {
                Some(v) => args.push(Some(v)),
                None => {
                    return Err(node_err(
                        node,
                        format!("input `{name}` is not produced by any earlier node"),
                    ));
                }
            }
        }
        let outs = eval_node(node, &args, graph.opset, &device, float).map_err(|e| match e {
            RuntimeError::Candle(c) => node_err(node, format!("{c}")),
            other => other,
        })?;
        for (name, value) in node.outputs.iter().zip(outs) {
            if !name.is_empty() {
                env.insert(name.clone(), value);
            }
        }
    }
    if !keep_all {
        env.retain(|k, _| graph.outputs.contains(k));
    }
    for out in &graph.outputs {
        if !env.contains_key(out) && !consts.contains_key(out) {
            return Err(RuntimeError::Model(format!(
                "graph output `{out}` is never produced"
            )));
        }
    }
    Ok(env)
}

fn node_err(node: &Node, message: impl Into<String>) -> RuntimeError {
    RuntimeError::Node {
        node: node.name.clone(),
        op: node.op_type.clone(),
        message: message.into(),
    }
}

struct Ctx<'a> {
    node: &'a Node,
    args: &'a [Option<Tensor>],
    opset: i64,
    device: &'a Device,
    /// The float type of the run: float constants made by ops are converted to it.
    ftype: DType,
}

impl Ctx<'_> {
    fn err(&self, message: impl Into<String>) -> RuntimeError {
        node_err(self.node, message)
    }

    /// A constant made by the op: floating-point values in the run's float type.
    fn float_const(&self, t: Tensor) -> R<Tensor> {
        Ok(if t.dtype().is_float() {
            t.to_dtype(self.ftype)?
        } else {
            t
        })
    }

    fn input(&self, i: usize) -> R<&Tensor> {
        self.args
            .get(i)
            .and_then(Option::as_ref)
            .ok_or_else(|| self.err(format!("missing required input {i}")))
    }

    fn opt_input(&self, i: usize) -> Option<&Tensor> {
        self.args.get(i).and_then(Option::as_ref)
    }

    fn int(&self, name: &str, default: i64) -> R<i64> {
        match self.node.attrs.get(name) {
            None => Ok(default),
            Some(Attr::Int(v)) => Ok(*v),
            Some(other) => {
                Err(self.err(format!("attribute `{name}` should be an int, is {other:?}")))
            }
        }
    }

    fn float(&self, name: &str, default: f32) -> R<f32> {
        match self.node.attrs.get(name) {
            None => Ok(default),
            Some(Attr::Float(v)) => Ok(*v),
            Some(Attr::Int(v)) => Ok(*v as f32),
            Some(other) => Err(self.err(format!(
                "attribute `{name}` should be a float, is {other:?}"
            ))),
        }
    }

    fn ints(&self, name: &str) -> R<Option<Vec<i64>>> {
        match self.node.attrs.get(name) {
            None => Ok(None),
            Some(Attr::Ints(v)) => Ok(Some(v.clone())),
            Some(Attr::Int(v)) => Ok(Some(vec![*v])),
            Some(other) => {
                Err(self.err(format!("attribute `{name}` should be ints, is {other:?}")))
            }
        }
    }

    fn string(&self, name: &str, default: &str) -> R<String> {
        match self.node.attrs.get(name) {
            None => Ok(default.to_owned()),
            Some(Attr::Str(v)) => Ok(v.clone()),
            Some(other) => Err(self.err(format!(
                "attribute `{name}` should be a string, is {other:?}"
            ))),
        }
    }

    /// A list of ints from input `i` (newer opsets) or else attribute `name` (older ones).
    fn ints_input_or_attr(&self, i: usize, name: &str) -> R<Option<Vec<i64>>> {
        match self.opt_input(i) {
            Some(t) => Ok(Some(int_values(t)?)),
            None => self.ints(name),
        }
    }

    fn axis(&self, axis: i64, rank: usize) -> R<usize> {
        norm_axis(axis, rank)
            .ok_or_else(|| self.err(format!("axis {axis} out of range for rank {rank}")))
    }
}

fn norm_axis(axis: i64, rank: usize) -> Option<usize> {
    let r = rank as i64;
    let a = if axis < 0 { axis + r } else { axis };
    (0..r.max(1)).contains(&a).then_some(a as usize)
}

/// The values of an integer (or float) tensor as i64.
pub fn int_values(t: &Tensor) -> R<Vec<i64>> {
    Ok(t.to_dtype(DType::I64)?.flatten_all()?.to_vec1::<i64>()?)
}

fn float_scalar(t: &Tensor) -> R<f32> {
    let v = t.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
    v.first()
        .copied()
        .ok_or_else(|| RuntimeError::Model("empty scalar tensor".into()))
}

fn eval_node(
    node: &Node,
    args: &[Option<Tensor>],
    opset: i64,
    device: &Device,
    ftype: DType,
) -> R<Vec<Tensor>> {
    let c = Ctx {
        node,
        args,
        opset,
        device,
        ftype,
    };
    match op_fn(&node.op_type) {
        Some(f) => f(&c),
        None => Err(RuntimeError::UnsupportedOp {
            op: node.op_type.clone(),
            node: node.name.clone(),
        }),
    }
}

/// An elementwise op with a kink: PyTorch's gradient ([`kernels::pointwise`]) on floating-point
/// tensors, candle's op (`int_op`) on the integer tensors of shape arithmetic.
fn float_kink(
    c: &Ctx<'_>,
    op: Pointwise,
    int_op: impl Fn(&Tensor) -> candle_core::Result<Tensor>,
) -> R<Vec<Tensor>> {
    let x = c.input(0)?;
    one(if x.dtype().is_float() {
        kernels::pointwise(x, op)?
    } else {
        int_op(x)?
    })
}

fn cast(c: &Ctx<'_>) -> R<Vec<Tensor>> {
    let x = c.input(0)?;
    let dtype = match c.int("to", 1)? {
        // Floating-point types become the run's float type (f32, or f64 in gradient checks).
        1 | 10 | 11 | 16 => c.ftype,
        // To an integer: piecewise constant, so no gradient flows back (candle's cast
        // backward would pass it through unchanged).
        2..=7 | 12 | 13 => return one(x.detach().to_dtype(DType::I64)?),
        9 => {
            // Bool: nonzero → 1.
            let nz = x.to_dtype(DType::F32)?.ne(0f64)?;
            return one(nz.to_dtype(DType::I64)?);
        }
        other => return Err(c.err(format!("cast to data type {other} is not supported"))),
    };
    one(x.to_dtype(dtype)?)
}

fn clip(c: &Ctx<'_>) -> R<Vec<Tensor>> {
    let (lo, hi) = if c.opset >= 11 {
        (
            c.opt_input(1).map(float_scalar).transpose()?,
            c.opt_input(2).map(float_scalar).transpose()?,
        )
    } else {
        (
            c.node
                .attrs
                .get("min")
                .map(|_| c.float("min", 0.0))
                .transpose()?,
            c.node
                .attrs
                .get("max")
                .map(|_| c.float("max", 0.0))
                .transpose()?,
        )
    };
    let op = Pointwise::Clip {
        lo: lo.map_or(f64::NEG_INFINITY, f64::from),
        hi: hi.map_or(f64::INFINITY, f64::from),
    };
    float_kink(c, op, |x| {
        let mut y = x.clone();
        if let Some(lo) = lo {
            y = y.maximum(f64::from(lo))?;
        }
        if let Some(hi) = hi {
            y = y.minimum(f64::from(hi))?;
        }
        Ok(y)
    })
}

fn constant(c: &Ctx<'_>) -> R<Vec<Tensor>> {
    let attrs = &c.node.attrs;
    let t = if let Some(Attr::Tensor(t)) = attrs.get("value") {
        c.float_const(to_tensor(t, c.device)?)?
    } else if let Some(Attr::Float(v)) = attrs.get("value_float") {
        c.float_const(Tensor::new(*v, c.device)?)?
    } else if let Some(Attr::Floats(v)) = attrs.get("value_floats") {
        c.float_const(Tensor::new(v.as_slice(), c.device)?)?
    } else if let Some(Attr::Int(v)) = attrs.get("value_int") {
        Tensor::new(*v, c.device)?
    } else if let Some(Attr::Ints(v)) = attrs.get("value_ints") {
        Tensor::new(v.as_slice(), c.device)?
    } else {
        return Err(c.err("no supported value attribute"));
    };
    one(t)
}

/// GELU from differentiable primitives (candle's fused GELU backward uses 6-digit constants).
fn gelu(c: &Ctx<'_>) -> R<Tensor> {
    let x = c.input(0)?;
    let inner = match c.string("approximate", "none")?.as_str() {
        // 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))
        "tanh" => {
            let k = (2.0 / std::f64::consts::PI).sqrt();
            (x + x.powf(3.0)?.affine(0.044715, 0.0)?)?
                .affine(k, 0.0)?
                .tanh()?
        }
        // 0.5·x·(1 + erf(x/√2))
        _ => x.affine(std::f64::consts::FRAC_1_SQRT_2, 0.0)?.erf()?,
    };
    Ok((x * inner.affine(0.5, 0.5)?)?)
}

fn global_max_pool(c: &Ctx<'_>) -> R<Tensor> {
    let x = c.input(0)?;
    let whole = |n: usize| PoolAxis {
        kernel: n,
        stride: 1,
        dilation: 1,
        pad_begin: 0,
        pad_end: 0,
    };
    // Like `adaptive_max_pool{1,2}d(x, 1)`: the gradient goes to one arg-max.
    match *x.dims() {
        [_, _, l] if x.dtype().is_float() => {
            Ok(
                kernels::pool(&x.unsqueeze(2)?, PoolKind::Max, [whole(1), whole(l)], false)?
                    .squeeze(2)?,
            )
        }
        [_, _, h, w] if x.dtype().is_float() => Ok(kernels::pool(
            x,
            PoolKind::Max,
            [whole(h), whole(w)],
            false,
        )?),
        _ => amax(x, &(2..x.rank()).collect::<Vec<_>>()),
    }
}

/// The maximum over `axes` (kept), differentiated like `torch.amax`: tied maxima share the
/// gradient evenly (candle alone gives each of them all of it).
fn amax(x: &Tensor, axes: &[usize]) -> R<Tensor> {
    let mut m = x.clone();
    for &a in axes {
        m = m.max_keepdim(a)?;
    }
    if !x.dtype().is_float() {
        return Ok(m);
    }
    let ties = x.broadcast_eq(&m.detach())?.to_dtype(x.dtype())?;
    let count = ties.sum_keepdim(axes.to_vec())?;
    let share = ties.broadcast_div(&count)?;
    // Candle routes the whole gradient to every tie; scale each tie's share on the way back.
    let x = kernels::scale_gradient(x, &(share + (1.0 - &ties)?)?)?;
    let mut y = x;
    for &a in axes {
        y = y.max_keepdim(a)?;
    }
    Ok(y)
}

fn check_size(c: &Ctx<'_>, dims: &[usize]) -> R<()> {
    let n = dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
    match n {
        Some(n) if n <= 1 << 32 => Ok(()),
        _ => Err(c.err(format!("shape {dims:?} is too large"))),
    }
}

fn binary(c: &Ctx<'_>, f: impl Fn(&Tensor, &Tensor) -> candle_core::Result<Tensor>) -> R<Tensor> {
    let a = c.input(0)?;
    let b = c.input(1)?;
    // Mixed int/float operands happen in exported shape arithmetic: compute in the float type.
    let (a, b) = if a.dtype() == b.dtype() {
        (a.clone(), b.clone())
    } else {
        (a.to_dtype(c.ftype)?, b.to_dtype(c.ftype)?)
    };
    Ok(f(&a, &b)?)
}

fn sigmoid(x: &Tensor) -> R<Tensor> {
    Ok(x.neg()?.exp()?.affine(1.0, 1.0)?.recip()?)
}

fn pow(c: &Ctx<'_>) -> R<Tensor> {
    let x = c.input(0)?;
    let e = c.input(1)?;
    if e.elem_count() == 1 {
        let v = float_scalar(e)?;
        if v == 1.0 {
            return Ok(x.clone());
        } else if v == 2.0 {
            return Ok(x.sqr()?);
        } else if v == 3.0 {
            return Ok((x.sqr()? * x)?);
        } else if v == 0.5 {
            return Ok(x.sqrt()?);
        }
    }
    let e = e.to_dtype(x.dtype())?;
    Ok(x.broadcast_pow(&e)?)
}

fn softmax(c: &Ctx<'_>, log: bool) -> R<Tensor> {
    let x = c.input(0)?;
    let rank = x.rank();
    let default_axis = if c.opset >= 13 { -1 } else { 1 };
    let axis = c.axis(c.int("axis", default_axis)?, rank)?;
    // Before opset 13 the input is coerced to 2-D at `axis`.
    let (y, restore) = if c.opset < 13 && axis != rank - 1 {
        let dims = x.dims();
        let outer: usize = dims[..axis].iter().product();
        let inner: usize = dims[axis..].iter().product();
        (x.reshape((outer, inner))?, Some(dims.to_vec()))
    } else {
        (x.clone(), None)
    };
    let d = if restore.is_some() { 1 } else { axis };
    let shifted = y.broadcast_sub(&y.max_keepdim(d)?.detach())?;
    let exp = shifted.exp()?;
    let sum = exp.sum_keepdim(d)?;
    let out = if log {
        shifted.broadcast_sub(&sum.log()?)?
    } else {
        exp.broadcast_div(&sum)?
    };
    Ok(match restore {
        Some(dims) => out.reshape(dims)?,
        None => out,
    })
}

fn gemm(c: &Ctx<'_>) -> R<Tensor> {
    let mut a = c.input(0)?.clone();
    let mut b = c.input(1)?.clone();
    if a.rank() != 2 || b.rank() != 2 {
        return Err(c.err(format!(
            "Gemm needs 2-D operands, got {:?} and {:?}",
            a.dims(),
            b.dims()
        )));
    }
    if c.int("transA", 0)? != 0 {
        a = a.t()?;
    }
    if c.int("transB", 0)? != 0 {
        b = b.t()?;
    }
    let alpha = f64::from(c.float("alpha", 1.0)?);
    let beta = f64::from(c.float("beta", 1.0)?);
    let mut y = a.contiguous()?.matmul(&b.contiguous()?)?;
    if alpha != 1.0 {
        y = y.affine(alpha, 0.0)?;
    }
    if let Some(bias) = c.opt_input(2) {
        let bias = if beta != 1.0 {
            bias.affine(beta, 0.0)?
        } else {
            bias.clone()
        };
        y = y.broadcast_add(&bias)?;
    }
    Ok(y)
}

fn matmul(a: &Tensor, b: &Tensor) -> R<Tensor> {
    let a1 = a.rank() == 1;
    let b1 = b.rank() == 1;
    let a = if a1 { a.unsqueeze(0)? } else { a.clone() };
    let b = if b1 { b.unsqueeze(1)? } else { b.clone() };
    let mut y = if a.rank() == 2 && b.rank() == 2 {
        a.contiguous()?.matmul(&b.contiguous()?)?
    } else {
        a.contiguous()?.broadcast_matmul(&b.contiguous()?)?
    };
    if a1 {
        y = y.squeeze(y.rank() - 2)?;
    }
    if b1 {
        y = y.squeeze(y.rank() - 1)?;
    }
    Ok(y)
}

/// Spatial parameters of a conv or pool: per-axis kernel, strides, dilations, begin/end pads.
struct Spatial {
    kernel: Vec<usize>,
    strides: Vec<usize>,
    dilations: Vec<usize>,
    pads: Vec<(usize, usize)>,
}

fn spatial(c: &Ctx<'_>, x: &Tensor, kernel: Vec<usize>) -> R<Spatial> {
    let n = kernel.len();
    if x.rank() != n + 2 {
        return Err(c.err(format!(
            "input of shape {:?} does not have {n} spatial axes after batch and channel",
            x.dims()
        )));
    }
    let list = |name: &str, default: usize| -> R<Vec<usize>> {
        match c.ints(name)? {
            Some(v) if v.len() == n && v.iter().all(|&s| s >= 1) => {
                Ok(v.iter().map(|&s| s as usize).collect())
            }
            Some(v) => Err(c.err(format!(
                "attribute `{name}` {v:?} is invalid for {n} spatial axes"
            ))),
            None => Ok(vec![default; n]),
        }
    };
    let strides = list("strides", 1)?;
    let dilations = list("dilations", 1)?;
    let auto_pad = c.string("auto_pad", "NOTSET")?;
    let in_dims = &x.dims()[2..];
    let pads = match auto_pad.as_str() {
        "NOTSET" => match c.ints("pads")? {
            Some(p) if p.len() == 2 * n && p.iter().all(|&v| v >= 0) => {
                (0..n).map(|i| (p[i] as usize, p[i + n] as usize)).collect()
            }
            Some(p) => return Err(c.err(format!("attribute `pads` {p:?} is invalid"))),
            None => vec![(0, 0); n],
        },
        "VALID" => vec![(0, 0); n],
        "SAME_UPPER" | "SAME_LOWER" => (0..n)
            .map(|i| {
                let out = in_dims[i].div_ceil(strides[i]);
                let eff = (kernel[i] - 1) * dilations[i] + 1;
                let total = ((out - 1) * strides[i] + eff).saturating_sub(in_dims[i]);
                if auto_pad == "SAME_UPPER" {
                    (total / 2, total - total / 2)
                } else {
                    (total - total / 2, total / 2)
                }
            })
            .collect(),
        other => return Err(c.err(format!("auto_pad `{other}` is not supported"))),
    };
    Ok(Spatial {
        kernel,
        strides,
        dilations,
        pads,
    })
}

fn pad_const(x: &Tensor, dim: usize, left: usize, right: usize, value: f64) -> R<Tensor> {
    if left == 0 && right == 0 {
        return Ok(x.clone());
    }
    if value == 0.0 {
        return Ok(x.pad_with_zeros(dim, left, right)?);
    }
    let mut parts = Vec::with_capacity(3);
    let mut dims = x.dims().to_vec();
    if left > 0 {
        dims[dim] = left;
        parts.push(Tensor::full(value as f32, dims.clone(), x.device())?.to_dtype(x.dtype())?);
    }
    parts.push(x.clone());
    if right > 0 {
        dims[dim] = right;
        parts.push(Tensor::full(value as f32, dims.clone(), x.device())?.to_dtype(x.dtype())?);
    }
    Ok(Tensor::cat(&parts, dim)?)
}

fn same(v: &[usize]) -> Option<usize> {
    let first = *v.first()?;
    v.iter().all(|&x| x == first).then_some(first)
}

fn conv(c: &Ctx<'_>) -> R<Tensor> {
    let x = c.input(0)?;
    let w = c.input(1)?;
    if w.rank() < 3 {
        return Err(c.err(format!(
            "weight of shape {:?} is not a convolution kernel",
            w.dims()
        )));
    }
    let kernel: Vec<usize> = w.dims()[2..].to_vec();
    let s = spatial(c, x, kernel)?;
    let groups = c.int("group", 1)?.max(1) as usize;
    let n = s.kernel.len();
    let (stride, dilation) = match (same(&s.strides), same(&s.dilations)) {
        (Some(a), Some(b)) => (a, b),
        _ => return Err(c.err("different strides or dilations per axis are not supported")),
    };
    let pads = match *s.pads.as_slice() {
        [p] => [(0, 0), p],
        [ph, pw] => [ph, pw],
        _ => return Err(c.err(format!("{n}-D convolution is not supported"))),
    };
    let params = kernels::Conv2dParams {
        pads,
        stride,
        dilation,
        groups,
    };
    let bias = c.opt_input(2);
    Ok(match n {
        // As a 2-D convolution of height 1: candle 0.9.2's conv1d backward misplaces the
        // gradient of every sample after the first in a batch.
        1 => kernels::conv2d(&x.unsqueeze(2)?, &w.unsqueeze(2)?, bias, params)?.squeeze(2)?,
        _ => kernels::conv2d(x, w, bias, params)?,
    })
}

fn conv_transpose(c: &Ctx<'_>) -> R<Tensor> {
    let x = c.input(0)?;
    let w = c.input(1)?;
    if w.rank() < 3 {
        return Err(c.err(format!(
            "weight of shape {:?} is not a convolution kernel",
            w.dims()
        )));
    }
    let kernel: Vec<usize> = w.dims()[2..].to_vec();
    if kernel.len() != 2 {
        return Err(c.err("only 2-D ConvTranspose is supported"));
    }
    if c.int("group", 1)? != 1 {
        return Err(c.err("grouped ConvTranspose is not supported"));
    }
    if c.node.attrs.contains_key("output_shape") {
        return Err(c.err("attribute `output_shape` is not supported; give `pads` instead"));
    }
    let s = spatial(c, x, kernel)?;
    let out_pad = c.ints("output_padding")?.unwrap_or_else(|| vec![0, 0]);
    let pads: Vec<usize> = s.pads.iter().flat_map(|&(a, b)| [a, b]).collect();
    let (Some(stride), Some(dilation), Some(padding), Some(op)) = (
        same(&s.strides),
        same(&s.dilations),
        same(&pads),
        same(
            &out_pad
                .iter()
                .map(|&v| v.max(0) as usize)
                .collect::<Vec<_>>(),
        ),
    ) else {
        return Err(c.err(
            "only the same stride, dilation, padding and output padding on both axes are supported",
        ));
    };
    let mut y = x
        .contiguous()?
        .conv_transpose2d(w, padding, op, stride, dilation)?;
    if let Some(b) = c.opt_input(2) {
        y = y.broadcast_add(&b.reshape((1, b.elem_count(), 1, 1))?)?;
    }
    Ok(y)
}

/// MaxPool and AveragePool, 1-D or 2-D, with PyTorch's semantics and gradients
/// ([`kernels::pool`]): pads, strides, dilations, `ceil_mode`, kernel ≠ stride, any input size.
fn pool(c: &Ctx<'_>, kind: PoolKind) -> R<Tensor> {
    let x = c.input(0)?;
    let kernel: Vec<usize> = c
        .ints("kernel_shape")?
        .ok_or_else(|| c.err("missing kernel_shape"))?
        .iter()
        .map(|&k| usize::try_from(k).unwrap_or(0))
        .collect();
    if !matches!(kernel.len(), 1 | 2) || x.rank() != kernel.len() + 2 || !x.dtype().is_float() {
        return Err(c.err(format!(
            "only 1-D and 2-D pooling of float NCL/NCHW input is supported (kernel {kernel:?}, input {:?})",
            x.dims()
        )));
    }
    if kernel.contains(&0) {
        return Err(c.err(format!("kernel_shape {kernel:?} is invalid")));
    }
    let s = spatial(c, x, kernel)?;
    let ceil_mode = c.int("ceil_mode", 0)? != 0;
    let mut axes: Vec<PoolAxis> = (0..s.kernel.len())
        .map(|i| PoolAxis {
            kernel: s.kernel[i],
            stride: s.strides[i],
            dilation: s.dilations[i],
            pad_begin: s.pads[i].0,
            pad_end: s.pads[i].1,
        })
        .collect();
    for (i, a) in axes.iter().enumerate() {
        if a.output(x.dim(2 + i)?, ceil_mode).is_none() {
            return Err(c.err(format!(
                "the pooling window does not fit input {:?}",
                x.dims()
            )));
        }
    }
    if axes.len() == 1 {
        let unit = PoolAxis {
            kernel: 1,
            stride: 1,
            dilation: 1,
            pad_begin: 0,
            pad_end: 0,
        };
        let y = kernels::pool(&x.unsqueeze(2)?, kind, [unit, axes[0]], ceil_mode)?;
        return Ok(y.squeeze(2)?);
    }
    let w = axes.pop().expect("two axes");
    let h = axes.pop().expect("two axes");
    Ok(kernels::pool(x, kind, [h, w], ceil_mode)?)
}

fn channel_shape(rank: usize, channels: usize) -> Vec<usize> {
    let mut shape = vec![1; rank.max(2)];
    shape[1] = channels;
    shape
}

fn batch_norm(c: &Ctx<'_>) -> R<Tensor> {
    let x = c.input(0)?;
    let scale = c.input(1)?;
    let bias = c.input(2)?;
    let mean = c.input(3)?;
    let var = c.input(4)?;
    let eps = f64::from(c.float("epsilon", 1e-5)?);
    let shape = channel_shape(x.rank(), scale.elem_count());
    let a = (scale / var.affine(1.0, eps)?.sqrt()?)?;
    let b = (bias - (mean * &a)?)?;
    if x.rank() >= 2 && x.dtype().is_float() && !a.track_op() && !b.track_op() {
        return Ok(kernels::channel_affine(x, &a, &b)?);
    }
    Ok(x.broadcast_mul(&a.reshape(shape.clone())?)?
        .broadcast_add(&b.reshape(shape)?)?)
}

fn layer_norm(c: &Ctx<'_>) -> R<Tensor> {
    let x = c.input(0)?;
    let axis = c.axis(c.int("axis", -1)?, x.rank())?;
    let eps = f64::from(c.float("epsilon", 1e-5)?);
    let dims: Vec<usize> = (axis..x.rank()).collect();
    let mean = x.mean_keepdim(dims.clone())?;
    let centered = x.broadcast_sub(&mean)?;
    let var = centered.sqr()?.mean_keepdim(dims)?;
    let mut y = centered.broadcast_div(&var.affine(1.0, eps)?.sqrt()?)?;
    y = y.broadcast_mul(c.input(1)?)?;
    if let Some(b) = c.opt_input(2) {
        y = y.broadcast_add(b)?;
    }
    Ok(y)
}

fn reshape(c: &Ctx<'_>) -> R<Tensor> {
    let x = c.input(0)?;
    let spec = match c.opt_input(1) {
        Some(t) => int_values(t)?,
        None => c.ints("shape")?.ok_or_else(|| c.err("no shape"))?,
    };
    let allowzero = c.int("allowzero", 0)? != 0;
    let mut dims = Vec::with_capacity(spec.len());
    let mut infer = None;
    for (i, &d) in spec.iter().enumerate() {
        match d {
            0 if !allowzero => dims.push(*x.dims().get(i).ok_or_else(|| {
                c.err(format!(
                    "shape {spec:?}: 0 at {i} has no input dimension to copy"
                ))
            })?),
            -1 if infer.is_none() => {
                infer = Some(i);
                dims.push(1);
            }
            d if d >= 0 => dims.push(d as usize),
            _ => return Err(c.err(format!("invalid shape {spec:?}"))),
        }
    }
    let total = x.elem_count();
    if let Some(i) = infer {
        let known: usize = dims.iter().product();
        if known == 0 || total % known != 0 {
            return Err(c.err(format!("cannot reshape {:?} to {spec:?}", x.dims())));
        }
        dims[i] = total / known;
    }
    if dims.iter().product::<usize>() != total {
        return Err(c.err(format!("cannot reshape {:?} to {spec:?}", x.dims())));
    }
    Ok(x.reshape(dims)?)
}

fn slice(c: &Ctx<'_>) -> R<Tensor> {
    let x = c.input(0)?;
    let (starts, ends, axes, steps) = if c.opset >= 10 {
        (
            int_values(c.input(1)?)?,
            int_values(c.input(2)?)?,
            c.opt_input(3).map(int_values).transpose()?,
            c.opt_input(4).map(int_values).transpose()?,
        )
    } else {
        (
            c.ints("starts")?.ok_or_else(|| c.err("no starts"))?,
            c.ints("ends")?.ok_or_else(|| c.err("no ends"))?,
            c.ints("axes")?,
            None,
        )
    };
    let axes = axes.unwrap_or_else(|| (0..starts.len() as i64).collect());
    let steps = steps.unwrap_or_else(|| vec![1; starts.len()]);
    if ends.len() != starts.len() || axes.len() != starts.len() || steps.len() != starts.len() {
        return Err(c.err("starts, ends, axes and steps differ in length"));
    }
    let mut y = x.clone();
    for i in 0..starts.len() {
        let axis = c.axis(axes[i], x.rank())?;
        let dim = y.dim(axis)? as i64;
        let step = steps[i];
        if step == 0 {
            return Err(c.err("slice step 0"));
        }
        let adj = |v: i64| if v < 0 { v + dim } else { v };
        let (start, end) = (adj(starts[i]), adj(ends[i]));
        let idx: Vec<u32> = if step > 0 {
            let (s, e) = (start.clamp(0, dim), end.clamp(0, dim));
            if step == 1 {
                y = y.narrow(axis, s as usize, (e - s).max(0) as usize)?;
                continue;
            }
            (s..e).step_by(step as usize).map(|v| v as u32).collect()
        } else {
            let (s, e) = (start.clamp(-1, dim - 1), end.clamp(-1, dim - 1));
            let mut out = Vec::new();
            let mut v = s;
            while v > e {
                out.push(v as u32);
                v += step;
            }
            out
        };
        let n = idx.len();
        let ids = Tensor::from_vec(idx, n, y.device())?;
        y = y.index_select(&ids, axis)?;
    }
    Ok(y)
}

fn gather(c: &Ctx<'_>) -> R<Tensor> {
    let x = c.input(0)?;
    let indices = c.input(1)?;
    let axis = c.axis(c.int("axis", 0)?, x.rank())?;
    let dim = x.dim(axis)? as i64;
    let idx: Vec<u32> = int_values(indices)?
        .iter()
        .map(|&i| {
            let j = if i < 0 { i + dim } else { i };
            if (0..dim).contains(&j) {
                Ok(j as u32)
            } else {
                Err(c.err(format!("index {i} out of range for dimension {dim}")))
            }
        })
        .collect::<R<_>>()?;
    let n = idx.len();
    let ids = Tensor::from_vec(idx, n, x.device())?;
    let y = x.index_select(&ids, axis)?;
    let mut shape: Vec<usize> = x.dims()[..axis].to_vec();
    shape.extend_from_slice(indices.dims());
    shape.extend_from_slice(&x.dims()[axis + 1..]);
    Ok(y.reshape(shape)?)
}

fn pad(c: &Ctx<'_>) -> R<Tensor> {
    let x = c.input(0)?;
    let pads = if c.opset >= 11 {
        int_values(c.input(1)?)?
    } else {
        c.ints("pads")?.ok_or_else(|| c.err("no pads"))?
    };
    let value = if c.opset >= 11 {
        c.opt_input(2).map(float_scalar).transpose()?.unwrap_or(0.0)
    } else {
        c.float("value", 0.0)?
    };
    let axes: Vec<usize> = match c.opt_input(3) {
        Some(a) => int_values(a)?
            .iter()
            .map(|&a| c.axis(a, x.rank()))
            .collect::<R<_>>()?,
        None => (0..x.rank()).collect(),
    };
    let n = axes.len();
    if pads.len() != 2 * n {
        return Err(c.err(format!("pads {pads:?} do not match {n} axes")));
    }
    let mode = c.string("mode", "constant")?;
    let mut y = x.clone();
    for (i, &axis) in axes.iter().enumerate() {
        let (l, r) = (pads[i], pads[i + n]);
        // Negative pads crop.
        if l < 0 || r < 0 {
            let dim = y.dim(axis)? as i64;
            let s = (-l).max(0);
            let len = dim - s - (-r).max(0);
            if len < 0 {
                return Err(c.err("negative pads crop more than the dimension"));
            }
            y = y.narrow(axis, s as usize, len as usize)?;
        }
        let (l, r) = (l.max(0) as usize, r.max(0) as usize);
        y = match mode.as_str() {
            "constant" => pad_const(&y, axis, l, r, f64::from(value))?,
            "edge" => y.pad_with_same(axis, l, r)?,
            other => return Err(c.err(format!("pad mode `{other}` is not supported"))),
        };
    }
    Ok(y)
}

fn reduce(c: &Ctx<'_>) -> R<Tensor> {
    let x = c.input(0)?;
    let op = c.node.op_type.as_str();
    // Axes moved from an attribute to an input in opset 13 (ReduceSum) and 18 (the others).
    let axes_from_input = (op == "ReduceSum" && c.opset >= 13) || c.opset >= 18;
    let axes = if axes_from_input {
        c.opt_input(1).map(int_values).transpose()?
    } else {
        c.ints("axes")?
    };
    let keep = c.int("keepdims", 1)? != 0;
    let axes: Vec<usize> = match axes {
        Some(a) if !a.is_empty() => a.iter().map(|&a| c.axis(a, x.rank())).collect::<R<_>>()?,
        _ if c.int("noop_with_empty_axes", 0)? != 0 => return Ok(x.clone()),
        _ => (0..x.rank()).collect(),
    };
    let mut y = match op {
        "ReduceMean" => x.mean_keepdim(axes.clone())?,
        "ReduceSum" => x.sum_keepdim(axes.clone())?,
        _ => amax(x, &axes)?,
    };
    if !keep {
        let dims: Vec<usize> = y
            .dims()
            .iter()
            .enumerate()
            .filter(|(i, _)| !axes.contains(i))
            .map(|(_, &d)| d)
            .collect();
        y = y.reshape(dims)?;
    }
    Ok(y)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn op_table_is_sorted_and_unique() {
        // `op_fn` binary-searches the table.
        assert!(OPS.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(SUPPORTED_OPS.len(), OPS.len());
    }

    /// `SUPPORTED_OPS` and the dispatch are one table; this pins that every listed name
    /// reaches an implementation and an unlisted one is refused as unsupported.
    #[test]
    fn supported_ops_and_dispatch_are_the_same_set() {
        let node = |op: &str| Node {
            name: "n".into(),
            op_type: op.into(),
            domain: String::new(),
            inputs: vec![],
            outputs: vec!["y".into()],
            attrs: Default::default(),
        };
        let eval = |op: &str| eval_node(&node(op), &[], 17, &Device::Cpu, DType::F32);
        for &op in SUPPORTED_OPS {
            assert!(
                !matches!(eval(op), Err(RuntimeError::UnsupportedOp { .. })),
                "{op} is listed but not dispatched"
            );
        }
        for op in ["NonMaxSuppression", "Loop", "maxpool", "Relu6", ""] {
            assert!(
                matches!(eval(op), Err(RuntimeError::UnsupportedOp { .. })),
                "{op} is dispatched but not listed"
            );
        }
    }
}
