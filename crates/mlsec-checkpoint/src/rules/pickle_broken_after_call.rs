use mlsec_core::{Finding, Severity};
use mlsec_pickle::PickleError;

use crate::site::{Locate, Site};

use super::{
    PICKLE_ATTRIBUTE_INJECTION, PICKLE_DYNAMIC_IMPORT, PICKLE_INDIRECT_CALL, PICKLE_UNSAFE_CALL,
    PICKLE_UNSAFE_IMPORT,
};

mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags a pickle stream that fails to parse after it has already invoked a callable outside
    /// the allowlist.
    /// ## Why is this bad?
    /// Loaders execute opcodes as they read them: the call has run before the error is raised, and
    /// a broken tail is a common way to make scanners give up on a payload.
    /// ## Remediation
    /// Treat the file as malicious: do not load it.
    pub static PICKLE_BROKEN_AFTER_CALL = "CKPT006", "pickle-broken-after-call", Critical;
}

/// Whether a finding of a stream's audit means code outside the allowlist may have run, so
/// that the stream failing to parse afterwards is this rule rather than a parse error: a
/// dynamic import, an indirect call, a planted attribute, or an unsafe call or import graded
/// high or above (a third-party class at information level does not make a broken stream
/// malicious).
pub(crate) fn arms(f: &Finding) -> bool {
    let id = f.rule.id;
    id == PICKLE_DYNAMIC_IMPORT.id
        || id == PICKLE_INDIRECT_CALL.id
        || id == PICKLE_ATTRIBUTE_INJECTION.id
        || (id == PICKLE_UNSAFE_CALL.id || id == PICKLE_UNSAFE_IMPORT.id)
            && f.severity >= Severity::High
}

/// A stream that failed with `error` after its audit found a finding that [`arms`] this rule.
pub(crate) fn check(armed: bool, error: &PickleError, site: &Site) -> Option<Finding> {
    armed.then(|| {
        site.finding(
            &PICKLE_BROKEN_AFTER_CALL,
            error.offset,
            format!(
                "pickle stream breaks after calling code outside the allowlist: {}",
                error.message
            ),
        )
        .with_evidence("parse_error", &error.message)
    })
}
