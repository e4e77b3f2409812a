use mlsec_core::{Finding, Severity};

use super::Cx;

mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags `response_cache { enable: true }`. Medium when the model takes `TYPE_STRING`
    /// inputs (prompts, documents) or runs Python code.
    /// ## Why is this bad?
    /// The cache key is the model, version and input tensors: it carries no client or tenant
    /// identity. Any client sending the same input gets another client's cached response, and
    /// response timing reveals whether someone already sent it (a cross-tenant side channel
    /// for prompts). Non-deterministic Python models also return stale results.
    /// ## Remediation
    /// Enable the cache only for models whose outputs are public for every client that can
    /// reach them; disable it for multi-tenant or text models.
    pub static RESPONSE_CACHE_ENABLED = "TRTN051", "response-cache-enabled", Low;
}

pub(crate) fn check(cx: &Cx, out: &mut Vec<Finding>) {
    let Some(cache) = cx.config.msg("response_cache") else {
        return;
    };
    if !cache.bool("enable") {
        return;
    }
    let f = cache.get("enable").expect("set");
    let strings = cx
        .config
        .msgs("input")
        .any(|(_, i)| i.str("data_type") == Some("TYPE_STRING"));
    let python = cx.python_code().is_some();
    let mut why = Vec::new();
    if strings {
        why.push("string inputs");
    }
    if python {
        why.push("python code");
    }
    let mut finding = Finding::new(
        &RESPONSE_CACHE_ENABLED,
        cx.at(f.pos, "response_cache.enable"),
        if why.is_empty() {
            "response cache enabled: cache keys carry no client identity".to_owned()
        } else {
            format!(
                "response cache enabled on a model with {}: cache keys carry no client identity",
                why.join(" and ")
            )
        },
    );
    if !why.is_empty() {
        finding = finding.with_severity(Severity::Medium);
    }
    out.push(finding);
}
