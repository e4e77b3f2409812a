//! Parser acceptance and calibration on the real configs vendored in `testdata/triton-corpus`
//! (where each came from: `testdata/triton-corpus/SOURCES`).

#![allow(clippy::print_stdout)] // the test prints the distribution

use std::collections::BTreeMap;
use std::path::PathBuf;

use mlsec_core::{Context, Severity};
use mlsec_triton::{Args, run};

fn corpus() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/triton-corpus");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{} is part of the repository: {e}", dir.display()))
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "pbtxt"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_corpus_config_parses_and_validates() {
    let files = corpus();
    assert_eq!(files.len(), 506, "the corpus holds 506 configs");
    let args = Args {
        targets: files,
        summary: true,
        launch_args: None,
        launch_args_file: None,
    };
    let report = run(&args, &Context::silent()).expect("runs");
    assert_eq!(report.scanned, 506);
    let errors: Vec<String> = report.errors.iter().map(ToString::to_string).collect();
    assert!(
        errors.is_empty(),
        "{} configs rejected:\n{}",
        errors.len(),
        errors.join("\n")
    );

    // The distribution of findings per rule (documented in docs/triton.md).
    let mut by_rule: BTreeMap<(&str, Severity), usize> = BTreeMap::new();
    for f in &report.findings {
        *by_rule.entry((f.rule.id, f.severity)).or_default() += 1;
    }
    for ((id, sev), n) in &by_rule {
        let name = mlsec_triton::RULES
            .iter()
            .find(|r| r.id == *id)
            .map_or("", |r| r.name);
        println!("| {id} | {name} | {sev} | {n} |");
    }
    // Calibration: these are real configs that Triton's own projects ship. Nothing in them
    // loads code from outside the model directory, so nothing is high or critical; medium
    // findings (configs Triton refuses) appear only in Triton's QA negative tests, which are
    // invalid on purpose (`qa_L0_model_config_*`).
    let high: Vec<String> = report
        .findings
        .iter()
        .filter(|f| f.severity >= Severity::High)
        .map(|f| format!("{} {} {}", f.location, f.rule.id, f.message))
        .collect();
    assert!(high.is_empty(), "{}", high.join("\n"));
    for f in report
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Medium)
    {
        assert!(
            f.location.file.contains("_qa_L0_model_config_"),
            "{} {}",
            f.location,
            f.message
        );
    }
    assert!(
        report.findings.iter().any(|f| f.rule.id == "TRTN004"),
        "the QA ensemble cases are caught"
    );
}
