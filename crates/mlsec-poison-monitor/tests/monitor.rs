//! `monitor` and `simulate` behaviour on generated logs and the committed fixtures.

use std::path::{Path, PathBuf};

use mlsec_core::{Context, Pointer, Report, Span};
use mlsec_poison_monitor::detector::{AlarmKind, Config, Detector, Source};
use mlsec_poison_monitor::rules::Heartbeat;
use mlsec_poison_monitor::sim::{self, Attack, SimConfig};
use mlsec_poison_monitor::{Args, Command, MonitorArgs, SimulateArgs, eval, run};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/poison-monitor")
}

fn monitor(dir: &Path, report: Option<PathBuf>) -> Report {
    let args = Args {
        command: Command::Monitor(MonitorArgs {
            log_dir: dir.to_owned(),
            warmup: 40,
            false_alarm_rate: 1e-4,
            report,
        }),
    };
    run(&args, &Context::silent()).expect("monitor runs")
}

fn truth(dir: &Path) -> (Vec<u32>, u64) {
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("truth.json")).unwrap()).unwrap();
    let attackers = v["attackers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_u64().unwrap() as u32)
        .collect();
    (attackers, v["attack_start"].as_u64().unwrap())
}

fn rank_step(f: &mlsec_core::Finding) -> (u32, u64) {
    match f.location.pointer {
        Some(Pointer::Rank {
            rank,
            step: Some(step),
        }) => (rank, step),
        ref other => panic!("finding without rank pointer: {other:?}"),
    }
}

fn first_alarm(report: &Report) -> &mlsec_core::Finding {
    report
        .findings
        .iter()
        .find(|f| f.evidence.get("attribution").map(String::as_str) == Some("true"))
        .expect("an attributed first alarm")
}

fn sim_config(attack: Attack, workers: u32, attackers: u32, steps: u64, seed: u64) -> SimConfig {
    SimConfig {
        workers,
        steps,
        attack,
        attackers,
        attack_start: 60,
        seed,
    }
}

#[test]
fn clean_fixture_gives_no_alarm() {
    let report = monitor(&fixtures().join("clean"), None);
    assert!(report.findings.is_empty(), "{:#?}", report.findings);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(report.scanned, 600);
}

#[test]
fn clean_streams_give_no_alarm_over_a_moderate_horizon() {
    // 8 workers × 600 steps = 4 800 records; at the calibrated rate an alarm here is a bug.
    for seed in [101, 102] {
        let sim = sim::simulate(&sim_config(Attack::None, 8, 1, 600, seed));
        let alarms = eval::detect(&sim, Config::default());
        assert!(alarms.is_empty(), "seed {seed}: {alarms:#?}");
    }
}

#[test]
fn attacked_fixture_names_a_colluder_first() {
    let dir = fixtures().join("attacked");
    let (attackers, start) = truth(&dir);
    let report = monitor(&dir, None);
    let first = first_alarm(&report);
    let (rank, step) = rank_step(first);
    assert!(
        attackers.contains(&rank),
        "first alarm rank {rank}, attackers {attackers:?}"
    );
    assert!((start..start + 10).contains(&step), "alarm at step {step}");
    assert_eq!(first.rule.id, "POIS001");
    for key in ["statistic", "z", "cusum", "threshold"] {
        assert!(
            first.evidence.contains_key(key),
            "{key} missing: {:?}",
            first.evidence
        );
    }
    assert_eq!(first.location.file, format!("worker_{rank}.jsonl"));
    assert!(matches!(first.location.span, Some(Span::Text { .. })));
    // Quarantine keeps honest ranks out of it.
    for f in &report.findings {
        assert!(
            attackers.contains(&rank_step(f).0),
            "honest rank alarmed: {f:?}"
        );
    }
}

