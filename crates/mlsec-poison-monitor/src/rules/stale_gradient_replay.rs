use mlsec_core::{Finding, Location};

use super::Cx;
use crate::detector::{Alarm, AlarmKind};

mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags a rank whose own gradient norm repeats bit for bit within the last 64 steps
    /// (3 times or more, and 3 more than the typical rank), the fingerprint of a worker
    /// replaying stored gradients instead of computing fresh ones.
    /// ## Why is this bad?
    /// A stale-gradient replay looks plausible to norm checks (it was a real gradient once)
    /// while it steers the model with outdated or chosen directions, and it lets a worker skip
    /// its data entirely.
    /// ## Remediation
    /// Inspect the rank's process and host; restart it from the shared checkpoint, and check
    /// that its data loader still advances.
    pub static STALE_GRADIENT_REPLAY = "POIS003", "stale-gradient-replay", High;
}

/// What a replay alarm carries.
#[derive(Debug, Clone, PartialEq)]
pub struct Replay {
    /// Exact repetitions of the rank's own norm within the window.
    pub repeats: usize,
    /// The window (steps).
    pub window: usize,
}

/// Strength: above every alarm but a non-finite one.
const STRENGTH: f64 = f64::MAX;

/// A reporting rank alarms, once per rank and run, when its norm repeated exactly at least
/// `replay_count` times within the last `replay_window` steps and at least `replay_count` more
/// often than the typical (median) other reporting rank: rounded logs repeat by chance, for
/// everyone alike. The detector keeps each rank's window and its count of repetitions.
pub(crate) fn check(cx: &mut Cx, out: &mut Vec<(f64, Alarm)>) {
    let need = cx.config.replay_count;
    let records = cx.records;
    for (rank, (_, source)) in records {
        let count = cx.ranks.get(rank).map_or(0, |s| s.repeats_in_window);
        cx.scratch.clear();
        cx.scratch.extend(
            records
                .keys()
                .filter(|r| *r != rank)
                .map(|r| cx.ranks.get(r).map_or(0, |s| s.repeats_in_window) as f64),
        );
        let typical = mlsec_util::stats::median(&mut cx.scratch[..]).unwrap_or(0.0);
        let Some(state) = cx.ranks.get_mut(rank) else {
            continue;
        };
        if count >= need && count as f64 >= typical + need as f64 && !state.replay_fired {
            state.replay_fired = true;
            let kind = AlarmKind::Replay(Replay {
                repeats: count,
                window: cx.config.replay_window,
            });
            out.push((STRENGTH, cx.alarm(*rank, kind, Some(*source))));
        }
    }
}

impl Replay {
    /// The finding; `first` is the attribution suffix of the message (or empty).
    pub(crate) fn finding(&self, rank: u32, location: Location, first: &str) -> Finding {
        Finding::new(
            &STALE_GRADIENT_REPLAY,
            location,
            format!(
                "rank {rank} repeated its own gradient norm {} times in {} steps{first}",
                self.repeats, self.window
            ),
        )
        .with_evidence("repeats", self.repeats)
        .with_evidence("window", self.window)
    }
}
