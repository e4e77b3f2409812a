//! Every ATen op the `.pt2` front end translates, against PyTorch: one small archive per op
//! group (`testdata/adversarial/pt2/ops/`, made by `scripts/adversarial/make_pt2_ops.py`,
//! torch 2.15.0), in the default export IR and, where it brings other ops, after
//! `run_decompositions()` (core ATen). The output and the gradient of `sum(out · r)` with
//! respect to the input are compared with PyTorch's; a meta-test checks that every op in
//! `SUPPORTED_ATEN_OPS` is in some archive, so a new op cannot land without its test.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use mlsec_runtime::data::{Values, arrays};
use mlsec_runtime::{Device, Model, Tensor, loss_gradient, pt2};
use serde_json::Value;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/adversarial/pt2/ops")
}

fn listing() -> serde_json::Map<String, Value> {
    let text = std::fs::read_to_string(dir().join("ops.json")).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    v["archives"].as_object().unwrap().clone()
}

fn floats(v: &Values) -> Vec<f32> {
    match v {
        Values::Float(v) => v.clone(),
        Values::Int(_) => panic!("not float"),
    }
}

fn rel_diff(ours: &[f32], reference: &[f32]) -> f64 {
    assert_eq!(ours.len(), reference.len());
    let scale = reference
        .iter()
        .fold(0f64, |m, &v| m.max(f64::from(v).abs()));
    let diff = ours.iter().zip(reference).fold(0f64, |m, (&a, &b)| {
        m.max((f64::from(a) - f64::from(b)).abs())
    });
    diff / scale.max(1e-30)
}

#[test]
#[allow(clippy::print_stderr)] // the measured numbers, visible with --nocapture
fn every_op_archive_matches_pytorch() {
    let npz = std::fs::read(dir().join("ops.npz")).unwrap();
    for archive in listing().keys() {
        let case = archive.strip_suffix("_core").unwrap_or(archive);
        let keys: Vec<String> = ["x", "r", "out", "grad"]
            .iter()
            .map(|k| format!("{case}_{k}"))
            .collect();
        let key_refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        let a = arrays(&npz, &key_refs).unwrap();
        let x = &a[&keys[0]];
        let r = &a[&keys[1]];
        let model = pt2::load(&dir().join(format!("{archive}.pt2")))
            .unwrap_or_else(|e| panic!("{archive}: {e}"));
        let xt = Tensor::from_slice(&floats(&x.values), x.shape.as_slice(), &Device::Cpu).unwrap();
        let rt = Tensor::from_slice(&floats(&r.values), r.shape.as_slice(), &Device::Cpu).unwrap();
        let loss = move |out: &Tensor| (out * &rt)?.sum_all();
        let (out, grad) =
            loss_gradient(&model, &xt, &loss).unwrap_or_else(|e| panic!("{archive}: {e}"));
        assert_eq!(
            out.dims(),
            a[&keys[2]].shape.as_slice(),
            "{archive}: output shape"
        );
        let out: Vec<f32> = out.flatten_all().unwrap().to_vec1().unwrap();
        let grad: Vec<f32> = grad.flatten_all().unwrap().to_vec1().unwrap();
        let d_out = rel_diff(&out, &floats(&a[&keys[2]].values));
        let d_grad = rel_diff(&grad, &floats(&a[&keys[3]].values));
        eprintln!("{archive}: output {d_out:.1e}, gradient {d_grad:.1e}");
        // f32 against f32 in another summation order: a few ulps of the largest value.
        assert!(d_out < 1e-5, "{archive}: output differs by {d_out:e}");
        assert!(d_grad < 1e-5, "{archive}: gradient differs by {d_grad:e}");
        // The batch is dynamic: one sample gives the first row.
        let one = model.forward(&xt.narrow(0, 0, 1).unwrap()).unwrap();
        assert_eq!(one.dim(0).unwrap(), 1, "{archive}");
    }
}

#[test]
fn every_supported_aten_op_has_an_archive() {
    let mut covered = BTreeSet::new();
    for ops in listing().values() {
        for op in ops.as_array().unwrap() {
            let op = op.as_str().unwrap();
            covered.insert(op.strip_prefix("torch.ops.").unwrap_or(op).to_owned());
        }
    }
    let missing: Vec<&&str> = pt2::SUPPORTED_ATEN_OPS
        .iter()
        .filter(|op| !covered.contains(**op))
        .collect();
    assert!(
        missing.is_empty(),
        "ops without a test archive: {missing:?}"
    );
    assert!(
        pt2::SUPPORTED_ATEN_OPS.windows(2).all(|w| w[0] < w[1]),
        "SUPPORTED_ATEN_OPS is sorted and unique"
    );
}
