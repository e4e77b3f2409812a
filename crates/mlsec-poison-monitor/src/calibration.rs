//! The shipped CUSUM calibration.
//!
//! The table below was measured by [`crate::eval::calibrate`] on simulated honest streams (the
//! simulator reproduces the non-stationarity of the real recordings: loss and norms shrinking,
//! the cross-rank spread changing) and checked on the real-training recordings
//! (`crate::replay`); `docs/poison-monitor.md` explains the derivation. Each row is a threshold
//! `h` and the measured false-alarm rate per chart per step (a chart is one rank's statistic).

/// Steps of cross-rank scale estimation before the charts can alarm.
pub const DEFAULT_WARMUP: usize = 10;

/// Residuals the cross-rank scale remembers (64: 16 steps of 4 ranks, 8 steps of 8).
pub const DEFAULT_SCALE_WINDOW: f64 = 64.0;

/// Default target: 1 false alarm per 10 000 rank-steps.
pub const DEFAULT_FALSE_ALARM_RATE: f64 = 1e-4;

/// Statistics charted per rank in a v1 record from the current hook (`loss`, `grad_norm`,
/// `cos_mean`, `cos_loo`, `sign_agree`, `l1_ratio`, `cos_ref`). The eighth chart,
/// `cos_ref_white` (from the `sketch`), is not counted: its reference value
/// (`Config::k_white` = 0.75 against 0.5) puts its false-alarm rate at the same h about 300
/// times lower (Siegmund's approximation of the in-control run length,
/// (e^{2k(h+1.166)} − 2k(h+1.166) − 1)/(2k²): 3.4 × 10⁸ against 1.0 × 10⁶ steps at h = 12).
pub const STATS_PER_RANK: usize = 7;

/// (threshold, false alarms per chart per step) on honest simulated streams, increasing `h`:
/// 500 fresh-start runs (seeds 2000..2500) of 4 ranks × 300 steps, counted from step 0
/// (3 × 10⁶ chart-steps; the last row rests on a single alarm).
pub const TABLE: &[(f64, f64)] = &[
    (4.0, 5.504e-2),
    (6.0, 7.110e-3),
    (8.0, 5.580e-4),
    (10.0, 8.533e-5),
    (12.0, 1.267e-5),
    (14.0, 2.667e-6),
    (16.0, 3.333e-7),
];

/// The threshold for the default target with 7 statistics per rank (1.43 × 10⁻⁵ per
/// chart-step: 11.87 interpolated). Checked on the real-training recordings
/// (`docs/poison-monitor.md`, Evaluation).
pub const DEFAULT_THRESHOLD: f64 = 11.9;

/// The threshold that keeps `rate` false alarms per rank-step when each rank has `stats`
/// charts: interpolated in log-rate on the measured table at `rate / stats` per chart-step,
/// extrapolated along its last segment (CUSUM run lengths grow exponentially in `h`).
pub fn threshold_for(rate: f64, stats: usize) -> f64 {
    let per_chart = (rate / stats.max(1) as f64).max(1e-300);
    let target = per_chart.ln();
    let pts: Vec<(f64, f64)> = TABLE.iter().map(|(h, p)| (*h, p.ln())).collect();
    let segment = |a: (f64, f64), b: (f64, f64)| a.0 + (target - a.1) * (b.0 - a.0) / (b.1 - a.1);
    if target >= pts[0].1 {
        return segment(pts[0], pts[1]).max(1.0);
    }
    for pair in pts.windows(2) {
        if target <= pair[0].1 && target >= pair[1].1 {
            return segment(pair[0], pair[1]);
        }
    }
    let n = pts.len();
    segment(pts[n - 2], pts[n - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threshold_is_monotone_in_the_target() {
        let strict = threshold_for(1e-6, STATS_PER_RANK);
        let default = threshold_for(DEFAULT_FALSE_ALARM_RATE, STATS_PER_RANK);
        let loose = threshold_for(1e-2, STATS_PER_RANK);
        assert!(
            strict > default && default > loose,
            "{strict} {default} {loose}"
        );
        assert!(threshold_for(1e-4, 8) > default);
        assert!((default - DEFAULT_THRESHOLD).abs() < 0.5, "{default}");
    }
}
