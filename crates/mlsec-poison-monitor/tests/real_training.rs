//! The goals on the committed real-training recordings (PyTorch DDP, gloo, CPU; made
//! by `scripts/poison-monitor/record_real.py`), with attacks injected at replay time. These are
//! behaviour assertions on fixed data: the recordings are committed, the replay is seeded.

use mlsec_poison_monitor::detector::{AlarmKind, Config, Detector, Source};
use mlsec_poison_monitor::record::Stat;
use mlsec_poison_monitor::replay::{self, ReplayAttack};

fn recordings() -> Vec<replay::Recording> {
    let all = replay::load_all(&replay::committed_dir()).expect("committed recordings load");
    assert!(all.len() >= 10, "{} recordings", all.len());
    all
}

#[test]
fn recordings_cover_models_world_sizes_and_resumed_jobs() {
    let all = recordings();
    let names: Vec<&str> = all.iter().map(|r| r.name.as_str()).collect();
    for kind in ["mlp-", "cnn-", "tf-", "resumed", "warmcos"] {
        assert!(names.iter().any(|n| n.contains(kind)), "{kind}: {names:?}");
    }
    let worlds: Vec<usize> = all.iter().map(|r| r.world).collect();
    assert!(worlds.contains(&2) && worlds.contains(&16), "{worlds:?}");
    assert!(all.iter().any(|r| r.first_step() > 0), "a resumed job");
    assert!(all.iter().all(|r| r.steps.len() >= 200));
}

#[test]
fn honest_real_training_raises_no_false_alarm_from_step_0() {
    let all = recordings();
    let r = replay::honest(&all, &Config::default());
    assert!(r.rank_steps >= 10_000, "{}", r.rank_steps);
    assert!(
        r.per_10k_rank_steps() <= 1.0,
        "{:.2} false alarms per 10⁴ rank-steps: {:?}",
        r.per_10k_rank_steps(),
        r.examples
    );
}

fn evaluate(attack: ReplayAttack, target: u64) -> replay::AttackResult {
    let r = replay::evaluate(&recordings(), attack, target, &Config::default());
    assert!(r.trials >= 150, "{}: {} trials", attack.name(), r.trials);
    r
}

fn caught(r: &replay::AttackResult) -> f64 {
    r.caught_within_target() as f64 / r.trials as f64
}

#[test]
fn boosting_and_noise_are_caught_within_10_steps_and_attributed() {
    // Noise of the gradient's own size moves `l1_ratio` by 5–18 cross-rank sds per step (the
    // recorded gradients are far from flat; Gaussian noise is flat), so it is caught as fast as
    // the loud attacks.
    for attack in [
        ReplayAttack::Scale(5.0),
        ReplayAttack::Scale(-5.0),
        ReplayAttack::Noise(1.0),
        ReplayAttack::Noise(3.0),
    ] {
        let r = evaluate(attack, 10);
        assert!(
            caught(&r) >= 0.95,
            "{}: {:.1} % caught within 10 steps, delays {:?}",
            attack.name(),
            100.0 * caught(&r),
            r.delays
        );
        assert!(
            r.attribution_rate_at_start() >= 0.95,
            "{}: attribution {:.1} %",
            attack.name(),
            100.0 * r.attribution_rate_at_start()
        );
    }
}

#[test]
fn a_slow_drift_is_caught_within_100_steps() {
    let r = evaluate(ReplayAttack::Drift(0.005), 100);
    // Measured 94.5 % (154 of 163; 155 on the previous recording of the same runs, which
    // differs in the 7th digit): the misses are the small CNN runs, whose norms are noisy
    // enough that a 0.5 %/step drift needs 100-110 steps, and 2-rank pairs.
    assert!(
        caught(&r) >= 0.94,
        "{:.1} %: {:?}",
        100.0 * caught(&r),
        r.delays
    );
    // With 2 ranks a drift does not depart from the rank's own recent level: the pair is
    // alarmed, the naming is a coin toss. With 3 or more the cross-section names the drifter.
    // (The first attack alarm from the drift's start on; the run's first alarm can be the one
    // false alarm of `mlp-w8-sgd-b256`, before its later starts.)
    assert!(
        r.attribution_rate_at_start_3plus() >= 0.95,
        "{:.1} %",
        100.0 * r.attribution_rate_at_start_3plus()
    );
}

