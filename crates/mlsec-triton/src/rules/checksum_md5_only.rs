use mlsec_core::Finding;

use super::Cx;

mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags Triton's `checksum` repository agent, whose only algorithm is MD5.
    /// ## Why is this bad?
    /// The checksums live in the same `config.pbtxt` as the files they cover, and MD5 has
    /// practical collisions: the agent detects corruption, not tampering. Anyone who can change
    /// a model file can change its checksum too.
    /// ## Remediation
    /// Keep the agent for corruption, and add real integrity: signed artifacts verified before
    /// they reach the repository, or read-only storage.
    pub static CHECKSUM_MD5_ONLY = "TRTN031", "checksum-md5-only", Low;
}

pub(crate) fn check(cx: &Cx, out: &mut Vec<Finding>) {
    let Some(agents) = cx.config.msg("model_repository_agents") else {
        return;
    };
    for (field, agent) in agents.msgs("agents") {
        if agent.str("name") == Some("checksum") {
            out.push(Finding::new(
                &CHECKSUM_MD5_ONLY,
                cx.at(field.pos, &field.path),
                "checksum agent verifies MD5 sums stored beside the files: it detects corruption, not tampering",
            ));
        }
    }
}

/// The checksum agent's entries: (key, value, field).
pub(crate) fn entries<'a>(cx: &'a Cx) -> Vec<(String, String, &'a crate::validate::Field)> {
    let Some(agents) = cx.config.msg("model_repository_agents") else {
        return Vec::new();
    };
    agents
        .msgs("agents")
        .filter(|(_, a)| a.str("name") == Some("checksum"))
        .flat_map(|(_, a)| {
            a.map("parameters")
                .into_iter()
                .map(|(k, f, v)| (k, crate::validate::param_text(v), f))
        })
        .collect()
}
