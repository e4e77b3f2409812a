use mlsec_core::{Finding, Severity};

use super::Cx;

mlsec_core::declare_rule! {
    /// ## What it does
    /// Notes a model whose `max_batch_size` is missing or 0: Triton does not batch it, and its
    /// dims include the batch dimension. Graded low when `dynamic_batching` is configured,
    /// since the batcher then has nothing to batch.
    /// ## Why is this bad?
    /// It is rarely a vulnerability, but it is the most common misconfiguration the original
    /// tool looked for: every request is one execution, so throughput under load is lower and
    /// queues grow faster.
    /// ## Remediation
    /// Set `max_batch_size` to the largest batch the model accepts, or remove
    /// `dynamic_batching` if the model cannot batch.
    pub static BATCHING_DISABLED = "TRTN010", "batching-disabled", Info;
}

pub(crate) fn check(cx: &Cx, out: &mut Vec<Finding>) {
    let c = cx.config;
    if c.int("max_batch_size").unwrap_or(0) != 0 {
        return;
    }
    let field = c.get("max_batch_size");
    let loc = field.map_or_else(
        || cx.top("max_batch_size"),
        |f| cx.at(f.pos, "max_batch_size"),
    );
    let what = if field.is_some() {
        "max_batch_size is 0"
    } else {
        "max_batch_size is not set"
    };
    if let Some(db) = c.get("dynamic_batching") {
        out.push(
            Finding::new(
                &BATCHING_DISABLED,
                loc.clone(),
                format!(
                    "{what} but dynamic_batching is configured (at {}): nothing can be batched",
                    db.pos
                ),
            )
            .with_severity(Severity::Low),
        );
    } else {
        out.push(Finding::new(
            &BATCHING_DISABLED,
            loc,
            format!("{what}: batching is disabled and dims include the batch dimension"),
        ));
    }
}
