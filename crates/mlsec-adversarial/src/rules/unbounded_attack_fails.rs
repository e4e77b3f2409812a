mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags a model that keeps more than 10 % accuracy under a PGD attack whose ε covers the whole
    /// input range.
    /// ## Why is this bad?
    /// With ε equal to the input range the attacker may replace the input by anything: accuracy must
    /// reach about zero. If it does not, the attack cannot follow the gradients (gradient masking).
    /// ## Remediation
    /// Look for saturating outputs, gradient-blocking operations, or randomness in the model; evaluate with
    /// gradient-free attacks.
    pub static UNBOUNDED_ATTACK_FAILS = "ADV008", "unbounded-attack-fails", Medium;
}
