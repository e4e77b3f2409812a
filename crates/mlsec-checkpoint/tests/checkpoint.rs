//! Behaviour of `mlsec checkpoint` on the generated fixtures (`cargo xtask testdata checkpoint`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use mlsec_checkpoint::{Args, Options, run, scan_bytes};
use mlsec_core::{Context, Pointer, Report, Severity, Span};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/checkpoint")
}

fn scan(args: Args) -> Report {
    run(&args, &Context::silent()).expect("scan starts")
}

fn scan_dir(rel: &str) -> Report {
    scan(Args::new(vec![fixtures().join(rel)]))
}

fn scan_file(rel: &str) -> mlsec_checkpoint::FileResult {
    let data = std::fs::read(fixtures().join(rel)).expect("fixture exists");
    scan_bytes(&data, rel, &Options::default())
}

fn offset(f: &mlsec_core::Finding) -> u64 {
    match f.location.span {
        Some(Span::Bytes { offset, .. }) => offset,
        other => panic!("no byte span: {other:?}"),
    }
}

#[test]
fn directory_mix_returns_all_findings_and_all_errors() {
    let report = scan(Args::new(vec![fixtures()]));
    let got: BTreeSet<(String, &str)> = report
        .findings
        .iter()
        .map(|f| (f.location.file.clone(), f.rule.id))
        .collect();
    let expected: BTreeSet<(String, &str)> = [
        ("malicious/model.pt", "CKPT001"),
        ("malicious/keras-lambda.keras", "CKPT050"),
        ("malicious/keras-lambda.keras", "CKPT051"),
        ("malicious/keras-lambda.h5", "CKPT050"),
        ("malicious/keras-lambda.h5", "CKPT051"),
        ("malicious/legacy-tar.pt", "CKPT001"),
        ("malicious/model.joblib", "CKPT001"),
        ("malicious/object-array.npy", "CKPT001"),
        ("malicious/pickle-unsafe-call.pkl", "CKPT001"),
        ("malicious/pickle-unsafe-call-dotted.pkl", "CKPT001"),
        ("malicious/pickle-unsafe-import.pkl", "CKPT002"),
        ("malicious/scripted-custom-op.pt", "CKPT055"),
        ("malicious/scripted-from-file.pt", "CKPT056"),
        ("malicious/pickle-dynamic-import.pkl", "CKPT001"),
        ("malicious/pickle-dynamic-import.pkl", "CKPT003"),
        ("malicious/pickle-indirect-call.pkl", "CKPT001"),
        ("malicious/pickle-indirect-call.pkl", "CKPT004"),
        ("malicious/pickle-attribute-injection.pkl", "CKPT001"),
        ("malicious/pickle-attribute-injection.pkl", "CKPT005"),
        ("malicious/pickle-broken-after-call.pkl", "CKPT001"),
        ("malicious/pickle-broken-after-call.pkl", "CKPT006"),
        ("malicious/pickle-nested-payload.pkl", "CKPT001"),
        ("malicious/pickle-nested-payload.pkl", "CKPT007"),
        ("zip/zip-crc-mismatch.pt", "CKPT010"),
        ("zip/zip-header-mismatch.pt", "CKPT011"),
        ("zip/zip-duplicate-entry.pt", "CKPT012"),
        ("zip/zip-duplicate-entry.pt", "CKPT001"),
        ("zip/zip-entry-outside-prefix.pt", "CKPT013"),
        ("zip/zip-case-variant.pt", "CKPT014"),
        ("zip/zip-case-variant.pt", "CKPT001"),
        ("zip/zip-prepended-data.pt", "CKPT015"),
        ("zip/zip-trailing-data.pt", "CKPT016"),
        ("zip/zip-bomb.pt", "CKPT017"),
        ("weights/safetensors-header-anomaly.safetensors", "CKPT020"),
        ("weights/tensor-out-of-bounds.pt", "CKPT021"),
        ("weights/weight-non-finite.pt", "CKPT030"),
        ("weights/weight-above-threshold.pt", "CKPT031"),
        ("weights/weight-outlier.pt", "CKPT032"),
    ]
    .into_iter()
    .map(|(f, r)| (f.to_owned(), r))
    .collect();
    assert_eq!(got, expected);
    let errors: BTreeSet<&str> = report.errors.iter().map(|e| e.file.as_str()).collect();
    let expected_errors: BTreeSet<&str> = [
        "broken/bad-opcode.pkl",
        "broken/model.h5",
        "broken/safetensors-huge-header.safetensors",
        "broken/truncated.h5",
        "broken/truncated.pkl",
        "broken/truncated.pt",
        "broken/unknown.bin",
        "zip/zip-bomb.pt",
    ]
    .into_iter()
    .collect();
    assert_eq!(errors, expected_errors);
    // README.txt and the JSON fingerprint are skipped (not models), the ONNX model is
    // recognised but not scanned (a warning in a directory scan); the 52 others counted.
    assert_eq!(report.scanned, 52);
    assert_eq!(report.not_scanned, 1);
    assert!(
        report.warnings.iter().any(
            |w| w.starts_with("broken/model.onnx: not scanned: ONNX model")
                && w.contains("export-guard")
        ),
        "{:?}",
        report.warnings
    );
}

