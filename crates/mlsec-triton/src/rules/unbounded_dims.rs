use mlsec_core::{Finding, Severity};

use super::Cx;
use crate::validate::Value;

mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags inputs whose shape the server does not bound: a `-1` dimension (any size the
    /// client sends) and inputs without `dims`. Graded low when the unbounded input is
    /// `TYPE_STRING` (element sizes are unbounded too), allows ragged batching, or when
    /// `max_batch_size` is 0 and the first dimension is `-1` (the client picks the batch).
    /// ## Why is this bad?
    /// Triton allocates what the request declares, bounded only by the HTTP/gRPC message size:
    /// one request can ask a model for gigabytes of activations (memory exhaustion, OOM kills
    /// of the server and every co-located model). The original tool never read dims.
    /// ## Remediation
    /// Use fixed dims where the model allows, otherwise enforce a size limit in front of Triton
    /// (proxy body limits, `--grpc-max-message-size`-style limits) and check sizes in the model.
    pub static UNBOUNDED_DIMS = "TRTN014", "unbounded-dims", Info;
}

pub(crate) fn check(cx: &Cx, out: &mut Vec<Finding>) {
    let c = cx.config;
    let no_batch = c.int("max_batch_size").unwrap_or(0) == 0;
    for (field, input) in c.msgs("input") {
        let name = input.str("name").unwrap_or("?");
        let dims: Vec<_> = input.all("dims").collect();
        if dims.is_empty() && !input.has("reshape") {
            out.push(Finding::new(
                &UNBOUNDED_DIMS,
                cx.at(field.pos, &field.path),
                format!("input {name:?} has no dims: the shape comes from the model (auto-complete) or the load fails"),
            ));
            continue;
        }
        let Some(first_unbounded) = dims.iter().position(|d| matches!(d.value, Value::Int(-1)))
        else {
            continue;
        };
        let d = dims[first_unbounded];
        let string = input.str("data_type") == Some("TYPE_STRING");
        let ragged = input.bool("allow_ragged_batch");
        let client_batch = no_batch && first_unbounded == 0;
        let mut why = Vec::new();
        if string {
            why.push("TYPE_STRING elements are unbounded too");
        }
        if ragged {
            why.push("ragged batching concatenates requests of any size");
        }
        if client_batch {
            why.push("with max_batch_size 0 the first -1 is a batch the client chooses");
        }
        let mut finding = Finding::new(
            &UNBOUNDED_DIMS,
            cx.at(d.value_pos, &d.path),
            if why.is_empty() {
                format!("input {name:?} has a -1 dimension: its size is chosen by the client")
            } else {
                format!("input {name:?} has a -1 dimension: {}", why.join("; "))
            },
        )
        .with_evidence("input", name);
        if !why.is_empty() {
            finding = finding.with_severity(Severity::Low);
        }
        out.push(finding);
    }
}
