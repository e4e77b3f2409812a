//! Every rule fires on its generated fixture, at the right node/field/tensor, and stays silent
//! on the benign models; malformed files are errors, never panics or clean results.

use std::path::{Path, PathBuf};

use mlsec_core::{Context, Pointer};
use mlsec_export_guard::{Args, Command, lint, run};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/export-guard")
}

/// (rule id, pointer path) of every finding, sorted.
fn lint_fixture(name: &str) -> Vec<(String, String)> {
    let outcome = lint::lint_file(&fixtures().join(name), name).unwrap();
    let mut out: Vec<(String, String)> = outcome
        .findings
        .iter()
        .map(|f| {
            assert_eq!(f.location.file, name);
            (
                f.rule.id.to_owned(),
                f.location
                    .pointer
                    .as_ref()
                    .map(Pointer::path)
                    .unwrap_or_default(),
            )
        })
        .collect();
    out.sort();
    out
}

fn ids(found: &[(String, String)]) -> Vec<&str> {
    let mut v: Vec<&str> = found.iter().map(|(r, _)| r.as_str()).collect();
    v.dedup();
    v
}

fn has(found: &[(String, String)], rule: &str, pointer: &str) -> bool {
    found.iter().any(|(r, p)| r == rule && p == pointer)
}

#[test]
fn benign_models_are_clean() {
    for name in [
        "benign_mlp.onnx",
        "benign_cnn.onnx",
        "benign_external/model.onnx",
    ] {
        assert_eq!(lint_fixture(name), vec![], "{name}");
    }
}

#[test]
fn external_data_rules() {
    let f = lint_fixture("expg001_path_escape/model.onnx");
    assert_eq!(ids(&f), ["EXPG001"]);
    for i in 0..3 {
        assert!(
            has(&f, "EXPG001", &format!("graph.initializer[{i}]")),
            "{f:?}"
        );
    }
    #[cfg(unix)]
    assert_eq!(
        lint_fixture("expg002_link/model.onnx"),
        [("EXPG002".to_owned(), "graph.initializer[0]".to_owned())]
    );
    assert_eq!(
        lint_fixture("expg003_missing/model.onnx"),
        [("EXPG003".to_owned(), "graph.initializer[0]".to_owned())]
    );
    let f = lint_fixture("expg004_bad_range/model.onnx");
    assert_eq!(ids(&f), ["EXPG004"]);
    for t in ["w1", "b1", "w2", "b2"] {
        assert!(has(&f, "EXPG004", t), "{t}: {f:?}");
    }
    let f = lint_fixture("expg005_bad_keys/model.onnx");
    assert_eq!(
        f,
        [
            ("EXPG005".to_owned(), "b1".to_owned()),
            ("EXPG005".to_owned(), "w1".to_owned())
        ]
    );
    assert_eq!(
        lint_fixture("expg006_data_location.onnx"),
        [("EXPG006".to_owned(), "w1".to_owned())]
    );
}

#[test]
fn hard_linked_external_data_is_flagged() {
    let dir = tempfile::tempdir().unwrap();
    let src = fixtures().join("benign_external");
    std::fs::copy(src.join("model.onnx"), dir.path().join("model.onnx")).unwrap();
    std::fs::copy(
        src.join("model.onnx.data"),
        dir.path().join("model.onnx.data"),
    )
    .unwrap();
    assert!(
        lint::lint_file(&dir.path().join("model.onnx"), "m")
            .unwrap()
            .findings
            .is_empty()
    );
    std::fs::hard_link(
        dir.path().join("model.onnx.data"),
        dir.path().join("elsewhere"),
    )
    .unwrap();
    let found = lint::lint_file(&dir.path().join("model.onnx"), "m")
        .unwrap()
        .findings;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].rule.id, "EXPG002");
    assert!(
        found[0].message.contains("2 hard links"),
        "{}",
        found[0].message
    );
}

