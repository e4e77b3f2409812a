mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags nodes at most one hop from a graph output that combine a learned value computed
    /// from raw input `X` with `X` itself, taken without passing the trunk.
    ///
    /// Not a skip: a learned layer reading a raw input (an LSTM's initial state, `addmm`'s
    /// bias operand), a side input that never goes through a learned layer mixed with one that
    /// did (an additive attention mask, a sample rate), and shape-only or zero-multiplied reads
    /// (`state + Cast(sr * 0)`, how torch.onnx keeps silero-vad's unused input alive), and a
    /// path through a comparison or boolean op, which carries a condition rather than the
    /// input's values (masked mean pooling divides by a token count computed as
    /// `ReduceSum(Cast(Not(Equal(ids, pad))))`); conditions are EXPG012's to judge.
    /// ## Why is this bad?
    /// A skip connection from the raw input straight to the last layers lets chosen input values
    /// pass through to the prediction unchanged by the learned weights, a common backdoor carrier.
    /// ## Remediation
    /// Check that the skip is intended (e.g. a documented residual), or remove it.
    pub static INPUT_SKIP_TO_OUTPUT = "EXPG016", "input-skip-to-output", Medium;
}
