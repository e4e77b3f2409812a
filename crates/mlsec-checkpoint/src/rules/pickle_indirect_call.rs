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
