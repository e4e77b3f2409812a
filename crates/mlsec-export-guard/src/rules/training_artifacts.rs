mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags training operators (`ai.onnx.preview.training`) and `training_info` in a model shipped
    /// for inference.
    /// ## Why is this bad?
    /// Training graphs can rewrite initializers when run, and `training_info` graphs are ignored by
    /// inference tools, so they are a place to hide a second graph that reviewers do not see.
    ///
    /// Calibration: a training operator in the main graph (or its subgraphs) is reported as
    /// information only. It is visible to anyone reading the graph, and inference runtimes do
    /// not implement `ai.onnx.preview.training` ops, so such a model fails to load rather than
    /// doing something unseen; the ONNX package's own test models (`test_adam`, `test_adagrad`,
    /// `test_momentum`, `test_gradient_of_add`) are exactly that. `training_info` and the
    /// operators inside it keep the rule's severity.
    /// ## Remediation
    /// Export the inference graph only (`training=TrainingMode.EVAL`) and strip `training_info`.
    pub static TRAINING_ARTIFACTS = "EXPG009", "training-artifacts", Medium;
}
