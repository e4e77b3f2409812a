//! Op correctness on small hand-computed cases, errors, and input gradients against finite
//! differences.

use std::collections::BTreeMap;

use mlsec_runtime::ir::{Attr, Graph, Node, TensorData, ValueInfo};
use mlsec_runtime::{Device, Model, OnnxModel, RuntimeError, Tensor, loss_gradient};

fn node(op: &str, inputs: &[&str], outputs: &[&str], attrs: Vec<(&str, Attr)>) -> Node {
    Node {
        name: format!("{op}_node"),
        op_type: op.into(),
        domain: String::new(),
        inputs: inputs.iter().map(|s| (*s).to_owned()).collect(),
        outputs: outputs.iter().map(|s| (*s).to_owned()).collect(),
        attrs: attrs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
    }
}

fn graph(nodes: Vec<Node>, consts: Vec<(&str, TensorData)>, output: &str) -> OnnxModel {
    let g = Graph {
        name: "t".into(),
        opset: 17,
        nodes,
        initializers: consts
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect::<BTreeMap<_, _>>(),
        inputs: vec![ValueInfo {
            name: "x".into(),
            dims: None,
        }],
        outputs: vec![output.into()],
        metadata: BTreeMap::new(),
    };
    OnnxModel::from_graph(g, "test".into()).expect("supported graph")
}

fn input(values: &[f32], dims: &[usize]) -> Tensor {
    Tensor::from_slice(values, dims, &Device::Cpu).unwrap()
}

fn flat(t: &Tensor) -> Vec<f32> {
    t.flatten_all().unwrap().to_vec1::<f32>().unwrap()
}

fn close(a: &[f32], b: &[f32]) {
    assert_eq!(a.len(), b.len(), "{a:?} vs {b:?}");
    for (x, y) in a.iter().zip(b) {
        assert!((x - y).abs() < 1e-5, "{a:?} vs {b:?}");
    }
}

#[test]
fn gemm_with_transpose_alpha_beta() {
    // x [1,2] · Wᵀ with W [3,2], alpha 2, beta 0.5 on bias.
    let m = graph(
        vec![node(
            "Gemm",
            &["x", "w", "b"],
            &["y"],
            vec![
                ("transB", Attr::Int(1)),
                ("alpha", Attr::Float(2.0)),
                ("beta", Attr::Float(0.5)),
            ],
        )],
        vec![
            (
                "w",
                TensorData::f32(vec![3, 2], vec![1., 2., 3., 4., 5., 6.]),
            ),
            ("b", TensorData::f32(vec![3], vec![2., 4., 6.])),
        ],
        "y",
    );
    let y = m.forward(&input(&[1., -1.], &[1, 2])).unwrap();
    // x·Wᵀ = [-1, -1, -1]; ·2 = -2; + 0.5·b = [-1, 0, 1].
    close(&flat(&y), &[-1., 0., 1.]);
}

#[test]
fn conv_with_padding_bias_and_stride() {
    // 1×1×3×3 input 1..9, 2×2 kernel of ones, pads 1 (symmetric), stride 2, bias 10.
    let m = graph(
        vec![node(
            "Conv",
            &["x", "w", "b"],
            &["y"],
            vec![
                ("pads", Attr::Ints(vec![1, 1, 1, 1])),
                ("strides", Attr::Ints(vec![2, 2])),
            ],
        )],
        vec![
            ("w", TensorData::f32(vec![1, 1, 2, 2], vec![1.; 4])),
            ("b", TensorData::f32(vec![1], vec![10.])),
        ],
        "y",
    );
    let x: Vec<f32> = (1..=9).map(|v| v as f32).collect();
    let y = m.forward(&input(&x, &[1, 1, 3, 3])).unwrap();
    assert_eq!(y.dims(), &[1, 1, 2, 2]);
    // Windows over the zero-padded 5×5: {1}, {2,3}, {4,7}, {5,6,8,9}.
    close(&flat(&y), &[11., 15., 21., 38.]);
}