#[test]
fn sign_flips_are_caught_while_training_has_a_direction_and_fall_short_at_its_noise_floor() {
    // `cos_ref` (cosine to the running mean gradient) turns a flipped rank negative while the
    // gradients share a direction over ~100 steps: early in the recordings. Later, and in the
    // CNN runs throughout, a flip moves the rank's gradient along the training direction by
    // less than the ranks' batch-to-batch spread, so within 10 steps only part is caught
    // (docs/poison-monitor.md, Evaluation). This guards the measured levels.
    let r = evaluate(ReplayAttack::SignFlip, 10);
    // Measured: the test along the whole training set's gradient (`oracle_catches_flip`)
    // catches 122 of 171 flips, the detector 90 of those (and 25 more, mostly through
    // `cos_ref_white` on cnn-w8 and mlp-w16).
    let (catchable, both) = r
        .by_recording
        .iter()
        .filter_map(|t| t.oracle)
        .fold((0, 0), |(a, b), (c, d)| (a + c, b + d));
    assert_eq!(
        r.by_recording.iter().map(|t| t.trials).sum::<usize>(),
        r.trials
    );
    assert!(
        catchable >= r.trials / 2 && both as f64 >= 0.7 * catchable as f64,
        "{both} of the oracle's {catchable} (of {})",
        r.trials
    );
    let (early, caught_early) = r.by_start[0];
    assert!(
        caught_early as f64 >= 0.8 * early as f64,
        "from step 30: {caught_early} of {early}"
    );
    assert!(caught(&r) >= 0.65, "{:.1} % caught", 100.0 * caught(&r));
    assert!(
        r.attribution_rate_at_start() >= 0.8,
        "{:.1} %",
        100.0 * r.attribution_rate_at_start()
    );
}

#[test]
fn a_neutral_injection_reproduces_the_recording() {
    let all = recordings();
    let rec = &all[0];
    let start = rec.first_step() + 10;
    let same = replay::inject(rec, ReplayAttack::Scale(1.0), 1, start, 3);
    for (a, b) in same.iter().zip(rec.records()) {
        for s in Stat::ALL {
            match (a.value(s), b.value(s)) {
                (Some(x), Some(y)) => assert!((x - y).abs() <= 1e-6 * y.abs().max(1.0), "{s:?}"),
                (x, y) => assert_eq!(x, y),
            }
        }
    }
    // A sign flip lowers the attacker's cosine to the mean from the start on, and only there.
    let flipped = replay::inject(rec, ReplayAttack::SignFlip, 1, start, 3);
    let (mut before, mut after) = (0.0, 0.0);
    for (f, r) in flipped
        .iter()
        .zip(rec.records())
        .filter(|(f, _)| f.rank == 1)
    {
        let (x, y) = (
            f.value(Stat::CosMean).unwrap(),
            r.value(Stat::CosMean).unwrap(),
        );
        if f.step < start {
            assert_eq!(x, y);
        } else {
            before += y;
            after += x;
        }
    }
    assert!(after < before - 10.0, "{after} vs {before}");
    // ... and turns its cosine to the running mean gradient around; `l1_ratio` is unchanged.
    for (f, r) in flipped
        .iter()
        .zip(rec.records())
        .filter(|(f, _)| f.rank == 1 && f.step >= start)
    {
        if let (Some(x), Some(y)) = (f.value(Stat::CosRef), r.value(Stat::CosRef)) {
            assert!((x + y).abs() < 1e-9, "{x} {y}");
        }
        assert_eq!(f.value(Stat::L1Ratio), r.value(Stat::L1Ratio));
    }
    // Noise takes the attacker's `l1_ratio` from what the recorder measured with real noise.
    let noisy = replay::inject(rec, ReplayAttack::Noise(1.0), 1, start, 3);
    let (k, _) = rec
        .steps
        .iter()
        .enumerate()
        .find(|(_, (r, _))| r[0].step == start)
        .unwrap();
    let at_start = noisy
        .iter()
        .find(|r| r.rank == 1 && r.step == start)
        .unwrap();
    assert_eq!(
        at_start.value(Stat::L1Ratio),
        Some(rec.noise[k][replay::NOISE_SIGMAS.len()])
    );
}

