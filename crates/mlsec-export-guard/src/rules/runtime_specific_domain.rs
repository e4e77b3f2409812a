mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags nodes in runtime-specific domains such as `com.microsoft`, `ai.onnx.contrib` or
    /// `org.pytorch.aten`.
    /// ## Why is this bad?
    /// These ops only run on one runtime, are not covered by the ONNX specification or checker, and
    /// `ai.onnx.contrib`/`aten` ops load extension libraries.
    /// ## Remediation
    /// Export with standard operators (e.g. `operator_export_type=ONNX`), or accept the runtime
    /// dependency explicitly with an ignore in the policy file.
    pub static RUNTIME_SPECIFIC_DOMAIN = "EXPG008", "runtime-specific-domain", Low;
}
