mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags nodes in a custom operator domain that is neither a standard ONNX domain, a known
    /// runtime domain, nor a model-local function.
    /// ## Why is this bad?
    /// A custom-domain op is implemented by a native library the runtime must load
    /// (`register_custom_ops_library`): shipping such a model means shipping and executing native
    /// code that no ONNX checker looks at.
    /// ## Remediation
    /// Replace the op by standard operators or a model-local function, or review and pin the native
    /// library it needs.
    pub static CUSTOM_DOMAIN_OP = "EXPG007", "custom-domain-op", High;
}
