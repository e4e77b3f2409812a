use mlsec_core::{Finding, Location, Pointer, Severity};

use super::Cx;
use crate::ModelSummary;

mlsec_core::declare_rule! {
    /// ## What it does
    /// Notes decoupled models (`model_transaction_policy { decoupled: true }`), which may send
    /// any number of responses per request, and flags (low) an ensemble whose steps include a
    /// decoupled model of the same run while `max_inflight_requests` is unset.
    /// ## Why is this bad?
    /// The server buffers responses a client has not read yet. In an ensemble, a decoupled
    /// step can emit faster than the next step consumes, and without
    /// `ensemble_scheduling.max_inflight_requests` the intermediate tensors grow without bound.
    /// ## Remediation
    /// Set `max_inflight_requests` on ensembles over decoupled steps, and bound the number of
    /// responses in the model itself.
    pub static DECOUPLED_UNBOUNDED = "TRTN043", "decoupled-unbounded", Info;
}

pub(crate) fn check(cx: &Cx, out: &mut Vec<Finding>) {
    if let Some(policy) = cx.config.msg("model_transaction_policy")
        && policy.bool("decoupled")
    {
        let f = policy.get("decoupled").expect("set");
        out.push(Finding::new(
            &DECOUPLED_UNBOUNDED,
            cx.at(f.pos, &f.path),
            "decoupled model: any number of responses per request, buffered until the client reads them",
        ));
    }
}

pub(crate) fn check_ensembles(models: &[ModelSummary], out: &mut Vec<Finding>) {
    for ens in models
        .iter()
        .filter(|m| !m.ensemble_steps.is_empty() && !m.max_inflight)
    {
        let decoupled: Vec<&str> = ens
            .ensemble_steps
            .iter()
            .filter(|s| models.iter().any(|m| m.name == **s && m.decoupled))
            .map(String::as_str)
            .collect();
        if decoupled.is_empty() {
            continue;
        }
        out.push(
            Finding::new(
                &DECOUPLED_UNBOUNDED,
                Location::file(ens.file.clone())
                    .with_pointer(Pointer::Field("ensemble_scheduling.max_inflight_requests".to_owned())),
                format!(
                    "ensemble {:?} runs decoupled step(s) {} without max_inflight_requests: intermediate responses are unbounded",
                    ens.name,
                    decoupled.join(", ")
                ),
            )
            .with_severity(Severity::Low),
        );
    }
}
