//! Ops whose candle-core 0.9.2 backward is wrong or missing, implemented as candle custom ops
//! with PyTorch's gradient semantics (CPU, f32 and f64).
//!
//! - **Pooling** ([`pool`]): candle's `MaxPool2D` backward scales the gradient by
//!   (#maxima in the window)/(kh·kw) instead of routing it to the arg-max (×¼ for 2×2), its
//!   nearest upsampling misaligns windows when the input is not a multiple of the kernel, and
//!   it refuses kernel ≠ stride; `AvgPool2D` has the same last two problems. Ours handles pads,
//!   strides, dilations and `ceil_mode` like `torch.nn.functional.{max,avg}_pool2d`: the max
//!   gradient goes to the first maximum in row-major scan order (PyTorch's CPU kernel: a later
//!   element wins only when strictly greater, or NaN), the average gradient is spread over the
//!   window's cells with the forward's divisor.
//! - **Pointwise kinks** ([`pointwise`]): candle's ReLU backward passes the gradient at x = 0
//!   (`x >= 0`), PyTorch's does not (`x > 0`); `abs` gets +1 at 0 instead of 0; ties in
//!   `maximum`/`minimum` halve the gradient, so Clip and LeakyReLU built from them differ from
//!   `torch.clamp` (gradient passes on the bounds) and `leaky_relu` (α at 0).
//! - **Convolution** ([`conv2d`]): candle's `Conv2D` backward is right, but computes the
//!   kernel's gradient (a second convolution as large as the forward) whatever the kernel is,
//!   and candle's CPU convolutions loop element by element. An attack differentiates with
//!   respect to the input only, through constant weights; ours computes the forward and the
//!   input gradient as one matrix product per block of samples over the im2col matrix (gemm),
//!   and nothing else. The zero padding is the im2col matrix's zeros and the bias is added to
//!   the product, so a convolution is one node of candle's graph instead of five (two pads, a
//!   crop, the convolution, the bias). Same values as candle's to rounding.
//! - **Per-channel affine** ([`channel_affine`], batch normalization in inference): candle's
//!   broadcast product and sum are right but are two ops, each a pass over the tensor forward
//!   and a zero-filled gradient sum plus a pass backward; ours is one, with the same two
//!   roundings (bit-identical).
//!
//! Every op is a node of candle's autograd graph; fewer nodes is most of the speed: candle's
//! backward fills a fresh zero tensor for every node's gradient and adds to it.

use std::sync::OnceLock;

use candle_core::{
    CpuStorage, CustomOp1, DType, Device, Layout, Shape, Storage, Tensor, WithDType, bail,
};

/// One spatial axis of a pooling window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolAxis {
    pub kernel: usize,
    pub stride: usize,
    pub dilation: usize,
    pub pad_begin: usize,
    pub pad_end: usize,
}

impl PoolAxis {
    /// The output length for an input of `input` cells (PyTorch's `pooling_output_shape`):
    /// with `ceil_mode` the last window may run past the end, but it must start inside the
    /// input or the begin padding. `None` when not even one window fits.
    pub fn output(&self, input: usize, ceil_mode: bool) -> Option<usize> {
        let eff = (self.kernel.checked_sub(1)?)
            .checked_mul(self.dilation)?
            .checked_add(1)?;
        let span = input
            .checked_add(self.pad_begin)?
            .checked_add(self.pad_end)?;
        let num = span.checked_sub(eff)?;
        let stride = self.stride.max(1);
        let mut out = if ceil_mode {
            num.div_ceil(stride)
        } else {
            num / stride
        } + 1;
        if ceil_mode && (out - 1) * stride >= input + self.pad_begin {
            out -= 1;
        }
        Some(out)
    }

    /// The input cells of window `o` (in order) and the window's divisor for an average that
    /// counts padding: the cells of the padded input `[-pad_begin, input + pad_end)` it covers.
    fn window(&self, o: usize, input: usize) -> (Vec<usize>, usize) {
        let start = (o * self.stride) as i64 - self.pad_begin as i64;
        let mut cells = Vec::with_capacity(self.kernel);
        let mut with_pad = 0;
        for j in 0..self.kernel {
            let p = start + (j * self.dilation) as i64;
            if p < (input + self.pad_end) as i64 {
                with_pad += 1;
            }
            if p >= 0 && (p as usize) < input {
                cells.push(p as usize);
            }
        }
        (cells, with_pad)
    }
}

/// What a pooling op computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolKind {
    Max,
    /// `count_include_pad`: divide by the padded window's size instead of its real cells.
    Average {
        count_include_pad: bool,
    },
}

/// 2-D pooling over NCHW (1-D pooling is 2-D with a height-1 axis).
#[derive(Debug)]
struct Pool {
    kind: PoolKind,
    axes: [PoolAxis; 2],
    ceil_mode: bool,
    /// Max pooling: the arg-max (flat input index) of every output, recorded by the forward
    /// pass for the backward pass; `usize::MAX` for a window without input cells.
    argmax: OnceLock<Vec<usize>>,
}

/// The windows of one plane: per output cell, its input cells (flat, within the plane) and the
/// padded divisor.
struct Plan {
    out: (usize, usize),
    windows: Vec<(Vec<usize>, usize)>,
}

impl Pool {
    fn plan(&self, h: usize, w: usize) -> candle_core::Result<Plan> {
        let [ah, aw] = self.axes;
        let (Some(oh), Some(ow)) = (ah.output(h, self.ceil_mode), aw.output(w, self.ceil_mode))
        else {
            bail!(
                "pooling window {:?} does not fit the {h}x{w} input",
                self.axes
            )
        };
        let rows: Vec<_> = (0..oh).map(|o| ah.window(o, h)).collect();
        let cols: Vec<_> = (0..ow).map(|o| aw.window(o, w)).collect();
        let mut windows = Vec::with_capacity(oh * ow);
        for (r, rp) in &rows {
            for (c, cp) in &cols {
                let cells = r
                    .iter()
                    .flat_map(|&i| c.iter().map(move |&j| i * w + j))
                    .collect();
                windows.push((cells, rp * cp));
            }
        }
        Ok(Plan {
            out: (oh, ow),
            windows,
        })
    }

