use mlsec_core::{Finding, Pointer};

use super::Cx;

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

pub(crate) fn check(cx: &Cx, out: &mut Vec<Finding>) {
    for u in cx.unknown_fields {
        out.push(
            Finding::new(
                &UNKNOWN_PROTO_FIELDS,
                cx.at(Pointer::Field(format!("{}#{}", u.path, u.number)))
                    .at_bytes(u.offset, u.len),
                format!(
                    "field number {} is not defined in {} (wire type {}, {} bytes)",
                    u.number, u.message, u.wire_type, u.len
                ),
            )
            .with_evidence("message", u.message)
            .with_evidence("field_number", u.number)
            .with_evidence("value_bytes", u.len),
        );
    }
}
