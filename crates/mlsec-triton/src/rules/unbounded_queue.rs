use mlsec_core::Finding;

use super::Cx;

mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags `dynamic_batching` whose `default_queue_policy.max_queue_size` is missing or 0
    /// (unbounded), and per-priority `priority_queue_policy` entries likewise.
    /// ## Why is this bad?
    /// Every queued request holds its input tensors in server memory. With an unbounded queue
    /// a burst or a slow model makes memory grow until the process is killed, taking every
    /// model on the server down; a bounded queue rejects the excess with `UNAVAILABLE`.
    /// ## Remediation
    /// Set `default_queue_policy { max_queue_size: N }` sized to the latency you accept, and
    /// the same for each priority level.
    pub static UNBOUNDED_QUEUE = "TRTN040", "unbounded-queue", Low;
}

pub(crate) fn check(cx: &Cx, out: &mut Vec<Finding>) {
    let Some(db) = cx.config.msg("dynamic_batching") else {
        return;
    };
    let db_field = cx.config.get("dynamic_batching").expect("present");
    let size = db
        .msg("default_queue_policy")
        .and_then(|p| p.int("max_queue_size"))
        .unwrap_or(0);
    if size == 0 {
        let pos = db
            .get("default_queue_policy")
            .map_or(db_field.pos, |f| f.pos);
        out.push(Finding::new(
            &UNBOUNDED_QUEUE,
            cx.at(pos, "dynamic_batching.default_queue_policy.max_queue_size"),
            "dynamic batching queue is unbounded (no default_queue_policy.max_queue_size)",
        ));
    }
    for (key, field, value) in db.map("priority_queue_policy") {
        let bounded = match value {
            Some(crate::validate::Value::Msg(p)) => p.int("max_queue_size").unwrap_or(0) > 0,
            _ => false,
        };
        if !bounded {
            out.push(Finding::new(
                &UNBOUNDED_QUEUE,
                cx.at(field.pos, &field.path),
                format!("queue of priority level {key} is unbounded (no max_queue_size)"),
            ));
        }
    }
}
