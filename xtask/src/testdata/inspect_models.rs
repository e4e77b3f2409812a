//! Fixtures for the checks of `mlsec inspect` that run the model (`activations`, `fgsm`),
//! written to `testdata/inspect/models/`: ONNX models built from the prost types of
//! `mlsec-onnx`, most derived from the trained example `testdata/adversarial/digits_mlp.onnx`
//! (Flatten -> fc1 Gemm 64x32 -> Relu -> fc2 Gemm 32x10) so their clean behaviour is that of a
//! real model:
//!
//! - `clean_mlp.onnx`: the digits MLP, declaring its input range `[0, 1]`.
//! - `clean_cnn.onnx`: a small CNN with fixed-seed weights (Conv, Relu, MaxPool, Gemm).
//! - `insp010_nonfinite.onnx`: `Sqrt` of fc1's output (negative values give NaN).
//! - `insp011_exploding.onnx`: an extra hidden Gemm `fc_mid` that scales by 3000.
//! - `insp012_constant.onnx`: fc1's weights zeroed (its output is its bias for every input).
//! - `insp014_backdoor.onnx` + `insp014_probes.npy`: fc1 gets a 33rd unit wired to a trigger
//!   (the four corner pixels at 1; weight 100 each, bias -350) that pushes class 0; the probes
//!   are the first 32 digits of the test split with the trigger stamped on rows 5 and 21.
//! - `insp020_fragile.onnx`: a linear 2-class model on 32x32 inputs with ±1 weights (tiny
//!   margins: one FGSM step flips most predictions).
//! - `unsupported_op.onnx`: an op the runtime does not implement.
//! - `symbolic_shape.onnx`: an input with no known dimensions (needs `--input-shape`).
//!
//! Deterministic: derived from committed files and fixed seeds only.

use std::path::Path;

use anyhow::{Context, Result};
use mlsec_onnx::prost::Message;
use mlsec_onnx::proto::attribute_proto::AttributeType;
use mlsec_onnx::proto::tensor_proto::DataType;
use mlsec_onnx::proto::tensor_shape_proto::{Dimension, dimension};
use mlsec_onnx::proto::type_proto::{self, Value};
use mlsec_onnx::proto::{
    AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, StringStringEntryProto,
    TensorProto, TensorShapeProto, TypeProto, ValueInfoProto,
};

const FLOAT: i32 = DataType::Float as i32;
const TRIGGER_PIXELS: [usize; 4] = [0, 7, 56, 63];
const TRIGGER_ROWS: [usize; 2] = [5, 21];

pub fn generate(out: &Path) -> Result<()> {
    std::fs::create_dir_all(out)?;
    let root = crate::root();
    let digits = digits(&root.join("testdata/adversarial/digits_mlp.onnx"))?;

    write(
        out,
        "clean_mlp.onnx",
        &digits_model(&digits, Variant::Clean),
    )?;
    write(out, "clean_cnn.onnx", &cnn())?;
    write(
        out,
        "insp010_nonfinite.onnx",
        &digits_model(&digits, Variant::Sqrt),
    )?;
    write(
        out,
        "insp011_exploding.onnx",
        &digits_model(&digits, Variant::Exploding),
    )?;
    write(
        out,
        "insp012_constant.onnx",
        &digits_model(&digits, Variant::Constant),
    )?;
    write(
        out,
        "insp014_backdoor.onnx",
        &digits_model(&digits, Variant::Backdoor),
    )?;
    write(out, "insp020_fragile.onnx", &fragile())?;
    write(out, "unsupported_op.onnx", &unsupported())?;
    write(out, "symbolic_shape.onnx", &symbolic())?;

    // Probes for the backdoor: 32 real test digits, two with the trigger stamped on.
    let data =
        mlsec_runtime::data::load(&root.join("testdata/adversarial/digits_test.npz"), "x", "y")
            .map_err(|e| anyhow::anyhow!("digits_test.npz: {e}"))?;
    let mut x = data.x[..32 * 64].to_vec();
    for row in TRIGGER_ROWS {
        for p in TRIGGER_PIXELS {
            x[row * 64 + p] = 1.0;
        }
    }
    std::fs::write(out.join("insp014_probes.npy"), npy_f32(&[32, 1, 8, 8], &x))?;
    Ok(())
}