    fn divisor(&self, cells: usize, padded: usize) -> usize {
        match self.kind {
            PoolKind::Average {
                count_include_pad: true,
            } => padded,
            _ => cells,
        }
    }

    fn backward<T: WithDType>(&self, dims: &[usize], grad: &[T]) -> candle_core::Result<Vec<T>> {
        let &[n, c, h, w] = dims else {
            bail!("pooling needs NCHW input, got {dims:?}")
        };
        let mut dx = vec![0f64; n * c * h * w];
        match self.kind {
            PoolKind::Max => {
                let Some(argmax) = self.argmax.get() else {
                    bail!("max-pool backward before its forward pass")
                };
                for (&at, g) in argmax.iter().zip(grad) {
                    if at != usize::MAX {
                        dx[at] += g.to_f64();
                    }
                }
            }
            PoolKind::Average { .. } => {
                let plan = self.plan(h, w)?;
                let per_out = plan.windows.len();
                for (k, g) in grad.iter().enumerate() {
                    let (p, o) = (k / per_out, k % per_out);
                    let (cells, padded) = &plan.windows[o];
                    let d = self.divisor(cells.len(), *padded);
                    if d == 0 {
                        continue;
                    }
                    let share = g.to_f64() / d as f64;
                    for &i in cells {
                        dx[p * h * w + i] += share;
                    }
                }
            }
        }
        Ok(dx.into_iter().map(T::from_f64).collect())
    }

    /// Max pooling's values and arg-maxes: each window's cells in row-major order, a later
    /// cell winning only when strictly greater, or NaN (PyTorch's rule), starting from -inf
    /// at the window's first cell. Tap by tap, every window of a plane at each, so the
    /// windows' comparisons overlap; a window's padding taps read a -inf cell after the
    /// plane's copy, which never wins. The arg-max moves by a mask, not a branch: which cell
    /// wins is data. (Measured on 512×8×8×8, 3×3/2: twice as fast as window by window, and
    /// as a branch-free `f64::max` with a NaN flag.)
    fn max_forward<T: WithDType>(
        &self,
        x: &[T],
        (h, w): (usize, usize),
        planes: usize,
        plan: &Plan,
    ) -> (Vec<T>, Vec<usize>) {
        let hw = h * w;
        let per_out = plan.windows.len();
        let taps = plan.windows.iter().map(|(c, _)| c.len()).max().unwrap_or(0);
        // cells[t·per_out + o]: window o's t-th cell, or hw (the -inf cell) past its last.
        let mut cells = vec![hw; taps * per_out];
        for (o, (c, _)) in plan.windows.iter().enumerate() {
            for (t, &i) in c.iter().enumerate() {
                cells[t * per_out + o] = i;
            }
        }
        let first: Vec<usize> = plan
            .windows
            .iter()
            .map(|(c, _)| c.first().copied().unwrap_or(usize::MAX))
            .collect();
        let minus_inf = T::from_f64(f64::NEG_INFINITY);
        let mut padded = vec![minus_inf; hw + 1];
        let mut best = vec![minus_inf; per_out];
        let mut at = vec![0usize; per_out];
        let mut out = Vec::with_capacity(planes * per_out);
        let mut argmax = Vec::with_capacity(planes * per_out);
        for p in 0..planes {
            let base = p * hw;
            padded[..hw].copy_from_slice(&x[base..base + hw]);
            best.fill(minus_inf);
            at.copy_from_slice(&first);
            for tap in cells.chunks_exact(per_out) {
                for ((b, a), &i) in best.iter_mut().zip(at.iter_mut()).zip(tap) {
                    let v = padded[i];
                    let take = (v > *b) | v.to_f64().is_nan();
                    let mask = 0usize.wrapping_sub(usize::from(take));
                    *a ^= (*a ^ i) & mask;
                    *b = if take { v } else { *b };
                }
            }
            out.extend_from_slice(&best);
            argmax.extend(
                at.iter()
                    .map(|&a| if a == usize::MAX { a } else { base + a }),
            );
        }
        (out, argmax)
    }
}

/// An op whose forward is written once for both float types.
trait FloatForward {
    fn forward<T: WithDType>(
        &self,
        x: &[T],
        dims: &[usize],
    ) -> candle_core::Result<(Vec<T>, Shape)>;
}

/// An op whose input gradient is written once for both float types.
trait FloatBackward {
    fn input_grad<T: WithDType>(&self, arg: &Tensor, grad: &Tensor) -> candle_core::Result<Tensor>;
}

/// `bwd` of a [`FloatBackward`] op: the input's gradient for an f32 or f64 input; any other
/// type is an error naming the op.
fn float_backward(
    op: &impl FloatBackward,
    name: &str,
    arg: &Tensor,
    grad: &Tensor,
) -> candle_core::Result<Option<Tensor>> {
    let dx = match arg.dtype() {
        DType::F32 => op.input_grad::<f32>(arg, grad)?,
        DType::F64 => op.input_grad::<f64>(arg, grad)?,
        other => bail!("{name} supports f32 and f64 only, not {other:?}"),
    };
    Ok(Some(dx))
}

/// `cpu_fwd` of a [`FloatForward`] op: f32 or f64 storage; any other type is an error naming
/// the op.
fn float_forward(
    op: &impl FloatForward,
    name: &str,
    s: &CpuStorage,
    l: &Layout,
) -> candle_core::Result<(CpuStorage, Shape)> {
    match s {
        CpuStorage::F32(v) => {
            let (y, shape) = op.forward(contiguous(v, l)?, l.dims())?;
            Ok((CpuStorage::F32(y), shape))
        }
        CpuStorage::F64(v) => {
            let (y, shape) = op.forward(contiguous(v, l)?, l.dims())?;
            Ok((CpuStorage::F64(y), shape))
        }
        _ => bail!("{name} supports f32 and f64 only"),
    }
}

