mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags a weight tensor with values far outside its own distribution: more than 100 robust
    /// standard deviations (1.4826 × the median absolute deviation) from its median, whatever
    /// their absolute size.
    /// ## Why is this bad?
    /// A fixed threshold such as |w| > 100 misses a planted weight of 40 in a layer whose weights
    /// are all within ±0.1. A few huge weights in one layer are how hand-made backdoors route a
    /// trigger to an output, and how corrupted files look.
    /// ## Remediation
    /// Compare the tensor with the upstream release (`mlsec checkpoint --reference`), and look at
    /// the listed position: a single extreme weight has no place in a trained layer.
    pub static WEIGHT_OUTLIER = "INSP002", "outlier-weights", Medium;
}
