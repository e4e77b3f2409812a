//! Row structure of a weight matrix: a row is a unit's incoming weights (a linear layer's
//! output feature, a convolution's filter). Dead (all-zero) rows, bit-identical rows and the
//! spectral norm, all from the same passes over the bytes.

use std::collections::HashMap;

use mlsec_formats::dtype::{DType, bf16_to_f32, element_f64, f16_to_f32};

/// What the rows of a 2-D (or higher, flattened after the first axis) weight show.
#[derive(Debug, Clone, PartialEq)]
pub struct Rows {
    pub rows: u64,
    pub row_len: u64,
    /// Rows whose every element is zero (at most [`KEEP`] listed).
    pub zero: Vec<u64>,
    pub zero_count: u64,
    /// `(row, first row it repeats)` for non-zero rows bit-identical to an earlier one (at
    /// most [`KEEP`] listed).
    pub duplicates: Vec<(u64, u64)>,
    pub duplicate_count: u64,
    /// Largest singular value, estimated by power iteration on `AᵀA`.
    pub spectral_norm: f64,
}

/// How many row indices a finding lists.
pub const KEEP: usize = 10;

/// Power iterations stop once the estimate (a lower bound that only grows) moves by less than
/// [`TOLERANCE`], or when the budget runs out: about [`WORK`] weights read per matrix, at least
/// [`MIN_ITERS`] and at most [`MAX_ITERS`] passes. Small matrices converge to many digits;
/// a matrix of hundreds of millions of weights gets a few passes (an estimate within a few
/// percent).
const MIN_ITERS: u64 = 2;
const MAX_ITERS: u64 = 300;
const WORK: u64 = 1 << 22;
const TOLERANCE: f64 = 1e-7;

/// Rows of `bytes` (C-contiguous `dtype` elements of `shape`), or `None` for tensors that have
/// no rows to speak of (fewer than 2 dims or 2 rows, non-float).
pub fn analyse(dtype: DType, shape: &[u64], bytes: &[u8]) -> Option<Rows> {
    if shape.len() < 2 || !dtype.is_float() || matches!(dtype, DType::C64 | DType::C128) {
        return None;
    }
    let rows = shape[0];
    let row_len: u64 = shape[1..].iter().product();
    let size = dtype.size();
    if rows < 2 || row_len < 2 || bytes.len() as u64 != rows * row_len * size as u64 {
        return None;
    }
    let row_bytes = row_len as usize * size;
    let mut out = Rows {
        rows,
        row_len,
        zero: Vec::new(),
        zero_count: 0,
        duplicates: Vec::new(),
        duplicate_count: 0,
        spectral_norm: 0.0,
    };
    let mut buf = vec![0f32; row_len as usize];
    let mut v = start_vector(row_len as usize);
    let mut w = vec![0f32; row_len as usize];
    let mut seen: HashMap<u64, u64> = HashMap::new();
    let max_iters = (WORK / (rows * row_len)).clamp(MIN_ITERS, MAX_ITERS);
    let mut sigma = 0.0;
    for iter in 0..max_iters {
        w.fill(0.0);
        for (r, row) in bytes.chunks_exact(row_bytes).enumerate() {
            to_f32(dtype, row, &mut buf);
            if iter == 0 {
                out.classify(r as u64, row, &buf, bytes, row_bytes, &mut seen);
            }
            // w += (row · v) row: one pass gives AᵀA v.
            let u = dot(&buf, &v);
            if u != 0.0 {
                axpy(u, &buf, &mut w);
            }
        }
        let norm = w
            .iter()
            .map(|&x| f64::from(x) * f64::from(x))
            .sum::<f64>()
            .sqrt();
        if !norm.is_finite() || norm == 0.0 {
            sigma = if norm.is_finite() { 0.0 } else { f64::NAN };
            break;
        }
        let next = norm.sqrt(); // ‖AᵀA v‖ with ‖v‖ = 1 approaches σ².
        for (vi, wi) in v.iter_mut().zip(&w) {
            *vi = (f64::from(*wi) / norm) as f32;
        }
        let converged = iter > 0 && (next - sigma).abs() <= TOLERANCE * next;
        sigma = next;
        if converged {
            break;
        }
    }
    out.spectral_norm = sigma;
    Some(out)
}

impl Rows {
    fn classify(
        &mut self,
        r: u64,
        row: &[u8],
        values: &[f32],
        all: &[u8],
        row_bytes: usize,
        seen: &mut HashMap<u64, u64>,
    ) {
        if values.iter().all(|&x| x == 0.0) {
            self.zero_count += 1;
            if self.zero.len() < KEEP {
                self.zero.push(r);
            }
            return;
        }
        let h = hash(row);
        match seen.get(&h) {
            Some(&first) => {
                let f = first as usize * row_bytes;
                if &all[f..f + row_bytes] == row {
                    self.duplicate_count += 1;
                    if self.duplicates.len() < KEEP {
                        self.duplicates.push((r, first));
                    }
                }
            }
            None => {
                seen.insert(h, r);
            }
        }
    }
}