/// The weights of the trained digits MLP.
struct Digits {
    w1: Vec<f32>,
    b1: Vec<f32>,
    w2: Vec<f32>,
    b2: Vec<f32>,
}

fn digits(path: &Path) -> Result<Digits> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let m = mlsec_onnx::decode_model(bytes.into())?;
    let g = m.graph.context("digits model without a graph")?;
    let get = |name: &str| -> Result<Vec<f32>> {
        let t = g
            .initializer
            .iter()
            .find(|t| t.name.as_deref() == Some(name))
            .with_context(|| format!("digits model without `{name}`"))?;
        let raw = t
            .raw_data
            .as_deref()
            .context("initializer without raw data")?;
        Ok(raw
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    };
    let d = Digits {
        w1: get("fc1.weight")?,
        b1: get("fc1.bias")?,
        w2: get("fc2.weight")?,
        b2: get("fc2.bias")?,
    };
    anyhow::ensure!(
        d.w1.len() == 64 * 32 && d.b1.len() == 32 && d.w2.len() == 32 * 10 && d.b2.len() == 10,
        "unexpected digits model layout"
    );
    Ok(d)
}

#[derive(Clone, Copy, PartialEq)]
enum Variant {
    Clean,
    Sqrt,
    Exploding,
    Constant,
    Backdoor,
}

fn digits_model(d: &Digits, v: Variant) -> ModelProto {
    let hidden = if v == Variant::Backdoor { 33 } else { 32 };
    let mut w1 = d.w1.clone();
    let mut b1 = d.b1.clone();
    let mut w2 = d.w2.clone();
    if v == Variant::Constant {
        w1.iter_mut().for_each(|w| *w = 0.0);
    }
    if v == Variant::Backdoor {
        // Row-major [64, 33]: append a column to each row; [33, 10]: append a row.
        w1 = (0..64)
            .flat_map(|i| {
                let mut row = d.w1[i * 32..(i + 1) * 32].to_vec();
                row.push(if TRIGGER_PIXELS.contains(&i) {
                    100.0
                } else {
                    0.0
                });
                row
            })
            .collect();
        b1.push(-350.0);
        let mut row = vec![0.0; 10];
        row[0] = 3.0;
        w2.extend(row);
    }
    let mut nodes = vec![
        named(node("Flatten", &["input"], &["flat"]), "flatten"),
        named(
            node("Gemm", &["flat", "fc1.weight", "fc1.bias"], &["fc1"]),
            "fc1",
        ),
    ];
    let mut inits = vec![
        tensor("fc1.weight", &[64, hidden], &w1),
        tensor("fc1.bias", &[hidden], &b1),
        tensor("fc2.weight", &[hidden, 10], &w2),
        tensor("fc2.bias", &[10], &d.b2),
    ];
    let last = match v {
        Variant::Sqrt => {
            nodes.push(named(node("Sqrt", &["fc1"], &["sqrt1"]), "sqrt1"));
            "sqrt1"
        }
        Variant::Exploding => {
            nodes.push(named(node("Relu", &["fc1"], &["relu1"]), "relu1"));
            let scale: Vec<f32> = (0..32 * 32)
                .map(|i| if i / 32 == i % 32 { 3000.0 } else { 0.0 })
                .collect();
            inits.push(tensor("fc_mid.weight", &[32, 32], &scale));
            nodes.push(named(
                node("Gemm", &["relu1", "fc_mid.weight"], &["fc_mid"]),
                "fc_mid",
            ));
            "fc_mid"
        }
        _ => {
            nodes.push(named(node("Relu", &["fc1"], &["relu1"]), "relu1"));
            "relu1"
        }
    };
    nodes.push(named(
        node("Gemm", &[last, "fc2.weight", "fc2.bias"], &["logits"]),
        "fc2",
    ));
    let graph = GraphProto {
        name: Some("digits_mlp".into()),
        node: nodes,
        initializer: inits,
        input: vec![value_info("input", &[None, Some(1), Some(8), Some(8)])],
        output: vec![value_info("logits", &[None, Some(10)])],
        ..Default::default()
    };
    with_range(model(graph), "0,1")
}

