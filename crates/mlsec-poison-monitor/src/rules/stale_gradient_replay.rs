mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags a rank whose own gradient norm repeats bit for bit within the last 64 steps
    /// (3 times or more, and 3 more than the typical rank), the fingerprint of a worker
    /// replaying stored gradients instead of computing fresh ones.
    /// ## Why is this bad?
    /// A stale-gradient replay looks plausible to norm checks (it was a real gradient once)
    /// while it steers the model with outdated or chosen directions, and it lets a worker skip
    /// its data entirely.
    /// ## Remediation
    /// Inspect the rank's process and host; restart it from the shared checkpoint, and check
    /// that its data loader still advances.
    pub static STALE_GRADIENT_REPLAY = "POIS003", "stale-gradient-replay", High;
}
