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
//!   input gradient as matrix products over the im2col matrix (gemm), and nothing else. Same
//!   values as candle's to rounding.

use std::sync::OnceLock;

use candle_core::{CpuStorage, CustomOp1, DType, Device, Layout, Shape, Tensor, WithDType, bail};

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
}

/// An op whose forward is written once for both float types.
trait FloatForward {
    fn forward<T: WithDType>(
        &self,
        x: &[T],
        dims: &[usize],
    ) -> candle_core::Result<(Vec<T>, Shape)>;
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
        let mut argmax = Vec::new();
        for p in 0..planes {
            let base = p * h * w;
            let plane = &x[base..base + h * w];
            for (cells, padded) in &plan.windows {
                match self.kind {
                    PoolKind::Max => {
                        let mut best = f64::NEG_INFINITY;
                        let mut at = cells.first().map_or(usize::MAX, |&i| base + i);
                        for &i in cells {
                            let v = plane[i].to_f64();
                            if v > best || v.is_nan() {
                                best = v;
                                at = base + i;
                            }
                        }
                        out.push(T::from_f64(best));
                        argmax.push(at);
                    }
                    PoolKind::Average { .. } => {
                        let d = self.divisor(cells.len(), *padded);
                        let sum: f64 = cells.iter().map(|&i| plane[i].to_f64()).sum();
                        out.push(T::from_f64(if d == 0 { 0.0 } else { sum / d as f64 }));
                    }
                }
            }
        }
        if self.kind == PoolKind::Max {
            // The op is built once per forward call, so this is set exactly once.
            let _ = self.argmax.set(argmax);
        }
        Ok((out, Shape::from((n, c, plan.out.0, plan.out.1))))
    }
}

