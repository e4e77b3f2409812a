//! `adversarial` on torch.export archives (`.pt2`, run natively by the runtime's front end)
//! gives the same robust accuracy as on the ONNX export of the same weights, for FGSM, PGD and
//! CW (models and exports: `scripts/adversarial/make_pt2_models.py`).

use std::path::{Path, PathBuf};

use clap::Parser;
use mlsec_core::{Context, ExitStatus, Policy, Report};

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: mlsec_adversarial::Args,
}

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/adversarial")
}

fn run(model: &str) -> Report {
    let model = dir().join("pt2").join(model).display().to_string();
    let data = dir().join("digits_test.npz").display().to_string();
    let args = [
        "adversarial",
        "--model",
        &model,
        "--data",
        &data,
        "--attack",
        "fgsm,pgd,cw",
        "--epsilon",
        "0.05,0.1",
        "--limit",
        "60",
        "--cw-steps",
        "100",
        "--cw-binary-steps",
        "4",
        "--no-early-stop",
    ];
    let cli = Cli::try_parse_from(args).expect("arguments parse");
    mlsec_adversarial::run(&cli.args, &Context::silent()).expect("the command starts")
}

fn robustness(r: &Report) -> Vec<Vec<String>> {
    r.tables
        .iter()
        .find(|t| t.title.starts_with("Robustness"))
        .unwrap_or_else(|| panic!("no robustness table: {:?}", r.errors))
        .rows
        .clone()
}

#[test]
#[allow(clippy::print_stderr)] // the compared rows, visible with --nocapture
fn pt2_gives_the_robust_accuracy_of_its_onnx_export() {
    for name in ["mlp", "cnn", "transformer"] {
        let a = run(&format!("{name}.pt2"));
        let b = run(&format!("{name}.onnx"));
        assert!(a.errors.is_empty(), "{name}.pt2: {:?}", a.errors);
        assert_eq!(
            a.exit_status(&Policy::default()),
            b.exit_status(&Policy::default())
        );
        assert_ne!(a.exit_status(&Policy::default()), ExitStatus::Error);
        let (ra, rb) = (robustness(&a), robustness(&b));
        assert_eq!(ra.len(), rb.len(), "{ra:?} vs {rb:?}");
        assert!(ra.len() >= 5, "FGSM and PGD at two budgets and CW: {ra:?}");
        for (x, y) in ra.iter().zip(&rb) {
            eprintln!("{name}: pt2 {:?} / onnx {:?}", &x[..7], &y[..7]);
            // attack, budget, clean accuracy, robust accuracy, success rate and the median
            // L∞ and L2 distances agree.
            assert_eq!(x[..7], y[..7], "{name}");
        }
    }
}
