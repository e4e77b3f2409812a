mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags nodes in runtime-specific domains such as `com.microsoft`, `ai.onnx.contrib` or
    /// `org.pytorch.aten`.
    ///
    /// onnxruntime's own contrib domains (`com.microsoft`, `com.microsoft.*`,
    /// `com.ms.internal.nhwc`) are information: they are compiled into every official
    /// onnxruntime build and are what its own quantizer and optimizer write (ddddocr ships a
    /// `com.microsoft::DynamicQuantizeLSTM`), so they tie the model to one runtime but load
    /// nothing. Domains served by a separately loaded library or another framework
    /// (`ai.onnx.contrib`, `org.pytorch.*`, `com.intel.ai`, `trt.plugins`) keep the rule's
    /// severity.
    /// ## Why is this bad?
    /// These ops only run on one runtime, are not covered by the ONNX specification or checker, and
    /// `ai.onnx.contrib`/`aten` ops load extension libraries.
    /// ## Remediation
    /// Export with standard operators (e.g. `operator_export_type=ONNX`), or accept the runtime
    /// dependency explicitly with an ignore in the policy file.
    pub static RUNTIME_SPECIFIC_DOMAIN = "EXPG008", "runtime-specific-domain", Low;
}
