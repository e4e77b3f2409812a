//! The checks that run the model (`activations`, `fgsm`), through `runnable::check` on the
//! generated fixtures in `testdata/inspect/models/` and the trained example model of
//! `testdata/adversarial/`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mlsec_core::{Context, Pointer, Report};
use mlsec_inspect::probe::{self, Kind, ProbeRequest};
use mlsec_inspect::runnable::{self, RunOptions};
use mlsec_inspect::{activations, fgsm};
use mlsec_onnx::prost::Message;
use mlsec_onnx::proto;
use mlsec_runtime::ir::{Graph, Node, TensorData, ValueInfo};
use mlsec_runtime::{Model, OnnxModel};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn fixture(name: &str) -> PathBuf {
    root().join("testdata/inspect/models").join(name)
}

fn digits_model() -> PathBuf {
    root().join("testdata/adversarial/digits_mlp.onnx")
}

fn digits_data() -> PathBuf {
    root().join("testdata/adversarial/digits_test.npz")
}

fn vision() -> RunOptions {
    RunOptions {
        kind: Some(Kind::Vision),
        ..RunOptions::default()
    }
}

fn with_data(data: PathBuf, samples: usize) -> RunOptions {
    RunOptions {
        data: Some(data),
        samples,
        ..RunOptions::default()
    }
}

fn check(path: &Path, opts: &RunOptions) -> Report {
    let mut report = Report::new();
    let file = path.file_name().unwrap().to_string_lossy().into_owned();
    runnable::check(path, &file, opts, &mut report, &Context::silent());
    report
}

/// `(rule id, node)` of every finding.
fn found(report: &Report) -> Vec<(&'static str, String)> {
    report
        .findings
        .iter()
        .map(|f| {
            let node = match &f.location.pointer {
                Some(Pointer::Node(n)) => n.clone(),
                Some(p) => p.path(),
                None => String::new(),
            };
            (f.rule.id, node)
        })
        .collect()
}

fn assert_clean(report: &Report, what: &str) {
    assert!(report.errors.is_empty(), "{what}: {:?}", report.errors);
    assert!(report.findings.is_empty(), "{what}: {:?}", found(report));
    assert!(
        report.data.contains_key("activations") && report.data.contains_key("fgsm"),
        "{what}: both checks ran"
    );
}

#[test]
fn clean_fixtures_and_the_real_model_give_no_findings() {
    assert_clean(&check(&fixture("clean_mlp.onnx"), &vision()), "clean_mlp");
    assert_clean(&check(&fixture("clean_cnn.onnx"), &vision()), "clean_cnn");
    // The trained digits MLP on its real test split: the first 32 rows and all 360.
    assert_clean(
        &check(&digits_model(), &with_data(digits_data(), 32)),
        "digits 32",
    );
    let all = check(&digits_model(), &with_data(digits_data(), 10_000));
    assert_clean(&all, "digits all");
    assert_eq!(all.data["fgsm"]["n"], 360);
    // ... on synthetic probes of every kind that fits it, and other seeds.
    for seed in [1, 2] {
        let opts = RunOptions {
            seed,
            samples: 256,
            ..vision()
        };
        assert_clean(&check(&digits_model(), &opts), "digits vision");
    }
    let tabular = RunOptions {
        kind: Some(Kind::Tabular),
        ..RunOptions::default()
    };
    assert_clean(&check(&digits_model(), &tabular), "digits tabular");
}