/// `CustomOp1` for an op that is both [`FloatForward`] and [`FloatBackward`]: each direction
/// through the f32/f64 dispatch, errors naming the op.
macro_rules! float_custom_op {
    ($op:ty, $name:literal) => {
        impl CustomOp1 for $op {
            fn name(&self) -> &'static str {
                $name
            }

            fn cpu_fwd(
                &self,
                s: &CpuStorage,
                l: &Layout,
            ) -> candle_core::Result<(CpuStorage, Shape)> {
                float_forward(self, self.name(), s, l)
            }

            fn bwd(
                &self,
                arg: &Tensor,
                _res: &Tensor,
                grad: &Tensor,
            ) -> candle_core::Result<Option<Tensor>> {
                float_backward(self, self.name(), arg, grad)
            }
        }
    };
}

impl FloatForward for Pool {
    fn forward<T: WithDType>(
        &self,
        x: &[T],
        dims: &[usize],
    ) -> candle_core::Result<(Vec<T>, Shape)> {
        let &[n, c, h, w] = dims else {
            bail!("pooling needs NCHW input, got {dims:?}")
        };
        let plan = self.plan(h, w)?;
        let planes = n * c;
        let per_out = plan.windows.len();
        let mut out = Vec::with_capacity(planes * per_out);
        if self.kind == PoolKind::Max {
            let (out, argmax) = self.max_forward(x, (h, w), planes, &plan);
            // The op is built once per forward call, so this is set exactly once.
            let _ = self.argmax.set(argmax);
            return Ok((out, Shape::from((n, c, plan.out.0, plan.out.1))));
        }
        for p in 0..planes {
            let base = p * h * w;
            let plane = &x[base..base + h * w];
            for (cells, padded) in &plan.windows {
                let d = self.divisor(cells.len(), *padded);
                let sum: f64 = cells.iter().map(|&i| plane[i].to_f64()).sum();
                out.push(T::from_f64(if d == 0 { 0.0 } else { sum / d as f64 }));
            }
        }
        Ok((out, Shape::from((n, c, plan.out.0, plan.out.1))))
    }
}

fn contiguous<'a, T>(v: &'a [T], layout: &Layout) -> candle_core::Result<&'a [T]> {
    match layout.contiguous_offsets() {
        Some((a, b)) => Ok(&v[a..b]),
        None => bail!("kernel input is not contiguous"),
    }
}

impl CustomOp1 for Pool {
    fn name(&self) -> &'static str {
        match self.kind {
            PoolKind::Max => "mlsec-max-pool",
            PoolKind::Average { .. } => "mlsec-avg-pool",
        }
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        float_forward(self, self.name(), s, l)
    }

    fn bwd(
        &self,
        arg: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        float_backward(self, self.name(), arg, grad)
    }
}

impl FloatBackward for Pool {
    fn input_grad<T: WithDType>(&self, arg: &Tensor, grad: &Tensor) -> candle_core::Result<Tensor> {
        let g = values::<T>(&grad.to_dtype(T::DTYPE)?)?;
        Tensor::from_vec(self.backward(arg.dims(), &g)?, arg.dims(), arg.device())
    }
}

/// Pools an NCHW tensor (`axes` = [height, width]) with PyTorch's forward and backward
/// semantics; see the module doc.
pub fn pool(
    x: &Tensor,
    kind: PoolKind,
    axes: [PoolAxis; 2],
    ceil_mode: bool,
) -> candle_core::Result<Tensor> {
    x.contiguous()?.apply_op1(Pool {
        kind,
        axes,
        ceil_mode,
        argmax: OnceLock::new(),
    })
}

/// An elementwise op with a kink, differentiated like PyTorch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pointwise {
    /// `max(x, 0)`; gradient where `x > 0`.
    Relu,
    /// `x` where `x > 0`, else `alpha·x`; gradient 1 where `x > 0`, else `alpha`.
    LeakyRelu { alpha: f64 },
    /// `|x|`; gradient `sign(x)` (0 at 0).
    Abs,
    /// `min(max(x, lo), hi)`; gradient where `lo <= x <= hi` (bounds included).
    Clip { lo: f64, hi: f64 },
}

impl Pointwise {
    fn value(&self, x: f64) -> f64 {
        match *self {
            // x where x > 0 or NaN, else 0: one comparison, so the loop has no branch.
            Pointwise::Relu => {
                if x <= 0.0 {
                    0.0
                } else {
                    x
                }
            }
            Pointwise::LeakyRelu { alpha } => {
                if x > 0.0 {
                    x
                } else {
                    x * alpha
                }
            }
            Pointwise::Abs => x.abs(),
            Pointwise::Clip { lo, hi } => {
                if x.is_nan() {
                    x
                } else {
                    x.max(lo).min(hi)
                }
            }
        }
    }

    fn slope(&self, x: f64) -> f64 {
        match *self {
            Pointwise::Relu => f64::from(u8::from(x > 0.0)),
            Pointwise::LeakyRelu { alpha } => {
                if x > 0.0 {
                    1.0
                } else {
                    alpha
                }
            }
            Pointwise::Abs => {
                if x > 0.0 {
                    1.0
                } else if x < 0.0 {
                    -1.0
                } else {
                    0.0
                }
            }
            Pointwise::Clip { lo, hi } => f64::from(u8::from(x >= lo && x <= hi)),
        }
    }

    /// The values, one loop per op (the op is matched outside it). ReLU and leaky ReLU, the
    /// ones real models use, are computed in `T` (as PyTorch does; a compare and a select per
    /// value, vectorised); the rest through `f64`.
    fn forward<T: WithDType>(&self, v: &[T]) -> Vec<T> {
        let zero = T::zero();
        match *self {
            // NaN <= 0 is false: NaN stays NaN.
            Pointwise::Relu => v
                .iter()
                .map(|&x| if x <= zero { zero } else { x })
                .collect(),
            Pointwise::LeakyRelu { alpha } => {
                let a = T::from_f64(alpha);
                v.iter()
                    .map(|&x| if x > zero { x } else { x * a })
                    .collect()
            }
            op => v
                .iter()
                .map(|x| T::from_f64(op.value(x.to_f64())))
                .collect(),
        }
    }

    /// The incoming gradient `grad` times the slope at `x`, in place (the same product as
    /// multiplying by a tensor of slopes).
    fn backward<T: WithDType>(&self, x: &[T], grad: &mut [T]) {
        let (zero, one) = (T::zero(), T::one());
        match *self {
            Pointwise::Relu => {
                for (g, &x) in grad.iter_mut().zip(x) {
                    *g *= if x > zero { one } else { zero };
                }
            }
            Pointwise::LeakyRelu { alpha } => {
                let a = T::from_f64(alpha);
                for (g, &x) in grad.iter_mut().zip(x) {
                    *g *= if x > zero { one } else { a };
                }
            }
            op => {
                for (g, x) in grad.iter_mut().zip(x) {
                    *g *= T::from_f64(op.slope(x.to_f64()));
                }
            }
        }
    }
}

