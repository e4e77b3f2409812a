mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags protobuf field numbers that `onnx.proto` (IR 14) does not define, with the message
    /// path they sit in.
    /// ## Why is this bad?
    /// Protobuf parsers skip unknown fields silently, so they are an invisible place to carry data
    /// through every ONNX tool, including `onnx.checker`.
    /// ## Remediation
    /// Round-trip the model through `onnx.load`/`onnx.save` with a current `onnx` package, which
    /// drops unknown fields, and re-record its provenance.
    pub static UNKNOWN_PROTO_FIELDS = "EXPG020", "unknown-proto-fields", Medium;
}
