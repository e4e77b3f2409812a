use mlsec_core::{Finding, Severity};

use super::Cx;

mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags `version_policy { all {} }` (every version directory is served), and notes
    /// `latest { num_versions: N }` with N above 3.
    /// ## Why is this bad?
    /// Old versions stay reachable by explicit version requests: a version withdrawn for a
    /// flaw (a poisoned or leaking model) is still served as long as its directory exists, and
    /// each version costs memory.
    /// ## Remediation
    /// Serve `latest { num_versions: 1 }` or `specific { versions: [...] }`, and delete
    /// withdrawn versions from the repository.
    pub static ALL_VERSIONS_SERVED = "TRTN050", "all-versions-served", Low;
}

pub(crate) fn check(cx: &Cx, out: &mut Vec<Finding>) {
    let Some(policy) = cx.config.msg("version_policy") else {
        return;
    };
    if let Some(f) = policy.get("all") {
        out.push(Finding::new(
            &ALL_VERSIONS_SERVED,
            cx.at(f.pos, "version_policy.all"),
            "every version in the repository is served, including withdrawn ones",
        ));
    }
    if let Some(latest) = policy.msg("latest")
        && let Some(f) = latest.get("num_versions")
        && f.value.as_i128().unwrap_or(0) > 3
    {
        out.push(
            Finding::new(
                &ALL_VERSIONS_SERVED,
                cx.at(f.value_pos, &f.path),
                format!(
                    "the latest {} versions are served at once",
                    f.value.to_text()
                ),
            )
            .with_severity(Severity::Info),
        );
    }
}
