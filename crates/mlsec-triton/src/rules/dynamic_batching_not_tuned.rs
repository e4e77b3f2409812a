use mlsec_core::Finding;

use super::Cx;

mlsec_core::declare_rule! {
    /// ## What it does
    /// Notes a batching model (`max_batch_size > 0`) without a scheduler (`dynamic_batching`,
    /// `sequence_batching` or an ensemble), or with `dynamic_batching` whose
    /// `max_queue_delay_microseconds` is 0.
    /// ## Why is this bad?
    /// Without the dynamic batcher each request executes alone even though the model can
    /// batch; with a zero delay the batcher only merges requests that happen to be waiting.
    /// Both were findings of the original tool; they cost throughput, not security.
    /// ## Remediation
    /// Add `dynamic_batching { max_queue_delay_microseconds: <small delay> }` if latency allows.
    pub static DYNAMIC_BATCHING_NOT_TUNED = "TRTN012", "dynamic-batching-not-tuned", Info;
}

pub(crate) fn check(cx: &Cx, out: &mut Vec<Finding>) {
    let c = cx.config;
    if c.int("max_batch_size").unwrap_or(0) <= 0 {
        return;
    }
    if let Some(db_field) = c.get("dynamic_batching") {
        let db = c.msg("dynamic_batching").expect("message");
        if db.int("max_queue_delay_microseconds").unwrap_or(0) == 0 {
            let pos = db
                .get("max_queue_delay_microseconds")
                .map_or(db_field.pos, |f| f.pos);
            out.push(Finding::new(
                &DYNAMIC_BATCHING_NOT_TUNED,
                cx.at(pos, "dynamic_batching.max_queue_delay_microseconds"),
                "dynamic_batching with max_queue_delay_microseconds 0: only requests already waiting are batched",
            ));
        }
    } else if !c.has("sequence_batching")
        && !c.has("ensemble_scheduling")
        && cx.platform() != "ensemble"
    {
        let f = c.get("max_batch_size").expect("set");
        out.push(Finding::new(
            &DYNAMIC_BATCHING_NOT_TUNED,
            cx.at(f.pos, "dynamic_batching"),
            "the model can batch (max_batch_size > 0) but has no dynamic_batching: requests run one by one",
        ));
    }
}
