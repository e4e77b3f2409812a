//! The provenance chain: record stages, verify them, catch tampering of every kind.

use std::path::{Path, PathBuf};

use mlsec_core::{Context, ExitStatus, Pointer, Policy, Report};
use mlsec_export_guard::{Args, Command, run};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/export-guard")
}

fn args(command: Command) -> Args {
    Args {
        command: Some(command),
        model: None,
        onnx: None,
        export_command: None,
        attestation: None,
        sign_key: None,
    }
}

fn record(stage: &str, artifacts: &[PathBuf], from: Option<&Path>, out: &Path) -> Report {
    run(
        &args(Command::Record {
            stage: stage.into(),
            artifacts: artifacts.to_vec(),
            from: from.map(Path::to_owned),
            command: Some("python export.py".into()),
            attestation: out.to_owned(),
            sign_key: None,
        }),
        &Context::silent(),
    )
    .unwrap()
}

fn verify(attestation: &Path, artifacts: &[PathBuf]) -> Report {
    run(
        &args(Command::Verify {
            attestation: attestation.to_owned(),
            artifacts: artifacts.to_vec(),
            verify_key: None,
        }),
        &Context::silent(),
    )
    .unwrap()
}

/// A two-stage chain in a temporary directory: checkpoint -> ONNX with external data.
fn chain() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("model.pt"), b"PK\x03\x04 not really a checkpoint").unwrap();
    let src = fixtures().join("benign_external");
    std::fs::create_dir(d.join("onnx")).unwrap();
    std::fs::copy(src.join("model.onnx"), d.join("onnx/model.onnx")).unwrap();
    std::fs::copy(src.join("model.onnx.data"), d.join("onnx/model.onnx.data")).unwrap();
    let r1 = record(
        "pytorch",
        &[d.join("model.pt")],
        None,
        &d.join("stage1.json"),
    );
    assert!(
        r1.errors.is_empty() && r1.findings.is_empty(),
        "{:?}",
        r1.errors
    );
    let r2 = record(
        "onnx",
        &[d.join("onnx/model.onnx")],
        Some(&d.join("stage1.json")),
        &d.join("stage2.json"),
    );
    assert!(
        r2.errors.is_empty() && r2.findings.is_empty(),
        "{:?}",
        r2.errors
    );
    let out = d.join("stage2.json");
    (dir, out)
}

