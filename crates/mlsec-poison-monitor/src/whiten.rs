//! `cos_ref_white`: each rank's gradient against the direction of training, in the metric of
//! the ranks' gradient noise, from the gradient sketches the hook sends.
//!
//! A sign flip moves a rank's gradient by twice its component along the direction the ranks
//! agree on. Measured along that direction in plain Euclidean terms (`cos_loo`, `cos_ref`) the
//! move is often inside the batch noise: most of a gradient's noise lies in a few directions,
//! and that is where plain cosines look. Weighting the directions by the inverse of the noise
//! covariance Σ (the likelihood-ratio direction of a shift under Gaussian noise) sees the
//! training signal in the quiet directions. The hook cannot hold Σ (the gradient's size
//! squared), so it sends a sketch: a fixed random ±1 linear map of its gradient to `p`
//! numbers (default 256, the same map on every rank), and the detector works in that space:
//!
//! - the running mean sketch `r` (an exponential average, β = [`BETA_REF`], of the mean of the
//!   ranks' sketches: the sketch of the all-reduced gradient, the hook's own `cos_ref`
//!   reference),
//! - the noise covariance Σ of the sketches: an exponential average (β = [`BETA_COV`], about
//!   50 steps) of the outer products of each trusted rank's residual (in control: the
//!   detector's choice) from those ranks' mean at the same step, taken [`COV_DELAY`] steps late: a rank that starts an attack
//!   cannot teach Σ that its departure is noise before the charts had those steps to see it,
//! - `cos_ref_white(i) = ⟨sᵢ, W r⟩ / √(⟨sᵢ, W sᵢ⟩ ⟨r, W r⟩)` with W = (Σ + λ I)⁻¹, the ridge
//!   λ = [`RIDGE`] × the mean variance keeping W bounded while Σ rests on few residuals.
//!
//! The value then goes through the same cross-rank comparison and CUSUM as every statistic.
//! Each rank's value is computed with the same W and r, so honest ranks stay comparable with
//! each other while the training direction turns. The metric is refreshed (one Cholesky
//! factorisation, p³/3 operations) every [`REFRESH`] steps; each step costs one triangular
//! solve per rank. A step at which a rank has no sketch, or the sketch length changes, restarts
//! the state (the hook drops the sketch when DDP rebuilt its buckets, which changes the map).

use std::collections::VecDeque;

/// Memory of the running mean sketch (about 100 steps, as the hook's `ref_beta`).
pub const BETA_REF: f64 = 0.99;
/// Memory of the noise covariance (about 50 steps).
pub const BETA_COV: f64 = 0.98;
/// Steps a residual waits before it enters the covariance.
pub const COV_DELAY: usize = 10;
/// Ridge added to the covariance, relative to its mean diagonal.
pub const RIDGE: f64 = 0.1;
/// Steps between refreshes of the metric's factorisation.
pub const REFRESH: usize = 5;
/// Steps of residuals the covariance needs before values are produced.
pub const MIN_COV_STEPS: usize = 5;

/// The running state of one run.
#[derive(Debug, Clone, Default)]
pub struct Whitener {
    dim: usize,
    /// Running mean sketch.
    reference: Vec<f64>,
    /// Unnormalised exponential sum of residual outer products (dim × dim, row-major) and the
    /// sum of its weights.
    cov: Vec<f64>,
    cov_weight: f64,
    cov_steps: usize,
    /// Residuals of the last steps, waiting to enter `cov`.
    delayed: VecDeque<Vec<Vec<f64>>>,
    /// Lower Cholesky factor of Σ + λI (dim × dim), and steps since it was computed.
    factor: Option<Vec<f64>>,
    since_refresh: usize,
}

/// One rank's sketch at a step: its rank, the sketch, and whether it may feed the covariance
/// (the detector trusts ranks in control: not quarantined, every chart below half the
/// threshold).
pub struct Input<'a> {
    pub rank: u32,
    pub sketch: Option<&'a [f64]>,
    pub trusted: bool,
}

