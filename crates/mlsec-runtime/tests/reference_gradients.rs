//! Whole-model input gradients against PyTorch: the models and reference values of
//! `testdata/adversarial/grad/` (made by `scripts/adversarial/make_grad_models.py`, torch
//! 2.15.0): a plain digits CNN, a max-pool branch meeting a linear skip, 2×2 max pooling on a
//! 7×7 map with a 3×3/2 `ceil_mode` average pool, and a ResNet-style stem (3×3/2 max pool with
//! padding, batch norm, a residual block). The gradient is that of the summed cross-entropy
//! (`loss::ce_gradient`), in f32 (the production path) and in f64.

use std::path::{Path, PathBuf};

use mlsec_runtime::data::{Values, arrays};
use mlsec_runtime::loss::ce_gradient;
use mlsec_runtime::{DType, Device, OnnxModel, Tensor};

const MODELS: [&str; 4] = ["digits_cnn", "pool_skip", "odd_pool", "resnet_stem"];

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/adversarial/grad")
}

struct Reference {
    x: Vec<f32>,
    shape: Vec<usize>,
    y: Vec<i64>,
    logits32: Vec<f64>,
    grad32: Vec<f64>,
    logits64: Vec<f64>,
    grad64: Vec<f64>,
}

fn floats(v: &Values) -> Vec<f64> {
    match v {
        Values::Float(v) => v.iter().map(|&x| f64::from(x)).collect(),
        Values::Int(v) => v.iter().map(|&x| x as f64).collect(),
    }
}

/// A float64 member of an npz, at full precision (`arrays` gives f32).
fn f64s(npz: &[u8], key: &str) -> Vec<f64> {
    use mlsec_formats::zip::{ZipArchive, ZipLimits};
    let zip = ZipArchive::parse(npz, ZipLimits::default()).unwrap();
    let entry = zip
        .entries
        .iter()
        .find(|e| e.name == format!("{key}.npy"))
        .unwrap();
    let member = zip.read(entry).unwrap();
    let npy = mlsec_formats::npy::parse(&member.bytes).unwrap();
    assert_eq!(npy.descr, "<f8", "{key}");
    member.bytes[npy.data_offset..]
        .chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

fn reference(name: &str) -> Reference {
    let bytes = std::fs::read(dir().join(format!("{name}.npz"))).unwrap();
    let keys = ["x", "y", "logits32", "grad32"];
    let a = arrays(&bytes, &keys).unwrap();
    let x = match &a["x"].values {
        Values::Float(v) => v.clone(),
        Values::Int(_) => panic!("x is not float"),
    };
    let y = match &a["y"].values {
        Values::Int(v) => v.clone(),
        Values::Float(_) => panic!("y is not int"),
    };
    Reference {
        x,
        shape: a["x"].shape.clone(),
        y,
        logits32: floats(&a["logits32"].values),
        grad32: floats(&a["grad32"].values),
        logits64: f64s(&bytes, "logits64"),
        grad64: f64s(&bytes, "grad64"),
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

/// The largest absolute difference relative to the reference's largest magnitude, the ratio
/// ⟨ours, ref⟩/⟨ref, ref⟩ and the cosine between the two.
fn compare(ours: &[f64], reference: &[f64]) -> (f64, f64, f64) {
    assert_eq!(ours.len(), reference.len());
    let scale = reference.iter().fold(0f64, |m, v| m.max(v.abs()));
    let diff = ours
        .iter()
        .zip(reference)
        .fold(0f64, |m, (a, b)| m.max((a - b).abs()));
    let dot: f64 = ours.iter().zip(reference).map(|(a, b)| a * b).sum();
    let rr: f64 = reference.iter().map(|v| v * v).sum();
    let oo: f64 = ours.iter().map(|v| v * v).sum();
    (diff / scale, dot / rr, dot / (rr.sqrt() * oo.sqrt()))
}

fn gradient(model: &OnnxModel, r: &Reference, dtype: DType) -> (Vec<f64>, Vec<f64>) {
    let x = Tensor::from_slice(&r.x, r.shape.as_slice(), &Device::Cpu)
        .unwrap()
        .to_dtype(dtype)
        .unwrap();
    let (logits, grad) = ce_gradient(model, &x, &r.y).unwrap();
    (flat64(&logits), flat64(&grad))
}

#[test]
#[allow(clippy::print_stderr)] // the measured numbers, visible with --nocapture
fn input_gradients_match_pytorch_in_f32() {
    for name in MODELS {
        let model = OnnxModel::load(&dir().join(format!("{name}.onnx"))).unwrap();
        let r = reference(name);
        let (logits, grad) = gradient(&model, &r, DType::F32);
        let (dl, _, _) = compare(&logits, &r.logits32);
        let (dg, ratio, cosine) = compare(&grad, &r.grad32);
        eprintln!(
            "{name} f32: logits {dl:.2e}, gradient {dg:.2e}, ratio {ratio:.6}, cosine {cosine:.6}"
        );
        // f32 sums in a different order than PyTorch's kernels: measured ≤ 1.6e-6 of the
        // largest value (tens of f32 ulps, accumulated over ~150-term sums and five layers).
        assert!(dl < 5e-6, "{name}: logits differ by {dl:e} of their scale");
        assert!(dg < 5e-6, "{name}: gradient differs by {dg:e} of its scale");
    }
}

#[test]
#[allow(clippy::print_stderr)] // the measured numbers, visible with --nocapture
fn input_gradients_match_pytorch_in_f64() {
    for name in MODELS {
        let model = OnnxModel::load(&dir().join(format!("{name}.onnx")))
            .unwrap()
            .with_float_dtype(DType::F64)
            .unwrap();
        let r = reference(name);
        let (logits, grad) = gradient(&model, &r, DType::F64);
        let (dl, _, _) = compare(&logits, &r.logits64);
        let (dg, ratio, cosine) = compare(&grad, &r.grad64);
        eprintln!(
            "{name} f64: logits {dl:.2e}, gradient {dg:.2e}, ratio {ratio:.12}, cosine {cosine:.12}"
        );
        // Exact up to f64 rounding (measured ≤ 1e-15), except that ONNX stores batch norm's
        // epsilon as a float32 (1e-5 becomes 9.99999975e-6): measured 3.3e-11 on resnet_stem.
        assert!(dl < 1e-10, "{name}: logits differ by {dl:e} of their scale");
        assert!(
            dg < 1e-10,
            "{name}: gradient differs by {dg:e} of its scale"
        );
    }
}
