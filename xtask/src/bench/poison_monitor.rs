//! `cargo xtask bench poison-monitor`: the calibration, the evaluation tables the issue asks
//! for, and the UDP listener's throughput and alert latency on loopback.
//!
//! - real training: the PyTorch DDP recordings in `testdata/poison-monitor/real/` replayed
//!   honest (false alarms per 10⁴ rank-steps from step 0) and with attacks injected
//!   (`replay::GOALS`): caught within the goal, median and worst delay, attribution; the
//!   sign flips by recording beside `replay::oracle_catches_flip`.
//! - calibration: false alarms per chart per step against the CUSUM threshold, on 500
//!   simulated fresh-start runs of 4 workers × 300 steps (seeds 2000..2500), from step 0;
//!   compare with `calibration::TABLE`.
//! - certification: false alarms per 10⁴ rank-steps with the shipped defaults on 52 other
//!   simulated runs (8 workers × 2 000 steps, seeds 1..53, from step 0).
//! - attacks: 20 seeds each, 8 workers, 400 steps, attack from step 100: median delay and
//!   attribution (first alarm names an attacker).
//! - listener: 200 000 records (8 workers × 25 000 steps, one attacker) over 127.0.0.1 at a
//!   paced rate and unpaced; received records/s, loss, alert latency.
//!
//! The detector and simulator run in this process (the crate is built with xtask's profile).

use std::time::Instant;

use anyhow::Result;
use mlsec_poison_monitor::calibration;
use mlsec_poison_monitor::detector::Config;
use mlsec_poison_monitor::eval;
use mlsec_poison_monitor::replay;
use mlsec_poison_monitor::sim::Attack;

use super::{Bench, Row};

/// The real-training table: honest replays and injected attacks.
fn real_training(bench: &mut Bench) -> Result<()> {
    let start = Instant::now();
    let recordings = replay::load_all(&replay::committed_dir())?;
    let config = Config::default();
    let honest = replay::honest(&recordings, &config);
    println!(
        "\n### poison-monitor on real training ({} PyTorch DDP recordings, shipped defaults, h = {:.1})\n",
        recordings.len(),
        config.threshold
    );
    println!("| recording | ranks | steps | false alarms |\n|---|---|---|---|");
    for rec in &recordings {
        let n = honest
            .examples
            .iter()
            .filter(|(name, ..)| *name == rec.name)
            .count();
        println!(
            "| {} | {} | {} | {n} |",
            rec.name,
            rec.world,
            rec.steps.len()
        );
    }
    println!(
        "\n**false alarms: {:.2} per 10⁴ rank-steps** ({} in {} rank-steps from step 0; goal ≤ 1)\n",
        honest.per_10k_rank_steps(),
        honest.alarms,
        honest.rank_steps
    );
    println!(
        "| attack | trials | caught within goal | goal (steps) | median delay | worst delay | attributed: first alarm from the start (all / ≥ 3 ranks) | attributed: first alarm of the run (all / ≥ 3 ranks) | caught: from step 30 / middle / end |\n|---|---|---|---|---|---|---|---|---|"
    );
    let mut trials = 0;
    let mut flips = None;
    for (attack, target) in replay::GOALS {
        let r = replay::evaluate(&recordings, *attack, *target, &config);
        trials += r.trials;
        let delay = |d: Option<u64>| d.map_or_else(|| "not caught".to_owned(), |d| d.to_string());
        let phase = |(n, c): (usize, usize)| format!("{:.0} %", 100.0 * c as f64 / n.max(1) as f64);
        println!(
            "| {} | {} | {:.1} % | ≤ {} | {} | {} | {:.1} % / {:.1} % | {:.1} % / {:.1} % | {} / {} / {} |",
            attack.name(),
            r.trials,
            100.0 * r.caught_within_target() as f64 / r.trials.max(1) as f64,
            target,
            delay(r.median_delay()),
            delay(r.max_delay()),
            100.0 * r.attribution_rate_at_start(),
            100.0 * r.attribution_rate_at_start_3plus(),
            100.0 * r.attribution_rate(),
            100.0 * r.attribution_rate_3plus(),
            phase(r.by_start[0]),
            phase(r.by_start[1]),
            phase(r.by_start[2]),
        );
        if *attack == replay::ReplayAttack::SignFlip {
            flips = Some(r);
        }
    }
    if let Some(r) = flips {
        sign_flip_oracle(&r);
    }
    bench.row(Row {
        workload: "poison-monitor real-training replays".into(),
        bytes: 0,
        items: Some((honest.rank_steps * (1 + trials as u64), "records")),
        time: start.elapsed(),
        peak_rss_kib: None,
        note: "replay + detect, in process".into(),
    });
    Ok(())
}

