use std::collections::BTreeMap;
use std::time::Duration;

use mlsec_core::{Finding, Location};

use super::Cx;
use crate::detector::{Alarm, AlarmKind, RankState};

mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags a rank that stopped reporting while the others go on: missing for 3 consecutive
    /// steps in the logs, or silent for `--inactivity-timeout` seconds in `listen`. Ranks the
    /// records' `world` (or `--expected-workers`) promises but that never reported count too.
    /// ## Why is this bad?
    /// A silent DDP rank hangs the all-reduce of every other rank; a rank that reports nothing
    /// to the monitor cannot be checked, which is exactly what an attacker that disabled the
    /// hook wants.
    /// ## Remediation
    /// Check the rank's process, host and network; make sure the hook is installed on every
    /// rank and that its UDP datagrams reach the listener.
    pub static RANK_HEARTBEAT_LOST = "POIS004", "rank-heartbeat-lost", Medium;
}

/// What a heartbeat alarm carries.
#[derive(Debug, Clone, PartialEq)]
pub struct Heartbeat {
    /// Consecutive processed steps the rank was missing from.
    pub missing_steps: u64,
    /// The last step the rank reported, if it ever did.
    pub last_step: Option<u64>,
}

/// Strength: below every attack alarm. A heartbeat alarm is never the attribution and does
/// not quarantine its rank ([`AlarmKind::is_attack`]).
const STRENGTH: f64 = -1.0;

/// A known rank (one that reported, or one the world size promises) alarms when it has been
/// missing from `missing_steps` consecutive processed steps while others report; once, until
/// it reports again.
pub(crate) fn check(cx: &mut Cx, out: &mut Vec<(f64, Alarm)>) {
    if cx.records.is_empty() {
        return;
    }
    let need = u64::from(cx.config.missing_steps);
    for (rank, state) in cx.ranks.iter_mut() {
        // The detector's bookkeeping zeroed `missing` for every rank that reported this step.
        if state.missing == 0 {
            state.heartbeat_fired = false;
        } else if state.missing >= need && !state.heartbeat_fired {
            state.heartbeat_fired = true;
            let kind = heartbeat(state);
            out.push((STRENGTH, Alarm::new(cx.run, cx.step, *rank, kind, None)));
        }
    }
}

/// `listen`'s clock: the ranks silent for at least `timeout` (by their last record's age,
/// `None` for a rank never heard from) while another rank was heard from within it.
pub(crate) fn silent_ranks(ages: &[(u32, Option<Duration>)], timeout: Duration) -> Vec<u32> {
    let alive = ages.iter().any(|(_, a)| a.is_some_and(|a| a < timeout));
    if !alive {
        return Vec::new();
    }
    ages.iter()
        .filter(|(_, a)| a.is_some_and(|a| a >= timeout))
        .map(|(r, _)| *r)
        .collect()
}

/// The alarms of the ranks of `run` that [`silent_ranks`] found, once per rank until it
/// reports again; returns how many fired.
pub(crate) fn timed_out(
    run: &str,
    ranks: &mut BTreeMap<u32, RankState>,
    silent: &[u32],
    out: &mut Vec<Alarm>,
) -> u64 {
    let mut fired = 0;
    for rank in silent {
        if let Some(state) = ranks.get_mut(rank)
            && !state.heartbeat_fired
        {
            state.heartbeat_fired = true;
            let step = state.last_step.unwrap_or(0);
            out.push(Alarm::new(run, step, *rank, heartbeat(state), None));
            fired += 1;
        }
    }
    fired
}

fn heartbeat(state: &RankState) -> AlarmKind {
    AlarmKind::Heartbeat(Heartbeat {
        missing_steps: state.missing,
        last_step: state.last_step,
    })
}

impl Heartbeat {
    /// The finding (a heartbeat alarm is never the attribution: no suffix).
    pub(crate) fn finding(&self, rank: u32, location: Location) -> Finding {
        let message = match self.last_step {
            Some(last) => {
                format!("rank {rank} stopped reporting after step {last} while other ranks go on")
            }
            None => format!("rank {rank} never reported while other ranks did"),
        };
        let finding = Finding::new(&RANK_HEARTBEAT_LOST, location, message)
            .with_evidence("missing_steps", self.missing_steps);
        match self.last_step {
            Some(last) => finding.with_evidence("last_step", last),
            None => finding,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silent_only_while_another_rank_is_alive() {
        let t = Duration::from_secs(30);
        let s = |n| Some(Duration::from_secs(n));
        assert_eq!(silent_ranks(&[(0, s(1)), (1, s(31)), (2, None)], t), [1]);
        // Nobody heard from within the timeout: the whole job paused, no alarm.
        assert!(silent_ranks(&[(0, s(40)), (1, s(31))], t).is_empty());
        assert!(silent_ranks(&[], t).is_empty());
    }
}
