mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags a rank that stopped reporting while the others go on: missing for 3 consecutive
    /// steps in the logs, or silent for `--inactivity-timeout` seconds in `listen`. Ranks the
    /// records' `world` (or `--expected-workers`) promises but that never reported count too.
    /// ## Why is this bad?
    /// A silent DDP rank hangs the all-reduce of every other rank; a rank that reports nothing
    /// to the monitor cannot be checked, which is exactly what an attacker that disabled the
    /// hook wants.
    /// ## Remediation
    /// Check the rank's process, host and network; make sure the hook is installed on every
    /// rank and that its UDP datagrams reach the listener.
    pub static RANK_HEARTBEAT_LOST = "POIS004", "rank-heartbeat-lost", Medium;
}
