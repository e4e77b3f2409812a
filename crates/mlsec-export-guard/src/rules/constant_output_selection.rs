mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags selections that feed a graph output where one branch is computed only from constants.
    /// ## Why is this bad?
    /// A branch that ignores the input and returns a fixed tensor lets a trigger force a chosen
    /// prediction, independent of what the model learned.
    /// ## Remediation
    /// Review the constant branch named in the evidence; remove it unless the model is meant to
    /// return fixed values.
    pub static CONSTANT_OUTPUT_SELECTION = "EXPG014", "constant-output-selection", High;
}