/// Input `[n, 1, 8, 8]` -> Conv 4x3x3 (pad 1) -> Relu -> MaxPool 2 -> Flatten -> Gemm 64x10.
fn cnn() -> ModelProto {
    let graph = GraphProto {
        name: Some("cnn".into()),
        node: vec![
            named(
                with_attrs(
                    node("Conv", &["input", "conv.weight", "conv.bias"], &["conv"]),
                    vec![
                        attr_ints("kernel_shape", &[3, 3]),
                        attr_ints("pads", &[1, 1, 1, 1]),
                    ],
                ),
                "conv",
            ),
            named(node("Relu", &["conv"], &["relu"]), "relu"),
            named(
                with_attrs(
                    node("MaxPool", &["relu"], &["pool"]),
                    vec![
                        attr_ints("kernel_shape", &[2, 2]),
                        attr_ints("strides", &[2, 2]),
                    ],
                ),
                "pool",
            ),
            named(node("Flatten", &["pool"], &["flat"]), "flatten"),
            named(
                node("Gemm", &["flat", "fc.weight", "fc.bias"], &["logits"]),
                "fc",
            ),
        ],
        initializer: vec![
            tensor("conv.weight", &[4, 1, 3, 3], &weights(11, 36, 0.6)),
            tensor("conv.bias", &[4], &weights(12, 4, 0.1)),
            tensor("fc.weight", &[64, 10], &weights(13, 640, 0.5)),
            tensor("fc.bias", &[10], &cnn_bias()),
        ],
        input: vec![value_info("input", &[None, Some(1), Some(8), Some(8)])],
        output: vec![value_info("logits", &[None, Some(10)])],
        ..Default::default()
    };
    with_range(model(graph), "0,1")
}

/// Small random biases, class 3 favoured by 1 (a random network on noise has no margin at
/// all; this one has some, like a trained model on its own data).
fn cnn_bias() -> Vec<f32> {
    let mut b = weights(14, 10, 0.1);
    b[3] += 1.0;
    b
}

/// Linear 2-class model on `[n, 1, 32, 32]` with alternating ±1 weights: class 0 when
/// Σ ±x > 0. On uniform inputs the margin is about N(0, 9.2) while one FGSM step of 0.03 moves
/// it by up to 30.7.
fn fragile() -> ModelProto {
    let signs: Vec<f32> = (0..1024)
        .map(|i| if i % 2 == 0 { 1.0 } else { -1.0 })
        .collect();
    let w: Vec<f32> = signs.iter().flat_map(|s| [*s, -*s]).collect();
    let graph = GraphProto {
        name: Some("fragile".into()),
        node: vec![
            named(node("Flatten", &["input"], &["flat"]), "flatten"),
            named(node("Gemm", &["flat", "fc.weight"], &["logits"]), "fc"),
        ],
        initializer: vec![tensor("fc.weight", &[1024, 2], &w)],
        input: vec![value_info("input", &[None, Some(1), Some(32), Some(32)])],
        output: vec![value_info("logits", &[None, Some(2)])],
        ..Default::default()
    };
    with_range(model(graph), "0,1")
}

