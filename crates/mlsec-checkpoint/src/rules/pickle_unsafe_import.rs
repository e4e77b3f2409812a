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
