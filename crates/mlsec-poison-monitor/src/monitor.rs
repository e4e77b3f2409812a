//! `monitor`: the detector over a directory of JSONL logs.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use mlsec_core::{Context, Report, ScanError, Span, Table};

use crate::MonitorArgs;
use crate::calibration;
use crate::detector::{Alarm, Config, Detector, Source};
use crate::findings::Findings;
use crate::record::{MAX_RECORD_BYTES, Record, Stat, parse_record};

/// Invalid records listed one by one per file; the rest are summarised.
const MAX_ERRORS_PER_FILE: usize = 20;

/// Reads lines of at most `MAX_RECORD_BYTES` with bounded memory: a longer line is reported
/// as too long and skipped without being held in memory.
pub(crate) fn for_each_line(
    reader: impl Read,
    mut f: impl FnMut(u32, Result<&[u8], usize>),
) -> std::io::Result<()> {
    let mut reader = BufReader::with_capacity(64 * 1024, reader);
    let mut line = Vec::with_capacity(1024);
    let mut overflow = 0usize;
    let mut number = 0u32;
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            if !line.is_empty() || overflow > 0 {
                number = number.saturating_add(1);
                emit(number, &line, overflow, &mut f);
            }
            return Ok(());
        }
        let (chunk, done) = match buf.iter().position(|b| *b == b'\n') {
            Some(i) => (&buf[..i], Some(i + 1)),
            None => (buf, None),
        };
        if overflow > 0 || line.len() + chunk.len() > MAX_RECORD_BYTES {
            overflow += line.len() + chunk.len();
            line.clear();
        } else {
            line.extend_from_slice(chunk);
        }
        let consumed = done.unwrap_or(buf.len());
        reader.consume(consumed);
        if done.is_some() {
            number = number.saturating_add(1);
            emit(number, &line, overflow, &mut f);
            line.clear();
            overflow = 0;
        }
    }
}

fn emit(number: u32, line: &[u8], overflow: usize, f: &mut impl FnMut(u32, Result<&[u8], usize>)) {
    if overflow > 0 {
        f(number, Err(overflow));
    } else {
        f(number, Ok(line));
    }
}

fn log_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "jsonl") && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// Loaded records with where they came from, plus the invalid ones as errors.
pub(crate) struct Loaded {
    pub files: Vec<String>,
    pub records: Vec<(Record, Source)>,
    pub errors: Vec<ScanError>,
    pub invalid: u64,
}

pub(crate) fn load(dir: &Path) -> anyhow::Result<Loaded> {
    let paths = log_files(dir)?;
    if paths.is_empty() {
        bail!("no *.jsonl files in {}", dir.display());
    }
    let mut loaded = Loaded {
        files: Vec::new(),
        records: Vec::new(),
        errors: Vec::new(),
        invalid: 0,
    };
    for (index, path) in paths.iter().enumerate() {
        let name = path.strip_prefix(dir).unwrap_or(path).display().to_string();
        loaded.files.push(name.clone());
        let file = match std::fs::File::open(path) {
            Ok(file) => file,
            Err(e) => {
                loaded
                    .errors
                    .push(ScanError::new(&name, format!("cannot open: {e}")));
                continue;
            }
        };
        let mut invalid_here = 0usize;
        let result = for_each_line(file, |line_no, line| {
            let parsed = match line {
                Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => return,
                Ok(bytes) => parse_record(bytes).map_err(|e| e.to_string()),
                Err(len) => Err(format!(
                    "record is {len} bytes, over the {MAX_RECORD_BYTES}-byte limit"
                )),
            };
            match parsed {
                Ok(record) => loaded.records.push((
                    record,
                    Source {
                        file: index as u32,
                        line: line_no,
                    },
                )),
                Err(message) => {
                    loaded.invalid += 1;
                    invalid_here += 1;
                    if invalid_here <= MAX_ERRORS_PER_FILE {
                        loaded.errors.push(
                            ScanError::new(&name, format!("invalid record: {message}")).with_span(
                                Span::Text {
                                    line: line_no,
                                    column: 1,
                                },
                            ),
                        );
                    }
                }
            }
        });
        if let Err(e) = result {
            loaded
                .errors
                .push(ScanError::new(&name, format!("read error: {e}")));
        }
        if invalid_here > MAX_ERRORS_PER_FILE {
            loaded.errors.push(ScanError::new(
                &name,
                format!(
                    "{} more invalid records not listed",
                    invalid_here - MAX_ERRORS_PER_FILE
                ),
            ));
        }
    }
    Ok(loaded)
}

/// Charts per rank the threshold must cover: the statistics present (`cos_ref_white` aside:
/// `calibration::STATS_PER_RANK` says why).
pub(crate) fn stats_count(records: &[(Record, Source)]) -> usize {
    let mut stats = BTreeSet::new();
    for (r, _) in records {
        for s in Stat::ALL {
            if r.value(s).is_some() && s != Stat::CosRefWhite {
                stats.insert(s);
            }
        }
    }
    stats.len().max(1)
}

