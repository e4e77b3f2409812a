mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags `module` entries in a Keras model config that name a module outside Keras itself.
    /// ## Why is this bad?
    /// Keras imports the named module to deserialize the object, which runs that module's code; an
    /// attacker who controls the config chooses what is imported.
    /// ## Remediation
    /// Check that every referenced module is a dependency you trust; prefer built-in layers.
    pub static KERAS_EXTERNAL_MODULE = "CKPT051", "keras-external-module", Medium;
}
