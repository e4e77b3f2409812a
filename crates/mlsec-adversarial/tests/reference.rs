//! The attacks against the reference libraries on the shipped example
//! (`scripts/adversarial/reference.py`: torchattacks 3.5.1 for FGSM/PGD, foolbox 3.3.4 for CW),
//! on the ONNX export through the default backend and, with the `torch` feature, on the
//! TorchScript module through libtorch.

use std::path::{Path, PathBuf};

use mlsec_adversarial::attacks::{self, Cw, Goal, Noise, Pgd, Setup};
use mlsec_adversarial::data::{self, Values};
use mlsec_runtime::{Model, OnnxModel};
use serde_json::Value;

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/adversarial")
}

struct Fixture {
    model: Box<dyn Model>,
    data: data::Dataset,
    reference: Value,
}

/// The example model in either form: `digits_mlp.onnx` or (`torch` feature) `digits_mlp.pt`.
fn fixture(model: &str) -> Fixture {
    let dir = example();
    let path = dir.join(model);
    let model: Box<dyn Model> = if model.ends_with(".onnx") {
        Box::new(OnnxModel::load(&path).expect("example model loads"))
    } else {
        load_torchscript(&path)
    };
    let data = data::load(&dir.join("digits_test.npz"), "x", "y").expect("example data loads");
    let text = std::fs::read_to_string(dir.join("reference.json")).expect("reference.json");
    Fixture {
        model,
        data,
        reference: serde_json::from_str(&text).expect("reference.json is JSON"),
    }
}

#[cfg(feature = "torch")]
fn load_torchscript(path: &Path) -> Box<dyn Model> {
    Box::new(mlsec_runtime::torch::TorchScriptModel::load(path).expect("TorchScript loads"))
}

#[cfg(not(feature = "torch"))]
fn load_torchscript(path: &Path) -> Box<dyn Model> {
    panic!("{}: TorchScript needs the `torch` feature", path.display())
}

fn setup<'a>(f: &'a Fixture) -> Setup<'a> {
    Setup {
        model: f.model.as_ref(),
        sample_shape: &f.data.sample_shape,
        lo: 0.0,
        hi: 1.0,
        batch_size: 128,
    }
}

fn correct(s: &Setup<'_>, f: &Fixture) -> Vec<bool> {
    let preds = s.predict(&f.data.x).unwrap();
    preds.iter().zip(&f.data.y).map(|(p, y)| p == y).collect()
}

fn share(v: &[bool]) -> f64 {
    v.iter().filter(|&&b| b).count() as f64 / v.len() as f64
}

/// Every comparison, as a test per model form.
macro_rules! reference_tests {
    ($module:ident, $model:literal) => {
        mod $module {
            #[test]
            fn clean_predictions_match_pytorch() {
                super::clean_predictions_match_pytorch($model);
            }
            #[test]
            fn fgsm_matches_torchattacks() {
                super::fgsm_matches_torchattacks($model);
            }
            #[test]
            fn pgd_with_the_same_noise_matches_torchattacks() {
                super::pgd_with_the_same_noise_matches_torchattacks($model);
            }
            #[test]
            fn cw_median_l2_matches_foolbox() {
                super::cw_median_l2_matches_foolbox($model);
            }
        }
    };
}

reference_tests!(onnx, "digits_mlp.onnx");
#[cfg(feature = "torch")]
reference_tests!(torchscript, "digits_mlp.pt");

