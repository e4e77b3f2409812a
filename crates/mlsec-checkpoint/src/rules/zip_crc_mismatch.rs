mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags a zip member whose data does not match the CRC-32 recorded in the central directory.
    /// ## Why is this bad?
    /// Loaders differ on whether they check CRCs, so a tampered member may load in one tool and be
    /// skipped by a scanner in another.
    /// ## Remediation
    /// Re-download or re-export the checkpoint; do not trust a file whose members were altered
    /// after writing.
    pub static ZIP_CRC_MISMATCH = "CKPT010", "zip-crc-mismatch", High;
}
