//! The `weights` check on the generated fixtures in `testdata/inspect/weights/`: each planted
//! defect is found at its tensor, the clean model (as safetensors, a torch zip and a sharded
//! folder) gives nothing, and the statistics match values computed here from the same bytes.

use std::path::{Path, PathBuf};

use mlsec_core::{Context, Pointer, Report};
use mlsec_formats::dtype::DType;
use mlsec_inspect::{Args, Check};
use serde_json::Value;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/inspect/weights")
        .join(name)
}

fn weights(path: &Path) -> Report {
    let args = Args {
        checks: vec![Check::Weights],
        ..Args::new(path)
    };
    mlsec_inspect::run(&args, &Context::silent()).unwrap()
}

/// `(rule id, tensor)` of every finding, sorted.
fn found(r: &Report) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = r
        .findings
        .iter()
        .map(|f| {
            let tensor = match &f.location.pointer {
                Some(Pointer::Tensor(t)) => t.clone(),
                other => panic!("finding without a tensor: {other:?}"),
            };
            (f.rule.id.to_owned(), tensor)
        })
        .collect();
    v.sort();
    v
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

#[test]
fn the_clean_model_has_no_finding_in_any_container() {
    for name in ["clean.safetensors", "clean.pt", "sharded"] {
        let r = weights(&fixture(name));
        assert!(r.findings.is_empty(), "{name}: {:?}", found(&r));
        assert!(r.errors.is_empty(), "{name}: {:?}", r.errors);
        let table = r.tables.iter().find(|t| t.title == "weights").unwrap();
        assert_eq!(table.rows.len(), 33, "{name}");
    }
}

#[test]
fn each_planted_defect_is_found_at_its_tensor() {
    let cases: [(&str, &[(&str, &str)]); 6] = [
        ("nan.safetensors", &[("INSP001", "blocks.2.attn.weight")]),
        (
            "huge-weight.safetensors",
            &[("INSP002", "blocks.1.mlp.fc1.weight")],
        ),
        (
            "duplicate-filter.safetensors",
            &[("INSP004", "conv.weight")],
        ),
        ("duplicate-filter.pt", &[("INSP004", "conv.weight")]),
        (
            "dead-units.safetensors",
            &[("INSP003", "blocks.4.mlp.fc1.weight")],
        ),
        (
            "scaled-block.safetensors",
            &[
                ("INSP005", "blocks.3.attn.weight"),
                ("INSP005", "blocks.3.mlp.fc1.weight"),
                ("INSP005", "blocks.3.mlp.fc2.weight"),
            ],
        ),
    ];
    for (name, want) in cases {
        let r = weights(&fixture(name));
        assert_eq!(found(&r), pairs(want), "{name}");
        assert!(r.errors.is_empty(), "{name}: {:?}", r.errors);
    }
}

#[test]
fn evidence_says_where_and_why() {
    let r = weights(&fixture("huge-weight.safetensors"));
    let f = &r.findings[0];
    assert_eq!(f.evidence["position"], "[5, 7]");
    assert_eq!(f.evidence["largest"], "40.00");
    let r = weights(&fixture("duplicate-filter.safetensors"));
    assert_eq!(r.findings[0].evidence["rows"], "5 = 2");
    let r = weights(&fixture("dead-units.safetensors"));
    assert_eq!(r.findings[0].evidence["first"], "3, 7");
}