fn findings(report: &Report) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = report
        .findings
        .iter()
        .map(|f| {
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
    v.sort();
    v
}

#[test]
fn statement_is_in_toto_slsa_and_chained() {
    let (dir, stage2) = chain();
    let s: serde_json::Value = serde_json::from_slice(&std::fs::read(&stage2).unwrap()).unwrap();
    assert_eq!(s["_type"], "https://in-toto.io/Statement/v1");
    assert_eq!(s["predicateType"], "https://slsa.dev/provenance/v1");
    let names: Vec<&str> = s["subject"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["onnx/model.onnx", "onnx/model.onnx.data"]);
    let data = std::fs::read(dir.path().join("onnx/model.onnx.data")).unwrap();
    let expected = mlsec_export_guard::fingerprint::sha256_hex(&data);
    assert_eq!(s["subject"][1]["digest"]["sha256"], expected.as_str());
    let deps = s["predicate"]["buildDefinition"]["resolvedDependencies"]
        .as_array()
        .unwrap();
    let dep_names: Vec<&str> = deps.iter().map(|x| x["name"].as_str().unwrap()).collect();
    assert_eq!(dep_names, ["model.pt", "stage1.json"]);
    let s1 = std::fs::read(dir.path().join("stage1.json")).unwrap();
    assert_eq!(
        deps[1]["digest"]["sha256"],
        mlsec_export_guard::fingerprint::sha256_hex(&s1).as_str()
    );
    let byproducts: Vec<&str> = s["predicate"]["runDetails"]["byproducts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        byproducts,
        [
            "lint-report:onnx/model.onnx",
            "graph-fingerprint:onnx/model.onnx",
            "weights:onnx/model.onnx"
        ]
    );
    assert_eq!(
        s["predicate"]["buildDefinition"]["externalParameters"]["stage"],
        "onnx"
    );
}

#[test]
fn untouched_chain_verifies() {
    let (dir, stage2) = chain();
    let report = verify(&stage2, &[dir.path().join("onnx/model.onnx")]);
    assert!(report.findings.is_empty(), "{:?}", findings(&report));
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(report.scanned, 2);
    assert_eq!(report.exit_status(&Policy::default()), ExitStatus::Clean);
    // Every file of both stages is listed as ok.
    assert_eq!(
        report.tables[0]
            .rows
            .iter()
            .filter(|r| r[2] == "ok")
            .count(),
        4
    );
}

#[test]
fn tampered_external_data_is_caught() {
    let (dir, stage2) = chain();
    let data = dir.path().join("onnx/model.onnx.data");
    let mut bytes = std::fs::read(&data).unwrap();
    bytes[10] ^= 1;
    std::fs::write(&data, bytes).unwrap();
    let report = verify(&stage2, &[]);
    assert_eq!(
        findings(&report),
        [(
            "EXPG021".to_owned(),
            "stage onnx: onnx/model.onnx.data".to_owned()
        )]
    );
    assert_eq!(report.findings[0].evidence["stage"], "onnx");
    assert_eq!(report.exit_status(&Policy::default()), ExitStatus::Findings);
}

#[test]
fn tampered_checkpoint_names_the_first_stage() {
    let (dir, stage2) = chain();
    std::fs::write(dir.path().join("model.pt"), b"swapped").unwrap();
    let report = verify(&stage2, &[]);
    assert_eq!(
        findings(&report),
        [("EXPG021".to_owned(), "stage pytorch: model.pt".to_owned())]
    );
}

#[test]
fn edited_previous_statement_breaks_the_chain() {
    let (dir, stage2) = chain();
    let s1 = dir.path().join("stage1.json");
    let text = std::fs::read_to_string(&s1)
        .unwrap()
        .replace("pytorch", "pytorch2");
    std::fs::write(&s1, text).unwrap();
    let report = verify(&stage2, &[]);
    assert!(
        findings(&report).contains(&("EXPG022".to_owned(), "stage onnx: stage1.json".to_owned())),
        "{:?}",
        findings(&report)
    );
}

#[test]
fn new_external_file_and_uncovered_artifact_are_caught() {
    let (dir, stage2) = chain();
    let report = verify(&stage2, &[dir.path().join("stage1.json")]);
    assert_eq!(findings(&report).len(), 1);
    assert_eq!(report.findings[0].rule.id, "EXPG021");
    assert!(report.findings[0].message.contains("not covered"));
}

#[test]
fn garbage_attestation_is_a_finding_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.json");
    std::fs::write(&a, b"{\"_type\": 3}").unwrap();
    let report = verify(&a, &[]);
    assert_eq!(report.findings[0].rule.id, "EXPG022");
    std::fs::write(&a, [0xff, 0x00, 0x12]).unwrap();
    assert_eq!(verify(&a, &[]).findings[0].rule.id, "EXPG022");
}

#[test]
fn record_reports_lint_findings() {
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("m.onnx");
    std::fs::copy(fixtures().join("expg012_input_selection.onnx"), &m).unwrap();
    let report = record("onnx", &[m], None, &dir.path().join("s.json"));
    assert!(report.findings.iter().any(|f| f.rule.id == "EXPG012"));
    assert!(dir.path().join("s.json").exists());
}

#[test]
fn unreadable_model_writes_no_attestation() {
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("m.onnx");
    std::fs::copy(fixtures().join("malformed_truncated.onnx"), &m).unwrap();
    let report = record("onnx", &[m], None, &dir.path().join("s.json"));
    assert!(!report.errors.is_empty());
    assert!(!dir.path().join("s.json").exists());
}

#[test]
fn one_shot_form_writes_a_two_stage_chain() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("model.pt"), b"checkpoint bytes").unwrap();
    std::fs::copy(fixtures().join("benign_cnn.onnx"), d.join("model.onnx")).unwrap();
    let a = Args {
        command: None,
        model: Some(d.join("model.pt")),
        onnx: Some(d.join("model.onnx")),
        export_command: None,
        attestation: Some(d.join("provenance.json")),
        sign_key: None,
    };
    let report = run(&a, &Context::silent()).unwrap();
    assert!(
        report.errors.is_empty() && report.findings.is_empty(),
        "{:?}",
        report.errors
    );
    assert!(d.join("provenance.checkpoint.json").exists());
    let v = verify(&d.join("provenance.json"), &[d.join("model.onnx")]);
    assert!(v.findings.is_empty() && v.errors.is_empty());
    assert_eq!(v.scanned, 2);
    // Missing ONNX without --command cannot start.
    let missing = Args {
        onnx: Some(d.join("nope.onnx")),
        ..a
    };
    assert!(run(&missing, &Context::silent()).is_err());
}

