mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags the first layer whose output is the same for every probe input (a collapsed layer:
    /// zero weights, all units dead, saturated), when it depends on the input at all.
    /// ## Why is this bad?
    /// Everything after a constant layer ignores the input: the model's prediction cannot depend
    /// on what it is shown. Either the model is broken (a bad export or conversion) or its
    /// weights were replaced.
    /// ## Remediation
    /// Check the layer's weights and the export (train/eval mode, opset conversion); compare the
    /// model's outputs with the publisher's reference outputs.
    pub static CONSTANT_ACTIVATION = "INSP012", "constant-activation", Medium;
}