#[test]
fn every_layer_gets_statistics_table_and_histogram() {
    let report = check(&digits_model(), &with_data(digits_data(), 64));
    let table = report
        .tables
        .iter()
        .find(|t| t.title == "activations")
        .unwrap();
    let layers: Vec<&str> = table.rows.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(layers, ["flatten", "fc1", "relu1", "fc2"]);
    assert_eq!(
        table.columns,
        [
            "layer",
            "op",
            "shape",
            "mean",
            "std",
            "max|a|",
            "dead %",
            "non-finite"
        ]
    );
    let data = report.data["activations"].as_array().unwrap();
    assert_eq!(data.len(), 4);
    for layer in data {
        let counts = layer["histogram"]["counts"].as_array().unwrap();
        assert_eq!(counts.len(), activations::BINS);
        let total: u64 = counts.iter().map(|c| c.as_u64().unwrap()).sum();
        assert_eq!(
            total,
            layer["count"].as_u64().unwrap(),
            "{}",
            layer["layer"]
        );
    }
    // relu1 is [64 probes, 32 units]: its minimum is 0 and its histogram starts there.
    let relu = &data[2];
    assert_eq!(relu["shape"], serde_json::json!([32]));
    assert_eq!(relu["count"], 64 * 32);
    assert_eq!(relu["histogram"]["lo"], 0.0);
    assert!(relu["dead_fraction"].as_f64().is_some());
    // Reference statistics computed independently from the logits of a plain forward pass.
    let model = OnnxModel::load(&digits_model()).unwrap();
    let inputs = mlsec_runtime::data::load_inputs(&digits_data(), "x").unwrap();
    let x = mlsec_runtime::Tensor::from_slice(
        &inputs.x[..64 * 64],
        (64, 1, 8, 8),
        &mlsec_runtime::Device::Cpu,
    )
    .unwrap();
    let logits: Vec<f32> = model
        .forward(&x)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    let mean = logits.iter().map(|&v| f64::from(v)).sum::<f64>() / logits.len() as f64;
    let max_abs = logits.iter().fold(0f32, |m, v| m.max(v.abs()));
    let fc2 = &data[3];
    assert!((fc2["mean"].as_f64().unwrap() - mean).abs() < 1e-4);
    assert_eq!(fc2["max_abs"].as_f64().unwrap(), f64::from(max_abs));
}

#[test]
fn backdoor_unit_is_found_with_its_layer_unit_and_probes() {
    let probes = fixture("insp014_probes.npy");
    let report = check(
        &fixture("insp014_backdoor.onnx"),
        &with_data(probes.clone(), 32),
    );
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let triggers: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.rule.id == "INSP014")
        .collect();
    assert_eq!(triggers.len(), 1, "{:?}", found(&report));
    let f = triggers[0];
    assert_eq!(f.location.pointer, Some(Pointer::Node("relu1".into())));
    assert_eq!(f.evidence["unit"], "32");
    assert_eq!(f.evidence["hot_probes"], "5,21");
    assert_eq!(f.evidence["hot_count"], "2");
    // The same probes through the clean model: nothing.
    let clean = check(&fixture("clean_mlp.onnx"), &with_data(probes, 32));
    assert!(clean.findings.is_empty(), "{:?}", found(&clean));
}

#[test]
fn each_planted_defect_is_found_where_it_is() {
    let cases = [
        ("insp010_nonfinite.onnx", "INSP010", "sqrt1"),
        ("insp011_exploding.onnx", "INSP011", "fc_mid"),
        ("insp012_constant.onnx", "INSP012", "fc1"),
    ];
    for (file, rule, node) in cases {
        let report = check(&fixture(file), &vision());
        assert!(report.errors.is_empty(), "{file}: {:?}", report.errors);
        let of_rule: Vec<_> = found(&report)
            .into_iter()
            .filter(|(id, _)| id.starts_with("INSP01"))
            .collect();
        // Layers downstream that only inherit the defect are not reported again.
        assert_eq!(of_rule, [(rule, node.to_owned())], "{file}");
    }
    let report = check(&fixture("insp011_exploding.onnx"), &vision());
    let f = &report.findings[0];
    assert_eq!(f.evidence["jump"], "3000.0000");
}