#[test]
fn benign_twins_are_clean() {
    let report = scan_dir("clean");
    assert!(report.findings.is_empty(), "{:#?}", report.findings);
    assert!(report.errors.is_empty(), "{:#?}", report.errors);
    for fp in ["fingerprint/scaled.pt", "fingerprint/shifted.pt"] {
        let r = scan_file(fp);
        assert!(r.findings.is_empty() && r.errors.is_empty(), "{fp}");
    }
}

#[test]
fn findings_carry_opcode_and_import_offsets() {
    let r = scan_file("malicious/pickle-unsafe-call.pkl");
    let f = &r.findings[0];
    assert_eq!(f.rule.id, "CKPT001");
    assert_eq!(f.severity, mlsec_core::Severity::Critical);
    // PROTO (2 bytes) + "cos\ngetcwd\n" (11) + EMPTY_TUPLE: REDUCE is byte 14.
    assert_eq!(offset(f), 14);
    assert_eq!(f.evidence["import_offset"], "2");
    assert_eq!(f.evidence["callable"], "os.getcwd");
    assert_eq!(f.evidence["opcode"], "REDUCE");

    let r = scan_file("malicious/pickle-unsafe-call-dotted.pkl");
    assert_eq!(r.findings[0].evidence["denylist"], "os");
    assert_eq!(r.findings[0].evidence["callable"], "pathlib.os.getcwd");

    // In a torch zip, offsets are file offsets of the opcode inside the stored data.pkl.
    let path = fixtures().join("malicious/model.pt");
    let data = std::fs::read(&path).unwrap();
    let r = scan_bytes(&data, "m.pt", &Options::default());
    let f = r.findings.iter().find(|f| f.rule.id == "CKPT001").unwrap();
    assert_eq!(
        f.location.pointer,
        Some(Pointer::Member("model/data.pkl".into()))
    );
    assert_eq!(data[offset(f) as usize], b'R');
    let import = f.evidence["import_offset"].parse::<usize>().unwrap();
    assert!(data[import..].starts_with(b"cbuiltins\nprint\n"));
    assert_eq!(f.evidence["callable"], "builtins.print");
    assert_eq!(f.severity, mlsec_core::Severity::High);
}

#[test]
fn keras_lambda_is_found_inside_wrappers() {
    let r = scan_file("malicious/keras-lambda.keras");
    assert_eq!(r.format, "keras");
    let lambda: Vec<String> = r
        .findings
        .iter()
        .filter(|f| f.rule.id == "CKPT050")
        .map(|f| f.location.pointer.as_ref().unwrap().path())
        .collect();
    assert_eq!(
        lambda,
        [
            ".config.layers[1].config.layer",
            ".config.layers[1].config.layer.config.function"
        ]
    );
    let module = r.findings.iter().find(|f| f.rule.id == "CKPT051").unwrap();
    assert_eq!(module.evidence["module"], "evil_pkg.layers");
}

#[test]
fn keras_h5_config_attributes_are_walked_with_the_keras_rules() {
    let clean = scan_file("clean/model.h5");
    assert_eq!(clean.format, "keras-h5");
    assert!(clean.findings.is_empty(), "{:?}", clean.findings);
    assert!(clean.errors.is_empty(), "{:?}", clean.errors);
    // Its weights are datasets, read as tensors.
    let names: Vec<(&str, &[u64])> = clean
        .tensors
        .iter()
        .map(|t| (t.name.as_str(), t.shape.as_slice()))
        .collect();
    assert_eq!(
        names,
        [("dense_bias:0", &[4][..]), ("dense_kernel:0", &[8, 4][..])]
    );

    let r = scan_file("malicious/keras-lambda.h5");
    assert_eq!(r.format, "keras-h5");
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    let got: Vec<(&str, String)> = r
        .findings
        .iter()
        .map(|f| (f.rule.id, f.location.pointer.as_ref().unwrap().path()))
        .collect();
    assert_eq!(
        got,
        [
            ("CKPT050", ".config.layers[1]".to_owned()),
            ("CKPT050", ".config.layers[1].config".to_owned()),
            ("CKPT051", ".config.layers[1].config".to_owned()),
        ]
    );
    // Located at the `model_config` attribute message, which names the attribute.
    let data = std::fs::read(fixtures().join("malicious/keras-lambda.h5")).unwrap();
    let root = mlsec_formats::hdf5::root_group(&data).unwrap();
    let attr = root
        .attributes
        .iter()
        .find(|a| a.name == "model_config")
        .unwrap();
    for f in &r.findings {
        assert_eq!(offset(f), attr.offset);
        assert_eq!(f.evidence["attribute"], "model_config");
    }
    assert_eq!(r.findings[2].evidence["module"], "__main__");

    // A `save_weights` file (no config): its datasets are checked, and it is clean.
    let weights = scan_file("clean/weights-only.h5");
    assert_eq!(weights.format, "hdf5");
    assert!(weights.findings.is_empty(), "{:?}", weights.findings);
    assert!(weights.errors.is_empty(), "{:?}", weights.errors);
    let got: Vec<(&str, mlsec_formats::dtype::DType, u64)> = weights
        .tensors
        .iter()
        .map(|t| (t.name.as_str(), t.dtype, t.stats.count))
        .collect();
    use mlsec_formats::dtype::DType;
    assert_eq!(
        got,
        [
            ("dense_bias:0", DType::F16, 6),
            ("dense_kernel:0", DType::F32, 48),
            ("iterations:0", DType::I64, 3)
        ]
    );
    assert_eq!(weights.tensors[2].stats.max, 200.0);
    // Cut inside its last dataset: an error, not clean.
    let cut = scan_file("broken/truncated.h5");
    assert!(cut.findings.is_empty());
    assert!(
        cut.errors.iter().any(|e| e.message.contains("truncated")),
        "{:?}",
        cut.errors
    );
    // The Keras 3 `.keras` weights member is read too.
    let keras = scan_file("clean/model.keras");
    let names: Vec<&str> = keras.tensors.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["bias", "kernel"]);
    let broken = scan_file("broken/model.h5");
    assert!(
        broken.errors[0].message.contains("HDF5"),
        "{:?}",
        broken.errors
    );
}

