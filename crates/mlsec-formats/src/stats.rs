//! Per-tensor statistics in one pass over the bytes (after a cheap sampling pass for the
//! robust scale): NaN/Inf counts, moments of the finite values (up to the fourth, around the
//! sample median so they do not cancel), zeros, a sign-and-octave histogram, outliers against
//! median/MAD, and the SHA-256 of the raw bytes. Used by `checkpoint` and `inspect`.

use crate::dtype::{DType, bf16_to_f32, element_f64, f16_to_f32};
use mlsec_util::hex;
use mlsec_util::stats::upper_median;
use sha2::{Digest, Sha256};

/// Histogram bins: 32 octaves per sign, from 2^-24 to 2^8 and beyond (clamped).
pub const BINS: usize = 64;
const MIN_EXP: i32 = -24;

/// Robust outlier rule: this many MAD-based standard deviations from the median.
pub const OUTLIER_K: f64 = 100.0;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stats {
    pub count: u64,
    pub nan: u64,
    pub inf: u64,
    pub min: f64,
    pub max: f64,
    pub mean: f64,
    pub std: f64,
    /// Excess kurtosis of the finite values (0 for a normal distribution, 0 when `std` is 0).
    pub kurtosis: f64,
    /// Exact zeros (sparsity = zeros / count).
    pub zeros: u64,
    pub l2: f64,
    /// Largest finite |w| and its flat index.
    pub max_abs: f64,
    pub max_abs_index: u64,
    pub histogram: Vec<u64>,
    pub sha256: String,
    pub median: f64,
    /// MAD scaled to a standard deviation (1.4826 x MAD).
    pub robust_scale: f64,
    pub outliers: u64,
    /// A 64-bin linear histogram over a reference's `[min, max]` (the original tool's format).
    pub range_histogram: Option<Vec<u64>>,
}

/// The octave bin of a finite value. Branch-free: the sign of weights is a coin toss, and a
/// mispredicted branch per element would cost more than the rest of the statistics.
#[inline]
fn bin(v: f64) -> usize {
    // Zero and subnormals have a raw exponent of -1023: clamped into the lowest octave.
    let raw = ((v.to_bits() >> 52) & 0x7ff) as i32 - 1023;
    let k = (raw.clamp(MIN_EXP, MIN_EXP + 31) - MIN_EXP) as usize;
    let neg = usize::from(v < 0.0);
    // 32 + k for v >= 0 (including -0.0), 31 - k for v < 0.
    32 + k - neg * (2 * k + 1)
}

/// Statistics of `bytes` read as `dtype` elements (little-endian), with the SHA-256 of the
/// bytes.
pub fn compute(dtype: DType, bytes: &[u8], range: Option<(f64, f64)>) -> Stats {
    let mut s = summarize(dtype, bytes, range);
    s.sha256 = hex::encode(&Sha256::digest(bytes));
    s
}