#[test]
fn signed_envelopes_round_trip() {
    use p256::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let key = p256::SecretKey::from_slice(&[7u8; 32]).unwrap();
    std::fs::write(
        d.join("key.pem"),
        key.to_pkcs8_pem(LineEnding::LF).unwrap().as_bytes(),
    )
    .unwrap();
    std::fs::write(
        d.join("pub.pem"),
        key.public_key().to_public_key_pem(LineEnding::LF).unwrap(),
    )
    .unwrap();
    let other = p256::SecretKey::from_slice(&[9u8; 32]).unwrap();
    std::fs::write(
        d.join("other.pem"),
        other
            .public_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap(),
    )
    .unwrap();
    std::fs::copy(fixtures().join("benign_mlp.onnx"), d.join("m.onnx")).unwrap();
    let report = run(
        &args(Command::Record {
            stage: "onnx".into(),
            artifacts: vec![d.join("m.onnx")],
            from: None,
            command: None,
            attestation: d.join("s.json"),
            sign_key: Some(d.join("key.pem")),
        }),
        &Context::silent(),
    )
    .unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let env: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("s.json")).unwrap()).unwrap();
    assert_eq!(env["payloadType"], "application/vnd.in-toto+json");
    let verify_with = |key: &str| {
        run(
            &args(Command::Verify {
                attestation: d.join("s.json"),
                artifacts: vec![],
                verify_key: Some(d.join(key)),
            }),
            &Context::silent(),
        )
    };
    let ok = verify_with("pub.pem").unwrap();
    assert!(ok.findings.is_empty() && ok.errors.is_empty());
    assert_eq!(ok.scanned, 1);
    let bad = verify_with("other.pem").unwrap();
    assert_eq!(bad.findings.len(), 1);
    assert_eq!(bad.findings[0].rule.id, "EXPG022");
    assert!(verify_with("missing.pem").is_err());
}

fn safetensors(tensors: &[(&str, &[f32])]) -> Vec<u8> {
    let mut header = serde_json::Map::new();
    let mut data = Vec::new();
    for (name, values) in tensors {
        let begin = data.len();
        data.extend(values.iter().flat_map(|v| v.to_le_bytes()));
        header.insert(
            (*name).to_owned(),
            serde_json::json!({ "dtype": "F32", "shape": [values.len()], "data_offsets": [begin, data.len()] }),
        );
    }
    let header = serde_json::to_vec(&header).unwrap();
    [&(header.len() as u64).to_le_bytes()[..], &header, &data].concat()
}

#[test]
fn safetensors_checkpoints_get_per_tensor_digests() {
    let dir = tempfile::tempdir().unwrap();
    let ckpt = dir.path().join("model.safetensors");
    std::fs::write(&ckpt, safetensors(&[("a", &[1.0, 2.0]), ("b", &[3.0])])).unwrap();
    let report = record(
        "pytorch",
        std::slice::from_ref(&ckpt),
        None,
        &dir.path().join("s.json"),
    );
    assert!(report.errors.is_empty() && report.warnings.is_empty());
    let s: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("s.json")).unwrap()).unwrap();
    let tensors = s["subject"][0]["annotations"]["mlsec.tensors"]
        .as_object()
        .unwrap();
    assert_eq!(tensors.keys().collect::<Vec<_>>(), ["a", "b"]);
    std::fs::write(&ckpt, safetensors(&[("a", &[1.0, 2.0]), ("b", &[4.0])])).unwrap();
    let v = verify(&dir.path().join("s.json"), &[]);
    assert_eq!(v.findings.len(), 1);
    assert_eq!(v.findings[0].evidence["changed_tensors"], "b");
}