#[test]
fn legacy_tar_checkpoints_are_scanned_and_reconstructed() {
    let r = scan_file("clean/legacy-tar.pt");
    assert_eq!(r.format, "torch-legacy-tar");
    assert!(r.findings.is_empty(), "{:?}", r.findings);
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    let names: Vec<(&str, Vec<u64>)> = r
        .tensors
        .iter()
        .map(|t| (t.name.as_str(), t.shape.clone()))
        .collect();
    assert_eq!(
        names,
        [
            ("fc.weight", vec![2, 3]),
            ("fc.bias", vec![2]),
            ("head.weight", vec![2, 3]),
        ]
    );
    assert_eq!(r.tensors[0].storage, r.tensors[2].storage);
    assert_eq!(r.tensors[0].stats.sha256, r.tensors[2].stats.sha256);
    // Reference: the first storage's 24 bytes, found independently in the `storages` member
    // after its element count (6).
    let data = std::fs::read(fixtures().join("clean/legacy-tar.pt")).unwrap();
    let tar = mlsec_formats::tar::parse(&data).unwrap();
    let st = tar
        .entries
        .iter()
        .find(|e| e.name == "storages")
        .unwrap()
        .data(&data);
    let at = st.windows(8).position(|w| w == 6u64.to_le_bytes()).unwrap();
    use sha2::Digest;
    let expected: String = sha2::Sha256::digest(&st[at + 8..at + 32])
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(r.tensors[0].stats.sha256, expected);

    let bad = scan_file("malicious/legacy-tar.pt");
    assert_eq!(bad.format, "torch-legacy-tar");
    let f = bad
        .findings
        .iter()
        .find(|f| f.rule.id == "CKPT001")
        .unwrap();
    assert_eq!(f.location.pointer, Some(Pointer::Member("sys_info".into())));
    let bad_data = std::fs::read(fixtures().join("malicious/legacy-tar.pt")).unwrap();
    let bad_tar = mlsec_formats::tar::parse(&bad_data).unwrap();
    let sys = bad_tar
        .entries
        .iter()
        .find(|e| e.name == "sys_info")
        .unwrap();
    assert!(
        offset(f) > sys.data_offset && offset(f) < sys.data_offset + sys.size,
        "{} {:?}",
        offset(f),
        sys
    );

    // A legacy tar inside another tar is read the same way.
    let outer = mlsec_formats::tar::write(&[("README", b"hello"), ("inner.pt", &data)]);
    let nested = scan_bytes(&outer, "outer.tar", &Options::default());
    assert!(nested.errors.is_empty(), "{:?}", nested.errors);
    let shas: Vec<&str> = nested
        .tensors
        .iter()
        .map(|t| t.stats.sha256.as_str())
        .collect();
    let direct: Vec<&str> = r.tensors.iter().map(|t| t.stats.sha256.as_str()).collect();
    assert_eq!(shas, direct);

    // A truncated tar is an error, never clean.
    let cut = scan_bytes(&data[..data.len() - 1600], "cut.pt", &Options::default());
    assert!(!cut.errors.is_empty());
}

#[test]
fn legacy_tar_members_mutated_byte_by_byte_never_panic() {
    let data = std::fs::read(fixtures().join("clean/legacy-tar.pt")).unwrap();
    let tar = mlsec_formats::tar::parse(&data).unwrap();
    for e in &tar.entries {
        for i in e.data_offset..e.data_offset + e.size {
            for x in [0x00, 0xff, 0x7f] {
                let mut d = data.clone();
                d[i as usize] = x;
                let r = scan_bytes(&d, "m.pt", &Options::default());
                // Whatever the damage, the tensors read are never more than the file names.
                assert!(r.tensors.len() <= 3);
            }
        }
    }
}

#[test]
fn nested_payload_is_scanned_with_its_offset() {
    let r = scan_file("malicious/pickle-nested-payload.pkl");
    let inner = r
        .findings
        .iter()
        .find(|f| f.evidence.get("callable").map(String::as_str) == Some("os.getcwd"))
        .expect("inner call found");
    assert_eq!(inner.evidence["payload_offset"], "14");
    assert_eq!(inner.evidence["nested_in"], format!("{:#x}", offset(inner)));
}