impl FloatBackward for Pointwise {
    fn input_grad<T: WithDType>(&self, x: &Tensor, grad: &Tensor) -> candle_core::Result<Tensor> {
        let mut g = values::<T>(&grad.to_dtype(T::DTYPE)?)?;
        with_values::<T, _>(x, |x| self.backward(x, &mut g))?;
        Tensor::from_vec(g, x.dims(), x.device())
    }
}

impl CustomOp1 for Pointwise {
    fn name(&self) -> &'static str {
        match self {
            Pointwise::Relu => "mlsec-relu",
            Pointwise::LeakyRelu { .. } => "mlsec-leaky-relu",
            Pointwise::Abs => "mlsec-abs",
            Pointwise::Clip { .. } => "mlsec-clip",
        }
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let out = match s {
            CpuStorage::F32(v) => CpuStorage::F32(self.forward(contiguous(v, l)?)),
            CpuStorage::F64(v) => CpuStorage::F64(self.forward(contiguous(v, l)?)),
            _ => bail!("{} supports f32 and f64 only", self.name()),
        };
        Ok((out, l.shape().clone()))
    }

    fn bwd(
        &self,
        arg: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        float_backward(self, self.name(), arg, grad)
    }
}

/// Applies a [`Pointwise`] op (floating-point tensors; the integer shape arithmetic of
/// exported graphs goes through candle's own ops).
pub fn pointwise(x: &Tensor, op: Pointwise) -> candle_core::Result<Tensor> {
    x.contiguous()?.apply_op1(op)
}

/// The identity whose backward multiplies the gradient by `scale` (same shape as the input).
#[derive(Debug)]
struct ScaleGradient {
    scale: Tensor,
}

impl CustomOp1 for ScaleGradient {
    fn name(&self) -> &'static str {
        "mlsec-scale-gradient"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let out = match s {
            CpuStorage::F32(v) => CpuStorage::F32(contiguous(v, l)?.to_vec()),
            CpuStorage::F64(v) => CpuStorage::F64(contiguous(v, l)?.to_vec()),
            _ => bail!("{} supports f32 and f64 only", self.name()),
        };
        Ok((out, l.shape().clone()))
    }

    fn bwd(
        &self,
        _arg: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        Ok(Some(grad.mul(&self.scale.to_dtype(grad.dtype())?)?))
    }
}

/// `x` unchanged, with its gradient multiplied elementwise by `scale` on the way back.
pub fn scale_gradient(x: &Tensor, scale: &Tensor) -> candle_core::Result<Tensor> {
    x.contiguous()?.apply_op1(ScaleGradient {
        scale: scale.detach(),
    })
}

/// A 2-D convolution with zero padding and an optional bias, one group, through a constant
/// kernel and bias: only the input gets a gradient. Both directions are one matrix product per
/// block of samples over the im2col matrix (gemm), where candle's kernels loop element by
/// element; the padding is the im2col matrix's zeros, and the bias is added to the product.
#[derive(Debug)]
struct Conv2dInput {
    kernel: Tensor,
    bias: Option<Tensor>,
    params: Conv2dParams,
}

/// A 2-D convolution's parameters besides its operands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conv2dParams {
    /// Zero padding (begin, end) of the height and of the width.
    pub pads: [(usize, usize); 2],
    pub stride: usize,
    pub dilation: usize,
    pub groups: usize,
}

/// The geometry of a convolution: input (n, c, h, w), kernel (o, c, kh, kw), padding.
#[derive(Debug, Clone, Copy)]
struct ConvShape {
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    o: usize,
    kh: usize,
    kw: usize,
    ho: usize,
    wo: usize,
    pads: [(usize, usize); 2],
    stride: usize,
    dilation: usize,
}

/// im2col blocks hold at most this many values (32 MiB of f64).
const COLS_BLOCK: usize = 4 << 20;

impl ConvShape {
    fn new(x: &[usize], k: &[usize], p: &Conv2dParams) -> candle_core::Result<Self> {
        let (&[n, c, h, w], &[o, kc, kh, kw]) = (x, k) else {
            bail!("conv2d wants 4-D input and kernel, got {x:?} and {k:?}")
        };
        let (stride, dilation, [(pt, pb), (pl, pr)]) = (p.stride, p.dilation, p.pads);
        let eff = |k: usize| (k - 1) * dilation + 1;
        let (hp, wp) = (h + pt + pb, w + pl + pr);
        if kc != c || kh == 0 || kw == 0 || stride == 0 || eff(kh) > hp || eff(kw) > wp {
            bail!(
                "conv2d: kernel {k:?} does not fit input {x:?} padded by {:?}",
                p.pads
            )
        }
        let (ho, wo) = ((hp - eff(kh)) / stride + 1, (wp - eff(kw)) / stride + 1);
        Ok(ConvShape {
            n,
            c,
            h,
            w,
            o,
            kh,
            kw,
            ho,
            wo,
            pads: p.pads,
            stride,
            dilation,
        })
    }

    /// Rows of the im2col matrix: one per (channel, kernel row, kernel column).
    fn k(&self) -> usize {
        self.c * self.kh * self.kw
    }

    /// Columns: one per output position.
    fn l(&self) -> usize {
        self.ho * self.wo
    }

    /// Samples per im2col block.
    fn block(&self) -> usize {
        (COLS_BLOCK / (self.k() * self.l()).max(1)).clamp(1, self.n.max(1))
    }