#[test]
fn asymmetric_pads_and_pools() {
    let x: Vec<f32> = (1..=9).map(|v| v as f32).collect();
    // Conv with pads only at the end (0,0,1,1) and a 2×2 kernel of ones: a 3×3 output.
    let m = graph(
        vec![node(
            "Conv",
            &["x", "w"],
            &["y"],
            vec![("pads", Attr::Ints(vec![0, 0, 1, 1]))],
        )],
        vec![("w", TensorData::f32(vec![1, 1, 2, 2], vec![1.; 4]))],
        "y",
    );
    let y = m.forward(&input(&x, &[1, 1, 3, 3])).unwrap();
    close(&flat(&y), &[12., 16., 9., 24., 28., 15., 15., 17., 9.]);
    // MaxPool 2×2 stride 1 with pads 1 on the begin side: padding never wins.
    let m = graph(
        vec![node(
            "MaxPool",
            &["x"],
            &["y"],
            vec![
                ("kernel_shape", Attr::Ints(vec![2, 2])),
                ("pads", Attr::Ints(vec![1, 1, 0, 0])),
            ],
        )],
        vec![],
        "y",
    );
    let neg: Vec<f32> = x.iter().map(|v| -v).collect();
    let y = m.forward(&input(&neg, &[1, 1, 3, 3])).unwrap();
    close(&flat(&y), &[-1., -1., -2., -1., -1., -2., -4., -4., -5.]);
    // AveragePool excluding padding (count_include_pad = 0).
    let m = graph(
        vec![node(
            "AveragePool",
            &["x"],
            &["y"],
            vec![
                ("kernel_shape", Attr::Ints(vec![2, 2])),
                ("pads", Attr::Ints(vec![1, 1, 1, 1])),
                ("strides", Attr::Ints(vec![2, 2])),
            ],
        )],
        vec![],
        "y",
    );
    let y = m.forward(&input(&x, &[1, 1, 3, 3])).unwrap();
    close(&flat(&y), &[1., 2.5, 5.5, 7.]);
}

#[test]
fn softmax_logsoftmax_and_activations() {
    let m = graph(vec![node("Softmax", &["x"], &["y"], vec![])], vec![], "y");
    let y = m.forward(&input(&[0., 1000., 0.], &[1, 3])).unwrap();
    close(&flat(&y), &[0., 1., 0.]);
    let m = graph(
        vec![node("LogSoftmax", &["x"], &["y"], vec![])],
        vec![],
        "y",
    );
    let y = m.forward(&input(&[0., 0.], &[1, 2])).unwrap();
    close(&flat(&y), &[-std::f32::consts::LN_2; 2]);
    let m = graph(
        vec![node(
            "LeakyRelu",
            &["x"],
            &["y"],
            vec![("alpha", Attr::Float(0.1))],
        )],
        vec![],
        "y",
    );
    close(
        &flat(&m.forward(&input(&[-2., 3.], &[2])).unwrap()),
        &[-0.2, 3.],
    );
    let m = graph(vec![node("Sigmoid", &["x"], &["y"], vec![])], vec![], "y");
    close(&flat(&m.forward(&input(&[0.], &[1])).unwrap()), &[0.5]);
    let m = graph(vec![node("Gelu", &["x"], &["y"], vec![])], vec![], "y");
    // gelu(1) = 0.5·(1 + erf(1/√2)) = 0.841345.
    close(
        &flat(&m.forward(&input(&[1.], &[1])).unwrap()),
        &[0.841_344_7],
    );
    let m = graph(
        vec![node("Clip", &["x", "lo", "hi"], &["y"], vec![])],
        vec![
            ("lo", TensorData::f32(vec![], vec![-1.])),
            ("hi", TensorData::f32(vec![], vec![1.])),
        ],
        "y",
    );
    close(
        &flat(&m.forward(&input(&[-3., 0.5, 3.], &[3])).unwrap()),
        &[-1., 0.5, 1.],
    );
}

