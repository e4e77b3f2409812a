//! The `.pt2` (torch.export) front end against PyTorch: the archives, ONNX exports and
//! reference values of `testdata/adversarial/pt2/` (made by
//! `scripts/adversarial/make_pt2_models.py`, torch 2.15.0): an MLP (also in its decomposed
//! core-ATen form), a CNN with batch norm, max pooling and adaptive average pooling, and a
//! transformer block (both also exported with a static batch of 1) (layer norm, matmul/softmax attention, GELU). Logits and the input
//! gradient of the summed cross-entropy are compared with PyTorch's (f32) and with the ONNX
//! export of the same weights (f64, where both should agree to rounding).

use std::path::{Path, PathBuf};

use mlsec_runtime::data::{Values, arrays};
use mlsec_runtime::loss::ce_gradient;
use mlsec_runtime::{DType, Device, Model, OnnxModel, RuntimeError, Tensor, pt2};

/// (archive, reference and ONNX export)
const MODELS: [(&str, &str); 6] = [
    ("mlp", "mlp"),
    ("mlp_core", "mlp"),
    ("cnn", "cnn"),
    ("transformer", "transformer"),
    // Exported with a static batch of 1 (no `dynamic_shapes`), run on batches of 32.
    ("cnn_static", "cnn"),
    ("transformer_static", "transformer"),
];

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/adversarial/pt2")
}

struct Reference {
    x: Vec<f32>,
    shape: Vec<usize>,
    y: Vec<i64>,
    logits: Vec<f64>,
    grad: Vec<f64>,
}

fn floats(v: &Values) -> Vec<f64> {
    match v {
        Values::Float(v) => v.iter().map(|&x| f64::from(x)).collect(),
        Values::Int(v) => v.iter().map(|&x| x as f64).collect(),
    }
}

fn reference(name: &str) -> Reference {
    let bytes = std::fs::read(dir().join(format!("{name}.npz"))).unwrap();
    let a = arrays(&bytes, &["x", "y", "logits32", "grad32"]).unwrap();
    let Values::Float(x) = &a["x"].values else {
        panic!("x is not float")
    };
    let Values::Int(y) = &a["y"].values else {
        panic!("y is not int")
    };
    Reference {
        x: x.clone(),
        shape: a["x"].shape.clone(),
        y: y.clone(),
        logits: floats(&a["logits32"].values),
        grad: floats(&a["grad32"].values),
    }
}

fn flat64(t: &Tensor) -> Vec<f64> {
    t.to_dtype(DType::F64)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f64>()
        .unwrap()
}

/// The largest absolute difference relative to the reference's largest magnitude.
fn rel_diff(ours: &[f64], reference: &[f64]) -> f64 {
    assert_eq!(ours.len(), reference.len());
    let scale = reference.iter().fold(0f64, |m, v| m.max(v.abs()));
    let diff = ours
        .iter()
        .zip(reference)
        .fold(0f64, |m, (a, b)| m.max((a - b).abs()));
    diff / scale
}

fn gradient(model: &dyn Model, r: &Reference, dtype: DType) -> (Vec<f64>, Vec<f64>) {
    let x = Tensor::from_slice(&r.x, r.shape.as_slice(), &Device::Cpu)
        .unwrap()
        .to_dtype(dtype)
        .unwrap();
    let (logits, grad) = ce_gradient(model, &x, &r.y).unwrap();
    (flat64(&logits), flat64(&grad))
}

#[test]
#[allow(clippy::print_stderr)] // the measured numbers, visible with --nocapture
fn pt2_logits_and_gradients_match_pytorch() {
    for (archive, refname) in MODELS {
        let path = dir().join(format!("{archive}.pt2"));
        assert!(pt2::is_pt2(&path), "{archive} is sniffed as .pt2");
        let model = pt2::load(&path).unwrap();
        let r = reference(refname);
        let (logits, grad) = gradient(&model, &r, DType::F32);
        let dl = rel_diff(&logits, &r.logits);
        let dg = rel_diff(&grad, &r.grad);
        eprintln!("{archive}.pt2 f32 vs PyTorch: logits {dl:.2e}, gradient {dg:.2e}");
        assert!(
            dl < 5e-6,
            "{archive}: logits differ by {dl:e} of their scale"
        );
        assert!(
            dg < 5e-6,
            "{archive}: gradient differs by {dg:e} of its scale"
        );
    }
}

#[test]
#[allow(clippy::print_stderr)] // the measured numbers, visible with --nocapture
fn pt2_equals_its_onnx_export_in_f64() {
    for (archive, refname) in MODELS {
        let pt2 = pt2::load(&dir().join(format!("{archive}.pt2")))
            .unwrap()
            .with_float_dtype(DType::F64)
            .unwrap();
        let onnx = OnnxModel::load(&dir().join(format!("{refname}.onnx")))
            .unwrap()
            .with_float_dtype(DType::F64)
            .unwrap();
        let r = reference(refname);
        let (l1, g1) = gradient(&pt2, &r, DType::F64);
        let (l2, g2) = gradient(&onnx, &r, DType::F64);
        let dl = rel_diff(&l1, &l2);
        let dg = rel_diff(&g1, &g2);
        eprintln!("{archive}.pt2 vs {refname}.onnx f64: logits {dl:.2e}, gradient {dg:.2e}");
        // The same weights and the same function: measured 0 for the MLPs and the CNN. The
        // transformer's ONNX export has no Gelu op (opset 17) and divides by √2 stored as a
        // float32 constant, where the .pt2 GELU uses √2 in f64: measured 1.6e-9 / 1.8e-9.
        assert!(dl < 1e-8, "{archive}: logits differ by {dl:e}");
        assert!(dg < 1e-8, "{archive}: gradient differs by {dg:e}");
    }
}