#[test]
fn statistics_match_a_direct_computation() {
    let path = fixture("clean.safetensors");
    let bytes = std::fs::read(&path).unwrap();
    let st = mlsec_formats::safetensors::parse(&bytes).unwrap();
    let t = st
        .tensors
        .iter()
        .find(|t| t.name == "blocks.0.attn.weight")
        .unwrap();
    assert_eq!(t.dtype, DType::F32);
    let raw = &bytes[(st.data_start + t.begin) as usize..(st.data_start + t.end) as usize];
    let w: Vec<f64> = raw
        .chunks_exact(4)
        .map(|c| f64::from(f32::from_le_bytes(c.try_into().unwrap())))
        .collect();
    let n = w.len() as f64;
    let mean = w.iter().sum::<f64>() / n;
    let std = (w.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt();
    let kurt = w.iter().map(|x| (x - mean).powi(4)).sum::<f64>() / n / std.powi(4) - 3.0;
    // Spectral norm: the square root of the largest eigenvalue of WᵀW, by many plain power
    // iterations in f64.
    let m = 16;
    let mut v = vec![1.0f64; m];
    let mut sigma = 0.0;
    for _ in 0..500 {
        let mut wtw = vec![0.0; m];
        for r in 0..m {
            let u: f64 = (0..m).map(|c| w[r * m + c] * v[c]).sum();
            for c in 0..m {
                wtw[c] += u * w[r * m + c];
            }
        }
        let norm = wtw.iter().map(|x| x * x).sum::<f64>().sqrt();
        sigma = norm.sqrt();
        v = wtw.iter().map(|x| x / norm).collect();
    }

    let r = weights(&path);
    let data = r.data["weights"].as_array().unwrap();
    let row = data
        .iter()
        .find(|t| t["tensor"] == "blocks.0.attn.weight")
        .unwrap();
    let get = |k: &str| row[k].as_f64().unwrap();
    assert!((get("mean") - mean).abs() < 1e-9, "{}", get("mean"));
    assert!((get("std") - std).abs() < 1e-9, "{}", get("std"));
    assert!((get("kurtosis") - kurt).abs() < 1e-6, "{}", get("kurtosis"));
    assert!(
        (get("spectral_norm") - sigma).abs() < 1e-3 * sigma,
        "{} vs {sigma}",
        get("spectral_norm")
    );
    assert_eq!(row["shape"], serde_json::json!([16, 16]));
    assert_eq!(row["histogram"]["counts"].as_array().unwrap().len(), 64);
    // The same tensor read from the torch zip gives the same statistics.
    let pt = weights(&fixture("clean.pt"));
    let pt_row = pt.data["weights"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["tensor"] == "blocks.0.attn.weight")
        .unwrap()
        .clone();
    let strip = |mut v: Value| {
        v.as_object_mut().unwrap().remove("file");
        v
    };
    assert_eq!(strip(pt_row), strip(row.clone()));
}

#[test]
fn a_sharded_folder_reads_every_shard_and_skips_its_pickle_copy() {
    let r = weights(&fixture("sharded"));
    let data = r.data["weights"].as_array().unwrap();
    let files: std::collections::BTreeSet<&str> = data
        .iter()
        .map(|t| {
            Path::new(t["file"].as_str().unwrap())
                .file_name()
                .unwrap()
                .to_str()
                .unwrap()
        })
        .collect();
    assert_eq!(
        files.into_iter().collect::<Vec<_>>(),
        [
            "model-00001-of-00002.safetensors",
            "model-00002-of-00002.safetensors"
        ]
    );
    assert_eq!(r.scanned, 2);
    assert!(
        r.warnings.iter().any(|w| w.contains("pytorch_model.bin")),
        "{:?}",
        r.warnings
    );
}

#[test]
fn a_missing_shard_is_an_error_not_a_clean_result() {
    let r = weights(&fixture("sharded-missing-shard"));
    assert!(r.findings.is_empty());
    assert_eq!(r.errors.len(), 1, "{:?}", r.errors);
    assert!(
        r.errors[0]
            .message
            .contains("model-00002-of-00002.safetensors")
    );
    assert!(r.errors[0].message.contains("missing"));
}

#[test]
fn unreadable_inputs_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    // A folder with only a config.
    std::fs::write(dir.path().join("config.json"), "{}").unwrap();
    let r = weights(dir.path());
    assert_eq!(r.errors.len(), 1, "{:?}", r.errors);
    // A truncated safetensors file.
    let bytes = std::fs::read(fixture("clean.safetensors")).unwrap();
    let cut = dir.path().join("cut.safetensors");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let r = weights(&cut);
    assert!(!r.errors.is_empty());
    assert!(r.errors[0].file.ends_with("cut.safetensors"));
    // A path that does not exist.
    let r = weights(&dir.path().join("nope"));
    assert_eq!(r.errors.len(), 1);
    // An index naming a tensor its shard does not hold.
    let shard = dir.path().join("shard");
    std::fs::create_dir(&shard).unwrap();
    std::fs::copy(
        fixture("clean.safetensors"),
        shard.join("model.safetensors"),
    )
    .unwrap();
    std::fs::write(
        shard.join("model.safetensors.index.json"),
        r#"{"weight_map": {"embed.weight": "model.safetensors", "ghost.weight": "model.safetensors"}}"#,
    )
    .unwrap();
    let r = weights(&shard);
    assert_eq!(r.errors.len(), 1, "{:?}", r.errors);
    assert!(r.errors[0].message.contains("ghost.weight"));
}

#[test]
fn the_html_report_is_self_contained_and_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("report.html");
    let args = Args {
        checks: vec![Check::Weights],
        report: Some(out.clone()),
        ..Args::new(fixture("nan.safetensors"))
    };
    let r = mlsec_inspect::run(&args, &Context::silent()).unwrap();
    assert_eq!(r.findings.len(), 1);
    let page = std::fs::read_to_string(out).unwrap();
    assert!(page.starts_with("<!doctype html>"));
    assert!(page.contains("INSP001"));
    assert_eq!(page.matches("<svg").count(), 33);
    assert!(!page.contains("<script") && !page.contains("http"));
}