/// Plain-Rust FGSM on a linear model `logits = x·W + b` (W is `[d, k]`): clean prediction,
/// CE gradient `W (softmax − onehot)`, sign step, clip, new prediction.
fn hand_fgsm(
    x: &[f32],
    d: usize,
    w: &[f32],
    b: &[f32],
    step: f32,
    range: Option<(f32, f32)>,
) -> (Vec<i64>, Vec<i64>) {
    let k = b.len();
    let logits = |s: &[f32]| -> Vec<f64> {
        (0..k)
            .map(|j| {
                f64::from(b[j])
                    + (0..d)
                        .map(|i| f64::from(s[i]) * f64::from(w[i * k + j]))
                        .sum::<f64>()
            })
            .collect()
    };
    let argmax = |l: &[f64]| {
        let mut best = 0;
        for j in 1..l.len() {
            if l[j] > l[best] {
                best = j;
            }
        }
        best as i64
    };
    let (mut clean, mut adv) = (Vec::new(), Vec::new());
    for s in x.chunks(d) {
        let l = logits(s);
        let y = argmax(&l);
        let m = l.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let z: f64 = l.iter().map(|v| (v - m).exp()).sum();
        let p: Vec<f64> = l.iter().map(|v| (v - m).exp() / z).collect();
        let moved: Vec<f32> = (0..d)
            .map(|i| {
                let g: f64 = (0..k)
                    .map(|j| {
                        (p[j] - if j as i64 == y { 1.0 } else { 0.0 }) * f64::from(w[i * k + j])
                    })
                    .sum();
                let v = s[i] + step * (g.signum() as f32) * if g == 0.0 { 0.0 } else { 1.0 };
                match range {
                    Some((lo, hi)) => v.clamp(lo, hi),
                    None => v,
                }
            })
            .collect();
        clean.push(y);
        adv.push(argmax(&logits(&moved)));
    }
    (clean, adv)
}

fn linear_graph(d: usize, w: &[f32], b: &[f32]) -> Graph {
    let k = b.len();
    Graph {
        name: "linear".into(),
        opset: 13,
        nodes: vec![Node {
            name: "fc".into(),
            op_type: "Gemm".into(),
            domain: String::new(),
            inputs: vec!["x".into(), "w".into(), "b".into()],
            outputs: vec!["logits".into()],
            attrs: BTreeMap::new(),
        }],
        initializers: BTreeMap::from([
            ("w".to_owned(), TensorData::f32(vec![d, k], w.to_vec())),
            ("b".to_owned(), TensorData::f32(vec![k], b.to_vec())),
        ]),
        inputs: vec![ValueInfo {
            name: "x".into(),
            dims: Some(vec![None, Some(d)]),
        }],
        outputs: vec!["logits".into()],
        metadata: BTreeMap::from([("mlsec.input_range".to_owned(), "0,1".to_owned())]),
    }
}

#[test]
fn fgsm_matches_a_hand_computation_on_a_linear_model() {
    let (d, k) = (12, 3);
    let mut rng = probe::Rng::new(7);
    let w: Vec<f32> = (0..d * k).map(|_| rng.normal()).collect();
    let b: Vec<f32> = (0..k).map(|_| 0.1 * rng.normal()).collect();
    let model = OnnxModel::from_graph(linear_graph(d, &w, &b), "t".into()).unwrap();
    let req = ProbeRequest {
        kind: Some(Kind::Vision),
        data: None,
        input_shape: &[],
        samples: 200,
        seed: 3,
        vocab: None,
    };
    let probes = probe::make(&req, model.input(), Some(model.graph())).unwrap();
    assert_eq!(probes.range, Some((0.0, 1.0)));
    for eps in [0.0, 0.03, 0.1, 0.3] {
        let got = fgsm::run(&model, &probes, eps, &|_, _| {}).unwrap();
        let (clean, adv) = hand_fgsm(&probes.x, d, &w, &b, eps, probes.range);
        assert_eq!(got.clean, clean, "eps {eps}");
        assert_eq!(got.adversarial, adv, "eps {eps}");
        let flipped = clean.iter().zip(&adv).filter(|(a, b)| a != b).count();
        assert_eq!(got.flipped, flipped, "eps {eps}");
        if eps == 0.0 {
            assert_eq!(flipped, 0);
        }
        if eps == 0.3 {
            assert!(flipped > 0, "a large step flips something");
        }
    }
}

