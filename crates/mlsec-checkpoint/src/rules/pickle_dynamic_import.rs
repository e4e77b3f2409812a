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
