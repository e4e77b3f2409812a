mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags a classifier whose predictions flip for at least half of the probes under a single
    /// FGSM step of size ε (default 3 % of the input range), taking the model's own predictions
    /// as labels.
    /// ## Why is this bad?
    /// One gradient-sign step is the weakest attack there is. A model that changes its answer for
    /// most inputs under it has almost no margin: any adversary (or mild noise, compression,
    /// resizing) controls its output.
    /// ## Remediation
    /// Measure the robustness properly with `mlsec adversarial` on labelled data, and consider
    /// adversarial training, input preprocessing or a more robust model before deployment.
    pub static FGSM_FRAGILE = "INSP020", "fgsm-fragile", Medium;
}