/// A deterministic unit start vector with no special alignment to any axis.
fn start_vector(n: usize) -> Vec<f32> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut v: Vec<f32> = (0..n)
        .map(|_| {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            (z >> 40) as f32 / (1u64 << 24) as f32 + 0.5
        })
        .collect();
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter_mut().for_each(|x| *x /= norm);
    v
}

/// A fast 64-bit hash of a row's bytes (collisions are confirmed byte for byte).
fn hash(bytes: &[u8]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64 ^ bytes.len() as u64;
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let x = u64::from_le_bytes(c.try_into().expect("8 bytes"));
        h = (h ^ x).wrapping_mul(0x100_0000_01b3).rotate_left(29);
    }
    for &b in chunks.remainder() {
        h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
    }
    h
}

/// Converts one row to `f32` (non-finite values are kept: they make the norm non-finite).
fn to_f32(dtype: DType, row: &[u8], out: &mut [f32]) {
    match dtype {
        DType::F32 => {
            for (o, c) in out.iter_mut().zip(row.chunks_exact(4)) {
                *o = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
            }
        }
        DType::BF16 => {
            for (o, c) in out.iter_mut().zip(row.chunks_exact(2)) {
                *o = bf16_to_f32(u16::from_le_bytes([c[0], c[1]]));
            }
        }
        DType::F16 => {
            for (o, c) in out.iter_mut().zip(row.chunks_exact(2)) {
                *o = f16_to_f32(u16::from_le_bytes([c[0], c[1]]));
            }
        }
        _ => {
            let size = dtype.size();
            for (o, c) in out.iter_mut().zip(row.chunks_exact(size)) {
                *o = element_f64(dtype, c) as f32;
            }
        }
    }
}

/// Dot product with eight independent accumulators (so it vectorises).
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ac, ar) = a.split_at(a.len() - a.len() % 8);
    let (bc, br) = b.split_at(ac.len());
    for (x, y) in ac.chunks_exact(8).zip(bc.chunks_exact(8)) {
        for k in 0..8 {
            acc[k] += x[k] * y[k];
        }
    }
    let tail: f32 = ar.iter().zip(br).map(|(x, y)| x * y).sum();
    acc.iter().sum::<f32>() + tail
}

fn axpy(u: f32, x: &[f32], y: &mut [f32]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += u * xi;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f32_bytes(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    #[test]
    fn spectral_norm_of_known_matrices() {
        // diag(3, 1): σ = 3.
        let r = analyse(DType::F32, &[2, 2], &f32_bytes(&[3.0, 0.0, 0.0, 1.0])).unwrap();
        assert!((r.spectral_norm - 3.0).abs() < 1e-4, "{}", r.spectral_norm);
        // The rank-one matrix u vᵀ has σ = ‖u‖‖v‖.
        let u = [1.0f32, 2.0, 2.0];
        let v = [3.0f32, 4.0];
        let m: Vec<f32> = u
            .iter()
            .flat_map(|a| v.iter().map(move |b| a * b))
            .collect();
        let r = analyse(DType::F32, &[3, 2], &f32_bytes(&m)).unwrap();
        assert!((r.spectral_norm - 15.0).abs() < 1e-3, "{}", r.spectral_norm);
    }

    #[test]
    fn zero_and_duplicate_rows() {
        let rows = [
            [0.5f32, -1.0, 2.0],
            [0.0, 0.0, 0.0],
            [0.5, -1.0, 2.0],
            [0.0, -0.0, 0.0],
            [1.0, 1.0, 1.0],
        ];
        let flat: Vec<f32> = rows.iter().flatten().copied().collect();
        let r = analyse(DType::F32, &[5, 3], &f32_bytes(&flat)).unwrap();
        assert_eq!((r.zero.as_slice(), r.zero_count), (&[1, 3][..], 2));
        assert_eq!(
            (r.duplicates.as_slice(), r.duplicate_count),
            (&[(2, 0)][..], 1)
        );
    }

    #[test]
    fn tensors_without_rows() {
        assert!(analyse(DType::F32, &[4], &[0; 16]).is_none());
        assert!(analyse(DType::I64, &[2, 2], &[0; 32]).is_none());
        assert!(analyse(DType::F32, &[1, 4], &[0; 16]).is_none());
    }
}
