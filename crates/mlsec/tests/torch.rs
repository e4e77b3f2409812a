//! The `torch` feature through the real binary: a TorchScript module gives the same results as
//! its ONNX export, and the binary finds libtorch through its rpath (`build.rs`), with no
//! `LD_LIBRARY_PATH`.
#![cfg(feature = "torch")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `mlsec ARGS --format json` in the repository root, without `LD_LIBRARY_PATH`.
fn mlsec_json(args: &[&str]) -> (i32, Value) {
    let out: Output = Command::new(env!("CARGO_BIN_EXE_mlsec"))
        .args(args)
        .args(["--format", "json"])
        .current_dir(repo_root())
        .env_remove("LD_LIBRARY_PATH")
        .stdin(Stdio::null())
        .output()
        .expect("mlsec runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let code = out
        .status
        .code()
        .unwrap_or_else(|| panic!("killed: {stderr}"));
    let json = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("exit {code}, no JSON ({e}): {stderr}"));
    (code, json)
}

fn adversarial(model: &str) -> (i32, Value) {
    mlsec_json(&[
        "adversarial",
        "--model",
        model,
        "--data",
        "testdata/adversarial/digits_test.npz",
        "--attack",
        "fgsm,pgd",
        "--epsilon",
        "0.05,0.1",
        "--limit",
        "120",
    ])
}

#[test]
fn adversarial_on_torchscript_matches_the_onnx_export() {
    let (ts_code, ts) = adversarial("testdata/adversarial/digits_mlp.pt");
    let (onnx_code, onnx) = adversarial("testdata/adversarial/digits_mlp.onnx");
    assert_eq!(ts["errors"], Value::Array(vec![]), "{ts}");
    assert_eq!(ts_code, onnx_code);
    let table = |v: &Value| v["tables"][0]["rows"].clone();
    let (a, b) = (table(&ts), table(&onnx));
    let rows = a.as_array().unwrap();
    assert_eq!(rows.len(), 4, "{a}");
    for (ra, rb) in rows.iter().zip(b.as_array().unwrap()) {
        // attack, epsilon, clean accuracy and robust accuracy columns agree.
        for col in 0..4 {
            assert_eq!(ra[col], rb[col], "{ra} vs {rb}");
        }
    }
}

#[test]
fn inspect_runs_fgsm_on_torchscript_and_warns_about_activations() {
    let (code, v) = mlsec_json(&[
        "inspect",
        "--model",
        "testdata/adversarial/digits_mlp.pt",
        "--data",
        "testdata/adversarial/digits_test.npz",
    ]);
    assert_eq!(v["errors"], Value::Array(vec![]), "{v}");
    assert!(v["data"]["fgsm"]["n"].as_u64().unwrap() > 0, "{v}");
    let warnings = v["warnings"].to_string();
    assert!(warnings.contains("activations skipped"), "{warnings}");
    assert!(code == 0 || code == 2, "{code}");
}

/// The original article's adversarial lines, as printed, with real TorchScript checkpoints
/// named as the article names them.
#[test]
fn article_adversarial_lines_on_torchscript() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let ts = repo_root().join("testdata/adversarial/digits_mlp.pt");
    for name in ["checkpoint.pt", "model.pt"] {
        std::fs::copy(&ts, cwd.join(name)).unwrap();
    }
    std::fs::copy(
        repo_root().join("testdata/adversarial/digits_test.npz"),
        cwd.join("digits_test.npz"),
    )
    .unwrap();
    let run = |line: &str| -> (i32, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_mlsec"))
            .args(line.split_whitespace().skip(1))
            .current_dir(cwd)
            .env_remove("LD_LIBRARY_PATH")
            .stdin(Stdio::null())
            .output()
            .expect("mlsec runs");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code().expect("exited"), text)
    };
    let (code, text) = run(
        "mlsec adversarial --model checkpoint.pt --data digits_test.npz --limit 200 --attack fgsm,pgd --epsilon 0.03,0.1 --baseline baseline.json",
    );
    assert_eq!(code, 0, "{text}");
    for line in [
        "mlsec adversarial --model checkpoint.pt --attack fgsm --epsilon 0.03 --baseline baseline.json",
        "mlsec adversarial --model model.pt --baseline baseline.json",
    ] {
        let (code, text) = run(line);
        assert_eq!(code, 0, "{line}\n{text}");
        assert!(text.contains("fgsm"), "{line}\n{text}");
    }
}
