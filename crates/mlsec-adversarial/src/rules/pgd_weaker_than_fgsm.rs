mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags a PGD robust accuracy above the FGSM robust accuracy at the same ε (by more than one
    /// sample).
    /// ## Why is this bad?
    /// PGD takes many steps inside the same ε-ball that FGSM takes one step in; it should never do worse.
    /// When it does, the gradients are unreliable (gradient masking, obfuscated gradients) and the reported
    /// robustness is not real.
    /// ## Remediation
    /// Check the model for saturating outputs, non-differentiable preprocessing or randomness; evaluate
    /// with gradient-free or adaptive attacks before trusting the numbers.
    pub static PGD_WEAKER_THAN_FGSM = "ADV006", "pgd-weaker-than-fgsm", Medium;
}