    /// Calls `f(row, column, input offset, len)` for every run of one sample's im2col matrix
    /// (k × l) that comes from the input (the rest is padding): `len` cells from (row, column)
    /// on, consecutive in the matrix, `stride` apart in the input. In the order of the matrix's
    /// cells.
    fn runs(&self, mut f: impl FnMut(usize, usize, usize, usize)) {
        let (s, d) = (self.stride as isize, self.dilation as isize);
        let [(pt, _), (pl, _)] = self.pads;
        let (h, w) = (self.h as isize, self.w as isize);
        // Per kernel column: the output columns whose input column is inside, and the first's.
        let cols: Vec<(usize, usize, usize)> = (0..self.kw as isize)
            .map(|j| {
                let x0 = j * d - pl as isize;
                let lo = if x0 >= 0 { 0 } else { (-x0 + s - 1) / s };
                let hi = if x0 >= w {
                    0
                } else {
                    ((w - 1 - x0) / s + 1).min(self.wo as isize)
                };
                (lo as usize, hi.max(lo) as usize, (x0 + lo * s) as usize)
            })
            .collect();
        for ci in 0..self.c {
            for i in 0..self.kh {
                for (j, &(lo, hi, x_first)) in cols.iter().enumerate() {
                    let row = (ci * self.kh + i) * self.kw + j;
                    if lo == hi {
                        continue;
                    }
                    for oh in 0..self.ho {
                        let y = (oh * self.stride + i * self.dilation) as isize - pt as isize;
                        if y < 0 || y >= h {
                            continue;
                        }
                        let at = (ci * self.h + y as usize) * self.w + x_first;
                        f(row, oh * self.wo + lo, at, hi - lo);
                    }
                }
            }
        }
    }

    /// [`Self::runs`] as a list.
    fn run_list(&self) -> Vec<[usize; 4]> {
        let mut runs = Vec::new();
        self.runs(|row, col, at, len| runs.push([row, col, at, len]));
        runs
    }

    /// How the block's im2col matrix orders its columns: short output rows make short runs
    /// (a 4×4 map: runs of 4 cells, each its own copy, per sample), and there it pays to put
    /// the samples innermost so that a run is one copy for the whole block, at the price of
    /// transposing the input, the output and the gradients. Measured (forward+backward, 512
    /// samples): `resnet_stem` (4×4 maps) 3.2 → 2.7 ms with samples innermost, `digits_cnn`
    /// (8×8) 1.07 → 1.25 ms; hence the switch below 8 output columns.
    fn layout(&self) -> ColsLayout {
        if self.wo < 8 {
            ColsLayout::SamplesInnermost
        } else {
            ColsLayout::SampleMajor
        }
    }

    /// The im2col matrix (k, count·l) of `count` samples starting at `first`, its columns in
    /// [`Self::layout`]'s order. One matrix product serves the whole block.
    fn im2col<T: WithDType>(&self, x: &[T], first: usize, count: usize) -> Vec<T> {
        let (l, per, stride) = (self.l(), self.c * self.h * self.w, self.stride);
        let x = &x[first * per..(first + count) * per];
        let mut cols = vec![T::zero(); self.k() * l * count];
        match self.layout() {
            ColsLayout::SampleMajor => {
                for [row, col, from, len] in self.run_list() {
                    for (s, xs) in x.chunks_exact(per).enumerate() {
                        let dst = &mut cols[(row * count + s) * l + col..][..len];
                        copy_strided(dst, &xs[from..], stride);
                    }
                }
            }
            ColsLayout::SamplesInnermost => {
                let mut xt = vec![T::zero(); per * count];
                transpose(x, count, per, 1, &mut xt);
                for [row, col, from, len] in self.run_list() {
                    let dst = &mut cols[(row * l + col) * count..][..len * count];
                    if stride == 1 {
                        dst.copy_from_slice(&xt[from * count..(from + len) * count]);
                    } else {
                        for (t, d) in dst.chunks_exact_mut(count).enumerate() {
                            d.copy_from_slice(&xt[(from + t * stride) * count..][..count]);
                        }
                    }
                }
            }
        }
        cols
    }

    /// The input gradient of `count` samples from an im2col matrix of [`Self::im2col`]'s
    /// layout: each cell added back onto the input cell it came from (padding cells are
    /// dropped), written to samples `first..first + count` of `gx` (NCHW, zero there before).
    fn col2im<T: WithDType>(&self, cols: &[T], gx: &mut [T], first: usize, count: usize) {
        let (l, per, stride) = (self.l(), self.c * self.h * self.w, self.stride);
        let gx = &mut gx[first * per..(first + count) * per];
        match self.layout() {
            ColsLayout::SampleMajor => {
                for [row, col, to, len] in self.run_list() {
                    for (s, gs) in gx.chunks_exact_mut(per).enumerate() {
                        let from = &cols[(row * count + s) * l + col..][..len];
                        add_strided(&mut gs[to..], from, stride);
                    }
                }
            }
            ColsLayout::SamplesInnermost => {
                let mut gt = vec![T::zero(); per * count];
                for [row, col, to, len] in self.run_list() {
                    let from = &cols[(row * l + col) * count..][..len * count];
                    if stride == 1 {
                        add_strided(&mut gt[to * count..], from, 1);
                    } else {
                        for (t, f) in from.chunks_exact(count).enumerate() {
                            add_strided(&mut gt[(to + t * stride) * count..], f, 1);
                        }
                    }
                }
                transpose(&gt, per, count, 1, gx);
            }
        }
    }

    /// The (rows, cols, block) of [`transpose`] that turns a block's product `K · im2col`
    /// (o rows) into its samples' NCHW output (count, o, l).
    fn output_order(&self, count: usize) -> (usize, usize, usize) {
        let (o, l) = (self.o, self.l());
        match self.layout() {
            // (o, count, l) → (count, o, l)
            ColsLayout::SampleMajor => (o, count, l),
            // (o·l, count) → (count, o·l)
            ColsLayout::SamplesInnermost => (o * l, count, 1),
        }
    }

    /// The (rows, cols, block) of [`transpose`] that turns the output gradient of a block's
    /// samples (count, o, l) into the right operand of `Kᵀ · dy` in the im2col columns' order.
    fn gradient_order(&self, count: usize) -> (usize, usize, usize) {
        let (rows, cols, block) = self.output_order(count);
        (cols, rows, block)
    }
}

/// The column order of a block's im2col matrix ([`ConvShape::layout`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ColsLayout {
    /// Column `s·l + pos`: each sample's output positions together.
    SampleMajor,
    /// Column `pos·count + s`: each output position's samples together.
    SamplesInnermost,
}

