//! `mlsec checkpoint` on GGUF files (`cargo xtask testdata gguf`) and on the formats it
//! recognises but does not read (`cargo xtask testdata formats`).

use std::path::{Path, PathBuf};

use mlsec_checkpoint::{Args, FileResult, Options, run, scan_bytes};
use mlsec_core::{Context, Pointer, Report, Span};

fn testdata(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata")
        .join(rel)
}

fn scan_file(rel: &str) -> FileResult {
    let data = std::fs::read(testdata(rel)).expect("fixture exists");
    scan_bytes(&data, rel, &Options::default())
}

fn scan_dir(rel: &str) -> Report {
    run(&Args::new(vec![testdata(rel)]), &Context::silent()).expect("scan starts")
}

fn rules(r: &FileResult) -> Vec<&str> {
    r.findings.iter().map(|f| f.rule.id).collect()
}

#[test]
fn clean_model_has_statistics_and_a_note_for_quantized_tensors() {
    let r = scan_file("gguf/clean/tiny-llama.gguf");
    assert_eq!(r.format, "gguf");
    assert!(r.findings.is_empty(), "{:#?}", r.findings);
    assert!(r.errors.is_empty(), "{:#?}", r.errors);
    let names: Vec<&str> = r.tensors.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "token_embd.weight",
            "blk.0.attn_norm.weight",
            "output.weight"
        ]
    );
    // ggml order [16, 8] is numpy shape [8, 16].
    assert_eq!(r.tensors[0].shape, [8, 16]);
    assert_eq!(r.tensors[0].stats.count, 128);
    assert_eq!(r.tensors[2].dtype, mlsec_formats::dtype::DType::BF16);
    assert!(r.tensors[1].stats.mean > 0.9 && r.tensors[1].stats.mean < 1.1);
    assert_eq!(r.notes.len(), 1);
    assert!(r.notes[0].contains("1 quantized GGUF tensor(s) not summarised (1 Q8_0)"));
}

#[test]
fn real_chat_templates_are_clean() {
    let report = scan_dir("gguf/templates");
    assert_eq!(report.scanned, 6);
    assert!(report.findings.is_empty(), "{:#?}", report.findings);
    assert!(report.errors.is_empty(), "{:#?}", report.errors);
}

#[test]
fn template_injection_is_reported_with_snippet_and_offset() {
    let rel = "gguf/malicious/chat-template-cve-2024-34359.gguf";
    let data = std::fs::read(testdata(rel)).unwrap();
    let r = scan_file(rel);
    assert_eq!(rules(&r), ["CKPT026"], "{:#?}", r.findings);
    let f = &r.findings[0];
    assert_eq!(f.severity, mlsec_core::Severity::Critical);
    assert_eq!(
        f.location.pointer,
        Some(Pointer::Field("tokenizer.chat_template".into()))
    );
    assert_eq!(f.evidence["template_offset"], "15");
    assert!(f.evidence["snippet"].starts_with("for x in ().__class__.__base__"));
    assert!(f.evidence["constructs"].contains("`__subclasses__`"));
    assert!(f.evidence["constructs"].contains("`popen`"));
    // The span is the file offset of `__class__` inside the stored template.
    let Some(Span::Bytes { offset, .. }) = f.location.span else {
        panic!("no span")
    };
    assert_eq!(&data[offset as usize..][..9], b"__class__");
}

#[test]
fn every_payload_variant_is_found() {
    for (name, key) in [
        ("chat-template-cycler-globals", "tokenizer.chat_template"),
        (
            "chat-template-obfuscated-named",
            "tokenizer.chat_template.tool_use",
        ),
    ] {
        let r = scan_file(&format!("gguf/malicious/{name}.gguf"));
        assert_eq!(rules(&r), ["CKPT026"], "{name}: {:#?}", r.findings);
        assert_eq!(r.findings[0].evidence["key"], key, "{name}");
    }
    let r = scan_file("gguf/malicious/chat-template-obfuscated-named.gguf");
    let c = &r.findings[0].evidence["constructs"];
    assert!(
        c.contains("string built from pieces spells `__class__`"),
        "{c}"
    );
    assert!(c.contains("spells a dunder"), "{c}");
    assert!(c.contains("`attr` filter"), "{c}");
}

