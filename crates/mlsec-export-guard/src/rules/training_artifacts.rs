mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags training operators (`ai.onnx.preview.training`) and `training_info` in a model shipped
    /// for inference.
    /// ## Why is this bad?
    /// Training graphs can rewrite initializers when run, and `training_info` graphs are ignored by
    /// inference tools, so they are a place to hide a second graph that reviewers do not see.
    /// ## Remediation
    /// Export the inference graph only (`training=TrainingMode.EVAL`) and strip `training_info`.
    pub static TRAINING_ARTIFACTS = "EXPG009", "training-artifacts", Medium;
}
