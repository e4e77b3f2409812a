mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags `external_data` entries with unknown keys, keys given more than once, or no
    /// `location`.
    /// ## Why is this bad?
    /// With a duplicated key, one loader takes the first value and another the last, so two tools
    /// can read different files or ranges for the same tensor; unknown keys are ignored by runtimes
    /// and can carry hidden data.
    /// ## Remediation
    /// Keep only `location`, `offset`, `length` and `checksum`, each at most once.
    pub static EXTERNAL_DATA_BAD_KEYS = "EXPG005", "external-data-bad-keys", Low;
}