/// The sign flips by recording, beside what the oracle of `replay::oracle_catches_flip` (the
/// whole training set's gradient known, the attack's start and rank known) catches.
fn sign_flip_oracle(r: &replay::AttackResult) {
    println!(
        "\n**Sign flips by recording**, caught within {} steps: by mlsec, and by an oracle test that knows the whole training set's gradient direction, the attacker and the start (`replay::oracle_catches_flip`, one-sided 10⁻⁴)\n",
        r.target
    );
    println!(
        "| recording | ranks | trials | mlsec | oracle | mlsec on the oracle's |\n|---|---|---|---|---|---|"
    );
    let pct = |a: usize, b: usize| format!("{a}/{b} ({:.0} %)", 100.0 * a as f64 / b.max(1) as f64);
    let (mut all, mut caught, mut catchable, mut both) = (0, 0, 0, 0);
    for t in &r.by_recording {
        let (o, ob) = t.oracle.unwrap_or((0, 0));
        println!(
            "| {} | {} | {} | {} | {} | {} |",
            t.name,
            t.world,
            t.trials,
            pct(t.caught, t.trials),
            pct(o, t.trials),
            pct(ob, o)
        );
        (all, caught, catchable, both) =
            (all + t.trials, caught + t.caught, catchable + o, both + ob);
    }
    println!(
        "| **all** | | {all} | {} | {} | {} |",
        pct(caught, all),
        pct(catchable, all),
        pct(both, catchable)
    );
    let by_stat: Vec<String> = r
        .first_by_stat
        .iter()
        .map(|(stat, n)| format!("{stat} {n}"))
        .collect();
    println!(
        "\nThe statistic of the first alarm of the caught flips: {}",
        by_stat.join(", ")
    );
}