impl FloatForward for Conv2dInput {
    /// y = K · im2col(x), block by block.
    fn forward<T: WithDType>(
        &self,
        x: &[T],
        dims: &[usize],
    ) -> candle_core::Result<(Vec<T>, Shape)> {
        let g = self.shape(dims)?;
        let kmat = self.kernel.reshape((g.o, g.k()))?;
        let mut out = Vec::with_capacity(g.n * g.o * g.l());
        let mut first = 0;
        while first < g.n {
            let count = g.block().min(g.n - first);
            let cols = Tensor::from_vec(
                g.im2col(x, first, count),
                (count, g.k(), g.l()),
                &Device::Cpu,
            )?;
            out.extend(values::<T>(&kmat.broadcast_matmul(&cols)?)?);
            first += count;
        }
        Ok((out, Shape::from((g.n, g.o, g.ho, g.wo))))
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
        let dims = arg.dims();
        let g = grad.to_dtype(arg.dtype())?.flatten_all()?;
        let dx = match arg.dtype() {
            DType::F32 => Tensor::from_vec(
                self.backward(dims, &g.to_vec1::<f32>()?)?,
                dims,
                arg.device(),
            )?,
            DType::F64 => Tensor::from_vec(
                self.backward(dims, &g.to_vec1::<f64>()?)?,
                dims,
                arg.device(),
            )?,
            other => bail!("pooling of {other:?} is not supported"),
        };
        Ok(Some(dx))
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
            Pointwise::Relu => {
                if x > 0.0 || x.is_nan() {
                    x
                } else {
                    0.0
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

    fn map<T: WithDType>(&self, v: &[T], f: impl Fn(&Self, f64) -> f64) -> Vec<T> {
        v.iter().map(|x| T::from_f64(f(self, x.to_f64()))).collect()
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
            CpuStorage::F32(v) => CpuStorage::F32(self.map(contiguous(v, l)?, Self::value)),
            CpuStorage::F64(v) => CpuStorage::F64(self.map(contiguous(v, l)?, Self::value)),
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
        let x = arg.contiguous()?;
        let slope = match x.dtype() {
            DType::F32 => {
                let v = self.map(&x.flatten_all()?.to_vec1::<f32>()?, Self::slope);
                Tensor::from_vec(v, x.dims(), x.device())?
            }
            DType::F64 => {
                let v = self.map(&x.flatten_all()?.to_vec1::<f64>()?, Self::slope);
                Tensor::from_vec(v, x.dims(), x.device())?
            }
            other => bail!("{} of {other:?} is not supported", self.name()),
        };
        Ok(Some(grad.mul(&slope)?))
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

/// A 2-D convolution without padding, one group, through a constant kernel: only the input
/// gets a gradient. Both directions are one matrix product per block of samples over the
/// im2col matrix (gemm), where candle's kernels loop element by element.
#[derive(Debug)]
struct Conv2dInput {
    kernel: Tensor,
    stride: usize,
    dilation: usize,
}

/// The geometry of a convolution: input (n, c, h, w), kernel (o, c, kh, kw), no padding.
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
    stride: usize,
    dilation: usize,
}

/// im2col blocks hold at most this many values (32 MiB of f64).
const COLS_BLOCK: usize = 4 << 20;

impl ConvShape {
    fn new(x: &[usize], k: &[usize], stride: usize, dilation: usize) -> candle_core::Result<Self> {
        let (&[n, c, h, w], &[o, kc, kh, kw]) = (x, k) else {
            bail!("conv2d wants 4-D input and kernel, got {x:?} and {k:?}")
        };
        let eff = |k: usize| (k - 1) * dilation + 1;
        if kc != c || kh == 0 || kw == 0 || stride == 0 || eff(kh) > h || eff(kw) > w {
            bail!("conv2d: kernel {k:?} does not fit input {x:?}")
        }
        let (ho, wo) = ((h - eff(kh)) / stride + 1, (w - eff(kw)) / stride + 1);
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

    /// Calls `f(row, input offset, column)` for every cell of one sample's im2col matrix.
    fn cells(&self, mut f: impl FnMut(usize, usize, usize)) {
        for ci in 0..self.c {
            for i in 0..self.kh {
                for j in 0..self.kw {
                    let row = (ci * self.kh + i) * self.kw + j;
                    for oh in 0..self.ho {
                        let y = oh * self.stride + i * self.dilation;
                        let base = (ci * self.h + y) * self.w + j * self.dilation;
                        for ow in 0..self.wo {
                            f(row, base + ow * self.stride, oh * self.wo + ow);
                        }
                    }
                }
            }
        }
    }

    /// The im2col matrices (count, k, l) of `count` samples starting at `first`.
    fn im2col<T: WithDType>(&self, x: &[T], first: usize, count: usize) -> Vec<T> {
        let (k, l, per) = (self.k(), self.l(), self.c * self.h * self.w);
        let mut cols = vec![T::zero(); count * k * l];
        for s in 0..count {
            let (xs, cs) = (
                &x[(first + s) * per..][..per],
                &mut cols[s * k * l..][..k * l],
            );
            self.cells(|row, at, col| cs[row * l + col] = xs[at]);
        }
        cols
    }

    /// Adds the im2col matrices (count, k, l) back onto the input cells they came from.
    fn col2im_add<T: WithDType>(&self, cols: &[T], gx: &mut [T], first: usize, count: usize) {
        let (k, l, per) = (self.k(), self.l(), self.c * self.h * self.w);
        for s in 0..count {
            let (gs, cs) = (
                &mut gx[(first + s) * per..][..per],
                &cols[s * k * l..][..k * l],
            );
            self.cells(|row, at, col| gs[at] += cs[row * l + col]);
        }
    }
}

/// The values of a CPU tensor of element type `T`, contiguous.
fn values<T: WithDType>(t: &Tensor) -> candle_core::Result<Vec<T>> {
    t.flatten_all()?.to_vec1::<T>()
}

impl Conv2dInput {
    fn shape(&self, x: &[usize]) -> candle_core::Result<ConvShape> {
        ConvShape::new(x, self.kernel.dims(), self.stride, self.dilation)
    }

    /// dx = col2im(Kᵀ · dy), block by block.
    fn input_grad<T: WithDType>(
        &self,
        dims: &[usize],
        grad: &Tensor,
    ) -> candle_core::Result<Tensor> {
        let g = self.shape(dims)?;
        let kt = self.kernel.reshape((g.o, g.k()))?.t()?.contiguous()?;
        let grad = grad.reshape((g.n, g.o, g.l()))?;
        let mut gx = vec![T::zero(); g.n * g.c * g.h * g.w];
        let mut first = 0;
        while first < g.n {
            let count = g.block().min(g.n - first);
            let cols = kt.broadcast_matmul(&grad.narrow(0, first, count)?.contiguous()?)?;
            g.col2im_add(&values::<T>(&cols)?, &mut gx, first, count);
            first += count;
        }
        Tensor::from_vec(gx, dims, &Device::Cpu)
    }
}

impl CustomOp1 for Conv2dInput {
    fn name(&self) -> &'static str {
        "mlsec-conv2d-input"
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
        let g = match arg.dtype() {
            DType::F32 => self.input_grad::<f32>(arg.dims(), grad)?,
            DType::F64 => self.input_grad::<f64>(arg.dims(), grad)?,
            other => bail!("{} supports f32 and f64 only, not {other:?}", self.name()),
        };
        Ok(Some(g))
    }
}

/// `x.conv2d(kernel, 0, stride, dilation, groups)`. With one group and a kernel that is not
/// being differentiated (every attack), the backward computes the input's gradient only;
/// otherwise it is candle's op as it is.
pub fn conv2d(
    x: &Tensor,
    kernel: &Tensor,
    stride: usize,
    dilation: usize,
    groups: usize,
) -> candle_core::Result<Tensor> {
    if groups != 1 || kernel.track_op() || !x.track_op() {
        return x.conv2d(kernel, 0, stride, dilation, groups);
    }
    x.contiguous()?.apply_op1(Conv2dInput {
        kernel: kernel.contiguous()?,
        stride,
        dilation,
    })
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Tensor, Var};

    /// Ours (im2col and gemm) and candle's convolution: the same output and the same input
    /// gradient to rounding (f64), with strides and dilations, on sizes that leave no
    /// remainder (what `eval::conv` hands it: candle's backward is wrong otherwise).
    #[test]
    fn conv2d_matches_candles_and_skips_the_kernel_gradient() {
        let values = |n: usize, seed: u64| -> Vec<f64> {
            (0..n)
                .map(|i| (((i as u64 + 1) * seed) % 97) as f64 / 48.5 - 1.0)
                .collect()
        };
        for (stride, dilation) in [(1, 1), (2, 1), (1, 2), (3, 2)] {
            let (h, w) = (2 * dilation + 1 + 4 * stride, dilation + 1 + 3 * stride);
            let x = Var::from_vec(values(2 * 3 * h * w, 7), (2, 3, h, w), &Device::Cpu).unwrap();
            let w =
                Tensor::from_vec(values(4 * 3 * 3 * 2, 13), (4, 3, 3, 2), &Device::Cpu).unwrap();
            let ours = super::conv2d(x.as_tensor(), &w, stride, dilation, 1).unwrap();
            let theirs = x.as_tensor().conv2d(&w, 0, stride, dilation, 1).unwrap();
            let flat = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f64>().unwrap();
            let close = |a: &[f64], b: &[f64], what: &str| {
                assert_eq!(a.len(), b.len());
                for (i, (x, y)) in a.iter().zip(b).enumerate() {
                    assert!(
                        (x - y).abs() <= 1e-12 * (1.0 + y.abs()),
                        "{what} [{i}]: {x} vs {y}, stride {stride}, dilation {dilation}"
                    );
                }
            };
            close(&flat(&ours), &flat(&theirs), "forward");
            let r =
                Tensor::from_vec(values(ours.elem_count(), 31), ours.dims(), &Device::Cpu).unwrap();
            let grad = |y: &Tensor| {
                let g = (y * &r).unwrap().sum_all().unwrap().backward().unwrap();
                (flat(g.get(x.as_tensor()).unwrap()), g.get(&w).is_some())
            };
            let ((ours, ours_kernel), (theirs, theirs_kernel)) = (grad(&ours), grad(&theirs));
            close(&ours, &theirs, "input gradient");
            // Candle also computes the constant kernel's gradient; ours does not.
            assert!(theirs_kernel && !ours_kernel);
        }
    }
}
