use mlsec_core::Finding;

use super::Cx;

mlsec_core::declare_rule! {
    /// ## What it does
    /// Says what an implicit instance placement means: no `instance_group` (Triton places one
    /// instance on every visible GPU, or one CPU instance), or `KIND_GPU` without `gpus`
    /// (`count` instances on *each* visible GPU, so the total grows with the machine).
    /// ## Why is this bad?
    /// It is valid, but the model's footprint then depends on the host rather than on the
    /// reviewed config: a move to an 8-GPU node multiplies instances and memory by eight, and
    /// models share GPUs nobody planned for.
    /// ## Remediation
    /// State `instance_group [ { kind: KIND_GPU, count: N, gpus: [ ... ] } ]` (or `KIND_CPU`)
    /// explicitly.
    pub static INSTANCE_GROUP_IMPLICIT = "TRTN011", "instance-group-implicit", Info;
}

pub(crate) fn check(cx: &Cx, out: &mut Vec<Finding>) {
    let c = cx.config;
    if cx.platform() == "ensemble" || c.has("ensemble_scheduling") {
        return; // Ensembles have no instances of their own.
    }
    let groups: Vec<_> = c.msgs("instance_group").collect();
    if groups.is_empty() {
        out.push(Finding::new(
            &INSTANCE_GROUP_IMPLICIT,
            cx.top("instance_group"),
            "no instance_group: Triton places one instance on every visible GPU (one CPU instance without GPUs)",
        ));
        return;
    }
    for (field, group) in groups {
        if group.str("kind") == Some("KIND_GPU") && !group.has("gpus") {
            let count = group.int("count").filter(|n| *n > 0).unwrap_or(1);
            out.push(
                Finding::new(
                    &INSTANCE_GROUP_IMPLICIT,
                    cx.at(field.pos, &field.path),
                    format!("KIND_GPU without gpus: {count} instance(s) on each visible GPU, so the total depends on the host"),
                )
                .with_evidence("count_per_gpu", count),
            );
        }
    }
}