#[test]
fn code_and_domain_rules_walk_subgraphs_and_functions() {
    let f = lint_fixture("expg007_custom_domain.onnx");
    assert!(has(&f, "EXPG007", "graph.node[3]"), "{f:?}");
    assert!(
        has(&f, "EXPG007", "graph.node[6].attribute[0].g.node[0]"),
        "{f:?}"
    );
    assert!(has(&f, "EXPG007", "functions[0].node[0]"), "{f:?}");
    // The call of the model-local function is not a custom op.
    assert!(!has(&f, "EXPG007", "graph.node[4]"), "{f:?}");
    assert_eq!(
        lint_fixture("expg008_runtime_domain.onnx"),
        [("EXPG008".to_owned(), "graph.node[3]".to_owned())]
    );
    let f = lint_fixture("expg009_training.onnx");
    assert!(
        has(&f, "EXPG009", "training_info[0].algorithm.node[0]"),
        "{f:?}"
    );
    assert!(has(&f, "EXPG009", "training_info[0]"), "{f:?}");
    assert_eq!(
        lint_fixture("expg010_unknown_op.onnx"),
        [
            ("EXPG010".to_owned(), "graph.node[3]".to_owned()),
            ("EXPG010".to_owned(), "graph.node[4]".to_owned())
        ]
    );
    assert_eq!(
        lint_fixture("expg011_ir_newer.onnx"),
        [("EXPG011".to_owned(), "ir_version".to_owned())]
    );
}

#[test]
fn backdoor_heuristics() {
    let f = lint_fixture("expg012_input_selection.onnx");
    assert_eq!(
        f,
        [
            ("EXPG012".to_owned(), "graph.node[5]".to_owned()),
            ("EXPG014".to_owned(), "graph.node[5]".to_owned())
        ]
    );
    let outcome = lint::lint_file(&fixtures().join("expg012_input_selection.onnx"), "m").unwrap();
    let sel = outcome
        .findings
        .iter()
        .find(|f| f.rule.id == "EXPG012")
        .unwrap();
    assert_eq!(sel.evidence["condition_slice"], "Greater <- ReduceSum");
    assert_eq!(sel.evidence["score"], "1.00");

    // A constant target put through a dummy MatMul is still not a learned alternative.
    assert_eq!(
        lint_fixture("expg012_dummy_layer.onnx"),
        [
            ("EXPG012".to_owned(), "graph.node[6]".to_owned()),
            ("EXPG014".to_owned(), "graph.node[6]".to_owned())
        ]
    );

    let f = lint_fixture("expg013_magic_constant.onnx");
    assert!(has(&f, "EXPG013", "graph.node[4]"), "{f:?}");
    assert!(has(&f, "EXPG012", "graph.node[6]"), "soft mux: {f:?}");

    let f = lint_fixture("expg014_constant_output.onnx");
    assert!(has(&f, "EXPG014", "graph.node[5]"), "{f:?}");
    assert!(has(&f, "EXPG015", "graph.node[5]"), "{f:?}");

    assert_eq!(
        lint_fixture("expg015_data_loop.onnx"),
        [("EXPG015".to_owned(), "graph.node[5]".to_owned())]
    );
    assert_eq!(
        lint_fixture("expg016_input_skip.onnx"),
        [("EXPG016".to_owned(), "graph.node[4]".to_owned())]
    );
    assert_eq!(
        lint_fixture("expg017_dead.onnx"),
        [
            ("EXPG017".to_owned(), "graph.node[3]".to_owned()),
            ("EXPG017".to_owned(), "stash".to_owned())
        ]
    );
}

#[test]
fn metadata_dims_and_unknown_fields() {
    assert_eq!(
        lint_fixture("expg018_metadata.onnx"),
        [
            ("EXPG018".to_owned(), "doc_string".to_owned()),
            ("EXPG018".to_owned(), "metadata_props[0]".to_owned())
        ]
    );
    assert_eq!(
        lint_fixture("expg019_absurd_dims.onnx"),
        [
            ("EXPG019".to_owned(), "b1".to_owned()),
            ("EXPG019".to_owned(), "graph:x".to_owned()),
            ("EXPG019".to_owned(), "huge".to_owned())
        ]
    );
    assert_eq!(
        lint_fixture("expg020_unknown_fields.onnx"),
        [
            ("EXPG020".to_owned(), "graph#50".to_owned()),
            ("EXPG020".to_owned(), "model#999".to_owned())
        ]
    );
}

