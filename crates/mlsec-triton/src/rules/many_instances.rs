use mlsec_core::Finding;

use super::Cx;

mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags an `instance_group` with more than 16 instances (per device for `KIND_GPU`).
    /// ## Why is this bad?
    /// Each instance holds its own copy of the model and working memory; many instances
    /// exhaust GPU or host memory at load, or starve the other models on the server.
    /// ## Remediation
    /// Size `count` from a measured need; use dynamic batching rather than many instances.
    pub static MANY_INSTANCES = "TRTN046", "many-instances", Low;
}

const LIMIT: i128 = 16;

pub(crate) fn check(cx: &Cx, out: &mut Vec<Finding>) {
    for (_, group) in cx.config.msgs("instance_group") {
        if let Some(f) = group.get("count") {
            let n = f.value.as_i128().unwrap_or(0);
            if n > LIMIT {
                out.push(
                    Finding::new(
                        &MANY_INSTANCES,
                        cx.at(f.value_pos, &f.path),
                        format!("{n} instances in one group (more than {LIMIT})"),
                    )
                    .with_evidence("count", n)
                    .with_evidence("threshold", LIMIT),
                );
            }
        }
    }
}