#[test]
fn normalisation() {
    // BatchNorm: (x − mean)/√(var+eps)·scale + bias per channel.
    let m = graph(
        vec![node(
            "BatchNormalization",
            &["x", "s", "b", "m", "v"],
            &["y"],
            vec![("epsilon", Attr::Float(0.0))],
        )],
        vec![
            ("s", TensorData::f32(vec![2], vec![2., 1.])),
            ("b", TensorData::f32(vec![2], vec![1., 0.])),
            ("m", TensorData::f32(vec![2], vec![1., 2.])),
            ("v", TensorData::f32(vec![2], vec![4., 1.])),
        ],
        "y",
    );
    let y = m.forward(&input(&[3., 5.], &[1, 2, 1, 1])).unwrap();
    close(&flat(&y), &[3., 3.]);
    let m = graph(
        vec![node(
            "LayerNormalization",
            &["x", "s"],
            &["y"],
            vec![("epsilon", Attr::Float(0.0))],
        )],
        vec![("s", TensorData::f32(vec![2], vec![1., 1.]))],
        "y",
    );
    close(
        &flat(&m.forward(&input(&[1., 3.], &[1, 2])).unwrap()),
        &[-1., 1.],
    );
}

#[test]
fn shape_ops() {
    // Shape → Gather(0) → Unsqueeze → Concat with [-1] → Reshape: the exported flatten idiom.
    let m = graph(
        vec![
            node("Shape", &["x"], &["s"], vec![]),
            node(
                "Gather",
                &["s", "zero"],
                &["n"],
                vec![("axis", Attr::Int(0))],
            ),
            node("Unsqueeze", &["n", "axes"], &["n1"], vec![]),
            node(
                "Concat",
                &["n1", "minus1"],
                &["shape"],
                vec![("axis", Attr::Int(0))],
            ),
            node("Reshape", &["x", "shape"], &["flat"], vec![]),
            node("Transpose", &["flat"], &["t"], vec![]),
            node("Slice", &["t", "st", "en", "ax", "step"], &["y"], vec![]),
        ],
        vec![
            ("zero", TensorData::i64(vec![], vec![0])),
            ("axes", TensorData::i64(vec![1], vec![0])),
            ("minus1", TensorData::i64(vec![1], vec![-1])),
            ("st", TensorData::i64(vec![1], vec![-1])),
            ("en", TensorData::i64(vec![1], vec![-10])),
            ("ax", TensorData::i64(vec![1], vec![0])),
            ("step", TensorData::i64(vec![1], vec![-2])),
        ],
        "y",
    );
    let x: Vec<f32> = (0..8).map(|v| v as f32).collect();
    let y = m.forward(&input(&x, &[2, 2, 2])).unwrap();
    // flat [2,4] = [[0,1,2,3],[4,5,6,7]]; transposed [4,2]; rows 3 and 1.
    assert_eq!(y.dims(), &[2, 2]);
    close(&flat(&y), &[3., 7., 1., 5.]);
    // Activations name every node output in order.
    let acts = m.activations(&input(&x, &[2, 2, 2])).unwrap();
    let names: Vec<&str> = acts.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["s", "n", "n1", "shape", "flat", "t", "y"]);
}

#[test]
fn unsupported_op_names_op_and_node() {
    let g = Graph {
        name: "t".into(),
        opset: 17,
        nodes: vec![node("NonMaxSuppression", &["x"], &["y"], vec![])],
        initializers: BTreeMap::new(),
        inputs: vec![ValueInfo {
            name: "x".into(),
            dims: None,
        }],
        outputs: vec!["y".into()],
        metadata: BTreeMap::new(),
    };
    let err = OnnxModel::from_graph(g, String::new()).unwrap_err();
    assert!(matches!(err, RuntimeError::UnsupportedOp { .. }));
    let text = err.to_string();
    assert!(
        text.contains("NonMaxSuppression") && text.contains("NonMaxSuppression_node"),
        "{text}"
    );
}

#[test]
fn bad_reshape_is_an_error_not_a_panic() {
    let m = graph(
        vec![node("Reshape", &["x", "shape"], &["y"], vec![])],
        vec![("shape", TensorData::i64(vec![1], vec![7]))],
        "y",
    );
    let err = m
        .forward(&input(&[1., 2., 3., 4.], &[4]))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("Reshape_node") && err.contains("cannot reshape"),
        "{err}"
    );
}

