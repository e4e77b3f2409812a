use mlsec_core::Finding;
use mlsec_pickle::{Machine, Node, Obj};

use crate::site::{Locate, Site};

mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags a call whose callable is not an imported name but a value computed by the stream, such
    /// as the result of `getattr(...)` or of another call.
    /// ## Why is this bad?
    /// Chaining calls (`getattr(builtins, 'eval')(...)`) reaches any function while showing
    /// scanners only harmless-looking imports.
    /// ## Remediation
    /// Treat the file as malicious: do not load it.
    pub static PICKLE_INDIRECT_CALL = "CKPT004", "pickle-indirect-call", Critical;
}

/// A call whose callable resolved to no import: a finding when the callee is something that
/// can be called (the result of a call, a dynamic import, a persistent object, a method of
/// one); calling a plain value (a string, a number) fails at load time and runs nothing.
pub(crate) fn check(m: &Machine<'_>, obj: &Obj, site: &Site) -> Option<Finding> {
    if !matches!(
        &*m.node(obj.callee),
        Node::Obj(_) | Node::DynamicGlobal { .. } | Node::PersId { .. } | Node::Tuple(_)
    ) {
        return None;
    }
    let what = crate::audit::describe(m, obj.callee);
    Some(
        site.finding(
            &PICKLE_INDIRECT_CALL,
            obj.offset,
            format!("pickle calls {what} ({})", obj.kind.opcode()),
        )
        .with_evidence("callable", what)
        .with_evidence("opcode", obj.kind.opcode()),
    )
}
