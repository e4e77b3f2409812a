mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags a robust accuracy that rises as ε grows (by more than one point) for the same attack.
    /// ## Why is this bad?
    /// A larger ε-ball contains every smaller one, so a working attack can only do better. Accuracy that
    /// rises with ε signals a broken attack or masked gradients.
    /// ## Remediation
    /// Inspect the model's gradients (zero or saturated?) and the attack parameters (step size, steps);
    /// do not trust the curve until it is monotone.
    pub static ACCURACY_NOT_DECREASING = "ADV007", "accuracy-not-decreasing", Medium;
}