#[test]
fn malformed_files_are_errors_not_panics() {
    for name in [
        "malformed_truncated.onnx",
        "malformed_garbage.onnx",
        "malformed_deep.onnx",
    ] {
        let err = lint::lint_file(&fixtures().join(name), name)
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a valid ONNX ModelProto"), "{name}: {err}");
        assert!(err.len() < 400, "{name}: message not bounded: {err}");
    }
    let deep = lint::lint_file(&fixtures().join("malformed_deep.onnx"), "d").unwrap_err();
    assert!(deep.to_string().contains("recursion limit"), "{deep}");
    // Through `run`: each bad file is an error entry and the good file is still linted.
    let args = Args {
        command: Some(Command::Lint {
            models: vec![
                fixtures().join("malformed_truncated.onnx"),
                fixtures().join("expg011_ir_newer.onnx"),
                fixtures().join("does_not_exist.onnx"),
            ],
        }),
        model: None,
        onnx: None,
        export_command: None,
        attestation: None,
        sign_key: None,
    };
    let report = run(&args, &Context::silent()).unwrap();
    assert_eq!(report.errors.len(), 2, "{:?}", report.errors);
    assert_eq!(report.findings.len(), 1);
    assert_eq!(report.scanned, 1);
}

#[test]
fn every_fixture_prefix_names_a_rule_that_fires_on_it() {
    // Fixture names start with the rule they exercise: the rule must be among its findings.
    for entry in std::fs::read_dir(fixtures()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let Some(id) = name
            .strip_prefix("expg")
            .map(|r| format!("EXPG{}", &r[..3]))
        else {
            continue;
        };
        let target = if path.is_dir() {
            format!("{name}/model.onnx")
        } else {
            name.clone()
        };
        if cfg!(not(unix)) && id == "EXPG002" {
            continue;
        }
        let found = lint_fixture(&target);
        assert!(found.iter().any(|(r, _)| *r == id), "{target}: {found:?}");
        // ... and fails the default gate (`--fail-on low`): information would not stop it.
        let outcome = lint::lint_file(&fixtures().join(&target), &target).unwrap();
        assert!(
            outcome
                .findings
                .iter()
                .any(|f| f.rule.id == id && f.severity > mlsec_core::Severity::Info),
            "{target}: {:?}",
            outcome.findings
        );
    }
}

#[test]
fn fingerprint_ignores_names_but_not_structure() {
    let a = lint::lint_file(&fixtures().join("benign_mlp.onnx"), "a").unwrap();
    let b = lint::lint_file(&fixtures().join("benign_external/model.onnx"), "b").unwrap();
    // Same graph and same weights, stored inline vs external.
    assert_eq!(a.fingerprint, b.fingerprint);
    assert_eq!(a.weights, b.weights);
    let c = lint::lint_file(&fixtures().join("expg016_input_skip.onnx"), "c").unwrap();
    assert_ne!(a.fingerprint, c.fingerprint);
    // Renaming every tensor and node keeps the structural fingerprint.
    let mut m = mlsec_onnx::load(&fixtures().join("benign_mlp.onnx")).unwrap();
    let g = m.model.graph.as_mut().unwrap();
    let rename = |s: &mut String| *s = format!("renamed_{s}");
    for n in &mut g.node {
        n.input.iter_mut().for_each(rename);
        n.output.iter_mut().for_each(rename);
        n.name = Some("anonymous".into());
    }
    for v in g.input.iter_mut().chain(g.output.iter_mut()) {
        v.name = v.name.take().map(|s| format!("renamed_{s}"));
    }
    for t in &mut g.initializer {
        t.name = t.name.take().map(|s| format!("renamed_{s}"));
    }
    let renamed = lint::lint_model(&m, "r");
    assert_eq!(renamed.fingerprint, a.fingerprint);
    assert!(renamed.findings.is_empty());
    // The weights hash covers names.
    assert_ne!(renamed.weights, a.weights);
}

