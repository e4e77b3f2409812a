//! The rules, one per file. A rule's file holds its declaration and doc comment, what its alarm
//! carries, the check that decides it at a processed step and the text of its finding.
//!
//! The detector's bookkeeping has already run when a check is called: every rank's presence
//! and norm-repetition window are up to date and the CUSUM charts have taken the step (the
//! math lives in [`crate::detector`]). A check reads that state through `Cx` and returns
//! alarms, each with its strength; the engine ([`crate::detector::Detector`]) orders a step's
//! alarms strongest first, marks the run's first attack alarm as the attribution and
//! quarantines the ranks that raised attack alarms.

use std::collections::BTreeMap;

use mlsec_core::Rule;

use crate::detector::{Alarm, AlarmKind, Config, RankState, Signal, Source};
use crate::record::Record;

mod gradient_statistic_shift;
mod non_finite_statistic;
mod rank_heartbeat_lost;
mod stale_gradient_replay;

pub use gradient_statistic_shift::{GRADIENT_STATISTIC_SHIFT, Shift};
pub use non_finite_statistic::{NON_FINITE_STATISTIC, NonFinite};
pub use rank_heartbeat_lost::{Heartbeat, RANK_HEARTBEAT_LOST};
pub(crate) use rank_heartbeat_lost::{silent_ranks, timed_out};
pub use stale_gradient_replay::{Replay, STALE_GRADIENT_REPLAY};

/// What a check sees: one processed step of one run.
pub(crate) struct Cx<'a> {
    pub config: &'a Config,
    pub run: &'a str,
    pub step: u64,
    /// The step's records by rank (never empty).
    pub records: &'a BTreeMap<u32, (Record, Source)>,
    /// Every known rank of the run (reporting or not), after this step's bookkeeping. A check
    /// may change only its own rule's state (its "already fired" flag).
    pub ranks: &'a mut BTreeMap<u32, RankState>,
    /// The charts that crossed the threshold at this step, in statistic then rank order.
    pub signals: &'a [Signal],
    /// A buffer a check may use, kept between steps so that a step allocates nothing for it.
    pub scratch: &'a mut Vec<f64>,
}

/// One check: the step's alarms of its rule, each with its strength (a step's alarms are
/// reported strongest first, and the strongest attack alarm of the run's first alarming step
/// is its attribution).
pub(crate) type Check = fn(&mut Cx, &mut Vec<(f64, Alarm)>);

/// Every check with its rule, in the order the engine calls them. The order does not change
/// the output: the strengths of different rules never tie (heartbeat −1, shift |z| capped at
/// 10¹², replay `f64::MAX`, non-finite +∞; each rule file says why), so the engine's sort
/// decides the order of a step's alarms.
pub(crate) static CHECKS: &[(&Rule, Check)] = &[
    (
        &rank_heartbeat_lost::RANK_HEARTBEAT_LOST,
        rank_heartbeat_lost::check,
    ),
    (
        &non_finite_statistic::NON_FINITE_STATISTIC,
        non_finite_statistic::check,
    ),
    (
        &stale_gradient_replay::STALE_GRADIENT_REPLAY,
        stale_gradient_replay::check,
    ),
    (
        &gradient_statistic_shift::GRADIENT_STATISTIC_SHIFT,
        gradient_statistic_shift::check,
    ),
];

/// Every rule this subcommand can report, by id.
pub static RULES: &[&Rule] = &[
    &gradient_statistic_shift::GRADIENT_STATISTIC_SHIFT,
    &non_finite_statistic::NON_FINITE_STATISTIC,
    &stale_gradient_replay::STALE_GRADIENT_REPLAY,
    &rank_heartbeat_lost::RANK_HEARTBEAT_LOST,
];

impl Cx<'_> {
    /// An alarm of this step's run at this step.
    pub fn alarm(&self, rank: u32, kind: AlarmKind, source: Option<Source>) -> Alarm {
        Alarm::new(self.run, self.step, rank, kind, source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_agree() {
        assert_eq!(RULES.len(), CHECKS.len());
        for (rule, _) in CHECKS {
            assert!(RULES.iter().any(|r| r.id == rule.id), "{}", rule.id);
        }
        for rule in RULES {
            assert!(
                rule.convention_errors().is_empty(),
                "{:?}",
                rule.convention_errors()
            );
            assert!(rule.id.starts_with("POIS"));
        }
        let mut ids: Vec<_> = RULES.iter().map(|r| r.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), RULES.len());
    }
}