impl Whitener {
    /// Feeds one step's sketches (every rank that reported); returns `cos_ref_white` per rank,
    /// empty while the state warms up or after a restart.
    pub fn step(&mut self, inputs: &[Input<'_>]) -> Vec<(u32, f64)> {
        let dim = inputs
            .first()
            .and_then(|i| i.sketch)
            .map_or(0, <[f64]>::len);
        let complete = dim > 0
            && inputs.len() >= 2
            && inputs
                .iter()
                .all(|i| i.sketch.is_some_and(|s| s.len() == dim));
        if !complete {
            *self = Whitener::default();
            return Vec::new();
        }
        if dim != self.dim {
            *self = Whitener {
                dim,
                reference: vec![0.0; dim],
                cov: vec![0.0; dim * dim],
                ..Whitener::default()
            };
        }
        let sketches: Vec<&[f64]> = inputs.iter().filter_map(|i| i.sketch).collect();
        let out = self.values(inputs);
        let n = sketches.len() as f64;
        let mut mean = vec![0.0; dim];
        for s in &sketches {
            for (m, x) in mean.iter_mut().zip(s.iter()) {
                *m += x / n;
            }
        }
        for (r, m) in self.reference.iter_mut().zip(&mean) {
            *r = BETA_REF * *r + (1.0 - BETA_REF) * m;
        }

        // Residuals from the trusted ranks' mean (n/(n-1): unbiased for the per-rank noise).
        let trusted: Vec<&[f64]> = inputs
            .iter()
            .filter(|i| i.trusted)
            .filter_map(|i| i.sketch)
            .collect();
        if trusted.len() >= 2 {
            let k = trusted.len() as f64;
            let mut centre = vec![0.0; dim];
            for s in &trusted {
                for (c, x) in centre.iter_mut().zip(s.iter()) {
                    *c += x / k;
                }
            }
            let unbias = (k / (k - 1.0)).sqrt() / k.sqrt();
            let residuals = trusted
                .iter()
                .map(|s| {
                    s.iter()
                        .zip(&centre)
                        .map(|(x, c)| (x - c) * unbias)
                        .collect()
                })
                .collect();
            self.delayed.push_back(residuals);
        } else {
            self.delayed.push_back(Vec::new());
        }
        if self.delayed.len() > COV_DELAY {
            let residuals = self.delayed.pop_front().unwrap_or_default();
            self.add_to_cov(&residuals);
        }
        out
    }

    /// Adds one step's residuals (each scaled so that their outer products sum to the
    /// step's covariance estimate) to the exponential sum. Only the lower triangle of `cov`
    /// is kept (the factorisation reads nothing else).
    fn add_to_cov(&mut self, residuals: &[Vec<f64>]) {
        let dim = self.dim;
        for i in 0..dim {
            for c in &mut self.cov[i * dim..i * dim + i + 1] {
                *c *= BETA_COV;
            }
        }
        self.cov_weight *= BETA_COV;
        if residuals.is_empty() {
            return;
        }
        for e in residuals {
            for (i, ei) in e.iter().enumerate() {
                let row = &mut self.cov[i * dim..i * dim + i + 1];
                for (c, ej) in row.iter_mut().zip(e) {
                    *c += ei * ej;
                }
            }
        }
        self.cov_weight += 1.0;
        self.cov_steps += 1;
    }

    fn values(&mut self, inputs: &[Input<'_>]) -> Vec<(u32, f64)> {
        if self.cov_steps < MIN_COV_STEPS {
            return Vec::new();
        }
        if self.factor.is_none() || self.since_refresh >= REFRESH {
            self.factor = self.factorise();
            self.since_refresh = 0;
        }
        self.since_refresh += 1;
        let Some(l) = &self.factor else {
            return Vec::new();
        };
        let u = forward_solve(l, self.dim, &self.reference);
        let uu = dot(&u, &u);
        if uu <= 0.0 {
            return Vec::new();
        }
        inputs
            .iter()
            .filter_map(|i| {
                let v = forward_solve(l, self.dim, i.sketch?);
                let vv = dot(&v, &v);
                (vv > 0.0).then(|| (i.rank, (dot(&v, &u) / (vv * uu).sqrt()).clamp(-1.0, 1.0)))
            })
            .collect()
    }

    /// Cholesky factor of Σ + λI (Σ from the lower triangle of `cov`); `None` if it fails
    /// (non-finite input).
    fn factorise(&self) -> Option<Vec<f64>> {
        let dim = self.dim;
        let w = self.cov_weight.max(f64::MIN_POSITIVE);
        let trace: f64 = (0..dim).map(|i| self.cov[i * dim + i]).sum::<f64>() / w;
        let ridge = (RIDGE * trace / dim as f64).max(f64::MIN_POSITIVE);
        let mut a: Vec<f64> = vec![0.0; dim * dim];
        for i in 0..dim {
            for j in 0..=i {
                a[i * dim + j] = self.cov[i * dim + j] / w;
            }
            a[i * dim + i] += ridge;
        }
        cholesky_in_place(&mut a, dim).then_some(a)
    }
}

/// Lower Cholesky factorisation of the symmetric positive definite matrix whose lower
/// triangle is in `a` (row-major), in place; false if a pivot is not positive and finite.
fn cholesky_in_place(a: &mut [f64], dim: usize) -> bool {
    for j in 0..dim {
        let (head, tail) = a.split_at_mut((j + 1) * dim);
        let row_j = &mut head[j * dim..];
        let pivot = row_j[j] - dot(&row_j[..j], &row_j[..j]);
        if !(pivot > 0.0 && pivot.is_finite()) {
            return false;
        }
        let d = pivot.sqrt();
        row_j[j] = d;
        let lj = &row_j[..j];
        for row_i in tail.chunks_exact_mut(dim) {
            row_i[j] = (row_i[j] - dot(&row_i[..j], lj)) / d;
        }
    }
    true
}

/// Solves L x = b for the lower-triangular `l` (row-major).
fn forward_solve(l: &[f64], dim: usize, b: &[f64]) -> Vec<f64> {
    let mut x = vec![0.0; dim];
    for i in 0..dim {
        let row = &l[i * dim..i * dim + i];
        x[i] = (b[i] - dot(row, &x[..i])) / l[i * dim + i];
    }
    x
}

/// Dot product with four partial sums (vectorises; the order of a sum of a few hundred terms
/// does not matter here).
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0; 4];
    let (ca, cb) = (a.chunks_exact(4), b.chunks_exact(4));
    let tail: f64 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for k in 0..4 {
            acc[k] += x[k] * y[k];
        }
    }
    acc.iter().sum::<f64>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::Rng;

    #[test]
    fn cholesky_and_solve_reproduce_the_matrix_and_its_inverse() {
        let dim = 9;
        let mut rng = Rng::new(3);
        let b: Vec<f64> = (0..dim * dim).map(|_| rng.normal()).collect();
        // A = B Bᵀ + I, lower triangle only.
        let mut a = vec![0.0; dim * dim];
        let mut full = vec![0.0; dim * dim];
        for i in 0..dim {
            for j in 0..dim {
                let v = dot(&b[i * dim..(i + 1) * dim], &b[j * dim..(j + 1) * dim])
                    + if i == j { 1.0 } else { 0.0 };
                full[i * dim + j] = v;
                if j <= i {
                    a[i * dim + j] = v;
                }
            }
        }
        assert!(cholesky_in_place(&mut a, dim));
        for i in 0..dim {
            for j in 0..=i {
                let llt = dot(&a[i * dim..i * dim + j + 1], &a[j * dim..j * dim + j + 1]);
                assert!((llt - full[i * dim + j]).abs() < 1e-9, "{i} {j}");
            }
        }
        // xᵀ A⁻¹ y = (L⁻¹x)·(L⁻¹y): check against A (A⁻¹ y) = y.
        let x: Vec<f64> = (0..dim).map(|_| rng.normal()).collect();
        let u = forward_solve(&a, dim, &x);
        let mut z = vec![0.0; dim]; // z = L⁻ᵀ u = A⁻¹ x
        for i in (0..dim).rev() {
            let s: f64 = (i + 1..dim).map(|k| a[k * dim + i] * z[k]).sum();
            z[i] = (u[i] - s) / a[i * dim + i];
        }
        for i in 0..dim {
            let back = dot(&full[i * dim..(i + 1) * dim], &z);
            assert!((back - x[i]).abs() < 1e-9);
        }
        let mut bad = vec![0.0; 4];
        bad[0] = -1.0;
        assert!(!cholesky_in_place(&mut bad, 2));
    }

    /// Ranks whose gradient is a small common signal in 4 quiet directions plus noise 17×
    /// larger in 12 loud ones.
    fn stream(steps: usize, flip_from: usize, rng: &mut Rng) -> Vec<Vec<Vec<f64>>> {
        let (dim, n) = (16, 4);
        (0..steps)
            .map(|t| {
                (0..n)
                    .map(|rank| {
                        let sign = if rank == 0 && t >= flip_from {
                            -1.0
                        } else {
                            1.0
                        };
                        (0..dim)
                            .map(|k| {
                                let x = if k < 4 {
                                    1.0 + 0.3 * rng.normal()
                                } else {
                                    5.0 * rng.normal()
                                };
                                sign * x
                            })
                            .collect()
                    })
                    .collect()
            })
            .collect()
    }

    /// One step's inputs: every rank's sketch, trusted as `trusted(rank)` says.
    fn inputs(sketches: &[Vec<f64>], trusted: impl Fn(usize) -> bool) -> Vec<Input<'_>> {
        sketches
            .iter()
            .enumerate()
            .map(|(r, s)| Input {
                rank: r as u32,
                sketch: Some(s),
                trusted: trusted(r),
            })
            .collect()
    }

    fn run(w: &mut Whitener, steps: &[Vec<Vec<f64>>]) -> Vec<Vec<(u32, f64)>> {
        steps
            .iter()
            .map(|sketches| w.step(&inputs(sketches, |_| true)))
            .collect()
    }

    #[test]
    fn a_flip_in_the_quiet_directions_stands_out_once_whitened() {
        let mut rng = Rng::new(11);
        let steps = stream(100, 60, &mut rng);
        let mut w = Whitener::default();
        let out = run(&mut w, &steps);
        // Values start once the covariance has MIN_COV_STEPS steps, COV_DELAY late.
        let first = out.iter().position(|v| !v.is_empty()).unwrap();
        assert_eq!(first, COV_DELAY + MIN_COV_STEPS);
        let mean = |from: usize, to: usize, flipped: bool| {
            let v: Vec<f64> = (from..to)
                .flat_map(|t| out[t].iter())
                .filter(|(rank, _)| (*rank == 0) == flipped)
                .map(|(_, v)| *v)
                .collect();
            v.iter().sum::<f64>() / v.len() as f64
        };
        let (honest, flipped) = (mean(30, 100, false), mean(60, 100, true));
        assert!(honest > 0.25 && flipped < -0.25, "{honest} {flipped}");
        // The plain cosine to the same running mean separates them far less.
        let plain = |s: &[f64]| {
            let r = &w.reference;
            dot(s, r) / (dot(s, s) * dot(r, r)).sqrt()
        };
        let plain_honest = (60..100).map(|t| plain(&steps[t][1])).sum::<f64>() / 40.0;
        assert!(plain_honest < honest / 2.0, "{plain_honest} vs {honest}");
    }

    #[test]
    fn a_step_without_every_sketch_restarts_the_state() {
        let mut rng = Rng::new(5);
        let steps = stream(40, usize::MAX, &mut rng);
        let mut w = Whitener::default();
        assert!(!run(&mut w, &steps[..30]).last().unwrap().is_empty());
        let missing = [
            Input {
                rank: 0,
                sketch: Some(&steps[30][0]),
                trusted: true,
            },
            Input {
                rank: 1,
                sketch: None,
                trusted: true,
            },
        ];
        assert!(w.step(&missing).is_empty());
        assert_eq!(w.dim, 0);
        assert!(run(&mut w, &steps[31..40]).iter().all(Vec::is_empty));
        // A sketch of another length restarts it too.
        let short: Vec<Vec<f64>> = steps[0].iter().map(|s| s[..8].to_vec()).collect();
        run(&mut w, &[short]);
        assert_eq!((w.dim, w.cov_steps), (8, 0));
    }

    #[test]
    fn untrusted_ranks_do_not_feed_the_covariance() {
        let mut rng = Rng::new(8);
        let steps = stream(30, usize::MAX, &mut rng);
        let feed = |trusted_ranks: usize| {
            let mut w = Whitener::default();
            for sketches in &steps {
                w.step(&inputs(sketches, |r| r < trusted_ranks));
            }
            w
        };
        let all = feed(4);
        let three = feed(3);
        assert_ne!(all.cov, three.cov);
        // With fewer than two trusted ranks nothing enters (the weight still decays).
        let one = feed(1);
        assert_eq!(one.cov_steps, 0);
        assert!(one.cov.iter().all(|c| *c == 0.0));
    }
}