#[test]
fn tensors_are_reconstructed_with_tied_storage() {
    let r = scan_file("clean/model.pt");
    let names: Vec<(&str, Vec<u64>)> = r
        .tensors
        .iter()
        .map(|t| (t.name.as_str(), t.shape.clone()))
        .collect();
    assert_eq!(
        names,
        [
            ("fc1.weight", vec![8, 16]),
            ("fc1.bias", vec![8]),
            ("fc2.weight", vec![4, 8]),
            ("fc2.bias", vec![4]),
            ("head.weight", vec![4, 8]),
        ]
    );
    let fc2 = &r.tensors[2];
    let head = &r.tensors[4];
    assert_eq!(fc2.storage, head.storage);
    assert_eq!(fc2.stats.sha256, head.stats.sha256);
    // The hash is of the storage member's bytes.
    let data = std::fs::read(fixtures().join("clean/model.pt")).unwrap();
    let z = mlsec_formats::zip::ZipArchive::parse(&data, Default::default()).unwrap();
    let e = z.entries.iter().find(|e| e.name == "model/data/0").unwrap();
    let member = z.read(e).unwrap();
    use sha2::Digest;
    let expected: String = sha2::Sha256::digest(&member.bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(r.tensors[0].stats.sha256, expected);
    assert_eq!(r.tensors[0].stats.count, 128);

    let script = scan_file("clean/scripted.pt");
    assert_eq!(script.format, "torchscript");
    assert_eq!(script.tensors[0].name, "fc.weight");
    assert_eq!(script.tensors[0].shape, [2, 3]);

    let legacy = scan_file("clean/legacy.pt");
    assert_eq!(legacy.format, "torch-legacy");
    assert_eq!(legacy.tensors[0].name, "w");
    assert_eq!(legacy.tensors[0].shape, [2, 3]);
}

#[test]
fn weight_findings_name_the_tensor_and_threshold() {
    let r = scan_file("weights/weight-above-threshold.pt");
    let f = &r.findings[0];
    assert_eq!(
        f.location.pointer,
        Some(Pointer::Tensor("fc1.weight".into()))
    );
    assert_eq!(f.evidence["max_abs"], "500");
    assert_eq!(f.evidence["index"], "17");
    // Raising the threshold hides it; the outlier rule still sees the planted weight.
    let data = std::fs::read(fixtures().join("weights/weight-above-threshold.pt")).unwrap();
    let opts = Options {
        threshold: 1000.0,
        ..Options::default()
    };
    let r = scan_bytes(&data, "x.pt", &opts);
    let ids: Vec<&str> = r.findings.iter().map(|f| f.rule.id).collect();
    assert_eq!(ids, ["CKPT032"]);
    let r = scan_file("weights/weight-outlier.pt");
    assert_eq!(r.findings[0].evidence["index"], "42");
}

#[test]
fn fingerprints_of_files_sharing_a_stem_do_not_overwrite_each_other() {
    let src = tempfile::tempdir().unwrap();
    for sub in ["a", "b"] {
        std::fs::create_dir(src.path().join(sub)).unwrap();
        std::fs::copy(
            fixtures().join("clean/model.pt"),
            src.path().join(sub).join("model.pt"),
        )
        .unwrap();
    }
    std::fs::copy(
        fixtures().join("clean/model.safetensors"),
        src.path().join("a/model.safetensors"),
    )
    .unwrap();
    std::fs::copy(
        fixtures().join("clean/model.pt"),
        src.path().join("solo.pt"),
    )
    .unwrap();
    let out = tempfile::tempdir().unwrap();
    let mut args = Args::new(vec![src.path().to_owned()]);
    args.write_fingerprint = Some(out.path().to_owned());
    let report = scan(args);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let mut written: Vec<String> = std::fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    written.sort();
    assert_eq!(
        written,
        [
            "a__model.pt.fingerprint.json",
            "b__model.pt.fingerprint.json",
            "model.safetensors.fingerprint.json",
            "solo.fingerprint.json",
        ]
    );
}

#[test]
fn fingerprints_round_trip_and_detect_tampering() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = Args::new(vec![fixtures().join("clean/model.pt")]);
    args.write_fingerprint = Some(dir.path().to_owned());
    let report = scan(args);
    assert!(report.findings.is_empty());
    let fp = dir.path().join("model.fingerprint.json");
    assert!(fp.exists());

    let compare = |file: &str, reference: &Path| {
        let mut args = Args::new(vec![fixtures().join(file)]);
        args.reference = Some(reference.to_owned());
        scan(args)
    };
    assert!(compare("clean/model.pt", &fp).findings.is_empty());
    for tampered in ["fingerprint/scaled.pt", "fingerprint/shifted.pt"] {
        let r = compare(tampered, &fp);
        let rules: BTreeSet<&str> = r
            .findings
            .iter()
            .filter(|f| f.location.pointer == Some(Pointer::Tensor("fc1.weight".into())))
            .map(|f| f.rule.id)
            .collect();
        assert!(rules.contains("CKPT044"), "{tampered}: {rules:?}");
        assert!(rules.contains("CKPT045"), "{tampered}: {rules:?}");
    }
    // Only fc1.weight changed.
    let r = compare("fingerprint/scaled.pt", &fp);
    assert!(
        r.findings
            .iter()
            .all(|f| f.location.pointer == Some(Pointer::Tensor("fc1.weight".into())))
    );

    // The original tool's format.
    let original = fixtures().join("fingerprint/original-tool.json");
    let clean = compare("clean/model.pt", &original);
    assert!(
        clean.findings.iter().all(|f| f.rule.id == "CKPT041"),
        "{:#?}",
        clean.findings
    );
    let scaled = compare("fingerprint/scaled.pt", &original);
    assert!(scaled.findings.iter().any(|f| f.rule.id == "CKPT044"));

    // Missing, unexpected and renamed tensors.
    let mut fp_json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&fp).unwrap()).unwrap();
    let tensors = fp_json["tensors"].as_object_mut().unwrap();
    let bias = tensors.remove("fc1.bias").unwrap();
    tensors.insert("old.bias".into(), bias);
    let w = tensors["fc2.bias"].clone();
    let mut gone = w;
    gone["sha256"] = serde_json::json!("00");
    tensors.insert("gone".into(), gone);
    let edited = dir.path().join("edited.json");
    std::fs::write(&edited, serde_json::to_string(&fp_json).unwrap()).unwrap();
    let r = compare("clean/model.pt", &edited);
    let got: BTreeSet<(String, &str)> = r
        .findings
        .iter()
        .map(|f| (f.location.pointer.as_ref().unwrap().path(), f.rule.id))
        .collect();
    assert_eq!(
        got,
        [
            ("fc1.bias".to_owned(), "CKPT042"),
            ("gone".to_owned(), "CKPT040")
        ]
        .into_iter()
        .collect()
    );
}

