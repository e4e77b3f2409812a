use mlsec_core::{Finding, Severity};

use super::Cx;

mlsec_core::declare_rule! {
    /// ## What it does
    /// Notes a dynamic-batching queue without `default_timeout_microseconds` (requests wait
    /// as long as it takes), and flags `timeout_action: DELAY` (low), which keeps timed-out
    /// requests queued instead of rejecting them.
    /// ## Why is this bad?
    /// Without a timeout, clients that gave up still occupy queue slots and memory; `DELAY`
    /// means a timeout frees nothing. Under overload both turn slowness into exhaustion.
    /// ## Remediation
    /// Set `default_queue_policy { default_timeout_microseconds: N timeout_action: REJECT }`.
    pub static NO_QUEUE_TIMEOUT = "TRTN041", "no-queue-timeout", Info;
}

pub(crate) fn check(cx: &Cx, out: &mut Vec<Finding>) {
    let Some(db) = cx.config.msg("dynamic_batching") else {
        return;
    };
    let db_field = cx.config.get("dynamic_batching").expect("present");
    let mut policies = Vec::new();
    if let Some(f) = db.get("default_queue_policy")
        && let crate::validate::Value::Msg(p) = &f.value
    {
        policies.push((f, p));
    }
    for (field, entry) in db.msgs("priority_queue_policy") {
        if let Some(p) = entry.msg("value") {
            policies.push((field, p));
        }
    }
    for (field, p) in &policies {
        if let Some(a) = p.get("timeout_action")
            && a.value.to_text() == "DELAY"
        {
            out.push(
                Finding::new(
                    &NO_QUEUE_TIMEOUT,
                    cx.at(a.value_pos, &a.path),
                    "timeout_action DELAY keeps timed-out requests queued instead of rejecting them",
                )
                .with_severity(Severity::Low),
            );
        }
        let _ = field;
    }
    let has_timeout = policies
        .iter()
        .any(|(_, p)| p.int("default_timeout_microseconds").unwrap_or(0) > 0);
    if !has_timeout {
        out.push(Finding::new(
            &NO_QUEUE_TIMEOUT,
            cx.at(
                db_field.pos,
                "dynamic_batching.default_queue_policy.default_timeout_microseconds",
            ),
            "queued requests have no timeout (default_timeout_microseconds unset)",
        ));
    }
}