/// [`compute`] without the digest (`sha256` left empty), for readers that only want values.
pub fn summarize(dtype: DType, bytes: &[u8], range: Option<(f64, f64)>) -> Stats {
    let size = dtype.size();
    let n = bytes.len() / size;
    let mut s = Stats {
        histogram: vec![0; BINS],
        min: f64::INFINITY,
        max: f64::NEG_INFINITY,
        ..Stats::default()
    };
    s.count = n as u64;
    if n == 0 {
        s.min = 0.0;
        s.max = 0.0;
        s.range_histogram = range.map(|_| vec![0; BINS]);
        return s;
    }
    // Robust scale from an evenly spaced sample of finite values.
    let step = (n / 65_536).max(1);
    let mut sample: Vec<f64> = (0..n)
        .step_by(step)
        .map(|i| element_f64(dtype, &bytes[i * size..]))
        .filter(|v| v.is_finite())
        .collect();
    let (median, scale) = if sample.len() >= 16 && dtype.is_float() {
        // At least 16 samples: the medians exist.
        let median = upper_median(&mut sample).unwrap_or(0.0);
        let mut dev: Vec<f64> = sample.iter().map(|v| (v - median).abs()).collect();
        (median, 1.4826 * upper_median(&mut dev).unwrap_or(0.0))
    } else {
        (0.0, 0.0)
    };
    s.median = median;
    s.robust_scale = scale;
    let limit = if scale > 0.0 {
        OUTLIER_K * scale
    } else {
        f64::INFINITY
    };
    let mut acc = Acc::new(median, limit);
    let mut buf = [0f64; BLOCK];
    let mut buf32 = [0f32; BLOCK];
    let single = matches!(dtype, DType::F32 | DType::BF16 | DType::F16);
    for (b, chunk) in bytes.chunks(BLOCK * size).enumerate() {
        let n = chunk.len() / size;
        if single && range.is_none() {
            let vals = &mut buf32[..n];
            to_f32(dtype, chunk, vals);
            // Counted on the bits (an all-ones exponent), without a branch per element.
            let non_finite: u32 = vals
                .iter()
                .map(|v| u32::from(v.to_bits() & 0x7f80_0000 == 0x7f80_0000))
                .sum();
            if non_finite == 0 {
                acc.block32(b * BLOCK, vals);
                continue;
            }
        }
        let vals = &mut buf[..n];
        to_f64(dtype, chunk, vals);
        acc.block(b * BLOCK, vals);
        if let Some((lo, hi)) = range {
            acc.range_block(vals, lo, hi);
        }
    }
    acc.finish(&mut s);
    s.range_histogram = range.map(|_| acc.range_hist.to_vec());
    s
}

/// Elements converted and summarised per block (fits in L1).
const BLOCK: usize = 1024;

/// Converts little-endian `f32`, `bf16` or `f16` elements to `f32`.
fn to_f32(dtype: DType, bytes: &[u8], out: &mut [f32]) {
    match dtype {
        DType::F32 => {
            for (o, c) in out.iter_mut().zip(bytes.chunks_exact(4)) {
                *o = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
            }
        }
        DType::BF16 => {
            for (o, c) in out.iter_mut().zip(bytes.chunks_exact(2)) {
                *o = bf16_to_f32(u16::from_le_bytes([c[0], c[1]]));
            }
        }
        _ => {
            for (o, c) in out.iter_mut().zip(bytes.chunks_exact(2)) {
                *o = f16_to_f32(u16::from_le_bytes([c[0], c[1]]));
            }
        }
    }
}

/// [`bin`] of an `f32`.
#[inline]
fn bin32(v: f32) -> usize {
    let raw = ((v.to_bits() >> 23) & 0xff) as i32 - 127;
    let k = (raw.clamp(MIN_EXP, MIN_EXP + 31) - MIN_EXP) as usize;
    let neg = usize::from(v < 0.0);
    32 + k - neg * (2 * k + 1)
}

/// Converts little-endian `dtype` elements to `f64`.
fn to_f64(dtype: DType, bytes: &[u8], out: &mut [f64]) {
    match dtype {
        DType::F32 => {
            for (o, c) in out.iter_mut().zip(bytes.chunks_exact(4)) {
                *o = f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]]));
            }
        }
        DType::F64 => {
            for (o, c) in out.iter_mut().zip(bytes.chunks_exact(8)) {
                *o = f64::from_le_bytes(c.try_into().expect("8 bytes"));
            }
        }
        DType::F16 => {
            for (o, c) in out.iter_mut().zip(bytes.chunks_exact(2)) {
                *o = f64::from(f16_to_f32(u16::from_le_bytes([c[0], c[1]])));
            }
        }
        DType::BF16 => {
            for (o, c) in out.iter_mut().zip(bytes.chunks_exact(2)) {
                *o = f64::from(bf16_to_f32(u16::from_le_bytes([c[0], c[1]])));
            }
        }
        _ => {
            let size = dtype.size();
            for (o, c) in out.iter_mut().zip(bytes.chunks_exact(size)) {
                *o = element_f64(dtype, c);
            }
        }
    }
}

