mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags a weight tensor holding NaN or infinite values.
    /// ## Why is this bad?
    /// One NaN weight turns every output it reaches into NaN; an infinite one saturates or
    /// poisons the layer. Trained weights are always finite: non-finite values come from a
    /// diverged training run, a broken conversion (overflow to `float16`) or tampering.
    /// ## Remediation
    /// Do not deploy the model. Re-export it from a known-good checkpoint, and check the
    /// conversion step (dtype casts) that produced this file.
    pub static WEIGHT_NON_FINITE = "INSP001", "non-finite-weights", High;
}