#[test]
fn batch_size_is_dynamic() {
    let model = pt2::load(&dir().join("cnn.pt2")).unwrap();
    for n in [1usize, 7] {
        let x = Tensor::zeros((n, 1, 8, 8), DType::F32, &Device::Cpu).unwrap();
        assert_eq!(model.forward(&x).unwrap().dims(), &[n, 10]);
    }
}

/// Rewrites one member of a fixture archive (stored, uncompressed) and returns the new bytes.
fn with_member(archive: &str, member: &str, f: impl Fn(&[u8]) -> Vec<u8>) -> Vec<u8> {
    use mlsec_formats::zip::{ZipArchive, ZipLimits};
    use mlsec_testkit::ZipWriter;
    let bytes = std::fs::read(dir().join(archive)).unwrap();
    let zip = ZipArchive::parse(&bytes, ZipLimits::default()).unwrap();
    let mut w = ZipWriter::new();
    for e in &zip.entries {
        let data = zip.read(e).unwrap().bytes.into_owned();
        let data = if e.name.ends_with(member) {
            f(&data)
        } else {
            data
        };
        w.add(&e.name, &data, false, 64);
    }
    w.finish()
}

fn load_err(bytes: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hostile.pt2");
    std::fs::write(&path, bytes).unwrap();
    let err = pt2::load(&path).unwrap_err();
    assert!(matches!(err, RuntimeError::Archive { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("hostile.pt2"),
        "the error names the file: {text}"
    );
    text
}

#[test]
fn unsupported_op_is_named() {
    let bytes = with_member("mlp.pt2", "models/model.json", |b| {
        String::from_utf8_lossy(b)
            .replace(
                "torch.ops.aten.relu.default",
                "torch.ops.aten.hardsigmoid.default",
            )
            .into_bytes()
    });
    let err = load_err(&bytes);
    assert!(err.contains("aten.hardsigmoid.default"), "{err}");
}

#[test]
fn truncated_weight_is_refused() {
    let bytes = with_member("mlp.pt2", "weights/weight_0", |b| b[..b.len() / 2].to_vec());
    let err = load_err(&bytes);
    assert!(err.contains("fc1.weight") && err.contains("bytes"), "{err}");
}

#[test]
fn oversized_sizes_are_refused_before_allocation() {
    let bytes = with_member("mlp.pt2", "model_weights_config.json", |b| {
        String::from_utf8_lossy(b)
            .replacen("{\"as_int\": 32}", "{\"as_int\": 4611686018427387904}", 1)
            .into_bytes()
    });
    let err = load_err(&bytes);
    assert!(err.contains("too large"), "{err}");
}

#[test]
fn pickled_tensor_is_refused() {
    let bytes = with_member("mlp.pt2", "model_weights_config.json", |b| {
        String::from_utf8_lossy(b)
            .replacen("\"use_pickle\": false", "\"use_pickle\": true", 1)
            .into_bytes()
    });
    let err = load_err(&bytes);
    assert!(err.contains("never unpickles"), "{err}");
}

#[test]
fn corrupt_program_json_is_refused() {
    let bytes = with_member("mlp.pt2", "models/model.json", |b| {
        b[..b.len() / 3].to_vec()
    });
    let err = load_err(&bytes);
    assert!(err.contains("not valid JSON"), "{err}");
}

#[test]
fn onnx_and_state_dicts_are_not_pt2() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/adversarial");
    assert!(!pt2::is_pt2(&root.join("digits_mlp.onnx")));
    assert!(!pt2::is_pt2(&root.join("digits_mlp.pt")));
    assert!(!pt2::is_pt2(&root.join("digits_test.npz")));
}

/// Truncated archives and corrupted programs and configs are errors (or, when the change is
/// harmless, models), never a panic.
#[test]
fn hostile_archives_never_panic() {
    let bytes = std::fs::read(dir().join("cnn.pt2")).unwrap();
    for cut in (0..bytes.len()).step_by(97) {
        assert!(
            pt2::graph_from_bytes(&bytes[..cut]).is_err(),
            "cut at {cut}"
        );
    }
    let mut seed = 0x2024_u64;
    let mut next = move || {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (seed >> 33) as usize
    };
    for member in ["models/model.json", "model_weights_config.json"] {
        for _ in 0..150 {
            let (at, byte) = (next(), b"0123456789-[]{}\":,e."[next() % 20]);
            let hostile = with_member("cnn.pt2", member, |b| {
                let mut b = b.to_vec();
                let i = at % b.len();
                b[i] = byte;
                b
            });
            if let Ok(g) = pt2::graph_from_bytes(&hostile) {
                // What still parses must still load or be refused cleanly.
                if let Ok(m) = mlsec_runtime::OnnxModel::from_graph(g, String::new()) {
                    let x = Tensor::zeros((2, 1, 8, 8), DType::F32, &Device::Cpu).unwrap();
                    let _ = m.forward(&x);
                }
            }
        }
    }
}