#[test]
fn conversion_writes_verified_safetensors() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model.pt");
    std::fs::copy(fixtures().join("clean/model.pt"), &model).unwrap();
    let mut args = Args::new(vec![model.clone()]);
    args.convert_safetensors = true;
    let report = scan(args.clone());
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let out = dir.path().join("model.safetensors");
    let bytes = std::fs::read(&out).unwrap();
    let st = mlsec_formats::safetensors::parse(&bytes).unwrap();
    assert_eq!(st.tensors.len(), 5);
    assert!(st.anomalies.is_empty());
    assert_eq!(st.metadata["tied_weights"], "fc2.weight=head.weight");
    let converted = scan_bytes(&bytes, "model.safetensors", &Options::default());
    let original = scan_file("clean/model.pt");
    for t in &original.tensors {
        let c = converted.tensors.iter().find(|c| c.name == t.name).unwrap();
        assert_eq!(
            (c.dtype, &c.shape, &c.stats.sha256),
            (t.dtype, &t.shape, &t.stats.sha256)
        );
    }
    // Not over an existing file without --overwrite.
    let report = scan(args.clone());
    assert!(report.errors[0].message.contains("--overwrite"));
    args.overwrite = true;
    assert!(scan(args).errors.is_empty());

    // Security findings block conversion unless --force.
    let bad = dir.path().join("bad.pt");
    std::fs::copy(fixtures().join("malicious/model.pt"), &bad).unwrap();
    let mut args = Args::new(vec![bad]);
    args.convert_safetensors = true;
    let report = scan(args.clone());
    assert!(report.errors[0].message.contains("--force"));
    assert!(!dir.path().join("bad.safetensors").exists());
    args.force = true;
    let report = scan(args);
    assert!(report.errors.is_empty());
    assert!(dir.path().join("bad.safetensors").exists());
}

#[test]
fn legacy_tar_checkpoints_convert_with_tied_weights() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("old.pt");
    std::fs::copy(fixtures().join("clean/legacy-tar.pt"), &model).unwrap();
    let mut args = Args::new(vec![model]);
    args.convert_safetensors = true;
    let report = scan(args);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let bytes = std::fs::read(dir.path().join("old.safetensors")).unwrap();
    let st = mlsec_formats::safetensors::parse(&bytes).unwrap();
    assert_eq!(st.tensors.len(), 3);
    assert_eq!(st.metadata["tied_weights"], "fc.weight=head.weight");
    let converted = scan_bytes(&bytes, "old.safetensors", &Options::default());
    for t in &scan_file("clean/legacy-tar.pt").tensors {
        let c = converted.tensors.iter().find(|c| c.name == t.name).unwrap();
        assert_eq!((&c.shape, &c.stats.sha256), (&t.shape, &t.stats.sha256));
    }
}

#[cfg(unix)]
#[test]
fn symlinks_out_of_the_root_are_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(
        fixtures().join("malicious/model.pt"),
        dir.path().join("link.pt"),
    )
    .unwrap();
    std::fs::copy(
        fixtures().join("clean/model.pt"),
        dir.path().join("model.pt"),
    )
    .unwrap();
    let report = scan(Args::new(vec![dir.path().to_owned()]));
    assert!(report.findings.is_empty());
    assert_eq!(report.scanned, 1);
    assert!(report.warnings.iter().any(|w| w.contains("link.pt")));
}