#[test]
fn fragile_model_is_flagged_with_the_hand_computed_numbers() {
    let opts = vision();
    let report = check(&fixture("insp020_fragile.onnx"), &opts);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    // The fixture: alternating ±1 weights, logits [s, −s].
    let w: Vec<f32> = (0..1024)
        .flat_map(|i| if i % 2 == 0 { [1.0, -1.0] } else { [-1.0, 1.0] })
        .collect();
    let model = OnnxModel::load(&fixture("insp020_fragile.onnx")).unwrap();
    let req = ProbeRequest {
        kind: opts.kind,
        data: None,
        input_shape: &[],
        samples: opts.samples,
        seed: opts.seed,
        vocab: None,
    };
    let probes = probe::make(&req, model.input(), None).unwrap();
    let (clean, adv) = hand_fgsm(&probes.x, 1024, &w, &[0.0, 0.0], opts.eps, Some((0.0, 1.0)));
    let flipped = clean.iter().zip(&adv).filter(|(a, b)| a != b).count();
    assert_eq!(report.data["fgsm"]["flipped"], flipped);
    assert_eq!(report.data["fgsm"]["n"], 32);
    assert!(flipped * 2 >= 32, "the fixture is fragile: {flipped}");
    let f: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.rule.id == "INSP020")
        .collect();
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].evidence["flipped"], flipped.to_string());
    assert_eq!(f[0].evidence["eps"], "0.03");
    let table = report.tables.iter().find(|t| t.title == "fgsm").unwrap();
    assert_eq!(table.rows[0][1], flipped.to_string());
}

#[test]
fn models_that_cannot_run_are_errors_not_clean() {
    let dir = tempfile::tempdir().unwrap();
    let truncated = dir.path().join("truncated.onnx");
    let bytes = std::fs::read(digits_model()).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let mut cases: Vec<(PathBuf, RunOptions, &str)> = vec![
        (
            fixture("unsupported_op.onnx"),
            vision(),
            "unsupported op `Einsum`",
        ),
        (
            fixture("symbolic_shape.onnx"),
            vision(),
            "pass --input-shape",
        ),
        // Probes of the wrong shape for the model.
        (
            fixture("insp020_fragile.onnx"),
            with_data(fixture("insp014_probes.npy"), 32),
            "the model declares [1, 32, 32]",
        ),
        // Not a model at all, or weights without a graph.
        (digits_data(), vision(), "torch.onnx.export"),
        (
            root().join("testdata/inspect/weights/clean.pt"),
            vision(),
            "holds weights only",
        ),
        (root().join("Cargo.toml"), vision(), "cannot run the model"),
        (truncated.clone(), vision(), "cannot run the model"),
        // Synthetic probes need a kind.
        (digits_model(), RunOptions::default(), "pass --type"),
        // A data file that is not data.
        (
            digits_model(),
            with_data(digits_model().with_extension("onnx"), 32),
            "ONNX model: not a format this reader reads tensors from",
        ),
        (
            digits_model(),
            with_data(root().join("nonexistent.npz"), 32),
            "cannot read",
        ),
        // Probes too large to make.
        (
            digits_model(),
            RunOptions {
                input_shape: vec![1, 100_000, 100_000],
                ..vision()
            },
            "lower --samples",
        ),
        // --input-shape that does not fit the model.
        (
            digits_model(),
            RunOptions {
                input_shape: vec![1, 3, 8, 8],
                ..vision()
            },
            "fc1",
        ),
    ];
    if !cfg!(feature = "torch") {
        cases.push((
            root().join("testdata/adversarial/digits_mlp.pt"),
            vision(),
            "a TorchScript module, which needs a build with the `torch` feature",
        ));
    }
    for (path, opts, expected) in cases {
        let report = check(&path, &opts);
        assert!(
            report.findings.is_empty(),
            "{}: {:?}",
            path.display(),
            found(&report)
        );
        assert!(
            !report.errors.is_empty(),
            "{}: an error, not clean",
            path.display()
        );
        let text = report
            .errors
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("\n");
        assert!(text.contains(expected), "{}: {text}", path.display());
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        assert!(report.errors.iter().all(|e| e.file == name), "{text}");
    }
    // With the shape given, the symbolic model runs.
    let opts = RunOptions {
        input_shape: vec![1, 6],
        ..vision()
    };
    let report = check(&fixture("symbolic_shape.onnx"), &opts);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(
        report.data["probes"]["sample_shape"],
        serde_json::json!([6])
    );
}