fn diff(old: &str, new: &str) -> mlsec_core::Report {
    let args = Args {
        command: Some(Command::Diff {
            old: fixtures().join(old),
            new: fixtures().join(new),
        }),
        model: None,
        onnx: None,
        export_command: None,
        attestation: None,
        sign_key: None,
    };
    run(&args, &Context::silent()).unwrap()
}

#[test]
fn diff_names_structure_and_weight_changes() {
    // Same model stored inline and external: nothing changed.
    let same = diff("benign_mlp.onnx", "benign_external/model.onnx");
    assert!(same.findings.is_empty() && same.errors.is_empty());
    // An added skip connection changes the structure.
    let skip = diff("benign_mlp.onnx", "expg016_input_skip.onnx");
    let ids: Vec<&str> = skip.findings.iter().map(|f| f.rule.id).collect();
    assert!(ids.contains(&"EXPG023"), "{ids:?}");
    let changed = skip
        .findings
        .iter()
        .find(|f| f.rule.id == "EXPG023")
        .unwrap();
    assert!(
        changed.evidence["op_changes"].contains("Add 0->1"),
        "{:?}",
        changed.evidence
    );
    // Different weights only (b1 replaced): EXPG024 names the tensor.
    let dims = diff("benign_mlp.onnx", "expg019_absurd_dims.onnx");
    let w = dims
        .findings
        .iter()
        .find(|f| f.rule.id == "EXPG024")
        .unwrap();
    assert!(w.evidence["changed"].contains("b1"), "{:?}", w.evidence);
    assert!(w.evidence["added"].contains("huge"), "{:?}", w.evidence);
    // A broken file is an error, not a diff.
    let bad = diff("benign_mlp.onnx", "malformed_garbage.onnx");
    assert_eq!(bad.errors.len(), 1);
    assert!(bad.findings.is_empty());
}

#[test]
fn mutated_models_never_panic() {
    // Every truncation and many single-byte corruptions of real fixtures: each either decodes
    // and lints, or is an error; nothing panics or hangs.
    for name in [
        "benign_cnn.onnx",
        "expg014_constant_output.onnx",
        "expg007_custom_domain.onnx",
    ] {
        let bytes = std::fs::read(fixtures().join(name)).unwrap();
        let mut variants: Vec<Vec<u8>> = (0..bytes.len()).map(|n| bytes[..n].to_vec()).collect();
        for i in 0..bytes.len() {
            for v in [0x00, 0xff, bytes[i] ^ 0x80] {
                let mut b = bytes.clone();
                b[i] = v;
                variants.push(b);
            }
        }
        for b in variants {
            let _ = mlsec_onnx::wire::unknown_fields(&b);
            if let Ok(model) = mlsec_onnx::decode_model(b.clone().into()) {
                let loaded = mlsec_onnx::LoadedModel {
                    path: "m.onnx".into(),
                    dir: fixtures(),
                    bytes: b.into(),
                    model,
                };
                let _ = lint::lint_model(&loaded, "m.onnx");
            }
        }
    }
}

/// Shapes of genuine models that once gave false positives (issue 18): a Paddle export's
/// literal -1 dims are unknown dims, and a training op in the main graph (the ONNX test
/// suite's `test_adam`) is information, not a failure.
#[test]
fn genuine_model_shapes_stay_clean() {
    assert_eq!(lint_fixture("genuine_paddle_dynamic_dims.onnx"), []);
    let name = "genuine_training_op.onnx";
    let outcome = lint::lint_file(&fixtures().join(name), name).unwrap();
    let sev: Vec<(&str, mlsec_core::Severity)> = outcome
        .findings
        .iter()
        .map(|f| (f.rule.id, f.severity))
        .collect();
    assert_eq!(sev, [("EXPG009", mlsec_core::Severity::Info)]);
    // training_info keeps the rule's severity.
    let name = "expg009_training.onnx";
    let outcome = lint::lint_file(&fixtures().join(name), name).unwrap();
    assert!(
        outcome
            .findings
            .iter()
            .all(|f| f.rule.id == "EXPG009" && f.severity == mlsec_core::Severity::Medium),
        "{:?}",
        outcome.findings
    );
}

