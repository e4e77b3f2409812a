//! The shipped calibration and the targets on simulated streams, re-measured. Ignored by
//! default (minutes in a debug build); run with
//! `cargo test --release -p mlsec-poison-monitor --test calibration -- --ignored`.
//! `cargo xtask bench poison-monitor` prints the same numbers as tables.

use mlsec_poison_monitor::calibration;
use mlsec_poison_monitor::detector::Config;
use mlsec_poison_monitor::eval;
use mlsec_poison_monitor::sim::Attack;

#[test]
#[ignore = "slow: re-measures the shipped calibration table"]
fn shipped_calibration_table_is_reproduced() {
    let thresholds: Vec<f64> = calibration::TABLE.iter().map(|(h, _)| *h).collect();
    let measured = eval::calibrate(4, 300, 2000..2500, &thresholds, calibration::DEFAULT_WARMUP);
    for ((h, _, rate), (_, shipped)) in measured.iter().zip(calibration::TABLE) {
        assert!(
            (rate / shipped - 1.0).abs() < 1e-3,
            "h = {h}: measured {rate:.4e}, shipped {shipped:.4e}"
        );
    }
}

#[test]
#[ignore = "slow: certifies the false-alarm rate and the detection targets"]
fn issue_targets_are_met() {
    let config = Config::default();
    let clean = eval::clean(8, 2000, 1..53, &config);
    assert!(clean.rank_steps >= 800_000);
    assert!(clean.per_10k_rank_steps() <= 1.0, "{clean:?}");
    for (attack, attackers, target) in [
        (Attack::Spike, 1, 10.0),
        (Attack::Signflip, 1, 10.0),
        (Attack::Ipm, 1, 10.0),
        (Attack::Alie, 2, 10.0),
        (Attack::Stale, 1, 10.0),
        (Attack::Zero, 1, 10.0),
        (Attack::DriftNorm, 1, 100.0),
        (Attack::DriftDir, 1, 100.0),
    ] {
        let r = eval::scenario(attack, 8, attackers, 400, 100, 1..21, &config);
        let delay = r.median_delay().unwrap_or(f64::INFINITY);
        assert!(delay <= target, "{}: median delay {delay}", attack.name());
        assert!(
            r.attribution_rate() >= 0.95,
            "{}: attribution {}",
            attack.name(),
            r.attribution_rate()
        );
    }
}
