use mlsec_core::{Finding, Location};

use super::Cx;
use crate::detector::{Alarm, AlarmKind};

mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags a rank that reported NaN or ±Infinity in a statistic (norm, cosine, loss,
    /// all-reduced norm), including the bare `NaN`/`Infinity` tokens Python's `json` writes.
    /// ## Why is this bad?
    /// One non-finite gradient entry poisons the all-reduced gradient of every rank: the model
    /// is destroyed at the next optimiser step. It is a classic, cheap attack, and also the
    /// symptom of a broken host or a diverging mixed-precision run.
    /// ## Remediation
    /// Stop the step (enable gradient anomaly checks or skip non-finite steps in the
    /// optimiser), find which rank produced it, and restart from the last good checkpoint.
    pub static NON_FINITE_STATISTIC = "POIS002", "non-finite-statistic", Critical;
}

/// What a non-finite alarm carries.
#[derive(Debug, Clone, PartialEq)]
pub struct NonFinite {
    /// The record's fields that held NaN or ±Infinity.
    pub fields: Vec<&'static str>,
}

/// Strength: above every other alarm of its step (one non-finite entry destroys the model).
const STRENGTH: f64 = f64::INFINITY;

/// A rank's first record with a non-finite field alarms, once per rank and run.
pub(crate) fn check(cx: &mut Cx, out: &mut Vec<(f64, Alarm)>) {
    for (rank, (record, source)) in cx.records {
        let Some(state) = cx.ranks.get_mut(rank) else {
            continue;
        };
        if !record.nonfinite.is_empty() && !state.nonfinite_fired {
            state.nonfinite_fired = true;
            let kind = AlarmKind::NonFinite(NonFinite {
                fields: record.nonfinite.clone(),
            });
            out.push((STRENGTH, cx.alarm(*rank, kind, Some(*source))));
        }
    }
}

impl NonFinite {
    /// The finding; `first` is the attribution suffix of the message (or empty).
    pub(crate) fn finding(&self, rank: u32, location: Location, first: &str) -> Finding {
        Finding::new(
            &NON_FINITE_STATISTIC,
            location,
            format!(
                "rank {rank} reported non-finite {}{first}",
                self.fields.join(", ")
            ),
        )
        .with_evidence("fields", self.fields.join(","))
    }
}