#[test]
fn parallel_scan_matches_serial_scan() {
    let serial = scan(Args::new(vec![fixtures()]));
    let mut args = Args::new(vec![fixtures()]);
    args.jobs = Some(4);
    let parallel = scan(args);
    let key = |r: &Report| {
        let mut v: Vec<String> = r
            .findings
            .iter()
            .map(|f| format!("{} {} {}", f.location, f.rule.id, f.message))
            .collect();
        v.sort();
        v
    };
    assert_eq!(key(&serial), key(&parallel));
    assert_eq!(serial.errors.len(), parallel.errors.len());
}

#[test]
fn rules_follow_conventions() {
    for rule in mlsec_checkpoint::RULES {
        assert!(
            rule.convention_errors().is_empty(),
            "{:?}",
            rule.convention_errors()
        );
        assert!(rule.id.starts_with("CKPT"));
    }
}

/// Hostile bytes never panic: every fixture, truncated and with bytes flipped, still yields
/// findings or errors (or a clean result) without crashing.
#[test]
fn mutated_fixtures_never_panic() {
    let mut seed = 0x9e3779b97f4a7c15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut files = Vec::new();
    for dir in ["clean", "malicious", "zip", "weights"] {
        for e in std::fs::read_dir(fixtures().join(dir)).unwrap() {
            files.push(e.unwrap().path());
        }
    }
    files.sort();
    for path in files {
        let data = std::fs::read(&path).unwrap();
        for _ in 0..40 {
            let mut d = data.clone();
            match next() % 3 {
                0 => d.truncate((next() as usize) % (data.len() + 1)),
                _ => {
                    for _ in 0..1 + next() % 4 {
                        let i = (next() as usize) % d.len();
                        d[i] = next() as u8;
                    }
                }
            }
            let _ = scan_bytes(&d, "mutated", &Options::default());
        }
    }
}

/// `mlsec_formats::load` (used by `inspect`) and the scanner walk containers separately:
/// on every clean fixture with tensors they must yield the same tensors, byte for byte.
#[test]
fn the_shared_loader_reads_the_same_tensors_as_the_scanner() {
    use mlsec_formats::zip::ZipLimits;
    type Seen = Vec<(String, String, Vec<u64>, Vec<u8>)>;
    let files = [
        "clean/array.npy",
        "clean/arrays.npz",
        "clean/legacy-tar.pt",
        "clean/legacy.pt",
        "clean/model.pt",
        "clean/model.safetensors",
        "clean/scripted.pt",
    ];
    for rel in files {
        let data = std::fs::read(fixtures().join(rel)).expect("fixture exists");
        let mut scanned: Seen = Vec::new();
        let result = mlsec_checkpoint::visit_tensors(&data, rel, &Options::default(), &mut |v| {
            scanned.push((
                v.name.clone(),
                format!("{:?}", v.dtype),
                v.shape.clone(),
                v.bytes.to_vec(),
            ))
        });
        assert!(result.errors.is_empty(), "{rel}: {:?}", result.errors);
        let mut loaded: Seen = Vec::new();
        let l = mlsec_formats::load::visit(&data, ZipLimits::default(), &mut |v| {
            loaded.push((
                v.name.clone(),
                format!("{:?}", v.dtype),
                v.shape.clone(),
                v.bytes.to_vec(),
            ))
        });
        assert!(l.problems.is_empty(), "{rel}: {:?}", l.problems);
        assert!(!loaded.is_empty(), "{rel}: no tensors");
        assert_eq!(l.format, result.format, "{rel}");
        scanned.sort();
        loaded.sort();
        assert_eq!(loaded, scanned, "{rel}");
    }
}

/// A pickled scikit-learn model instantiates third-party classes: reported, graded info (not a
/// failing finding) naming the package; a library function that fetches data over the network
/// and a denylisted call are critical, an unknown standard-library callable high, and
/// known-safe reconstructors are not reported at all.
#[test]
fn third_party_classes_are_info_and_dangerous_functions_are_not() {
    use mlsec_testkit::PickleWriter;
    let pickle = |module: &str, name: &str| {
        let mut p = PickleWriter::new();
        p.proto(2)
            .global(module, name)
            .empty_tuple()
            .reduce()
            .stop();
        p.finish()
    };
    let severity = |module: &str, name: &str| {
        let data = pickle(module, name);
        let r = scan_bytes(&data, "model.pkl", &Options::default());
        assert!(r.errors.is_empty(), "{:?}", r.errors);
        let f = r
            .findings
            .iter()
            .find(|f| f.rule.id == "CKPT001")
            .expect("the call is reported");
        f.severity
    };
    assert_eq!(
        severity("sklearn.linear_model._logistic", "LogisticRegression"),
        Severity::Info
    );
    assert_eq!(
        severity("sklearn.calibration", "_CalibratedClassifier"),
        Severity::Info
    );
    assert_eq!(
        severity("gensim.models.word2vec", "Word2Vec"),
        Severity::Info
    );
    assert_eq!(
        severity("sklearn.datasets._openml", "fetch_openml"),
        Severity::Critical
    );
    assert_eq!(severity("posix", "system"), Severity::Critical);
    assert_eq!(severity("builtins", "print"), Severity::High);
    for (module, name) in [
        ("numpy.random._pickle", "__randomstate_ctor"),
        ("collections", "deque"),
        ("__builtin__", "long"),
        ("copy_reg", "_reconstructor"),
        ("pandas.core.indexes.base", "_new_Index"),
        ("scipy.sparse._csr", "csr_matrix"),
    ] {
        let data = pickle(module, name);
        let r = scan_bytes(&data, "model.pkl", &Options::default());
        assert!(r.findings.is_empty(), "{module}.{name}: {:#?}", r.findings);
    }
}