#[test]
fn the_orthant_law_tracks_the_recorded_sign_agreement() {
    // The replay moves sign_agree by the change of 1 − arccos(cos_mean)/π; on the recordings
    // the law is close to what the hook measured.
    // The CNN's gradients have many exact zeros (ReLU, max-pool), which never agree: there the
    // level is off by up to 0.24, which is why only the law's change is used.
    for rec in recordings()
        .into_iter()
        .filter(|r| !r.name.starts_with("cnn"))
    {
        let records = rec.records();
        let err: f64 = records
            .iter()
            .map(|r| {
                let law = replay::orthant_agreement(r.value(Stat::CosMean).unwrap());
                (r.value(Stat::SignAgree).unwrap() - law).abs()
            })
            .sum::<f64>()
            / records.len() as f64;
        assert!(
            err < 0.08,
            "{}: mean |sign_agree − law| = {err:.3}",
            rec.name
        );
    }
}

#[test]
fn a_two_rank_job_names_one_rank_and_says_it_was_a_pair() {
    let all = recordings();
    let rec = all
        .iter()
        .find(|r| r.world == 2)
        .expect("a 2-rank recording");
    let start = rec.first_step() + 100;
    let alarms = replay::detect(
        replay::inject(rec, ReplayAttack::Scale(5.0), 1, start, 1),
        &Config::default(),
    );
    let first = alarms.iter().find(|a| a.first).expect("an alarm");
    assert!(first.step >= start && first.step <= start + 10, "{first:?}");
    let AlarmKind::Shift(shift) = &first.kind else {
        panic!("{first:?}")
    };
    assert!(shift.paired, "{first:?}");
}

#[test]
fn the_whitened_chart_is_tuned_to_half_the_shift_a_flip_gives_it() {
    // `Config::k_white`'s reason: over the first 10 steps of a flip (every rank of every
    // recording, from each start; charts that never alarm, so nothing is quarantined), the
    // attacker's mean `cos_ref_white` z has a median of -1.54.
    let config = Config {
        history: true,
        reorder_window: u64::MAX,
        threshold: f64::INFINITY,
        ..Config::default()
    };
    let mut shifts = Vec::new();
    for rec in recordings() {
        for start in replay::starts(&rec, 20) {
            for attacker in 0..rec.world as u32 {
                let mut detector = Detector::new(config.clone());
                let mut alarms = Vec::new();
                for record in replay::inject(&rec, ReplayAttack::SignFlip, attacker, start, 7)
                    .into_iter()
                    .filter(|r| r.step < start + 10)
                {
                    detector.push(record, Source::default(), &mut alarms);
                }
                detector.finish(&mut alarms);
                let z: Vec<f64> = detector
                    .history(&rec.name, attacker, Stat::CosRefWhite)
                    .iter()
                    .filter(|p| p.step >= start)
                    .map(|p| p.z)
                    .collect();
                assert_eq!(z.len(), 10, "{} rank {attacker} from {start}", rec.name);
                shifts.push(z.iter().sum::<f64>() / 10.0);
            }
        }
    }
    shifts.sort_by(f64::total_cmp);
    let median = shifts[shifts.len() / 2];
    assert!(
        (median.abs() / 2.0 - Config::default().k_white).abs() < 0.05,
        "median shift {median:.2} over {} flips",
        shifts.len()
    );
}
