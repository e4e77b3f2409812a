use mlsec_core::Finding;
use mlsec_pickle::{Machine, NodeId};

use crate::site::{Locate, Site};

mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags BUILD opcodes that plant dunder attributes (`__setstate__`, `__reduce__`,
    /// `__getattr__`, ...) on an object, or that assign attributes of an imported module or class.
    /// ## Why is this bad?
    /// A planted `__setstate__` is called by the next BUILD, and assigning attributes of imported
    /// objects monkeypatches code that runs later (for example a tensor rebuild helper).
    /// ## Remediation
    /// Treat the file as malicious: do not load it.
    pub static PICKLE_ATTRIBUTE_INJECTION = "CKPT005", "pickle-attribute-injection", High;
}

/// A BUILD at `offset` that the pickle machine saw plant `attribute` on `target` (a dunder,
/// or any attribute of an imported object).
pub(crate) fn check(
    m: &Machine<'_>,
    offset: u64,
    target: NodeId,
    attribute: &str,
    site: &Site,
) -> Finding {
    let target_name = crate::audit::describe(m, target);
    site.finding(
        &PICKLE_ATTRIBUTE_INJECTION,
        offset,
        format!("BUILD assigns `{attribute}` on {target_name}"),
    )
    .with_evidence("opcode", "BUILD")
    .with_evidence("attribute", attribute)
    .with_evidence("target", target_name)
}
