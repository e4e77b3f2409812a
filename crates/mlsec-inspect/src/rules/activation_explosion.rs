mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags a layer whose output magnitude (root mean square over all probes) is at least 1000
    /// times that of its inputs, or at least 10⁶ times that of the model input where its inputs
    /// were still below that.
    /// ## Why is this bad?
    /// Trained layers keep activations within a few orders of magnitude of each other. A jump by
    /// orders of magnitude means a weight or scale was inflated: the model is numerically fragile
    /// (overflow in half precision, saturated outputs) and may have been tampered with.
    /// ## Remediation
    /// Inspect the layer's weights and normalisation parameters against the original checkpoint;
    /// retrain or re-export the model if the scale is not intended.
    pub static ACTIVATION_EXPLOSION = "INSP011", "activation-explosion", Medium;
}