/// TorchScript code members are read as text: custom operators and classes (native code) and
/// run-time file reads are reported at the code member; the clean archive's code is silent.
#[test]
fn torchscript_code_is_checked_for_native_ops_and_file_reads() {
    let rules = |rel: &str| {
        let r = scan_file(rel);
        assert!(r.errors.is_empty(), "{rel}: {:?}", r.errors);
        assert_eq!(r.format, "torchscript", "{rel}");
        r.findings
            .iter()
            .map(|f| {
                assert_eq!(
                    f.location.pointer,
                    Some(Pointer::Member("script/code/__torch__.py".into()))
                );
                (f.rule.id, f.message.clone())
            })
            .collect::<Vec<_>>()
    };
    assert!(rules("clean/scripted.pt").is_empty());
    let custom = rules("malicious/scripted-custom-op.pt");
    assert_eq!(custom.len(), 2, "{custom:?}");
    assert!(custom[0].0 == "CKPT055" && custom[0].1.contains("`my_ops::fused_gate`"));
    assert!(custom[1].0 == "CKPT055" && custom[1].1.contains("`torch.classes.my_ops.Cache`"));
    let read = rules("malicious/scripted-from-file.pt");
    assert_eq!(read.len(), 1, "{read:?}");
    assert_eq!(read[0].0, "CKPT056");
}

/// One finding per cause: the same global called at many places is one finding with a count
/// and the next offsets, so the output of a large pickle stays readable.
#[test]
fn repeated_calls_of_one_global_are_one_finding() {
    use mlsec_testkit::PickleWriter;
    let mut p = PickleWriter::new();
    p.proto(2).mark();
    for _ in 0..50 {
        p.global("gensim.models.keyedvectors", "Vocab")
            .empty_tuple()
            .reduce();
    }
    p.raw(b"l").stop();
    let r = scan_bytes(&p.finish(), "vocab.pkl", &Options::default());
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert_eq!(r.findings.len(), 1, "{:#?}", r.findings);
    let f = &r.findings[0];
    assert_eq!(f.severity, Severity::Info);
    assert_eq!(f.evidence["occurrences"], "50");
    assert_eq!(f.evidence["package"], "gensim");
    assert_eq!(f.evidence["also_at"].split(", ").count(), 5);
}

/// A pickle importing thousands of distinct names lists at most `MAX_PER_RULE` findings per
/// rule, the most severe first, and counts the rest in one finding as severe as they are.
#[test]
fn thousands_of_distinct_imports_are_listed_up_to_a_cap_and_counted() {
    use mlsec_checkpoint::audit::MAX_PER_RULE;
    use mlsec_testkit::PickleWriter;
    let mut p = PickleWriter::new();
    p.proto(2);
    for i in 0..1000 {
        // A third-party import (information), then at i = 900 a dangerous one (critical)
        // and at i = 950 a standard-library one (medium).
        match i {
            900 => p.global("os", "system"),
            950 => p.global("shelve", "open"),
            _ => p.global(&format!("pkg{i}"), "thing"),
        };
        p.raw(b"0"); // POP: imported, never called
    }
    p.none().stop();
    let r = scan_bytes(&p.finish(), "many.pkl", &Options::default());
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    let imports: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.rule.id == "CKPT002")
        .collect();
    assert_eq!(imports.len(), MAX_PER_RULE + 1, "{}", imports.len());
    // The dangerous and the medium imports are listed (most severe first), in stream order.
    let listed: Vec<_> = imports
        .iter()
        .filter(|f| !f.evidence.contains_key("not_listed"))
        .collect();
    assert_eq!(listed.len(), MAX_PER_RULE);
    assert!(
        listed
            .iter()
            .any(|f| f.severity == Severity::Critical && f.evidence["callable"] == "os.system")
    );
    assert!(
        listed
            .iter()
            .any(|f| f.evidence["callable"] == "shelve.open")
    );
    let offsets: Vec<u64> = listed.iter().map(|f| offset(f)).collect();
    assert!(offsets.windows(2).all(|w| w[0] < w[1]), "{offsets:?}");
    // The rest: one finding counting them, as severe as the most severe of them.
    let summary = imports
        .iter()
        .find(|f| f.evidence.contains_key("not_listed"))
        .expect("a summary finding");
    assert_eq!(
        summary.evidence["not_listed"],
        (1000 - MAX_PER_RULE).to_string()
    );
    assert_eq!(summary.severity, Severity::Info);
    assert!(
        summary
            .message
            .contains("more `pickle-unsafe-import` findings"),
        "{}",
        summary.message
    );
}