#[test]
fn runnable_models_are_sniffed_by_content() {
    assert!(runnable::is_runnable(&digits_model()));
    assert!(runnable::is_runnable(&fixture("clean_cnn.onnx")));
    assert!(!runnable::is_runnable(&digits_data()));
    assert!(!runnable::is_runnable(&fixture("insp014_probes.npy")));
    assert!(!runnable::is_runnable(&root().join("testdata/adversarial")));
    assert!(!runnable::is_runnable(
        &root().join("testdata/adversarial/missing.onnx")
    ));
    let dir = tempfile::tempdir().unwrap();
    let renamed = dir.path().join("model.bin");
    std::fs::copy(digits_model(), &renamed).unwrap();
    assert!(
        runnable::is_runnable(&renamed),
        "content, not the extension"
    );
}

#[test]
fn synthetic_probes_are_seeded_and_follow_the_kind() {
    let model = OnnxModel::load(&digits_model()).unwrap();
    let make = |kind, seed, samples| {
        let req = ProbeRequest {
            kind: Some(kind),
            data: None,
            input_shape: &[],
            samples,
            seed,
            vocab: None,
        };
        probe::make(&req, model.input(), Some(model.graph())).unwrap()
    };
    let a = make(Kind::Vision, 5, 100);
    assert_eq!(a, make(Kind::Vision, 5, 100));
    assert_ne!(a.x, make(Kind::Vision, 6, 100).x);
    assert_eq!(a.sample_shape, [1, 8, 8]);
    assert_eq!(a.len(), 100);
    assert!(a.x.iter().all(|v| (0.0..1.0).contains(v)));
    let t = make(Kind::Tabular, 5, 200);
    let n = t.x.len() as f64;
    let mean = t.x.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    let var =
        t.x.iter()
            .map(|&v| (f64::from(v) - mean).powi(2))
            .sum::<f64>()
            / n;
    assert!(
        mean.abs() < 0.05 && (var - 1.0).abs() < 0.05,
        "{mean} {var}"
    );
    assert_eq!(t.range, None);
    // Explicit shapes: with or without the batch dimension.
    let spec = model.input();
    assert_eq!(probe::sample_shape(&[4, 1, 8, 8], spec).unwrap(), [1, 8, 8]);
    assert_eq!(probe::sample_shape(&[1, 8, 8], spec).unwrap(), [1, 8, 8]);
}

fn text_model(vocab: i64) -> Vec<u8> {
    let f32_tensor = |name: &str, dims: &[i64], values: &[f32]| proto::TensorProto {
        name: Some(name.into()),
        dims: dims.to_vec(),
        data_type: Some(proto::tensor_proto::DataType::Float as i32),
        raw_data: Some(
            values
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect::<Vec<u8>>()
                .into(),
        ),
        ..Default::default()
    };
    let node = |op: &str, inputs: &[&str], output: &str| proto::NodeProto {
        name: Some(output.into()),
        op_type: Some(op.into()),
        input: inputs.iter().map(|s| (*s).into()).collect(),
        output: vec![output.into()],
        ..Default::default()
    };
    let mut rng = probe::Rng::new(1);
    let emb: Vec<f32> = (0..vocab * 4).map(|_| rng.normal()).collect();
    let fc: Vec<f32> = (0..4 * 3).map(|_| rng.normal()).collect();
    let mut mean = node("ReduceMean", &["emb"], "pooled");
    mean.attribute.push(proto::AttributeProto {
        name: Some("axes".into()),
        r#type: Some(proto::attribute_proto::AttributeType::Ints as i32),
        ints: vec![1],
        ..Default::default()
    });
    mean.attribute.push(proto::AttributeProto {
        name: Some("keepdims".into()),
        r#type: Some(proto::attribute_proto::AttributeType::Int as i32),
        i: Some(0),
        ..Default::default()
    });
    let dim = |v: i64| proto::tensor_shape_proto::Dimension {
        value: Some(proto::tensor_shape_proto::dimension::Value::DimValue(v)),
        ..Default::default()
    };
    let input = proto::ValueInfoProto {
        name: Some("ids".into()),
        r#type: Some(proto::TypeProto {
            value: Some(proto::type_proto::Value::TensorType(
                proto::type_proto::Tensor {
                    elem_type: Some(proto::tensor_proto::DataType::Int64 as i32),
                    shape: Some(proto::TensorShapeProto {
                        dim: vec![dim(1), dim(6)],
                    }),
                },
            )),
            ..Default::default()
        }),
        ..Default::default()
    };
    let m = proto::ModelProto {
        ir_version: Some(8),
        opset_import: vec![proto::OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(13),
        }],
        graph: Some(proto::GraphProto {
            name: Some("text".into()),
            node: vec![
                node("Gather", &["embedding", "ids"], "emb"),
                mean,
                node("Gemm", &["pooled", "fc"], "logits"),
            ],
            initializer: vec![
                f32_tensor("embedding", &[vocab, 4], &emb),
                f32_tensor("fc", &[4, 3], &fc),
            ],
            input: vec![input],
            output: vec![proto::ValueInfoProto {
                name: Some("logits".into()),
                ..Default::default()
            }],
            ..Default::default()
        }),
        ..Default::default()
    };
    m.encode_to_vec()
}

