use mlsec_core::Finding;
use mlsec_pickle::Import;

use crate::audit::Target;
use crate::policy::{self, Profile};
use crate::site::{Locate, Site};

mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags a GLOBAL, STACK_GLOBAL or INST import that is not known to be safe and that the
    /// stream never calls directly. Graded with the same tiers as CKPT001: dangerous names are
    /// critical, other standard-library names medium, third-party names information.
    /// ## Why is this bad?
    /// Importing runs the imported module's code, and the imported object can be handed to allowed
    /// functions or used by later opcodes; legitimate `torch.save`, numpy and joblib outputs only
    /// import a small fixed set of names.
    /// ## Remediation
    /// Inspect where the file came from; re-export the tensors as safetensors.
    pub static PICKLE_UNSAFE_IMPORT = "CKPT002", "pickle-unsafe-import", High;
}

/// An import no call of the stream reached (`target`: what it names), graded by
/// [`policy::grade`] unless the profile's allowlist has it.
pub(crate) fn check(
    import: &Import,
    target: &Target,
    profile: Profile,
    site: &Site,
) -> Option<Finding> {
    let dotted = &target.dotted;
    if policy::allowed(profile, dotted) {
        return None;
    }
    let severity = policy::grade(dotted, Some(&target.module), false);
    Some(
        site.finding(
            &PICKLE_UNSAFE_IMPORT,
            import.offset,
            format!(
                "pickle imports `{dotted}`, which is not known to be safe in a {} file",
                profile.name()
            ),
        )
        .with_severity(severity)
        .with_evidence("callable", dotted)
        .with_evidence("opcode", import.opcode)
        .with_evidence("allowlist", profile.name()),
    )
}