/// `dst[t] = src[t·stride]` for every cell of `dst`.
fn copy_strided<T: Copy>(dst: &mut [T], src: &[T], stride: usize) {
    if stride == 1 {
        dst.copy_from_slice(&src[..dst.len()]);
    } else {
        for (t, d) in dst.iter_mut().enumerate() {
            *d = src[t * stride];
        }
    }
}

/// `dst[t·stride] += src[t]` for every cell of `src`.
fn add_strided<T: WithDType>(dst: &mut [T], src: &[T], stride: usize) {
    if stride == 1 {
        for (d, &v) in dst[..src.len()].iter_mut().zip(src) {
            *d += v;
        }
    } else {
        for (t, &v) in src.iter().enumerate() {
            dst[t * stride] += v;
        }
    }
}

/// The (rows × cols) matrix `src` of `block`-long cells transposed into `dst`: cell (r, c) to
/// (c, r). Tile by tile, so that the reads and the writes of a tile stay in cache (cell by
/// cell, a 512-sample block's writes are each a cache line apart).
fn transpose<T: Copy>(src: &[T], rows: usize, cols: usize, block: usize, dst: &mut [T]) {
    const TILE: usize = 16;
    for r0 in (0..rows).step_by(TILE) {
        for c0 in (0..cols).step_by(TILE) {
            for r in r0..(r0 + TILE).min(rows) {
                for c in c0..(c0 + TILE).min(cols) {
                    let (from, to) = ((r * cols + c) * block, (c * rows + r) * block);
                    if block == 1 {
                        dst[to] = src[from];
                    } else {
                        dst[to..to + block].copy_from_slice(&src[from..from + block]);
                    }
                }
            }
        }
    }
}

/// The values of a CPU tensor of element type `T`, contiguous.
fn values<T: WithDType>(t: &Tensor) -> candle_core::Result<Vec<T>> {
    t.flatten_all()?.to_vec1::<T>()
}

/// `f` of a contiguous CPU tensor's values of element type `T`, read in place (no copy).
fn with_values<T: WithDType, R>(t: &Tensor, f: impl FnOnce(&[T]) -> R) -> candle_core::Result<R> {
    let (storage, layout) = t.storage_and_layout();
    let Storage::Cpu(cpu) = &*storage else {
        bail!("kernel input is not on the CPU")
    };
    Ok(f(contiguous(cpu.as_slice::<T>()?, layout)?))
}

impl Conv2dInput {
    fn shape(&self, x: &[usize]) -> candle_core::Result<ConvShape> {
        ConvShape::new(x, self.kernel.dims(), &self.params)
    }
}

impl FloatBackward for Conv2dInput {
    /// dx = col2im(Kᵀ · dy), block by block, dy of the block as one (o, count·l) matrix in the
    /// im2col columns' order.
    fn input_grad<T: WithDType>(&self, arg: &Tensor, grad: &Tensor) -> candle_core::Result<Tensor> {
        let g = self.shape(arg.dims())?;
        let (o, l) = (g.o, g.l());
        let kt = self.kernel.reshape((o, g.k()))?.t()?.contiguous()?;
        let grad = grad.to_dtype(T::DTYPE)?.contiguous()?;
        let mut gx = vec![T::zero(); g.n * g.c * g.h * g.w];
        let mut first = 0;
        while first < g.n {
            let count = g.block().min(g.n - first);
            let dy = with_values::<T, _>(&grad, |dy| {
                let (rows, cols, block) = g.gradient_order(count);
                let mut m = vec![T::zero(); o * l * count];
                transpose(
                    &dy[first * o * l..(first + count) * o * l],
                    rows,
                    cols,
                    block,
                    &mut m,
                );
                m
            })?;
            let cols = kt.matmul(&Tensor::from_vec(dy, (o, l * count), &Device::Cpu)?)?;
            with_values::<T, _>(&cols, |cols| g.col2im(cols, &mut gx, first, count))?;
            first += count;
        }
        Tensor::from_vec(gx, arg.dims(), &Device::Cpu)
    }
}

impl FloatForward for Conv2dInput {
    /// y = K · im2col(x) (+ bias), block by block.
    fn forward<T: WithDType>(
        &self,
        x: &[T],
        dims: &[usize],
    ) -> candle_core::Result<(Vec<T>, Shape)> {
        let g = self.shape(dims)?;
        let (o, l) = (g.o, g.l());
        let kmat = self.kernel.reshape((o, g.k()))?;
        let mut out = vec![T::zero(); g.n * o * l];
        let mut first = 0;
        while first < g.n {
            let count = g.block().min(g.n - first);
            let cols =
                Tensor::from_vec(g.im2col(x, first, count), (g.k(), l * count), &Device::Cpu)?;
            with_values::<T, _>(&kmat.matmul(&cols)?, |y| {
                let (rows, cols, block) = g.output_order(count);
                let out = &mut out[first * o * l..(first + count) * o * l];
                transpose(y, rows, cols, block, out);
            })?;
            first += count;
        }
        if let Some(bias) = &self.bias {
            let bias = values::<T>(bias)?;
            for (plane, &b) in out.chunks_mut(l).zip(bias.iter().cycle()) {
                for v in plane {
                    *v += b;
                }
            }
        }
        Ok((out, Shape::from((g.n, o, g.ho, g.wo))))
    }
}

float_custom_op!(Conv2dInput, "mlsec-conv2d-input");

