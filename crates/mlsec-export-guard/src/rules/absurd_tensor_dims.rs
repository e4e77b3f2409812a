use mlsec_core::Finding;
use mlsec_onnx::proto::tensor_shape_proto::dimension::Value as DimValue;
use mlsec_onnx::proto::type_proto::Value as TypeValue;
use mlsec_onnx::proto::{TensorProto, TypeProto, ValueInfoProto};
use mlsec_onnx::tensor;

use super::Cx;
use crate::external;

/// Tensors with more elements than this are absurd (2^36, 256 GiB of fp32).
pub const MAX_ELEMENTS: u64 = 1 << 36;

mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags tensors and declared shapes whose dims are negative, whose element count overflows or
    /// is absurdly large, or whose stored data does not match the dims and type.
    /// ## Why is this bad?
    /// A loader that trusts dims allocates what they say: absurd counts exhaust memory, and a
    /// mismatch means some tools read data that others ignore.
    ///
    /// Calibration: a literal `-1` in a declared input/output/value_info shape is an unknown
    /// dimension, not a negative one: Paddle2ONNX exports write dynamic dims that way
    /// (rapidocr-onnxruntime's `ch_ppocr_mobile_v2.0_cls_infer.onnx` declares `[-1, 3, -1, -1]`)
    /// and runtimes accept it. Other negative values, and `-1` in an initializer's dims, are
    /// still flagged.
    /// ## Remediation
    /// Re-export the model; check the declared input shapes.
    pub static ABSURD_TENSOR_DIMS = "EXPG019", "absurd-tensor-dims", Medium;
}

pub(crate) fn check(cx: &Cx, out: &mut Vec<Finding>) {
    for scope in &cx.scopes {
        if let Some(g) = scope.graph {
            for info in g.input.iter().chain(&g.output).chain(&g.value_info) {
                check_declared_shape(cx, info, &scope.path, out);
            }
        }
    }
    for r in &cx.tensors {
        let t = r.tensor;
        let count = tensor::element_count(&t.dims);
        if count.is_none_or(|c| c > MAX_ELEMENTS) {
            out.push(
                Finding::new(
                    &ABSURD_TENSOR_DIMS,
                    cx.tensor_at(r),
                    format!(
                        "dims {:?} give {} elements",
                        t.dims,
                        count.map_or("an overflowing number of".to_owned(), |c| c.to_string())
                    ),
                )
                .with_evidence("path", &r.path)
                .with_evidence("limit", MAX_ELEMENTS),
            );
            continue;
        }
        // External data is measured against its file by EXPG004.
        if external::is_external(r) {
            continue;
        }
        if let (Some(expected), Some(actual)) = (external::expected_bytes(r), stored_bytes(t))
            && expected != actual
        {
            out.push(
                Finding::new(
                    &ABSURD_TENSOR_DIMS,
                    cx.tensor_at(r),
                    format!(
                        "stored data is {actual} bytes but {:?} {} needs {expected}",
                        t.dims,
                        tensor::type_name(t.data_type())
                    ),
                )
                .with_evidence("path", &r.path)
                .with_evidence("expected_bytes", expected)
                .with_evidence("actual_bytes", actual),
            );
        }
    }
}

/// A declared input, output or value_info shape of a scope.
fn check_declared_shape(cx: &Cx, info: &ValueInfoProto, scope: &str, out: &mut Vec<Finding>) {
    let Some(TypeProto {
        value: Some(TypeValue::TensorType(t)),
        ..
    }) = &info.r#type
    else {
        return;
    };
    let Some(shape) = &t.shape else { return };
    let dims: Vec<i64> = shape
        .dim
        .iter()
        .filter_map(|d| match d.value {
            Some(DimValue::DimValue(v)) => Some(v),
            _ => None,
        })
        .collect();
    // A literal -1 in a declared shape is an unknown dimension, as a `dim_param` would
    // be: Paddle2ONNX writes dynamic dims that way (rapidocr's PP-OCR models declare
    // `x: [-1, 3, -1, -1]`) and runtimes accept it. Only the known dims are counted.
    let known: Vec<i64> = dims.iter().copied().filter(|&d| d != -1).collect();
    let problem = if let Some(d) = known.iter().find(|&&d| d < 0) {
        Some(format!("has the negative dimension {d}"))
    } else {
        match tensor::element_count(&known) {
            None => Some("has an overflowing number of elements".to_owned()),
            Some(c) if c > MAX_ELEMENTS => Some(format!("has {c} elements")),
            Some(_) => None,
        }
    };
    if let Some(problem) = problem {
        out.push(
            Finding::new(
                &ABSURD_TENSOR_DIMS,
                cx.field_at(format!("{scope}:{}", info.name())),
                format!("declared shape {dims:?} of `{}` {problem}", info.name()),
            )
            .with_evidence("dims", format!("{dims:?}"))
            .with_evidence("limit", MAX_ELEMENTS),
        );
    }
}

/// Bytes of inline data, when the tensor stores fixed-width data inline.
fn stored_bytes(t: &TensorProto) -> Option<u64> {
    tensor::element_bits(t.data_type())?;
    if let Some(raw) = &t.raw_data {
        return Some(raw.len() as u64);
    }
    let typed = tensor::typed_bytes(t);
    if typed.is_empty() {
        // No data at all is a legal (empty or shape-only) tensor only with zero elements.
        return Some(0);
    }
    // Sub-byte types pack two (or four) values per int32_data element.
    match tensor::element_bits(t.data_type()) {
        Some(b) if b < 8 => None,
        _ => Some(typed.len() as u64),
    }
}