pub fn run(args: &MonitorArgs, ctx: &Context) -> anyhow::Result<Report> {
    anyhow::ensure!(
        args.false_alarm_rate > 0.0 && args.false_alarm_rate < 1.0,
        "--false-alarm-rate must be in (0, 1)"
    );
    anyhow::ensure!(args.warmup >= 1, "--warmup must be at least 1");
    let loaded = load(&args.log_dir)?;
    let charts = stats_count(&loaded.records);
    let threshold = calibration::threshold_for(args.false_alarm_rate, charts);
    let config = Config {
        warmup: args.warmup,
        threshold,
        history: args.report.is_some(),
        ..Config::default()
    };
    let (detector, alarms) = detect(config, loaded.records.clone());
    let mut report = Report::new();
    report.scanned = loaded.records.len() as u64;
    report.errors = loaded.errors;
    let rank_file = rank_files(&loaded.records, &loaded.files);
    let root = args.log_dir.display().to_string();
    let file_of = |alarm: &Alarm| -> (String, Option<u32>) {
        match alarm.source {
            Some(s) => (loaded.files[s.file as usize].clone(), Some(s.line)),
            None => (
                rank_file
                    .get(&(alarm.run.clone(), alarm.rank))
                    .cloned()
                    .unwrap_or_else(|| root.clone()),
                None,
            ),
        }
    };
    // One finding per (run, rank, rule, statistic); repeats are counted in its evidence.
    let mut findings = Findings::default();
    for alarm in &alarms {
        findings.add(alarm, file_of, |_| {});
    }
    report.findings = findings.findings;
    summarise(
        &detector,
        &alarms,
        loaded.invalid,
        threshold,
        charts,
        &mut report,
    );
    if let Some(path) = &args.report {
        let html = crate::html::render(&detector, &alarms, threshold);
        std::fs::write(path, html)
            .with_context(|| format!("cannot write report {}", path.display()))?;
        ctx.events.status(&format!("wrote {}", path.display()));
    }
    Ok(report)
}

/// Runs the detector over records in (run, step, rank) order.
pub(crate) fn detect(config: Config, mut records: Vec<(Record, Source)>) -> (Detector, Vec<Alarm>) {
    records.sort_by(|(a, sa), (b, sb)| {
        (a.run.as_str(), a.step, a.rank, sa.file, sa.line).cmp(&(
            b.run.as_str(),
            b.step,
            b.rank,
            sb.file,
            sb.line,
        ))
    });
    let mut detector = Detector::new(Config {
        reorder_window: u64::MAX,
        ..config
    });
    let mut alarms = Vec::new();
    for (record, source) in records {
        detector.push(record, source, &mut alarms);
    }
    detector.finish(&mut alarms);
    (detector, alarms)
}

fn rank_files(records: &[(Record, Source)], files: &[String]) -> BTreeMap<(String, u32), String> {
    let mut out = BTreeMap::new();
    for (r, s) in records {
        out.entry((r.run.clone(), r.rank))
            .or_insert_with(|| files[s.file as usize].clone());
    }
    out
}

fn summarise(
    detector: &Detector,
    alarms: &[Alarm],
    invalid: u64,
    threshold: f64,
    charts: usize,
    report: &mut Report,
) {
    let mut table = Table {
        title: "poison-monitor: ranks".into(),
        columns: [
            "run",
            "rank",
            "records",
            "alarms",
            "first alarm",
            "quarantined",
        ]
        .map(String::from)
        .to_vec(),
        rows: Vec::new(),
    };
    let mut first_alarms = Vec::new();
    for run in detector.runs() {
        let quarantined = detector.quarantined(&run);
        for (rank, records) in detector.rank_records(&run) {
            let mine: Vec<&Alarm> = alarms
                .iter()
                .filter(|a| a.run == run && a.rank == rank)
                .collect();
            let first = mine
                .iter()
                .find(|a| a.kind.is_attack())
                .or(mine.first())
                .map_or_else(
                    || "-".to_owned(),
                    |a| format!("step {} {}", a.step, a.kind.label()),
                );
            table.rows.push(vec![
                run.clone(),
                rank.to_string(),
                records.to_string(),
                mine.len().to_string(),
                first,
                if quarantined.contains(&rank) {
                    "yes"
                } else {
                    "no"
                }
                .into(),
            ]);
        }
        if let Some(a) = alarms.iter().find(|a| a.run == run && a.first) {
            first_alarms.push(serde_json::json!({
                "run": run, "rank": a.rank, "step": a.step, "statistic": a.kind.label(),
            }));
        }
    }
    report.tables.push(table);
    let c = &detector.counters;
    report.data.insert(
        "poison_monitor".into(),
        serde_json::json!({
            "records": c.records,
            "invalid_records": invalid,
            "duplicates": c.duplicates,
            "conflicting_duplicates": c.conflicting_duplicates,
            "late": c.late,
            "steps": c.steps,
            "alarms": c.alarms,
            "threshold": threshold,
            "stats_per_rank": charts,
            "first_alarms": first_alarms,
        }),
    );
    if c.duplicates > 0 {
        report.warnings.push(format!(
            "{} duplicate records for the same (run, rank, step) ignored ({} with different values)",
            c.duplicates, c.conflicting_duplicates
        ));
    }
}
