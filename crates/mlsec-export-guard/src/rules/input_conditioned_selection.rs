mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags selections (`Where`, `If`, soft multiplexers built from comparisons) whose condition
    /// is computed from raw graph input *values* through comparisons and reductions without
    /// passing the model trunk, and that choose between a learned alternative (input values
    /// reach it through a trunk op: `Conv*`, `MatMul*`, `Gemm`, recurrent layers, or an `If`
    /// branch running one on input values) and one that is not (for a soft multiplexer: the
    /// gated value is not learned). A constant put through a dummy layer (`MatMul(target, I)`)
    /// is not learned. Score 0.4
    /// for reaching the input, +0.25 for a comparison, +0.15 for a reduction, +0.2 within two
    /// hops of an output; reported at 0.6, High at 0.8.
    ///
    /// Not counted, because none of them is a trigger: values computed only from an input's
    /// *shape* (`Shape`, `Size`, `SequenceLength`: causal attention masks, squeeze-if-size-1
    /// branches), the type operand of `CastLike`, and a product with an integer zero. Not
    /// flagged: selections in a graph without a learned layer (the ONNX suite's `*_expanded`
    /// function bodies: `Where` is how Clip, LeakyRelu, Elu, NLLLoss are written), and
    /// selections between two learned alternatives (silero-vad's `If` on its sample-rate input
    /// chooses the 16 kHz or the 8 kHz sub-model). A trigger on the input's size, one that
    /// selects between two learned paths, or a condition put through a dummy layer is
    /// therefore not reported by this rule.
    /// ## Why is this bad?
    /// This is the shape of an input-triggered backdoor: a pattern in the raw input (a pixel patch,
    /// a token) replaces what the learned layers computed, and `onnx.checker` accepts it. The
    /// finding is a score with its reasons, not proof.
    /// ## Remediation
    /// Inspect the condition's slice and the alternatives listed in the evidence; a legitimate
    /// model rarely overrides its learned output on raw input values near its outputs.
    pub static INPUT_CONDITIONED_SELECTION = "EXPG012", "input-conditioned-selection", High;
}