/// Running sums over blocks. Two interleaved sets of moment accumulators and histograms keep
/// the additions independent (the loop is bound by their latency otherwise).
struct Acc {
    median: f64,
    limit: f64,
    c: [[f64; 4]; 2],
    min: f64,
    max: f64,
    max_abs: f64,
    max_abs_index: u64,
    zeros: u64,
    outliers: u64,
    nan: u64,
    inf: u64,
    hist: [[u64; BINS]; 4],
    range_hist: [u64; BINS],
}

impl Acc {
    fn new(median: f64, limit: f64) -> Acc {
        Acc {
            median,
            limit,
            c: [[0.0; 4]; 2],
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            max_abs: 0.0,
            max_abs_index: 0,
            zeros: 0,
            outliers: 0,
            nan: 0,
            inf: 0,
            hist: [[0; BINS]; 4],
            range_hist: [0; BINS],
        }
    }

    /// The fast path, for a block of finite single-precision values (nearly all weights): the
    /// moment, min/max and count accumulators run in eight independent `f32` lanes, which the
    /// compiler turns into vector instructions, then a scalar pass fills the histograms. A
    /// block's lane sums (128 terms each) are folded into the `f64` totals, so the rounding of
    /// `f32` stays local to a block: relative error ~1e-6.
    fn block32(&mut self, base: usize, vals: &[f32]) {
        const L: usize = 8;
        let (median, limit) = (self.median as f32, self.limit as f32);
        let mut c = [[0f32; L]; 4];
        let (mut mn, mut mx, mut ma) = ([f32::INFINITY; L], [f32::NEG_INFINITY; L], [0f32; L]);
        let (mut zeros, mut outliers) = ([0u32; L], [0u32; L]);
        let mut chunks = vals.chunks_exact(L);
        for ch in &mut chunks {
            for l in 0..L {
                let v = ch[l];
                let y = v - median;
                let y2 = y * y;
                c[0][l] += y;
                c[1][l] += y2;
                c[2][l] += y2 * y;
                c[3][l] += y2 * y2;
                mn[l] = if v < mn[l] { v } else { mn[l] };
                mx[l] = if v > mx[l] { v } else { mx[l] };
                let a = v.abs();
                ma[l] = if a > ma[l] { a } else { ma[l] };
                zeros[l] += u32::from(v == 0.0);
                outliers[l] += u32::from(y.abs() > limit);
            }
        }
        for &v in chunks.remainder() {
            let y = v - median;
            let y2 = y * y;
            c[0][0] += y;
            c[1][0] += y2;
            c[2][0] += y2 * y;
            c[3][0] += y2 * y2;
            mn[0] = mn[0].min(v);
            mx[0] = mx[0].max(v);
            ma[0] = ma[0].max(v.abs());
            zeros[0] += u32::from(v == 0.0);
            outliers[0] += u32::from(y.abs() > limit);
        }
        for (k, lanes) in c.iter().enumerate() {
            self.c[base / BLOCK % 2][k] += lanes.iter().map(|&x| f64::from(x)).sum::<f64>();
        }
        self.min = mn.iter().fold(self.min, |a, &b| a.min(f64::from(b)));
        self.max = mx.iter().fold(self.max, |a, &b| a.max(f64::from(b)));
        self.zeros += zeros.iter().map(|&z| u64::from(z)).sum::<u64>();
        self.outliers += outliers.iter().map(|&z| u64::from(z)).sum::<u64>();
        let block_max = ma.iter().fold(0f32, |a, &b| a.max(b));
        if f64::from(block_max) > self.max_abs {
            self.max_abs = f64::from(block_max);
            let at = vals.iter().position(|v| v.abs() == block_max).unwrap_or(0);
            self.max_abs_index = (base + at) as u64;
        }
        let [h0, h1, h2, h3] = &mut self.hist;
        let mut quads = vals.chunks_exact(4);
        for q in &mut quads {
            h0[bin32(q[0]) & (BINS - 1)] += 1;
            h1[bin32(q[1]) & (BINS - 1)] += 1;
            h2[bin32(q[2]) & (BINS - 1)] += 1;
            h3[bin32(q[3]) & (BINS - 1)] += 1;
        }
        for &v in quads.remainder() {
            h0[bin32(v) & (BINS - 1)] += 1;
        }
    }