/// A 2-D convolution of NCHW `x` by `kernel` (+ `bias`, one per output channel) with zero
/// padding. With one group and a kernel and bias that are not being differentiated (every
/// attack), ours: the backward computes the input's gradient only. Otherwise candle's op on the
/// explicitly padded input, cropped to what the windows reach (candle 0.9.2's conv backward
/// derives the output padding of its transposed convolution from the height alone, which is
/// wrong when the height and width leave different remainders; with nothing left over it is
/// exact).
pub fn conv2d(
    x: &Tensor,
    kernel: &Tensor,
    bias: Option<&Tensor>,
    p: Conv2dParams,
) -> candle_core::Result<Tensor> {
    let bias = bias
        .map(|b| b.to_dtype(x.dtype())?.flatten_all())
        .transpose()?;
    if p.groups == 1 && !kernel.track_op() && !bias.as_ref().is_some_and(Tensor::track_op) {
        return x.contiguous()?.apply_op1(Conv2dInput {
            kernel: kernel.contiguous()?,
            bias,
            params: p,
        });
    }
    let mut x = x.clone();
    for (i, &(begin, end)) in p.pads.iter().enumerate() {
        x = x.pad_with_zeros(2 + i, begin, end)?;
        let (len, k) = (x.dim(2 + i)?, kernel.dim(2 + i)?);
        let eff = (k.max(1) - 1) * p.dilation + 1;
        if len < eff {
            bail!(
                "conv2d: kernel {:?} does not fit the padded input {:?}",
                kernel.dims(),
                x.dims()
            )
        }
        let used = (len - eff) / p.stride.max(1) * p.stride.max(1) + eff;
        if used < len {
            x = x.narrow(2 + i, 0, used)?;
        }
    }
    let y = x
        .contiguous()?
        .conv2d(kernel, 0, p.stride, p.dilation, p.groups)?;
    match bias {
        Some(b) => y.broadcast_add(&b.reshape((1, b.elem_count(), 1, 1))?),
        None => Ok(y),
    }
}

/// `x·scale + shift` per channel (axis 1 of N, C, ...) through a constant scale and shift
/// (batch normalization in inference): one op and one pass where the broadcast product and sum
/// are two of each, with the same two roundings per value; the input's gradient is the incoming
/// one times the scale.
#[derive(Debug)]
struct ChannelAffine {
    scale: Tensor,
    shift: Tensor,
}

impl ChannelAffine {
    /// Values per (sample, channel) plane.
    fn plane(&self, dims: &[usize]) -> candle_core::Result<usize> {
        if dims.len() < 2 || dims[1] != self.scale.elem_count() {
            bail!(
                "{} scales per channel do not fit input {dims:?}",
                self.scale.elem_count()
            )
        }
        Ok(dims[2..].iter().product::<usize>().max(1))
    }
}

impl FloatBackward for ChannelAffine {
    fn input_grad<T: WithDType>(&self, arg: &Tensor, grad: &Tensor) -> candle_core::Result<Tensor> {
        let dims = arg.dims();
        let plane = self.plane(dims)?;
        let scale = values::<T>(&self.scale)?;
        let mut g = values::<T>(&grad.to_dtype(T::DTYPE)?)?;
        for (p, &a) in g.chunks_mut(plane).zip(scale.iter().cycle()) {
            for v in p {
                *v *= a;
            }
        }
        Tensor::from_vec(g, dims, &Device::Cpu)
    }
}

impl FloatForward for ChannelAffine {
    fn forward<T: WithDType>(
        &self,
        x: &[T],
        dims: &[usize],
    ) -> candle_core::Result<(Vec<T>, Shape)> {
        let plane = self.plane(dims)?;
        let (scale, shift) = (values::<T>(&self.scale)?, values::<T>(&self.shift)?);
        let mut out = Vec::with_capacity(x.len());
        for (p, (&a, &b)) in x.chunks(plane).zip(scale.iter().zip(&shift).cycle()) {
            // Rounded after the product and after the sum, as the two broadcast ops do.
            out.extend(p.iter().map(|&v| v * a + b));
        }
        Ok((out, Shape::from(dims)))
    }
}

float_custom_op!(ChannelAffine, "mlsec-channel-affine");