/// Batch-norm statistics and optimizer state are not judged as weights; the weights are.
#[test]
fn weight_rules_skip_running_statistics_and_optimizer_state() {
    use mlsec_formats::dtype::DType;
    use mlsec_testkit::{TensorSpec, f32_bytes, torch_state_dict_pickle, torch_zip};
    let spec = |name: &str, key: &str| TensorSpec {
        name: name.into(),
        dtype: DType::F32,
        shape: vec![4],
        storage_key: key.into(),
        storage_offset: 0,
        storage_numel: 4,
    };
    let big = f32_bytes(&[1.0e4, 2.0e4, 3.0e4, 4.0e4]);
    let specs = [
        spec("bn.running_var", "0"),
        spec("optimizer.state.0.exp_avg_sq", "1"),
        spec("fc.weight", "2"),
    ];
    let storages = [
        ("0".to_owned(), big.clone()),
        ("1".to_owned(), big.clone()),
        ("2".to_owned(), big),
    ];
    let data = torch_zip("m", &torch_state_dict_pickle(&specs), &storages);
    let r = scan_bytes(&data, "m.pt", &Options::default());
    let judged: Vec<&str> = r
        .findings
        .iter()
        .filter(|f| f.rule.id == "CKPT031")
        .map(|f| f.evidence["tensor"].as_str())
        .collect();
    assert_eq!(judged, ["fc.weight"], "{:#?}", r.findings);
    assert_eq!(r.tensors.len(), 3);
}

/// Old numpy wrote a newline after an object array's pickle; `numpy.load` reads one pickle
/// and never sees it: a note, not an error. A truncated second stream of a torch file stays an
/// error (checked by the legacy tests).
#[test]
fn trailing_bytes_after_a_single_load_pickle_are_a_note() {
    let body = b"\x80\x02]q\x00(K\x01K\x02e.\n";
    let data = mlsec_formats::npy::write("|O8", &[2], body);
    let r = scan_bytes(&data, "old.npy", &Options::default());
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert!(r.findings.is_empty(), "{:?}", r.findings);
    assert!(
        r.notes
            .iter()
            .any(|n| n.contains("after the pickle's STOP")),
        "{:?}",
        r.notes
    );
}

/// A state dict pickled as `OrderedDict([[name, tensor], ...])` (list pairs, as older
/// pickles and some custom savers write it, instead of SETITEMS) keeps its tensor names, and
/// `--convert-safetensors` writes exactly the model's key set with the same data.
#[test]
fn list_pair_state_dicts_convert_to_the_models_keys() {
    use mlsec_testkit::{PickleWriter, f32_bytes, torch_zip};
    let names = ["encoder.weight", "head.bias"];
    let data = [vec![1.0f32, -2.0, 3.5, 0.25], vec![0.5f32, -0.5]];
    let shapes: [&[i64]; 2] = [&[2, 2], &[2]];
    let mut p = PickleWriter::new();
    p.proto(2).global("collections", "OrderedDict");
    p.raw(b"]").mark(); // the list of pairs, then its items
    for (i, name) in names.iter().enumerate() {
        p.raw(b"]").mark().str(name); // one pair: [name, tensor]
        p.global("torch._utils", "_rebuild_tensor_v2").mark();
        p.mark()
            .str("storage")
            .global("torch", "FloatStorage")
            .str(&i.to_string())
            .str("cpu")
            .int(data[i].len() as i64)
            .tuple()
            .persid();
        p.int(0).mark();
        for &d in shapes[i] {
            p.int(d);
        }
        p.tuple().mark();
        let strides: &[i64] = if shapes[i].len() == 2 { &[2, 1] } else { &[1] };
        for &s in strides {
            p.int(s);
        }
        p.tuple()
            .newfalse()
            .global("collections", "OrderedDict")
            .empty_tuple()
            .reduce()
            .tuple()
            .reduce();
        p.raw(b"e"); // APPENDS: the pair is [name, tensor]
    }
    p.raw(b"e").raw(b"\x85").reduce().stop(); // OrderedDict((pairs,))
    let storages: Vec<(String, Vec<u8>)> = data
        .iter()
        .enumerate()
        .map(|(i, v)| (i.to_string(), f32_bytes(v)))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("pairs.pt");
    std::fs::write(&model, torch_zip("pairs", &p.finish(), &storages)).unwrap();

    let mut args = Args::new(vec![model]);
    args.convert_safetensors = true;
    let report = scan(args);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert!(
        report.findings.iter().all(|f| f.severity < Severity::Low),
        "{:?}",
        report.findings
    );
    let bytes = std::fs::read(dir.path().join("pairs.safetensors")).unwrap();
    let st = mlsec_formats::safetensors::parse(&bytes).unwrap();
    let keys: BTreeSet<&str> = st.tensors.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(keys, names.into_iter().collect());
    for (i, name) in names.iter().enumerate() {
        let t = st.tensors.iter().find(|t| t.name == *name).unwrap();
        let start = (st.data_start + t.begin) as usize;
        let got = &bytes[start..(st.data_start + t.end) as usize];
        assert_eq!(got, f32_bytes(&data[i]).as_slice(), "{name}");
    }
}