/// A `torch.save` zip gets the same per-tensor digests as the same tensors in safetensors: the
/// digest is of name, dtype, shape and bytes, not of the container.
#[test]
fn torch_checkpoints_get_per_tensor_digests_equal_to_safetensors_ones() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/checkpoint/clean");
    let dir = tempfile::tempdir().unwrap();
    let pt = dir.path().join("model.pt");
    std::fs::copy(root.join("model.pt"), &pt).unwrap();
    let report = record(
        "pytorch",
        std::slice::from_ref(&pt),
        None,
        &dir.path().join("s.json"),
    );
    assert!(
        report.errors.is_empty() && report.warnings.is_empty(),
        "{:?} {:?}",
        report.errors,
        report.warnings
    );
    let s: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("s.json")).unwrap()).unwrap();
    let tensors = s["subject"][0]["annotations"]["mlsec.tensors"]
        .as_object()
        .unwrap()
        .clone();
    assert!(tensors.contains_key("fc1.weight"), "{tensors:?}");
    // The same tensors written as safetensors by the converter digest the same.
    let st = dir.path().join("model.safetensors");
    let bytes = std::fs::read(&pt).unwrap();
    let mut views = Vec::new();
    mlsec_formats::load::visit(&bytes, Default::default(), &mut |v| {
        views.push((v.name, v.dtype, v.shape, v.bytes.into_owned()));
    });
    let refs: Vec<_> = views
        .iter()
        .map(|(n, d, s, b)| (n.clone(), *d, s.clone(), b.as_slice()))
        .collect();
    std::fs::write(
        &st,
        mlsec_formats::safetensors::write(&refs, &Default::default()),
    )
    .unwrap();
    let report = record(
        "safetensors",
        std::slice::from_ref(&st),
        None,
        &dir.path().join("t.json"),
    );
    assert!(report.errors.is_empty() && report.warnings.is_empty());
    let t: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("t.json")).unwrap()).unwrap();
    assert_eq!(
        t["subject"][0]["annotations"]["mlsec.tensors"],
        serde_json::json!(tensors)
    );
}

#[test]
fn model_signing_manifest_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("my_model");
    std::fs::create_dir_all(model.join("sub")).unwrap();
    std::fs::write(model.join("a.onnx"), b"aaa").unwrap();
    std::fs::write(model.join("sub/b.bin"), b"bbb").unwrap();
    let out = dir.path().join("model.sig.json");
    let manifest = |write: Option<&Path>, check: Option<&Path>| {
        run(
            &args(Command::Manifest {
                dir: model.clone(),
                write: write.map(Path::to_owned),
                check: check.map(Path::to_owned),
                sign_key: None,
                verify_key: None,
            }),
            &Context::silent(),
        )
        .unwrap()
    };
    let w = manifest(Some(&out), None);
    assert!(w.errors.is_empty(), "{:?}", w.errors);
    let s: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(s["predicateType"], "https://model_signing/signature/v1.0");
    assert_eq!(s["subject"][0]["name"], "my_model");
    let names: Vec<&str> = s["predicate"]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a.onnx", "sub/b.bin"]);
    // Root digest: SHA-256 over the raw digests in order.
    let mut concat = Vec::new();
    for data in [&b"aaa"[..], b"bbb"] {
        use sha2::Digest;
        concat.extend(sha2::Sha256::digest(data));
    }
    assert_eq!(
        s["subject"][0]["digest"]["sha256"],
        mlsec_export_guard::fingerprint::sha256_hex(&concat).as_str()
    );
    assert!(manifest(None, Some(&out)).findings.is_empty());
    std::fs::write(model.join("sub/b.bin"), b"BBB").unwrap();
    std::fs::write(model.join("extra.py"), b"import os").unwrap();
    assert_eq!(
        findings(&manifest(None, Some(&out))),
        [
            ("EXPG021".to_owned(), "extra.py".to_owned()),
            ("EXPG021".to_owned(), "sub/b.bin".to_owned())
        ]
    );
}

#[cfg(unix)]
#[test]
fn one_shot_runs_the_export_command_when_the_onnx_file_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("model.pt"), b"checkpoint bytes").unwrap();
    std::fs::copy(fixtures().join("benign_mlp.onnx"), d.join("src.onnx")).unwrap();
    let a = Args {
        command: None,
        model: Some(d.join("model.pt")),
        onnx: Some(d.join("out.onnx")),
        export_command: Some(format!(
            "cp '{}' '{}'",
            d.join("src.onnx").display(),
            d.join("out.onnx").display()
        )),
        attestation: Some(d.join("prov.json")),
        sign_key: None,
    };
    let report = run(&a, &Context::silent()).unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let s: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("prov.json")).unwrap()).unwrap();
    assert!(
        s["predicate"]["buildDefinition"]["externalParameters"]["command"]
            .as_str()
            .unwrap()
            .starts_with("cp ")
    );
    let failing = Args {
        onnx: Some(d.join("never.onnx")),
        export_command: Some("exit 3".into()),
        ..a
    };
    assert!(run(&failing, &Context::silent()).is_err());
}