/// `x·scale + shift` with one scale and shift per channel (axis 1), both constants (not
/// differentiated); see [`ChannelAffine`].
pub fn channel_affine(x: &Tensor, scale: &Tensor, shift: &Tensor) -> candle_core::Result<Tensor> {
    let dtype = x.dtype();
    x.contiguous()?.apply_op1(ChannelAffine {
        scale: scale.detach().to_dtype(dtype)?.flatten_all()?,
        shift: shift.detach().to_dtype(dtype)?.flatten_all()?,
    })
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Tensor, Var};

    /// Ours (im2col and gemm, padding and bias inside) and candle's convolution of the
    /// explicitly padded input plus the bias: the same output and the same input gradient to
    /// rounding (f64), with strides, dilations and uneven padding, on padded sizes that leave no
    /// remainder (candle's backward is wrong otherwise), in both im2col layouts.
    #[test]
    fn conv2d_matches_candles_and_skips_the_kernel_gradient() {
        let values = |n: usize, seed: u64| -> Vec<f64> {
            (0..n)
                .map(|i| (((i as u64 + 1) * seed) % 97) as f64 / 48.5 - 1.0)
                .collect()
        };
        let cases = [
            (1, 1, [(0, 0), (0, 0)]),
            (2, 1, [(1, 1), (0, 0)]),
            (1, 2, [(2, 0), (1, 2)]),
            (3, 2, [(0, 1), (3, 3)]),
        ];
        // 4 output columns: the im2col matrix with samples innermost; 9: sample-major.
        for ((stride, dilation, pads), wo) in cases.into_iter().flat_map(|c| [(c, 4), (c, 9)]) {
            let [(pt, pb), (pl, pr)] = pads;
            let (h, w) = (
                2 * dilation + 1 + 4 * stride - pt - pb,
                dilation + 1 + (wo - 1) * stride - pl - pr,
            );
            let x = Var::from_vec(values(2 * 3 * h * w, 7), (2, 3, h, w), &Device::Cpu).unwrap();
            let k =
                Tensor::from_vec(values(4 * 3 * 3 * 2, 13), (4, 3, 3, 2), &Device::Cpu).unwrap();
            let b = Tensor::from_vec(values(4, 17), 4, &Device::Cpu).unwrap();
            let params = super::Conv2dParams {
                pads,
                stride,
                dilation,
                groups: 1,
            };
            let shape = super::ConvShape::new(&[2, 3, h, w], &[4, 3, 3, 2], &params).unwrap();
            let layout = if wo < 8 {
                super::ColsLayout::SamplesInnermost
            } else {
                super::ColsLayout::SampleMajor
            };
            assert_eq!((shape.wo, shape.layout()), (wo, layout));
            let ours = super::conv2d(x.as_tensor(), &k, Some(&b), params).unwrap();
            let padded = x
                .as_tensor()
                .pad_with_zeros(2, pt, pb)
                .unwrap()
                .pad_with_zeros(3, pl, pr)
                .unwrap();
            let theirs = padded
                .conv2d(&k, 0, stride, dilation, 1)
                .unwrap()
                .broadcast_add(&b.reshape((1, 4, 1, 1)).unwrap())
                .unwrap();
            let flat = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f64>().unwrap();
            let close = |a: &[f64], b: &[f64], what: &str| {
                assert_eq!(a.len(), b.len());
                for (i, (x, y)) in a.iter().zip(b).enumerate() {
                    assert!(
                        (x - y).abs() <= 1e-12 * (1.0 + y.abs()),
                        "{what} [{i}]: {x} vs {y}, stride {stride}, dilation {dilation}, pads {pads:?}"
                    );
                }
            };
            close(&flat(&ours), &flat(&theirs), "forward");
            let r =
                Tensor::from_vec(values(ours.elem_count(), 31), ours.dims(), &Device::Cpu).unwrap();
            let grad = |y: &Tensor| {
                let g = (y * &r).unwrap().sum_all().unwrap().backward().unwrap();
                (flat(g.get(x.as_tensor()).unwrap()), g.get(&k).is_some())
            };
            let ((ours, ours_kernel), (theirs, theirs_kernel)) = (grad(&ours), grad(&theirs));
            close(&ours, &theirs, "input gradient");
            // Candle also computes the constant kernel's gradient; ours does not.
            assert!(theirs_kernel && !ours_kernel);
        }
    }

    /// One op for the per-channel affine of batch normalization: the same bits as candle's
    /// broadcast product and sum, forward and input gradient (f32, where rounding would show).
    #[test]
    fn channel_affine_matches_the_broadcast_ops_bit_for_bit() {
        let values = |n: usize, seed: u64| -> Vec<f32> {
            (0..n)
                .map(|i| (((i as u64 + 1) * seed) % 1009) as f32 / 37.3 - 13.0)
                .collect()
        };
        for dims in [vec![3, 4], vec![2, 4, 5], vec![2, 4, 3, 5]] {
            let n: usize = dims.iter().product();
            let x = Var::from_vec(values(n, 7), dims.as_slice(), &Device::Cpu).unwrap();
            let a = Tensor::from_vec(values(4, 11), 4, &Device::Cpu).unwrap();
            let b = Tensor::from_vec(values(4, 19), 4, &Device::Cpu).unwrap();
            let mut shape = vec![1; dims.len()];
            shape[1] = 4;
            let ours = super::channel_affine(x.as_tensor(), &a, &b).unwrap();
            let theirs = x
                .as_tensor()
                .broadcast_mul(&a.reshape(shape.as_slice()).unwrap())
                .unwrap()
                .broadcast_add(&b.reshape(shape.as_slice()).unwrap())
                .unwrap();
            let bits = |t: &Tensor| -> Vec<u32> {
                let v = t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
                v.iter().map(|f| f.to_bits()).collect()
            };
            assert_eq!(bits(&ours), bits(&theirs), "forward {dims:?}");
            let r = Tensor::from_vec(values(n, 31), dims.as_slice(), &Device::Cpu).unwrap();
            let grad = |y: &Tensor| {
                let g = (y * &r).unwrap().sum_all().unwrap().backward().unwrap();
                bits(g.get(x.as_tensor()).unwrap())
            };
            assert_eq!(grad(&ours), grad(&theirs), "input gradient {dims:?}");
        }
    }

    /// Max pooling's winner per window, against a plain scan of each window in row-major
    /// order (a later cell wins only when strictly greater, or NaN; PyTorch's CPU rule), on
    /// inputs full of ties, with NaNs, -inf and padding: the same values and the gradient on
    /// the same cells.
    #[test]
    fn max_pool_keeps_the_first_maximum_and_the_last_nan() {
        use super::{PoolAxis, PoolKind};
        let axis = |kernel, stride, pad_begin, pad_end| PoolAxis {
            kernel,
            stride,
            dilation: 1,
            pad_begin,
            pad_end,
        };
        let (h, w) = (5, 6);
        let mut x: Vec<f32> = (0..2 * h * w).map(|i| ((i * 7) % 3) as f32).collect();
        x[4] = f32::NAN;
        x[9] = f32::NAN;
        x[h * w..h * w + 8].fill(f32::NEG_INFINITY);
        for axes in [
            [axis(3, 2, 1, 1), axis(3, 2, 1, 1)],
            [axis(2, 2, 0, 0), axis(3, 1, 0, 0)],
        ] {
            let t = Var::from_vec(x.clone(), (1, 2, h, w), &Device::Cpu).unwrap();
            let y = super::pool(t.as_tensor(), PoolKind::Max, axes, false).unwrap();
            let (oh, ow) = (y.dim(2).unwrap(), y.dim(3).unwrap());
            let mut expected = Vec::new();
            let mut hits = vec![0f32; x.len()];
            for p in 0..2 {
                for r in 0..oh {
                    for c in 0..ow {
                        let (mut best, mut at) = (f32::NEG_INFINITY, None);
                        for i in 0..axes[0].kernel {
                            for j in 0..axes[1].kernel {
                                let tap = |a: PoolAxis, o: usize, k: usize, len: usize| {
                                    let p = (o * a.stride + k) as i64 - a.pad_begin as i64;
                                    (0..len as i64).contains(&p).then_some(p as usize)
                                };
                                let (Some(yy), Some(xx)) =
                                    (tap(axes[0], r, i, h), tap(axes[1], c, j, w))
                                else {
                                    continue;
                                };
                                let k = p * h * w + yy * w + xx;
                                at = at.or(Some(k));
                                if x[k] > best || x[k].is_nan() {
                                    (best, at) = (x[k], Some(k));
                                }
                            }
                        }
                        expected.push(best);
                        hits[at.unwrap()] += 1.0;
                    }
                }
            }
            let got = y.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&got), bits(&expected), "{axes:?}");
            let g = y.sum_all().unwrap().backward().unwrap();
            let dx = g.get(t.as_tensor()).unwrap().flatten_all().unwrap();
            assert_eq!(dx.to_vec1::<f32>().unwrap(), hits, "{axes:?}");
        }
    }
}
