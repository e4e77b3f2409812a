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
