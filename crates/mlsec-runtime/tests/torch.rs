//! The `torch` feature: the shipped example as TorchScript gives the same logits and input
//! gradients as the ONNX model on the candle backend.
#![cfg(feature = "torch")]

use std::path::Path;

use mlsec_runtime::torch::TorchScriptModel;
use mlsec_runtime::{Device, Model, OnnxModel, Tensor, loss_gradient};

#[test]
fn torchscript_matches_onnx() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/adversarial");
    let ts = TorchScriptModel::load(&dir.join("digits_mlp.pt")).unwrap();
    let onnx = OnnxModel::load(&dir.join("digits_mlp.onnx")).unwrap();
    let values: Vec<f32> = (0..4 * 64).map(|i| ((i * 37) % 17) as f32 / 16.0).collect();
    let x = Tensor::from_vec(values, (4, 1, 8, 8), &Device::Cpu).unwrap();
    let a = ts
        .forward(&x)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    let b = onnx
        .forward(&x)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    for (p, q) in a.iter().zip(&b) {
        assert!((p - q).abs() < 1e-4, "{p} vs {q}");
    }
    let loss = |z: &Tensor| z.narrow(1, 3, 1)?.sum_all();
    let (_, ga) = loss_gradient(&ts, &x, &loss).unwrap();
    let (_, gb) = loss_gradient(&onnx, &x, &loss).unwrap();
    let ga = ga.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let gb = gb.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    assert_eq!(ga.len(), gb.len());
    for (p, q) in ga.iter().zip(&gb) {
        assert!((p - q).abs() < 1e-4, "{p} vs {q}");
    }
}