    /// Any block (other dtypes, or values with NaN and infinities), element by element in
    /// `f64`. The running values live in locals (as fields they would go through memory on
    /// every element), and two interleaved sets keep the additions independent.
    fn block(&mut self, base: usize, vals: &[f64]) {
        let (median, limit) = (self.median, self.limit);
        let [mut a, mut b] = self.c;
        let (mut min, mut max, mut max_abs) = (self.min, self.max, self.max_abs);
        let mut max_abs_index = self.max_abs_index;
        let (mut zeros, mut outliers, mut bad) = (0u64, 0u64, 0usize);
        let [h0, h1, _, _] = &mut self.hist;
        macro_rules! one {
            ($c:ident, $h:ident, $i:expr, $v:expr) => {{
                let v: f64 = $v;
                if v.is_finite() {
                    let y = v - median;
                    let y2 = y * y;
                    $c[0] += y;
                    $c[1] += y2;
                    $c[2] += y2 * y;
                    $c[3] += y2 * y2;
                    zeros += u64::from(v == 0.0);
                    outliers += u64::from(y.abs() > limit);
                    if v < min {
                        min = v;
                    }
                    if v > max {
                        max = v;
                    }
                    if v.abs() > max_abs {
                        max_abs = v.abs();
                        max_abs_index = $i as u64;
                    }
                    $h[bin(v)] += 1;
                } else {
                    bad += 1;
                }
            }};
        }
        let mut pairs = vals.chunks_exact(2);
        let mut i = base;
        for p in &mut pairs {
            one!(a, h0, i, p[0]);
            one!(b, h1, i + 1, p[1]);
            i += 2;
        }
        for &v in pairs.remainder() {
            one!(a, h0, i, v);
        }
        if bad > 0 {
            for &v in vals.iter().filter(|v| !v.is_finite()) {
                if v.is_nan() {
                    self.nan += 1;
                } else {
                    self.inf += 1;
                }
            }
        }
        self.c = [a, b];
        (self.min, self.max, self.max_abs) = (min, max, max_abs);
        self.max_abs_index = max_abs_index;
        self.zeros += zeros;
        self.outliers += outliers;
    }

    /// The linear histogram over a reference's `[lo, hi]` (the original tool's format).
    fn range_block(&mut self, vals: &[f64], lo: f64, hi: f64) {
        let width = (hi - lo).max(f64::MIN_POSITIVE);
        for &v in vals {
            if v >= lo && v <= lo + width {
                let b = (((v - lo) / width) * BINS as f64) as usize;
                self.range_hist[b.min(BINS - 1)] += 1;
            }
        }
    }

    fn finish(&self, s: &mut Stats) {
        s.nan = self.nan;
        s.inf = self.inf;
        s.zeros = self.zeros;
        s.outliers = self.outliers;
        s.max_abs = self.max_abs;
        s.max_abs_index = self.max_abs_index;
        for (k, h) in s.histogram.iter_mut().enumerate() {
            *h = self.hist.iter().map(|h| h[k]).sum();
        }
        let finite = s.count - self.nan - self.inf;
        if finite == 0 {
            s.min = 0.0;
            s.max = 0.0;
            return;
        }
        s.min = self.min;
        s.max = self.max;
        let n = finite as f64;
        let [c1, c2, c3, c4] = [0, 1, 2, 3].map(|k| self.c[0][k] + self.c[1][k]);
        // Central moments from the moments around the median: d = mean - median.
        let d = c1 / n;
        s.mean = self.median + d;
        // Σv² = Σ(y + median)² with y = v - median.
        s.l2 = (c2 + 2.0 * self.median * c1 + n * self.median * self.median)
            .max(0.0)
            .sqrt();
        let m2 = (c2 / n - d * d).max(0.0);
        let m4 = c4 / n - 4.0 * d * c3 / n + 6.0 * d * d * c2 / n - 3.0 * d.powi(4);
        s.std = m2.sqrt();
        s.kurtosis = if m2 > 0.0 { m4 / (m2 * m2) - 3.0 } else { 0.0 };
    }
}

