//! The shipped CUSUM calibration.
//!
//! The table below was measured by [`crate::eval::calibrate`] on simulated clean streams (8
//! workers, 5 charted statistics each, warm-up [`DEFAULT_WARMUP`], k = 0.5, z winsorised at ±4)
//! and is reproduced by `cargo xtask bench poison-monitor`; `docs/poison-monitor.md` explains the
//! derivation. Each row is a threshold `h` and the measured false-alarm rate per chart per step.

/// Warm-up samples per chart.
pub const DEFAULT_WARMUP: usize = 40;

/// Default target: 1 false alarm per 10 000 steps system-wide.
pub const DEFAULT_FALSE_ALARM_RATE: f64 = 1e-4;

/// Charts the default is calibrated for: 8 workers × 5 statistics.
pub const CALIBRATION_CHARTS: usize = 40;

/// (threshold, false alarms per chart per step) on clean simulated streams, increasing `h`.
pub const TABLE: &[(f64, f64)] = &[
    (4.0, 9.982e-3),
    (6.0, 3.203e-3),
    (8.0, 1.294e-3),
    (10.0, 4.158e-4),
    (12.0, 9.949e-5),
    (14.0, 1.913e-5),
    (16.0, 5.867e-6),
    (18.0, 3.061e-6),
    (20.0, 1.658e-6),
];

/// The threshold for the default target and chart count.
pub const DEFAULT_THRESHOLD: f64 = 18.7;

/// The threshold that keeps `rate` false alarms per step over `charts` charts: interpolated in
/// log-rate on the measured table, extrapolated along its last segment (CUSUM run lengths grow
/// exponentially in `h`).
pub fn threshold_for(rate: f64, charts: usize) -> f64 {
    let per_chart = (rate / charts.max(1) as f64).max(1e-300);
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
        let strict = threshold_for(1e-6, 40);
        let default = threshold_for(DEFAULT_FALSE_ALARM_RATE, CALIBRATION_CHARTS);
        let loose = threshold_for(1e-2, 40);
        assert!(
            strict > default && default > loose,
            "{strict} {default} {loose}"
        );
        assert!(threshold_for(1e-4, 80) > default);
        assert!((default - DEFAULT_THRESHOLD).abs() < 0.5, "{default}");
    }
}
