mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags `Loop` trip counts or conditions computed from the values of a *data* input (one
    /// that reaches a learned layer), and `If` conditions computed from input values that
    /// choose between a learned branch and a trunk-free one.
    ///
    /// A count that is an input of its own (a generation length, the ONNX suite's `test_loop11`
    /// and `Range`/`SequenceMap` expansions, which have no learned layer) is part of the model's
    /// visible signature, and a count from the input's shape is bounded by the input's size;
    /// neither is flagged. An `If` between two learned sub-models (silero-vad's sample-rate
    /// switch) is a mode switch, not a hidden path.
    /// ## Why is this bad?
    /// A trip count hidden in the data the model classifies is a denial-of-service vector
    /// (unbounded runtime chosen by whoever crafts the input), and a data-dependent branch away
    /// from the learned layers is how a trigger reaches a hidden path.
    /// ## Remediation
    /// Bound the loop with a constant trip count, or make sure the condition does not depend on
    /// untrusted input.
    pub static DATA_DEPENDENT_CONTROL_FLOW = "EXPG015", "data-dependent-control-flow", Medium;
}