/// KL(p || q) of two histograms, with add-half smoothing so empty bins stay finite.
pub fn kl(p: &[u64], q: &[u64]) -> f64 {
    let n = p.len().min(q.len());
    let ps: f64 = p[..n].iter().sum::<u64>() as f64 + 0.5 * n as f64;
    let qs: f64 = q[..n].iter().sum::<u64>() as f64 + 0.5 * n as f64;
    (0..n)
        .map(|i| {
            let a = (p[i] as f64 + 0.5) / ps;
            let b = (q[i] as f64 + 0.5) / qs;
            a * (a / b).ln()
        })
        .sum::<f64>()
        .max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f32s(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    #[test]
    fn nan_does_not_defeat_statistics() {
        let mut v: Vec<f32> = (0..1000).map(|i| ((i % 17) as f32 - 8.0) * 0.01).collect();
        v[10] = f32::NAN;
        v[11] = f32::INFINITY;
        v[500] = 30.0; // planted, under the default threshold of 100
        let s = compute(DType::F32, &f32s(&v), None);
        assert_eq!((s.nan, s.inf), (1, 1));
        assert_eq!(s.max_abs, 30.0);
        assert_eq!(s.max_abs_index, 500);
        assert_eq!(s.outliers, 1);
        assert_eq!(s.histogram.iter().sum::<u64>(), 998);
    }

    #[test]
    fn moments_match_a_direct_computation() {
        // Values far from zero, so raw moments would cancel.
        let v: Vec<f64> = (0..10_000)
            .map(|i| {
                1000.0
                    + ((i * 7919 % 1013) as f64 / 1013.0 - 0.5)
                    + if i % 97 == 0 { 3.0 } else { 0.0 }
            })
            .collect();
        let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        let s = compute(DType::F64, &bytes, None);
        let n = v.len() as f64;
        let mean = v.iter().sum::<f64>() / n;
        let m2 = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
        let m4 = v.iter().map(|x| (x - mean).powi(4)).sum::<f64>() / n;
        assert!((s.mean - mean).abs() < 1e-9);
        assert!(
            (s.std - m2.sqrt()).abs() < 1e-9,
            "{} vs {}",
            s.std,
            m2.sqrt()
        );
        assert!((s.kurtosis - (m4 / (m2 * m2) - 3.0)).abs() < 1e-6);
        let zeros = compute(DType::F32, &f32s(&[0.0, 1.0, 0.0, -0.0]), None);
        assert_eq!(zeros.zeros, 3);
    }

    #[test]
    fn scaling_is_visible_in_kl() {
        let v: Vec<f32> = (0..4096)
            .map(|i| ((i * 7919 % 1000) as f32 / 1000.0 - 0.5) * 0.1)
            .collect();
        let scaled: Vec<f32> = v.iter().map(|x| x * 10.0).collect();
        let shifted: Vec<f32> = v.iter().map(|x| x + 5.0).collect();
        let a = compute(DType::F32, &f32s(&v), None);
        let b = compute(DType::F32, &f32s(&scaled), None);
        let c = compute(DType::F32, &f32s(&shifted), None);
        assert!(kl(&a.histogram, &a.histogram) < 1e-9);
        assert!(kl(&a.histogram, &b.histogram) > 0.5);
        assert!(kl(&a.histogram, &c.histogram) > 0.5);
    }
}
