mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags a model where the input gradient of the loss is exactly zero for more than 5 % of the
    /// correctly classified samples.
    /// ## Why is this bad?
    /// Zero gradients stop gradient-based attacks dead: FGSM and PGD do not move those points and the
    /// model looks robust. Typical causes are saturated softmax outputs, quantisation or rounding, and
    /// hard thresholds.
    /// ## Remediation
    /// Attack the logits, remove non-differentiable preprocessing from the graph, or evaluate with
    /// gradient-free or transfer attacks.
    pub static ZERO_INPUT_GRADIENTS = "ADV009", "zero-input-gradients", Medium;
}
