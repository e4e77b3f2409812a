mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags `Lambda` layers and serialized Python functions (`__lambda__`, bytecode in `function`
    /// configs) anywhere in a Keras model config, including nested models and wrappers such as
    /// `TimeDistributed` and `Bidirectional`.
    /// ## Why is this bad?
    /// A Lambda layer carries Python bytecode that runs when the model is loaded with
    /// `safe_mode=False` or called; it is the Keras equivalent of a pickle payload.
    /// ## Remediation
    /// Replace Lambda layers with registered custom layers reviewed as code, and load with
    /// `safe_mode=True`.
    pub static KERAS_LAMBDA_LAYER = "CKPT050", "keras-lambda-layer", High;
}
