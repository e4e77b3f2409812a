mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags a rank whose gradient statistic (norm, cosine to the mean, leave-one-out cosine,
    /// sign agreement, loss) shifted away from its own warm-up baseline relative to the other
    /// ranks: a two-sided CUSUM on the cross-sectionally centred, robustly standardised value
    /// crossed the calibrated threshold.
    ///
    /// Statistics are transformed to be near-Gaussian (log for norms and loss, atanh for
    /// cosines, logit for fractions), centred on the median of the non-quarantined ranks at the
    /// same step (so common-mode loss spikes do not alarm), standardised by the rank's warm-up
    /// mean and sd (warm-up outliers beyond 4 MAD dropped), winsorised at ±4, and accumulated
    /// with k = 0.5. The evidence gives the statistic, its value, z, the CUSUM value and the
    /// threshold.
    /// ## Why is this bad?
    /// A poisoning worker in data-parallel training changes what it contributes to the
    /// all-reduce: boosted or zeroed gradients, sign flips, inner-product manipulation, slow
    /// drifts, or "A Little Is Enough" gradients that look *too close* to the mean. Each moves
    /// at least one of these statistics for the attacking rank only.
    /// ## Example
    /// `rank 5 grad_norm shifted high (cusum 14.2 > 12.0)`: rank 5 sends gradients about
    /// five times larger than its peers since step 60.
    /// ## Remediation
    /// Quarantine the rank (exclude it from the all-reduce or restart it on another host),
    /// inspect its data shard and host, and roll back to a checkpoint from before the first
    /// alarm if the shift was not benign.
    pub static GRADIENT_STATISTIC_SHIFT = "POIS001", "gradient-statistic-shift", High;
}
