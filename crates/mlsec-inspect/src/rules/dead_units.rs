mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags a weight matrix (or convolution) in which some units' incoming weights are all
    /// exactly zero: rows of a linear layer, filters of a convolution. Embedding tables are not
    /// checked (unused tokens are legitimately zero).
    /// ## Why is this bad?
    /// A unit whose weights are all zero never responds to its input. Structured pruning does
    /// this on purpose; otherwise it is a sign of a broken export or of weights overwritten to
    /// disable a unit.
    /// ## Remediation
    /// If the model was not pruned, compare it with the upstream release; the listed rows say
    /// which units are dead.
    pub static DEAD_UNITS = "INSP003", "dead-units", Low;
}
