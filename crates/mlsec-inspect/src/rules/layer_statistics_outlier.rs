mlsec_core::declare_rule! {
    /// ## What it does
    /// Compares each weight with its peers, the tensors of the same role in the other blocks of
    /// the model (names equal up to their numbers, e.g. `layers.#.mlp.fc1.weight`, at least 4 of
    /// them), and flags one whose standard deviation or spectral norm is at least 2× away from
    /// the peers' median and more than 8 robust deviations (median absolute deviation of the
    /// logarithms) from it.
    /// ## Why is this bad?
    /// Blocks of a trained network keep similar scales. A block scaled up or down as a whole
    /// stands out among its peers although each of its weights looks ordinary on its own: a sign
    /// of tampering or of a block swapped in from another model.
    /// ## Remediation
    /// Compare the block with the upstream release (`mlsec checkpoint --reference`). Some
    /// architectures scale blocks on purpose (by depth, or the first and last block): if so,
    /// ignore the rule for these tensors in `mlsec.toml`.
    pub static LAYER_STATISTICS_OUTLIER = "INSP005", "layer-statistics-outlier", Low;
}