#[test]
fn broken_and_lying_files_are_errors_never_clean() {
    for name in [
        "truncated",
        "lying-metadata-count",
        "lying-tensor-count",
        "lying-string-length",
    ] {
        let r = scan_file(&format!("gguf/broken/{name}.gguf"));
        assert!(r.findings.is_empty(), "{name}: {:#?}", r.findings);
        assert_eq!(r.errors.len(), 1, "{name}");
        assert!(
            r.errors[0].message.starts_with("invalid GGUF: "),
            "{name}: {}",
            r.errors[0].message
        );
    }
}

#[test]
fn out_of_bounds_and_header_anomalies_are_findings() {
    let r = scan_file("gguf/anomalies/tensor-out-of-bounds.gguf");
    assert_eq!(rules(&r), ["CKPT021"]);
    assert_eq!(
        r.findings[0].location.pointer,
        Some(Pointer::Tensor("b.weight".into()))
    );
    // The tensor inside the file still gets its statistics.
    assert_eq!(r.tensors.len(), 1);
    let r = scan_file("gguf/anomalies/gguf-header-anomaly.gguf");
    let problems: Vec<&str> = r
        .findings
        .iter()
        .map(|f| f.evidence["problem"].as_str())
        .collect();
    assert_eq!(rules(&r), ["CKPT025", "CKPT025"], "{problems:?}");
    assert!(problems[0].starts_with("duplicate metadata key"));
    assert!(
        problems[1].contains("overlaps tensor `b.weight`"),
        "{problems:?}"
    );
}

#[test]
fn named_unscanned_formats_are_errors() {
    for (rel, what) in [
        (
            "formats/unscanned/model.tflite",
            "TensorFlow Lite flatbuffer",
        ),
        ("formats/unscanned/model.skops", "skops"),
        ("formats/unscanned/model.mlmodel", "Core ML model"),
        (
            "formats/unscanned/saved_model/saved_model.pb",
            "TensorFlow SavedModel",
        ),
        (
            "formats/unscanned/saved_model/variables/variables.index",
            "TensorFlow checkpoint index",
        ),
    ] {
        let r = scan_file(rel);
        assert_eq!(r.errors.len(), 1, "{rel}");
        assert!(
            r.errors[0]
                .message
                .starts_with(&format!("not scanned: {what}")),
            "{rel}: {}",
            r.errors[0].message
        );
        assert!(r.not_scanned.is_none());
    }
}

#[test]
fn unscanned_formats_in_a_directory_are_warnings_and_counted() {
    let report = scan_dir("formats/unscanned");
    assert!(report.errors.is_empty(), "{:#?}", report.errors);
    assert!(report.findings.is_empty());
    assert_eq!(report.scanned, 0);
    assert_eq!(report.not_scanned, 6);
    assert_eq!(report.warnings.len(), 6, "{:#?}", report.warnings);
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w == "saved_model/variables/variables.data-00000-of-00001: not scanned: TensorFlow checkpoint data: `mlsec checkpoint` does not read this format"),
        "{:#?}",
        report.warnings
    );
    assert_eq!(report.data["not_scanned"].as_array().unwrap().len(), 6);
}

#[test]
fn keras_json_models_go_through_the_keras_rules() {
    assert!(
        scan_file("formats/keras-json/model.json")
            .findings
            .is_empty()
    );
    let r = scan_file("formats/keras-json/lambda.json");
    assert_eq!(r.format, "keras-json");
    assert!(rules(&r).contains(&"CKPT050"), "{:#?}", r.findings);
}