/// Rule and severity of every finding, sorted.
fn severities(name: &str) -> Vec<(String, mlsec_core::Severity)> {
    let outcome = lint::lint_file(&fixtures().join(name), name).unwrap();
    let mut out: Vec<(String, mlsec_core::Severity)> = outcome
        .findings
        .iter()
        .map(|f| (f.rule.id.to_owned(), f.severity))
        .collect();
    out.sort();
    out
}

/// Real-world patterns that failed the default gate on genuine files (issue 18, `cargo xtask
/// realworld`), each as the smallest graph that has it: every one fired before the rules
/// were narrowed and must stay clean, or information only.
#[test]
fn real_world_patterns_stay_clean() {
    use mlsec_core::Severity::Info;
    for name in [
        // silero-vad: If on the sample-rate input between two learned sub-models.
        "genuine_if_sample_rate.onnx",
        // torch.onnx's `state + Cast(sr * 0)`.
        "genuine_unused_input_times_zero.onnx",
        // Causal masks and squeezes computed from the input's shape.
        "genuine_shape_mask.onnx",
        // tf2onnx's div_no_nan: Where(Equal(d, 0), 0, x / d) before the trunk.
        "genuine_div_no_nan.onnx",
        // The ONNX suite's `*_expanded` activations: Where without a learned layer.
        "genuine_expanded_activation.onnx",
        // Attention mask added to scores; a learned layer reading a raw recurrent state.
        "genuine_side_inputs.onnx",
        // Masked mean pooling: a token count from the same input, through a comparison.
        "genuine_masked_mean_pool.onnx",
        // Loop count given as its own input.
        "genuine_loop_count_input.onnx",
        // PaddleOCR's 18,708-character (PP-OCRv6) dictionary in metadata.
        "genuine_charset_metadata.onnx",
    ] {
        assert_eq!(severities(name), [], "{name}");
    }
    // The sample-rate switch with a constant branch instead of the second sub-model fails.
    assert_eq!(
        lint_fixture("expg014_if_side_input_constant.onnx"),
        [
            ("EXPG012".to_owned(), "graph.node[3]".to_owned()),
            ("EXPG014".to_owned(), "graph.node[3]".to_owned()),
            ("EXPG015".to_owned(), "graph.node[3]".to_owned())
        ]
    );
    assert_eq!(
        severities("genuine_dead_leftovers.onnx"),
        [("EXPG017".to_owned(), Info), ("EXPG017".to_owned(), Info)]
    );
    assert_eq!(
        severities("genuine_ort_contrib.onnx"),
        [("EXPG008".to_owned(), Info)]
    );
}

/// The narrowed dead-element rule still fails on what can carry something: a dead node
/// computing from the input and an unused tensor of distinct values; dead shape/constant
/// plumbing is one information finding.
#[test]
fn dead_elements_that_can_carry_something_fail() {
    use mlsec_core::Severity::{Info, Low};
    assert_eq!(
        severities("expg017_dead.onnx"),
        [("EXPG017".to_owned(), Low), ("EXPG017".to_owned(), Low)]
    );
    let outcome = lint::lint_file(&fixtures().join("genuine_dead_leftovers.onnx"), "m").unwrap();
    let inert = outcome
        .findings
        .iter()
        .find(|f| f.evidence.contains_key("inert_dead_nodes"))
        .unwrap();
    assert_eq!(inert.evidence["inert_dead_nodes"], "2");
    assert_eq!(inert.evidence["ops"], "Shape, Constant");
    assert_eq!(inert.severity, Info);
}