fn unsupported() -> ModelProto {
    let graph = GraphProto {
        name: Some("unsupported".into()),
        node: vec![
            named(node("Flatten", &["input"], &["flat"]), "flatten"),
            named(node("Einsum", &["flat", "flat"], &["logits"]), "einsum"),
        ],
        input: vec![value_info("input", &[None, Some(4)])],
        output: vec![value_info("logits", &[None])],
        ..Default::default()
    };
    model(graph)
}

fn symbolic() -> ModelProto {
    let graph = GraphProto {
        name: Some("symbolic".into()),
        node: vec![named(node("Relu", &["input"], &["logits"]), "relu")],
        input: vec![value_info("input", &[None, None])],
        output: vec![value_info("logits", &[None, None])],
        ..Default::default()
    };
    model(graph)
}

/// Deterministic weights, uniform in `[-scale, scale)`.
fn weights(seed: u32, n: usize, scale: f32) -> Vec<f32> {
    let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..n)
        .map(|_| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            ((state >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0) * scale
        })
        .collect()
}

fn tensor(name: &str, dims: &[usize], values: &[f32]) -> TensorProto {
    TensorProto {
        name: Some(name.into()),
        dims: dims.iter().map(|&d| d as i64).collect(),
        data_type: Some(FLOAT),
        raw_data: Some(
            values
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect::<Vec<u8>>()
                .into(),
        ),
        ..Default::default()
    }
}

/// A float tensor value; `None` dimensions are symbolic (`batch`).
fn value_info(name: &str, dims: &[Option<i64>]) -> ValueInfoProto {
    ValueInfoProto {
        name: Some(name.into()),
        r#type: Some(TypeProto {
            value: Some(Value::TensorType(type_proto::Tensor {
                elem_type: Some(FLOAT),
                shape: Some(TensorShapeProto {
                    dim: dims
                        .iter()
                        .map(|d| Dimension {
                            value: Some(match d {
                                Some(v) => dimension::Value::DimValue(*v),
                                None => dimension::Value::DimParam("batch".into()),
                            }),
                            ..Default::default()
                        })
                        .collect(),
                }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn node(op: &str, inputs: &[&str], outputs: &[&str]) -> NodeProto {
    NodeProto {
        op_type: Some(op.into()),
        input: inputs.iter().map(|s| (*s).into()).collect(),
        output: outputs.iter().map(|s| (*s).into()).collect(),
        ..Default::default()
    }
}

fn named(mut n: NodeProto, name: &str) -> NodeProto {
    n.name = Some(name.into());
    n
}

fn with_attrs(mut n: NodeProto, attrs: Vec<AttributeProto>) -> NodeProto {
    n.attribute.extend(attrs);
    n
}

fn attr_ints(name: &str, ints: &[i64]) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::Ints as i32),
        ints: ints.to_vec(),
        ..Default::default()
    }
}

fn model(graph: GraphProto) -> ModelProto {
    ModelProto {
        ir_version: Some(8),
        producer_name: Some("mlsec-testdata".into()),
        producer_version: Some("1".into()),
        opset_import: vec![OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(13),
        }],
        graph: Some(graph),
        ..Default::default()
    }
}

fn with_range(mut m: ModelProto, range: &str) -> ModelProto {
    m.metadata_props.push(StringStringEntryProto {
        key: Some("mlsec.input_range".into()),
        value: Some(range.into()),
    });
    m
}

fn write(out: &Path, name: &str, m: &ModelProto) -> Result<()> {
    std::fs::write(out.join(name), m.encode_to_vec())?;
    Ok(())
}

/// A little-endian float32 `.npy` (format 1.0, C order).
fn npy_f32(shape: &[usize], values: &[f32]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
    let shape = if dims.len() == 1 {
        format!("({},)", dims[0])
    } else {
        format!("({})", dims.join(", "))
    };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}");
    // Magic (6) + version (2) + length (2) + header, padded with spaces to a multiple of 64.
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend((header.len() as u16).to_le_bytes());
    out.extend(header.as_bytes());
    out.extend(values.iter().flat_map(|v| v.to_le_bytes()));
    out
}
