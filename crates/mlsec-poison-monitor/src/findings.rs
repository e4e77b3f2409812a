//! Alarms as findings: the text comes from each alarm's rule file; [`Findings`] folds a
//! stream of alarms into one finding per (run, rank, rule, statistic), for `monitor` and
//! `listen` alike.

use std::collections::HashMap;

use mlsec_core::{Finding, Location, Pointer};

use crate::detector::{Alarm, AlarmKind};

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
        AlarmKind::Shift(shift) => shift.finding(rank, location, first),
        AlarmKind::NonFinite(non_finite) => non_finite.finding(rank, location, first),
        AlarmKind::Replay(replay) => replay.finding(rank, location, first),
        AlarmKind::Heartbeat(heartbeat) => heartbeat.finding(rank, location),
    };
    let mut finding = finding.with_evidence("attribution", alarm.first);
    if !alarm.run.is_empty() {
        finding = finding.with_evidence("run", &alarm.run);
    }
    finding
}

/// A run's findings: the first alarm of each (run, rank, rule, statistic) is a finding, the
/// later ones are counted in its `alarms` evidence.
#[derive(Debug, Default)]
pub(crate) struct Findings {
    pub findings: Vec<Finding>,
    seen: HashMap<(String, u32, String), usize>,
}

impl Findings {
    /// Folds one alarm in; returns whether it opened a finding. Then `locate` gives the
    /// finding's file and line and `opened` sees it (before its `alarms` count is added).
    pub fn add(
        &mut self,
        alarm: &Alarm,
        locate: impl FnOnce(&Alarm) -> (String, Option<u32>),
        opened: impl FnOnce(&Finding),
    ) -> bool {
        let key = (alarm.run.clone(), alarm.rank, alarm.kind.label());
        if let Some(&i) = self.seen.get(&key) {
            let f = &mut self.findings[i];
            let n: u64 = f
                .evidence
                .get("alarms")
                .and_then(|v| v.parse().ok())
                .unwrap_or(1);
            f.evidence.insert("alarms", (n + 1).to_string());
            return false;
        }
        let (file, line) = locate(alarm);
        let finding = alarm_to_finding(alarm, &file, line);
        opened(&finding);
        self.seen.insert(key, self.findings.len());
        self.findings.push(finding.with_evidence("alarms", 1));
        true
    }
}
