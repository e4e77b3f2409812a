use mlsec_core::Finding;

use super::Cx;
use crate::validate::{Field, Msg};

mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags a batcher queue delay (`max_queue_delay_microseconds` of dynamic batching or of a
    /// sequence-batching strategy) above one second.
    /// ## Why is this bad?
    /// Every request may be held that long before execution, so requests and their tensors
    /// pile up: a few clients keep the queue (and memory) full, and latency-sensitive callers
    /// time out. Typical values are a few hundred microseconds to milliseconds.
    /// ## Remediation
    /// Use a delay in the millisecond range; prefer `preferred_batch_size` to long waits.
    pub static EXCESSIVE_QUEUE_DELAY = "TRTN042", "excessive-queue-delay", Low;
}

/// One second.
const LIMIT_US: i128 = 1_000_000;

fn judge(cx: &Cx, m: &Msg, out: &mut Vec<Finding>) {
    if let Some(f @ Field { .. }) = m.get("max_queue_delay_microseconds") {
        let v = f.value.as_i128().unwrap_or(0);
        if v > LIMIT_US {
            out.push(
                Finding::new(
                    &EXCESSIVE_QUEUE_DELAY,
                    cx.at(f.value_pos, &f.path),
                    format!("max_queue_delay_microseconds is {v} ({:.1} s): requests may wait that long", v as f64 / 1e6),
                )
                .with_evidence("delay_us", v)
                .with_evidence("threshold_us", LIMIT_US),
            );
        }
    }
}

pub(crate) fn check(cx: &Cx, out: &mut Vec<Finding>) {
    if let Some(db) = cx.config.msg("dynamic_batching") {
        judge(cx, db, out);
    }
    if let Some(seq) = cx.config.msg("sequence_batching") {
        for strategy in ["direct", "oldest"] {
            if let Some(s) = seq.msg(strategy) {
                judge(cx, s, out);
            }
        }
    }
}
