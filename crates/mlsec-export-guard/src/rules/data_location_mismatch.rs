mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags tensors whose `data_location` disagrees with where their data is: EXTERNAL with inline
    /// `raw_data` or without `external_data`, or `external_data` entries on a DEFAULT tensor.
    /// ## Why is this bad?
    /// Tools that trust `data_location` and tools that look at the fields see different weights: a
    /// reviewer can inspect inline data while the runtime loads the external file, or the reverse.
    /// ## Remediation
    /// Re-save the model so each tensor stores its data in exactly one place.
    pub static DATA_LOCATION_MISMATCH = "EXPG006", "data-location-mismatch", Medium;
}
