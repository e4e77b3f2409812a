mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags the first layer whose output contains NaN or infinite values on finite probe inputs
    /// (layers downstream that only inherit them are not reported again).
    /// ## Why is this bad?
    /// A model that produces NaN or Inf on ordinary inputs gives meaningless predictions; in a
    /// third-party model it points to corrupted or deliberately planted weights (a huge scale, a
    /// division by zero, `log`/`sqrt` of negative values) that can also be triggered on purpose.
    /// ## Remediation
    /// Find the layer's weights (`mlsec inspect --checks weights`), compare them with the
    /// publisher's original, and do not deploy the model until its outputs are finite.
    pub static ACTIVATION_NON_FINITE = "INSP010", "activation-non-finite", High;
}
