use mlsec_core::{Finding, Pointer, Severity};

use super::{Cx, launch_location};
use crate::ModelSummary;
use crate::launch::Launch;

mlsec_core::declare_rule! {
    /// ## What it does
    /// Notes `instance_group.rate_limiter` (the real rate-limiting field: resources and a
    /// priority per instance group), which only takes effect when the server runs with
    /// `--rate-limit=execution_count`. With `--launch-args` showing rate limiting off while
    /// configs declare limiters, the finding is low.
    /// ## Why is this bad?
    /// A rate limiter that is not enforced gives a false sense of protection: GPU resources are
    /// not arbitrated and the declared priorities are ignored. Note that Triton has no
    /// per-client request rate limit at all; that belongs in a proxy or gateway.
    /// ## Remediation
    /// Start `tritonserver --rate-limit=execution_count` (and `--rate-limit-resource` as
    /// needed), or drop the unused `rate_limiter` blocks.
    pub static RATE_LIMITER_INACTIVE = "TRTN013", "rate-limiter-inactive", Info;
}

pub(crate) fn check(cx: &Cx, out: &mut Vec<Finding>) {
    for (_, group) in cx.config.msgs("instance_group") {
        if let Some(f) = group.get("rate_limiter") {
            out.push(Finding::new(
                &RATE_LIMITER_INACTIVE,
                cx.at(f.pos, &f.path),
                "rate_limiter is only enforced when tritonserver runs with --rate-limit=execution_count",
            ));
        }
    }
}

pub(crate) fn check_launch(launch: &Launch, models: &[ModelSummary], out: &mut Vec<Finding>) {
    let flag = launch.get("rate-limit");
    let on = flag
        .and_then(|f| f.value.as_deref())
        .is_some_and(|v| v == "execution_count");
    let limited: Vec<&str> = models
        .iter()
        .filter(|m| m.rate_limiter)
        .map(|m| m.name.as_str())
        .collect();
    if on || limited.is_empty() {
        return;
    }
    out.push(
        Finding::new(
            &RATE_LIMITER_INACTIVE,
            launch_location(launch, "rate-limit", flag.map(|f| f.line))
                .with_pointer(Pointer::Field("--rate-limit".to_owned())),
            format!(
                "{} model(s) declare rate_limiter but the server runs without --rate-limit=execution_count",
                limited.len()
            ),
        )
        .with_severity(Severity::Low)
        .with_evidence("models", limited.join(", ")),
    );
}