#[test]
fn every_attack_is_detected_and_attributed() {
    let cases = [
        (Attack::Spike, 1, 10),
        (Attack::Signflip, 1, 10),
        (Attack::Ipm, 1, 10),
        (Attack::Alie, 2, 10),
        (Attack::Stale, 1, 10),
        (Attack::Zero, 1, 10),
        (Attack::DriftNorm, 1, 100),
        (Attack::DriftDir, 1, 160),
    ];
    for (attack, attackers, max_delay) in cases {
        let sim = sim::simulate(&sim_config(attack, 8, attackers, 60 + max_delay + 20, 7));
        let alarms = eval::detect(&sim, Config::default());
        let first = alarms
            .iter()
            .find(|a| a.first)
            .unwrap_or_else(|| panic!("{}: no alarm", attack.name()));
        assert!(
            sim.attackers.contains(&first.rank),
            "{}: blamed rank {} not {:?}",
            attack.name(),
            first.rank,
            sim.attackers
        );
        assert!(
            first.step >= 60 && first.step - 60 <= max_delay,
            "{}: step {}",
            attack.name(),
            first.step
        );
        if attack == Attack::Stale {
            assert!(
                alarms
                    .iter()
                    .any(|a| matches!(a.kind, AlarmKind::Replay(_))
                        && sim.attackers.contains(&a.rank))
            );
        }
    }
}

#[test]
fn duplicates_and_reordering_do_not_change_the_result() {
    let sim = sim::simulate(&sim_config(Attack::Signflip, 6, 1, 120, 3));
    let ordered = eval::detect(&sim, Config::default());
    assert!(!ordered.is_empty());
    // Locally shuffled (within 5 steps) with every 7th record duplicated.
    let mut records = sim.records.clone();
    let n = records.len();
    for i in 0..n {
        let j = (i * 7919 + 13) % 30;
        let k = (i + j).min(n - 1);
        records.swap(i, k);
    }
    let mut detector = Detector::new(Config::default());
    let mut alarms = Vec::new();
    for (i, r) in records.iter().enumerate() {
        detector.push(r.clone(), Source::default(), &mut alarms);
        if i % 7 == 0 {
            detector.push(r.clone(), Source::default(), &mut alarms);
        }
    }
    detector.finish(&mut alarms);
    assert_eq!(alarms, ordered);
    // A copy of a record whose step was already processed is late; either way it is ignored.
    let c = &detector.counters;
    assert_eq!(c.duplicates + c.late, n.div_ceil(7) as u64);
    assert!(c.duplicates > 0 && c.late > 0, "{c:?}");
    assert_eq!(c.conflicting_duplicates, 0);
    assert_eq!(c.steps, 120);
}

#[test]
fn malformed_fixture_counts_invalid_records_and_flags_nan() {
    let dir = fixtures().join("malformed");
    let report = monitor(&dir, None);
    let expect = std::fs::read_to_string(dir.join("expect.txt")).unwrap();
    let mut expected = 0;
    for line in expect.lines() {
        let mut parts = line.splitn(3, ' ');
        let (file, no, why) = (
            parts.next().unwrap(),
            parts.next().unwrap(),
            parts.next().unwrap(),
        );
        let no: u32 = no.parse().unwrap();
        assert!(
            report.errors.iter().any(|e| e.file == file
                && e.span
                    == Some(Span::Text {
                        line: no,
                        column: 1
                    })
                && e.message.contains(why)),
            "{line}: {:#?}",
            report.errors
        );
        expected += 1;
    }
    assert_eq!(report.errors.len(), expected);
    assert_eq!(report.data["poison_monitor"]["invalid_records"], expected);
    assert_eq!(report.data["poison_monitor"]["duplicates"], 1);
    let nan: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.rule.id == "POIS002")
        .collect();
    assert_eq!(nan.len(), 1, "{:#?}", report.findings);
    assert_eq!(rank_step(nan[0]), (2, 70));
    assert_eq!(nan[0].location.file, "worker_2.jsonl");
    assert_eq!(nan[0].evidence["fields"], "grad_norm");
    assert!(report.warnings.iter().any(|w| w.contains("duplicate")));
}

