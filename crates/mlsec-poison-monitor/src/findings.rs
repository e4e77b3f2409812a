//! Alarms as findings.

use mlsec_core::{Finding, Location, Pointer};

use crate::detector::{Alarm, AlarmKind};
use crate::rules;

fn g(x: f64) -> String {
    format!("{x:.4}")
}

/// The finding for one alarm; `file` is where the record came from (relative to the scan
/// root) or the listener's address, `line` its 1-based line when it came from a file.
pub fn alarm_to_finding(alarm: &Alarm, file: &str, line: Option<u32>) -> Finding {
    let mut location = Location::file(file).with_pointer(Pointer::Rank {
        rank: alarm.rank,
        step: Some(alarm.step),
    });
    if let Some(line) = line.filter(|l| *l > 0) {
        location = location.at_line(line, 1);
    }
    let rank = alarm.rank;
    let first = if alarm.first {
        ", first alarm of the run"
    } else {
        ""
    };
    let finding = match &alarm.kind {
        AlarmKind::Shift {
            stat,
            value,
            z,
            cusum,
            threshold,
            high,
            centre,
            scale,
            compared,
            paired,
        } => {
            let dir = if *high { "high" } else { "low" };
            let how = if *paired {
                " against the only other rank (2 ranks: named for moving more against its own recent level)"
            } else {
                " against the other ranks"
            };
            Finding::new(
                &rules::GRADIENT_STATISTIC_SHIFT,
                location,
                format!(
                    "rank {rank} {} shifted {dir}{how} (cusum {cusum:.2} > {threshold:.2}){first}",
                    stat.name()
                ),
            )
            .with_evidence("statistic", stat.name())
            .with_evidence("value", g(*value))
            .with_evidence("z", format!("{z:.2}"))
            .with_evidence("cusum", format!("{cusum:.2}"))
            .with_evidence("threshold", format!("{threshold:.2}"))
            .with_evidence("direction", dir)
            .with_evidence("cross_rank_median", format!("{centre:.5}"))
            .with_evidence("cross_rank_scale", format!("{scale:.5}"))
            .with_evidence("ranks_compared", compared)
            .with_evidence(
                "attribution_basis",
                if *paired {
                    "own recent level (2 ranks)"
                } else {
                    "cross-rank"
                },
            )
        }
        AlarmKind::NonFinite { fields } => Finding::new(
            &rules::NON_FINITE_STATISTIC,
            location,
            format!("rank {rank} reported non-finite {}{first}", fields.join(", ")),
        )
        .with_evidence("fields", fields.join(",")),
        AlarmKind::Replay { repeats, window } => Finding::new(
            &rules::STALE_GRADIENT_REPLAY,
            location,
            format!(
                "rank {rank} repeated its own gradient norm {repeats} times in {window} steps{first}"
            ),
        )
        .with_evidence("repeats", repeats)
        .with_evidence("window", window),
        AlarmKind::Heartbeat {
            missing_steps,
            last_step,
        } => {
            let message = match last_step {
                Some(last) => format!(
                    "rank {rank} stopped reporting after step {last} while other ranks go on"
                ),
                None => format!("rank {rank} never reported while other ranks did"),
            };
            let mut f = Finding::new(&rules::RANK_HEARTBEAT_LOST, location, message)
                .with_evidence("missing_steps", missing_steps);
            if let Some(last) = last_step {
                f = f.with_evidence("last_step", last);
            }
            f
        }
    };
    let mut finding = finding.with_evidence("attribution", alarm.first);
    if !alarm.run.is_empty() {
        finding = finding.with_evidence("run", &alarm.run);
    }
    finding
}