#[test]
fn input_gradient_matches_finite_differences() {
    // conv → tanh → flatten → gemm → logsoftmax, loss = −logp[class 1].
    let m = graph(
        vec![
            node(
                "Conv",
                &["x", "w", "b"],
                &["c"],
                vec![("pads", Attr::Ints(vec![1, 1, 1, 1]))],
            ),
            node("Tanh", &["c"], &["t"], vec![]),
            node("Flatten", &["t"], &["f"], vec![]),
            node("Gemm", &["f", "w2"], &["z"], vec![]),
            node("LogSoftmax", &["z"], &["y"], vec![]),
        ],
        vec![
            (
                "w",
                TensorData::f32(
                    vec![2, 1, 2, 2],
                    vec![0.3, -0.2, 0.5, 0.1, -0.4, 0.2, 0.3, 0.6],
                ),
            ),
            ("b", TensorData::f32(vec![2], vec![0.1, -0.1])),
            (
                "w2",
                TensorData::f32(
                    vec![32, 3],
                    (0..96)
                        .map(|i| ((i * 37 % 17) as f32 - 8.0) / 10.0)
                        .collect(),
                ),
            ),
        ],
        "y",
    );
    let x: Vec<f32> = (0..9).map(|i| (i as f32 * 0.7).sin()).collect();
    let loss = |z: &Tensor| z.narrow(1, 1, 1)?.sum_all()?.neg();
    let (_, grad) = loss_gradient(&m, &input(&x, &[1, 1, 3, 3]), &loss).unwrap();
    let grad = flat(&grad);
    let f = |v: &[f32]| -> f64 {
        let y = m.forward(&input(v, &[1, 1, 3, 3])).unwrap();
        -f64::from(flat(&y)[1])
    };
    let h = 1e-2f32;
    for i in 0..9 {
        let mut p = x.clone();
        let mut q = x.clone();
        p[i] += h;
        q[i] -= h;
        let numeric = (f(&p) - f(&q)) / f64::from(2.0 * h);
        assert!(
            (numeric - f64::from(grad[i])).abs() < 2e-3 * (1.0 + numeric.abs()),
            "component {i}: analytic {} vs numeric {numeric}",
            grad[i]
        );
    }
}

#[test]
fn malformed_conv_is_an_error_not_a_panic() {
    let m = graph(
        vec![node("Conv", &["x", "w"], &["y"], vec![])],
        vec![("w", TensorData::f32(vec![2], vec![1., 1.]))],
        "y",
    );
    assert!(m.forward(&input(&[1., 2.], &[1, 2])).is_err());
    let m = graph(
        vec![node("Conv", &["x", "w"], &["y"], vec![])],
        vec![("w", TensorData::f32(vec![1, 1, 2, 2], vec![1.; 4]))],
        "y",
    );
    let err = m
        .forward(&input(&[1., 2.], &[1, 2]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("Conv_node"), "{err}");
}

#[test]
fn example_onnx_file_loads_with_named_activations() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/adversarial/digits_mlp.onnx");
    let m = OnnxModel::load(&path).unwrap();
    assert_eq!(m.input().name, "input");
    assert_eq!(m.input().dims, Some(vec![None, Some(1), Some(8), Some(8)]));
    assert!(m.is_eval());
    assert_eq!(m.digest().len(), 64);
    let x = Tensor::zeros((3, 1, 8, 8), mlsec_runtime::DType::F32, &Device::Cpu).unwrap();
    let acts = m.activations(&x).unwrap();
    let names: Vec<(&str, Vec<usize>)> = acts
        .iter()
        .map(|(n, t)| (n.as_str(), t.dims().to_vec()))
        .collect();
    assert_eq!(
        names,
        [
            ("flat", vec![3, 64]),
            ("fc1", vec![3, 32]),
            ("relu1", vec![3, 32]),
            ("logits", vec![3, 10])
        ]
    );
    assert_eq!(m.forward(&x).unwrap().dims(), &[3, 10]);
    // Garbage is a decode error, not a panic.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.onnx");
    std::fs::write(&bad, [0xff; 16]).unwrap();
    assert!(OnnxModel::load(&bad).is_err());
}
