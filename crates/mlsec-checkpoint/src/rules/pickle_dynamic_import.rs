use mlsec_core::Finding;

use crate::site::{Locate, Site};

mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags a STACK_GLOBAL whose module or attribute name is not a constant string but computed by
    /// the stream (the result of a call, a persistent id, ...).
    /// ## Why is this bad?
    /// Computing the name hides the imported callable from scanners that read opcode operands; no
    /// legitimate writer does it.
    /// ## Remediation
    /// Treat the file as malicious: do not load it.
    pub static PICKLE_DYNAMIC_IMPORT = "CKPT003", "pickle-dynamic-import", Critical;
}

/// A STACK_GLOBAL at `offset` whose module or name (`None`: not a constant string) the stream
/// computed.
pub(crate) fn check(offset: u64, module: Option<&str>, name: Option<&str>, site: &Site) -> Finding {
    site.finding(
        &PICKLE_DYNAMIC_IMPORT,
        offset,
        "STACK_GLOBAL imports a name computed by the stream".into(),
    )
    .with_evidence("opcode", "STACK_GLOBAL")
    .with_evidence("module", module.unwrap_or("<computed>"))
    .with_evidence("name", name.unwrap_or("<computed>"))
}
