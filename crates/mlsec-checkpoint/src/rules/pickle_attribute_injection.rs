mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags BUILD opcodes that plant dunder attributes (`__setstate__`, `__reduce__`,
    /// `__getattr__`, ...) on an object, or that assign attributes of an imported module or class.
    /// ## Why is this bad?
    /// A planted `__setstate__` is called by the next BUILD, and assigning attributes of imported
    /// objects monkeypatches code that runs later (for example a tensor rebuild helper).
    /// ## Remediation
    /// Treat the file as malicious: do not load it.
    pub static PICKLE_ATTRIBUTE_INJECTION = "CKPT005", "pickle-attribute-injection", High;
}
