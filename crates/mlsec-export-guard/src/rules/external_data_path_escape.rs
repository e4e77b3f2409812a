mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags an external-data `location` that is absolute, contains `..` or a NUL byte, is not
    /// normalised, or resolves outside the model directory after canonicalisation.
    /// ## Why is this bad?
    /// The runtime opens whatever file the location names: an absolute or `..` path reads (and on
    /// some loaders maps) files outside the model, such as `/etc/passwd` or another tenant's
    /// weights, and a NUL byte or unnormalised path makes different loaders open different files.
    /// ## Remediation
    /// Re-save the model with `onnx.save_model(..., save_as_external_data=True,
    /// location="model.onnx.data")` so every location is a plain relative file name inside the
    /// model directory.
    pub static EXTERNAL_DATA_PATH_ESCAPE = "EXPG001", "external-data-path-escape", High;
}