fn clean_predictions_match_pytorch(model: &str) {
    let f = fixture(model);
    let s = setup(&f);
    let preds = s.predict(&f.data.x).unwrap();
    let expected: Vec<i64> = f.reference["clean_pred"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    assert_eq!(preds, expected);
}

fn fgsm_matches_torchattacks(model: &str) {
    let f = fixture(model);
    let s = setup(&f);
    let ok = correct(&s, &f);
    let n = f.data.len();
    let allowed = n.div_ceil(1000);
    for r in f.reference["fgsm"].as_array().unwrap() {
        let eps = r["epsilon"].as_f64().unwrap() as f32;
        // torchattacks attacks every sample: do the same to compare every prediction.
        let all = vec![true; n];
        let out = attacks::fgsm(
            &s,
            &f.data.x,
            &f.data.y,
            &all,
            &f.data.y,
            Goal::Untargeted,
            eps,
        )
        .unwrap();
        let preds = s.predict(&out.adv).unwrap();
        let expected: Vec<i64> = r["adv_pred"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap())
            .collect();
        let mismatches = preds.iter().zip(&expected).filter(|(a, b)| a != b).count();
        assert!(
            mismatches <= allowed,
            "ε={eps}: {mismatches} predictions differ from torchattacks"
        );
        // And the skipping version gives the same robust accuracy as the reference.
        let skipping = attacks::fgsm(
            &s,
            &f.data.x,
            &f.data.y,
            &ok,
            &f.data.y,
            Goal::Untargeted,
            eps,
        )
        .unwrap();
        let reference = r["robust_accuracy"].as_f64().unwrap();
        assert!(
            (share(&skipping.robust) - reference).abs() <= allowed as f64 / n as f64 + 1e-9,
            "ε={eps}: {} vs {reference}",
            share(&skipping.robust)
        );
    }
}

fn pgd_with_the_same_noise_matches_torchattacks(model: &str) {
    let f = fixture(model);
    let s = setup(&f);
    let ok = correct(&s, &f);
    let bytes = std::fs::read(example().join("pgd_noise.npy")).unwrap();
    let noise = data::parse_npy(&bytes).unwrap();
    let Values::Float(unit) = noise.values else {
        panic!("noise is float")
    };
    for r in f.reference["pgd"].as_array().unwrap() {
        let p = Pgd {
            eps: r["epsilon"].as_f64().unwrap() as f32,
            steps: r["steps"].as_u64().unwrap() as usize,
            alpha: r["alpha"].as_f64().unwrap() as f32,
            restarts: 1,
            noise: Noise::Given {
                unit: unit.clone(),
                seed: 0,
            },
            early_stop: true,
        };
        let out = attacks::pgd(
            &s,
            &f.data.x,
            &f.data.y,
            &ok,
            &f.data.y,
            Goal::Untargeted,
            &p,
        )
        .unwrap();
        let ours = share(&out.robust) * 100.0;
        let theirs = r["robust_accuracy"].as_f64().unwrap() * 100.0;
        assert!(
            (ours - theirs).abs() <= 1.0,
            "ε={}: {ours:.2} vs torchattacks {theirs:.2}",
            p.eps
        );
        // Every adversarial stays in the ε-ball and the box.
        for (a, x) in out.adv.iter().zip(&f.data.x) {
            assert!((a - x).abs() <= p.eps + 1e-6 && (0.0..=1.0).contains(a));
        }
    }
}

#[allow(clippy::print_stderr)] // the measured numbers, visible with --nocapture
fn cw_median_l2_matches_foolbox(model: &str) {
    let f = fixture(model);
    let s = setup(&f);
    let ok = correct(&s, &f);
    let r = &f.reference["cw"];
    let params = &r["params"];
    let p = Cw {
        steps: params["steps"].as_u64().unwrap() as usize,
        binary_steps: params["binary_search_steps"].as_u64().unwrap() as usize,
        initial_const: params["initial_const"].as_f64().unwrap(),
        learning_rate: params["stepsize"].as_f64().unwrap(),
        confidence: params["confidence"].as_f64().unwrap(),
        abort_early: true,
    };
    let out = attacks::cw(
        &s,
        &f.data.x,
        &f.data.y,
        &ok,
        &f.data.y,
        Goal::Untargeted,
        &p,
    )
    .unwrap();
    let mut found: Vec<f32> = out.l2.iter().flatten().copied().collect();
    found.sort_by(f32::total_cmp);
    let m = found.len();
    let median = if m % 2 == 1 {
        found[m / 2]
    } else {
        (found[m / 2 - 1] + found[m / 2]) / 2.0
    };
    let reference = r["median_l2"].as_f64().unwrap() as f32;
    eprintln!(
        "cw: median L2 {median} vs foolbox {reference}, found {m} vs {}",
        r["found"]
    );
    assert!(
        (median - reference).abs() <= 0.05 * reference,
        "median L2 {median} vs foolbox {reference}"
    );
    // Every CW adversarial is a real one: re-check a few by the norm bound only (the attack
    // keeps the smallest successful perturbation, so the norm is positive).
    assert!(found.iter().all(|&l| l > 0.0));
}
