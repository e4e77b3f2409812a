mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags TorchScript code (`code/**/*.py` in a TorchScript archive) that calls an operator
    /// outside PyTorch's own namespaces (`ops.<namespace>.<op>` with a namespace other than
    /// `aten`, `prim`, `quantized`, ...) or uses a custom TorchScript class (`torch.classes.*`).
    /// ## Why is this bad?
    /// TorchScript cannot run arbitrary Python, but custom operators and classes are native
    /// code: the archive only loads after a shared library registering them was loaded
    /// (`torch.ops.load_library`), and that library then runs with the model's inputs. A model
    /// that needs one tells you to load code you have not reviewed.
    /// ## Remediation
    /// Find out which library provides the operator and review or rebuild it from source before
    /// loading the model; prefer an export (ONNX) that uses standard operators only.
    pub static TORCHSCRIPT_CUSTOM_OP = "CKPT055", "torchscript-custom-op", Medium;
}
