use mlsec_core::Finding;

use super::Cx;

mlsec_core::declare_rule! {
    /// ## What it does
    /// Notes a model without any `model_repository_agents`: nothing checks its files at load
    /// time (no checksum agent, no signature verification).
    /// ## Why is this bad?
    /// Triton loads whatever is in the repository. Without an agent (or integrity checks in
    /// the storage that feeds the repository), a modified model file or `model.py` is loaded
    /// silently. This is the norm, hence informational; it matters most for repositories
    /// writable by more people than the ones who review them.
    /// ## Remediation
    /// Verify artifacts before they reach the repository (signed artifacts, read-only storage),
    /// or add a repository agent that checks them.
    pub static NO_INTEGRITY_AGENT = "TRTN030", "no-integrity-agent", Info;
}

pub(crate) fn check(cx: &Cx, out: &mut Vec<Finding>) {
    let agents = cx
        .config
        .msg("model_repository_agents")
        .map_or(0, |a| a.all("agents").count());
    if agents == 0 {
        out.push(Finding::new(
            &NO_INTEGRITY_AGENT,
            cx.top("model_repository_agents"),
            "no repository agent: model files are loaded without checksum or signature verification",
        ));
    }
}