#[test]
fn seven_field_records_are_monitored() {
    let dir = fixtures().join("legacy7");
    let (attackers, start) = truth(&dir);
    let report = monitor(&dir, None);
    assert!(
        !report.findings.is_empty(),
        "{:?} {:?}",
        report.errors,
        report.data
    );
    let first = first_alarm(&report);
    let (rank, step) = rank_step(first);
    assert_eq!((rank, first.rule.id), (attackers[0], "POIS001"));
    assert!(step >= start && step < start + 10, "{step}");
    assert!(report.errors.is_empty());
}

#[test]
fn a_rank_that_stops_reporting_is_flagged() {
    let sim = sim::simulate(&sim_config(Attack::None, 4, 1, 100, 5));
    let records: Vec<_> = sim
        .records
        .into_iter()
        .filter(|r| !(r.rank == 1 && r.step >= 80))
        .collect();
    let mut detector = Detector::new(Config::default());
    let mut alarms = Vec::new();
    for r in records {
        detector.push(r, Source::default(), &mut alarms);
    }
    detector.finish(&mut alarms);
    assert_eq!(alarms.len(), 1, "{alarms:#?}");
    assert_eq!((alarms[0].rank, alarms[0].step), (1, 82));
    assert!(matches!(
        alarms[0].kind,
        AlarmKind::Heartbeat(Heartbeat {
            last_step: Some(79),
            ..
        })
    ));
    assert!(!alarms[0].first, "a heartbeat is not an attribution");
}

#[test]
fn identical_workers_do_not_alarm_but_a_spike_does() {
    // The original tool raised alarms on identical clean workers and missed a 50× spike.
    let mut sim = sim::simulate(&sim_config(Attack::None, 4, 1, 80, 9));
    for r in sim.records.iter_mut() {
        let step = r.step;
        let base = &mut r.values;
        *base = [
            Some(2.0),
            Some(1.0 + step as f64 * 1e-3),
            Some(0.9),
            Some(0.8),
            Some(0.7),
            Some(0.6),
            Some(0.5),
            None,
            None,
            None,
            None,
        ];
    }
    assert!(eval::detect(&sim, Config::default()).is_empty());
    for r in sim
        .records
        .iter_mut()
        .filter(|r| r.rank == 3 && r.step >= 60)
    {
        r.values[1] = r.values[1].map(|x| x * 50.0);
    }
    let alarms = eval::detect(&sim, Config::default());
    // z saturates at 4, so the CUSUM gains 3.5 per step: 4 steps to cross h = 11.5.
    assert_eq!((alarms[0].rank, alarms[0].step), (3, 63), "{alarms:#?}");
}

#[test]
fn html_report_is_self_contained() {
    let dir = tempfile::tempdir().unwrap();
    let html = dir.path().join("report.html");
    let report = monitor(&fixtures().join("attacked"), Some(html.clone()));
    assert!(!report.findings.is_empty());
    let text = std::fs::read_to_string(&html).unwrap();
    assert!(text.starts_with("<!doctype html>"));
    assert_eq!(text.matches("<svg").count(), 8 * 5);
    assert!(text.contains("alarm at step"));
    for external in ["<script", "src=", "href=", "@import", "url("] {
        assert!(!text.contains(external), "{external}");
    }
}

#[test]
fn simulate_writes_logs_and_reports_no_findings() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sim");
    let args = Args {
        command: Command::Simulate(SimulateArgs {
            workers: 4,
            steps: 100,
            attack: Attack::Zero,
            attackers: 1,
            attack_start: 60,
            seed: 4,
            out: out.clone(),
        }),
    };
    let report = run(&args, &Context::silent()).unwrap();
    assert!(report.findings.is_empty() && report.errors.is_empty());
    assert_eq!(report.scanned, 400);
    let (attackers, _) = truth(&out);
    let monitored = monitor(&out, None);
    assert_eq!(rank_step(first_alarm(&monitored)).0, attackers[0]);
    // Nothing to scan is an error of the whole command.
    let empty = tempfile::tempdir().unwrap();
    let args = Args {
        command: Command::Monitor(MonitorArgs {
            log_dir: empty.path().to_owned(),
            warmup: 40,
            false_alarm_rate: 1e-4,
            report: None,
        }),
    };
    assert!(run(&args, &Context::silent()).is_err());
}