pub fn run(bench: &mut Bench) -> Result<()> {
    real_training(bench)?;
    let start = Instant::now();
    let thresholds = [4.0, 6.0, 8.0, 10.0, 12.0, 14.0, 16.0];
    let table = eval::calibrate(4, 300, 2000..2500, &thresholds, calibration::DEFAULT_WARMUP);
    println!(
        "\n### poison-monitor calibration (500 simulated fresh-start runs × 4 workers × 300 steps, from step 0)\n"
    );
    println!("| threshold h | false alarms | per chart-step | shipped table |\n|---|---|---|---|");
    for (h, n, p) in &table {
        let shipped = calibration::TABLE
            .iter()
            .find(|(th, _)| th == h)
            .map_or_else(|| "-".to_owned(), |(_, p)| format!("{p:.3e}"));
        println!("| {h:.1} | {n} | {p:.3e} | {shipped} |");
    }
    println!(
        "\nshipped default: h = {:.1} (target {} false alarms per rank-step, {} charts per rank)",
        calibration::DEFAULT_THRESHOLD,
        calibration::DEFAULT_FALSE_ALARM_RATE,
        calibration::STATS_PER_RANK
    );
    bench.row(Row {
        workload: "poison-monitor calibration".into(),
        bytes: 0,
        items: Some((500 * 300 * 4 * thresholds.len() as u64, "records")),
        time: start.elapsed(),
        peak_rss_kib: None,
        note: "simulate + detect, in process".into(),
    });

    let start = Instant::now();
    let config = Config::default();
    let clean = eval::clean(8, 2000, 1..53, &config);
    println!("\n### poison-monitor evaluation (8 workers, shipped defaults)\n");
    println!("| scenario | runs | rank-steps | result | target |\n|---|---|---|---|---|");
    println!(
        "| clean | {} | {} | {:.2} false alarms / 10⁴ rank-steps ({} alarms) | ≤ 1 |",
        clean.runs,
        clean.rank_steps,
        clean.per_10k_rank_steps(),
        clean.alarms
    );
    println!(
        "\n| attack | attackers | runs | detected | median delay (steps) | target | first alarm names an attacker | alarms before the attack |\n|---|---|---|---|---|---|---|---|"
    );
    let scenarios = [
        (Attack::Spike, 1, 10),
        (Attack::Signflip, 1, 10),
        (Attack::Ipm, 1, 10),
        (Attack::Alie, 2, 10),
        (Attack::Stale, 1, 10),
        (Attack::Zero, 1, 10),
        (Attack::DriftNorm, 1, 100),
        (Attack::DriftDir, 1, 100),
    ];
    let mut steps = clean.rank_steps / 8;
    for (attack, attackers, target) in scenarios {
        let r = eval::scenario(attack, 8, attackers, 400, 100, 1..21, &config);
        steps += 400 * r.runs as u64;
        println!(
            "| {} | {attackers} of 8 | {} | {} | {} | ≤ {target} | {:.0} % | {} |",
            attack.name(),
            r.runs,
            r.delays.len(),
            r.median_delay()
                .map_or_else(|| "not detected".to_owned(), |d| format!("{d}")),
            100.0 * r.attribution_rate(),
            r.early_alarms
        );
    }
    bench.row(Row {
        workload: "poison-monitor evaluation".into(),
        bytes: 0,
        items: Some((steps * 8, "records")),
        time: start.elapsed(),
        peak_rss_kib: None,
        note: "simulate + detect, in process".into(),
    });

    println!(
        "\n### poison-monitor listener on 127.0.0.1 ({} build)\n",
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
    );
    println!(
        "| offered | sent | received | lost | records/s | alert latency median / p99 / max (µs) |\n|---|---|---|---|---|---|"
    );
    for rate in [Some(200_000.0), None] {
        let t = eval::listener_throughput(25_000, rate)?;
        println!(
            "| {} | {} | {} | {} | {:.0} | {} / {} / {} |",
            rate.map_or_else(|| "unpaced".to_owned(), |r| format!("{r:.0}/s")),
            t.sent,
            t.received,
            t.sent - t.received,
            t.records_per_second(),
            t.latency_us.0,
            t.latency_us.1,
            t.latency_us.2
        );
        bench.row(Row {
            workload: format!(
                "poison-monitor listen ({})",
                rate.map_or_else(|| "unpaced".to_owned(), |r| format!("offered {r:.0}/s"))
            ),
            bytes: t.received * 330,
            items: Some((t.received, "records")),
            time: std::time::Duration::from_secs_f64(t.seconds.max(1e-9)),
            peak_rss_kib: None,
            note: format!("{} of {} received, UDP loopback", t.received, t.sent),
        });
    }

    // The release binary on logs written by `simulate`: 8 ranks × 20 000 steps.
    let logs = bench.scratch().join("poison-logs");
    let logs_arg = logs.to_string_lossy().into_owned();
    let sim = bench.time_mlsec(
        &[
            "poison-monitor",
            "simulate",
            "--workers",
            "8",
            "--steps",
            "20000",
            "--attack",
            "alie",
            "--out",
            &logs_arg,
        ],
        1,
    )?;
    anyhow::ensure!(sim.exit_code == 0, "simulate: exit {}", sim.exit_code);
    let bytes: u64 = std::fs::read_dir(&logs)?
        .filter_map(|e| e.ok()?.metadata().ok())
        .map(|m| m.len())
        .sum();
    let m = bench.time_mlsec(&["poison-monitor", "monitor", "--log-dir", &logs_arg], 3)?;
    anyhow::ensure!(
        m.exit_code == 2,
        "monitor on attacked logs: exit {} (expected 2)",
        m.exit_code
    );
    bench.row(Row {
        workload: "poison-monitor monitor: 8 ranks × 20 000 steps (mlsec binary)".into(),
        bytes,
        items: Some((8 * 20_000, "records")),
        time: m.time,
        peak_rss_kib: Some(m.peak_rss_kib),
        note: "simulated ALIE attack; parse + detect + render".into(),
    });
    std::fs::remove_dir_all(&logs)?;
    Ok(())
}
