//! Per-tensor statistics in one pass over the bytes (after a cheap sampling pass for the
//! robust scale): NaN/Inf counts, moments of the finite values (up to the fourth, around the
//! sample median so they do not cancel), zeros, a sign-and-octave histogram, outliers against
//! median/MAD, and the SHA-256 of the raw bytes. Used by `checkpoint` and `inspect`.

use crate::dtype::{DType, bf16_to_f32, element_f64, f16_to_f32};
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

/// The octave bin of a finite value.
#[inline]
fn bin(v: f64) -> usize {
    let a = v.abs();
    let e = if a == 0.0 {
        MIN_EXP
    } else {
        let raw = ((a.to_bits() >> 52) & 0x7ff) as i32 - 1023;
        raw.clamp(MIN_EXP, MIN_EXP + 31)
    };
    let k = (e - MIN_EXP) as usize;
    if v < 0.0 { 31 - k } else { 32 + k }
}

/// Statistics of `bytes` read as `dtype` elements (little-endian).
pub fn compute(dtype: DType, bytes: &[u8], range: Option<(f64, f64)>) -> Stats {
    let size = dtype.size();
    let n = bytes.len() / size;
    let mut s = Stats {
        histogram: vec![0; BINS],
        min: f64::INFINITY,
        max: f64::NEG_INFINITY,
        ..Stats::default()
    };
    s.sha256 = hex(&Sha256::digest(bytes));
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
        let median = median_of(&mut sample);
        let mut dev: Vec<f64> = sample.iter().map(|v| (v - median).abs()).collect();
        (median, 1.4826 * median_of(&mut dev))
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
    let mut range_hist = range.map(|_| vec![0u64; BINS]);
    let (rmin, rwidth) = match range {
        Some((lo, hi)) => (lo, (hi - lo).max(f64::MIN_POSITIVE)),
        None => (0.0, 1.0),
    };
    let mut sum = 0.0;
    let mut sumsq = 0.0;
    // Moments of (v - median), for the central moments.
    let (mut c1, mut c2, mut c3, mut c4) = (0.0, 0.0, 0.0, 0.0);
    let mut finite = 0u64;
    let mut visit = |i: usize, v: f64| {
        if !v.is_finite() {
            if v.is_nan() {
                s.nan += 1;
            } else {
                s.inf += 1;
            }
            return;
        }
        finite += 1;
        sum += v;
        sumsq += v * v;
        if v == 0.0 {
            s.zeros += 1;
        }
        let y = v - median;
        let y2 = y * y;
        c1 += y;
        c2 += y2;
        c3 += y2 * y;
        c4 += y2 * y2;
        if v < s.min {
            s.min = v;
        }
        if v > s.max {
            s.max = v;
        }
        let a = v.abs();
        if a > s.max_abs {
            s.max_abs = a;
            s.max_abs_index = i as u64;
        }
        s.histogram[bin(v)] += 1;
        if (v - median).abs() > limit {
            s.outliers += 1;
        }
        if let Some(h) = range_hist.as_mut()
            && v >= rmin
            && v <= rmin + rwidth
        {
            let b = (((v - rmin) / rwidth) * BINS as f64) as usize;
            h[b.min(BINS - 1)] += 1;
        }
    };
    match dtype {
        DType::F32 => {
            for (i, c) in bytes.chunks_exact(4).enumerate() {
                visit(i, f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]])));
            }
        }
        DType::F64 => {
            for (i, c) in bytes.chunks_exact(8).enumerate() {
                visit(i, f64::from_le_bytes(c.try_into().expect("8")));
            }
        }
        DType::F16 => {
            for (i, c) in bytes.chunks_exact(2).enumerate() {
                visit(i, f64::from(f16_to_f32(u16::from_le_bytes([c[0], c[1]]))));
            }
        }
        DType::BF16 => {
            for (i, c) in bytes.chunks_exact(2).enumerate() {
                visit(i, f64::from(bf16_to_f32(u16::from_le_bytes([c[0], c[1]]))));
            }
        }
        _ => {
            for (i, c) in bytes.chunks_exact(size).enumerate() {
                visit(i, element_f64(dtype, c));
            }
        }
    }
    if finite == 0 {
        s.min = 0.0;
        s.max = 0.0;
    } else {
        let n = finite as f64;
        s.mean = sum / n;
        s.l2 = sumsq.sqrt();
        // Central moments from the moments around the median: d = mean - median.
        let d = c1 / n;
        let m2 = (c2 / n - d * d).max(0.0);
        let m4 = c4 / n - 4.0 * d * c3 / n + 6.0 * d * d * c2 / n - 3.0 * d.powi(4);
        s.std = m2.sqrt();
        s.kurtosis = if m2 > 0.0 { m4 / (m2 * m2) - 3.0 } else { 0.0 };
    }
    s.range_histogram = range_hist;
    s
}

fn median_of(v: &mut [f64]) -> f64 {
    let mid = v.len() / 2;
    let (_, m, _) = v.select_nth_unstable_by(mid, f64::total_cmp);
    *m
}

pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
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