#[test]
fn text_probes_use_the_models_vocabulary_and_skip_fgsm() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("text.onnx");
    std::fs::write(&path, text_model(50)).unwrap();
    let model = OnnxModel::load(&path).unwrap();
    assert_eq!(probe::model_vocab(model.graph(), "ids"), Some(50));
    let opts = RunOptions {
        kind: Some(Kind::Text),
        samples: 64,
        ..RunOptions::default()
    };
    let report = check(&path, &opts);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert!(report.findings.is_empty(), "{:?}", found(&report));
    let source = report.data["probes"]["source"].as_str().unwrap();
    assert!(
        source.contains("[0, 50)") && source.contains("embedding"),
        "{source}"
    );
    assert!(report.data.contains_key("activations"));
    assert!(!report.data.contains_key("fgsm"));
    assert!(report.warnings.iter().any(|w| w.contains("fgsm skipped")));
    // The token ids stay inside the vocabulary (an out-of-range id would be a Gather error).
    let req = ProbeRequest {
        kind: Some(Kind::Text),
        data: None,
        input_shape: &[],
        samples: 500,
        seed: 0,
        vocab: None,
    };
    let p = probe::make(&req, model.input(), Some(model.graph())).unwrap();
    assert!(
        p.integer
            && p.x
                .iter()
                .all(|&v| v.fract() == 0.0 && (0.0..50.0).contains(&v))
    );
    assert!(p.x.contains(&49.0) && p.x.contains(&0.0));
}

/// With the `torch` feature a TorchScript module runs the FGSM probe like its ONNX export; it has
/// no intermediate outputs, so `activations` is an error when asked for and a warning when it
/// only ran by default.
#[cfg(feature = "torch")]
#[test]
fn torchscript_runs_fgsm_like_its_onnx_export() {
    let ts = root().join("testdata/adversarial/digits_mlp.pt");
    let asked = check(&ts, &with_data(digits_data(), 64));
    assert!(asked.findings.is_empty());
    assert_eq!(asked.errors.len(), 1, "{:?}", asked.errors);
    assert!(
        asked.errors[0]
            .to_string()
            .contains("activations: intermediate outputs are only available for ONNX"),
        "{}",
        asked.errors[0]
    );

    let by_default = RunOptions {
        by_default: true,
        ..with_data(digits_data(), 64)
    };
    let r = check(&ts, &by_default);
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert!(
        r.warnings.iter().any(|w| w.contains("activations skipped")),
        "{:?}",
        r.warnings
    );
    let onnx = check(
        &digits_model(),
        &RunOptions {
            activations: false,
            ..with_data(digits_data(), 64)
        },
    );
    assert!(onnx.errors.is_empty(), "{:?}", onnx.errors);
    let (a, b) = (&r.data["fgsm"], &onnx.data["fgsm"]);
    assert_eq!(a["n"], b["n"]);
    let flips = |v: &serde_json::Value| v["flipped"].as_i64().unwrap();
    // The same model through two runtimes: at most one float near-tie may flip differently.
    assert!((flips(a) - flips(b)).abs() <= 1, "{a} vs {b}");
    assert!(
        flips(b) > 0,
        "the probe flips some predictions at this eps: {b}"
    );
}
