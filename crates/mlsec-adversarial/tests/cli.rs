//! The subcommand end to end on the shipped example: results, the baseline gate, and the
//! gradient-masking rules on deliberately broken models.

use std::path::{Path, PathBuf};

use clap::Parser;
use mlsec_core::{Context, ExitStatus, Policy, Report};
use mlsec_onnx::prost::Message as _;
use mlsec_onnx::proto;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: mlsec_adversarial::Args,
}

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/adversarial")
}

fn model_path() -> String {
    example().join("digits_mlp.onnx").display().to_string()
}

fn data_path() -> String {
    example().join("digits_test.npz").display().to_string()
}

fn run(args: &[&str]) -> Report {
    let cli = Cli::try_parse_from(std::iter::once("adversarial").chain(args.iter().copied()))
        .expect("arguments parse");
    mlsec_adversarial::run(&cli.args, &Context::silent()).expect("the command starts")
}

fn status(r: &Report) -> ExitStatus {
    r.exit_status(&Policy::default())
}

fn ids(r: &Report) -> Vec<&'static str> {
    let mut v: Vec<_> = r.findings.iter().map(|f| f.rule.id).collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// The example model with `edit` applied to its graph, written into `dir`.
fn edited_model(dir: &Path, name: &str, edit: impl FnOnce(&mut proto::GraphProto)) -> String {
    let bytes = std::fs::read(example().join("digits_mlp.onnx")).unwrap();
    let mut model = proto::ModelProto::decode(bytes.as_slice()).unwrap();
    edit(model.graph.as_mut().unwrap());
    let path = dir.join(name);
    std::fs::write(&path, model.encode_to_vec()).unwrap();
    path.display().to_string()
}

fn node(op: &str, inputs: &[&str], output: &str) -> proto::NodeProto {
    proto::NodeProto {
        op_type: Some(op.into()),
        name: Some(format!("added_{op}")),
        input: inputs.iter().map(|s| (*s).to_owned()).collect(),
        output: vec![output.into()],
        ..Default::default()
    }
}

fn scalar(name: &str, v: f32) -> proto::TensorProto {
    proto::TensorProto {
        name: Some(name.into()),
        data_type: Some(1),
        float_data: vec![v],
        ..Default::default()
    }
}

fn set_output(g: &mut proto::GraphProto, name: &str) {
    g.output[0].name = Some(name.into());
}

/// A less robust model: the same network on inputs with doubled contrast around 0.5
/// (`2x − 0.5`), so an ε perturbation acts like 2ε.
fn degraded(dir: &Path) -> String {
    edited_model(dir, "degraded.onnx", |g| {
        g.initializer.push(scalar("two", 2.0));
        g.initializer.push(scalar("half", 0.5));
        g.node.insert(0, node("Mul", &["input", "two"], "doubled"));
        g.node
            .insert(1, node("Sub", &["doubled", "half"], "scaled"));
        g.node[2].input[0] = "scaled".into();
    })
}

#[test]
fn example_runs_clean_with_reference_accuracy() {
    let r = run(&[
        "--model",
        &model_path(),
        "--data",
        &data_path(),
        "--attack",
        "fgsm",
        "--epsilon",
        "0.1",
    ]);
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert_eq!(ids(&r), Vec::<&str>::new());
    assert_eq!(status(&r), ExitStatus::Clean);
    let table = &r.tables[0];
    assert_eq!(table.rows.len(), 1);
    // torchattacks: 39.17 % (reference.json).
    assert_eq!(table.rows[0][3], "39.2%");
    let data = &r.data["adversarial"];
    assert_eq!(data["samples"], 360);
    assert_eq!(data["checks"]["deterministic"], true);
}

#[test]
fn baseline_gate() {
    let dir = tempfile::tempdir().unwrap();
    let baseline = dir.path().join("baseline.json").display().to_string();
    let common = [
        "--data",
        &data_path(),
        "--attack",
        "fgsm,pgd",
        "--epsilon",
        "0.05,0.1",
        "--limit",
        "150",
        "--no-checks",
    ];
    let with = |model: &str, extra: &[&str]| {
        let mut a = vec!["--model", model];
        a.extend_from_slice(&common);
        a.extend_from_slice(&["--baseline", &baseline]);
        a.extend_from_slice(extra);
        run(&a)
    };
    // Missing: written, clean.
    let first = with(&model_path(), &[]);
    assert!(first.errors.is_empty(), "{:?}", first.errors);
    assert!(
        first
            .warnings
            .iter()
            .any(|w| w.contains("wrote the baseline"))
    );
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&baseline).unwrap()).unwrap();
    assert_eq!(written["results"].as_array().unwrap().len(), 4);
    assert_eq!(
        written["results"][0]["outcomes"].as_str().unwrap().len(),
        150
    );
    // Same model, same data: identical, clean.
    let same = with(&model_path(), &[]);
    assert!(
        same.errors.is_empty() && same.findings.is_empty(),
        "{:?} {:?}",
        same.errors,
        ids(&same)
    );
    assert_eq!(status(&same), ExitStatus::Clean);
    // A degraded model: a regression finding, exit 2.
    let worse = with(&degraded(dir.path()), &[]);
    assert!(
        ids(&worse).contains(&"ADV001"),
        "{:?} {}",
        ids(&worse),
        worse.data["adversarial"]["baseline"]
    );
    assert_eq!(status(&worse), ExitStatus::Findings);
    let f = worse
        .findings
        .iter()
        .find(|f| f.rule.id == "ADV001")
        .unwrap();
    assert!(f.evidence.contains_key("p_value"));
    // Changed data (another --limit): error, exit 1, nothing compared.
    let mut args = vec!["--model".to_string(), model_path()];
    args.extend(common.iter().map(|s| s.to_string()));
    let at = args.iter().position(|a| a == "150").unwrap();
    args[at] = "140".into();
    args.extend(["--baseline".to_string(), baseline.clone()]);
    let changed = run(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(changed.findings.is_empty());
    assert_eq!(status(&changed), ExitStatus::Error);
    assert!(
        changed.errors[0].message.contains("different data"),
        "{:?}",
        changed.errors
    );
    // Changed parameters: error too.
    let params = with(&model_path(), &["--steps", "5"]);
    assert_eq!(status(&params), ExitStatus::Error);
    assert!(
        params.errors[0]
            .message
            .contains("different attack parameters")
    );
    // Accept the degraded model, then the original is an improvement: info, exit 0.
    let updated = with(&degraded(dir.path()), &["--update-baseline"]);
    assert!(updated.findings.is_empty() && updated.errors.is_empty());
    let better = with(&model_path(), &[]);
    assert_eq!(ids(&better), vec!["ADV002"]);
    assert_eq!(status(&better), ExitStatus::Clean);
}

#[test]
fn probabilities_and_saturation_are_flagged() {
    let dir = tempfile::tempdir().unwrap();
    // softmax(100·logits): probabilities, saturated to exact 0/1 for most points.
    let model = edited_model(dir.path(), "softmax.onnx", |g| {
        g.initializer.push(scalar("hundred", 100.0));
        g.node.push(node("Mul", &["logits", "hundred"], "sharp"));
        g.node.push(node("Softmax", &["sharp"], "probs"));
        set_output(g, "probs");
    });
    let r = run(&[
        "--model",
        &model,
        "--data",
        &data_path(),
        "--attack",
        "fgsm,pgd",
        "--epsilon",
        "0.1",
        "--limit",
        "100",
    ]);
    let found = ids(&r);
    assert!(found.contains(&"ADV003"), "{found:?}");
    assert!(found.contains(&"ADV009"), "{found:?}");
    assert_eq!(status(&r), ExitStatus::Findings);
}

#[test]
fn nondeterministic_model_is_flagged() {
    let dir = tempfile::tempdir().unwrap();
    let model = edited_model(dir.path(), "noisy.onnx", |g| {
        g.node.push(node("RandomUniformLike", &["logits"], "noise"));
        g.node.push(node("Add", &["logits", "noise"], "noisy"));
        set_output(g, "noisy");
    });
    let r = run(&[
        "--model",
        &model,
        "--data",
        &data_path(),
        "--attack",
        "fgsm",
        "--epsilon",
        "0.1",
        "--limit",
        "100",
    ]);
    let found = ids(&r);
    assert!(found.contains(&"ADV004"), "{found:?}");
}

#[test]
fn well_behaved_curve_has_no_sanity_findings() {
    let r = run(&[
        "--model",
        &model_path(),
        "--data",
        &data_path(),
        "--attack",
        "fgsm,pgd",
        "--epsilon",
        "0.05,0.1,0.2",
        "--limit",
        "120",
    ]);
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert_eq!(ids(&r), Vec::<&str>::new());
    let results = r.data["adversarial"]["results"].as_array().unwrap();
    assert_eq!(results.len(), 6);
}

#[test]
fn cw_reports_median_and_budgets() {
    let r = run(&[
        "--model",
        &model_path(),
        "--data",
        &data_path(),
        "--attack",
        "cw",
        "--l2-budget",
        "0.5,3",
        "--limit",
        "40",
        "--cw-steps",
        "100",
    ]);
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    let rows = &r.tables[0].rows;
    assert_eq!(rows.len(), 2);
    // Minimum-norm: every point is fooled within L2 ≤ 3 on this model.
    assert_eq!(rows[1][3], "0.0%");
    assert!(r.data["cw"]["median_l2"].as_f64().unwrap() > 0.0);
}

#[test]
fn targeted_attacks_run() {
    for mode in ["random", "least-likely"] {
        let r = run(&[
            "--model",
            &model_path(),
            "--data",
            &data_path(),
            "--attack",
            "pgd",
            "--epsilon",
            "0.3",
            "--limit",
            "60",
            "--targeted",
            mode,
            "--no-checks",
        ]);
        assert!(r.errors.is_empty(), "{:?}", r.errors);
        let success: f64 = r.data["adversarial"]["results"][0]["success_rate"]
            .as_f64()
            .unwrap();
        assert!(success > 0.5, "{mode}: {success}");
    }
}

#[test]
fn bad_inputs_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let trunc = dir.path().join("t.npz");
    let bytes = std::fs::read(example().join("digits_test.npz")).unwrap();
    std::fs::write(&trunc, &bytes[..bytes.len() / 2]).unwrap();
    let r = run(&["--model", &model_path(), "--data", trunc.to_str().unwrap()]);
    assert_eq!(status(&r), ExitStatus::Error);
    assert!(r.errors[0].file.ends_with("t.npz"));
    let r = run(&[
        "--model",
        &model_path(),
        "--data",
        &data_path(),
        "--x-key",
        "images",
    ]);
    assert!(r.errors[0].message.contains("images"), "{:?}", r.errors);
    let ckpt = dir.path().join("model.pt");
    std::fs::write(&ckpt, b"PK\x03\x04 not really").unwrap();
    let r = run(&["--model", ckpt.to_str().unwrap(), "--data", &data_path()]);
    assert!(
        r.errors[0].message.contains("torch.onnx.export"),
        "{:?}",
        r.errors
    );
    // A real `torch.save` state dict: weights only, whatever the build.
    let state_dict = example().join("../inspect/weights/clean.pt");
    let r = run(&[
        "--model",
        state_dict.to_str().unwrap(),
        "--data",
        &data_path(),
    ]);
    assert_eq!(status(&r), ExitStatus::Error);
    assert!(
        r.errors[0].message.contains("state dict")
            && r.errors[0].message.contains("torch.onnx.export"),
        "{:?}",
        r.errors
    );
    // A TorchScript module runs only with the `torch` feature; without it, the error says so.
    if !cfg!(feature = "torch") {
        let ts = example().join("digits_mlp.pt");
        let r = run(&["--model", ts.to_str().unwrap(), "--data", &data_path()]);
        assert_eq!(status(&r), ExitStatus::Error);
        assert!(
            r.errors[0].message.contains("TorchScript module")
                && r.errors[0].message.contains("`torch` feature"),
            "{:?}",
            r.errors
        );
    }
    let garbage = dir.path().join("bad.onnx");
    std::fs::write(&garbage, b"\xff\xff\xff\xff\xff").unwrap();
    let r = run(&["--model", garbage.to_str().unwrap(), "--data", &data_path()]);
    assert_eq!(status(&r), ExitStatus::Error);
}

#[test]
fn html_report_has_the_curve() {
    let dir = tempfile::tempdir().unwrap();
    let html = dir.path().join("r.html");
    let r = run(&[
        "--model",
        &model_path(),
        "--data",
        &data_path(),
        "--attack",
        "fgsm",
        "--epsilon",
        "0.05,0.1",
        "--limit",
        "50",
        "--report",
        html.to_str().unwrap(),
        "--no-checks",
    ]);
    assert!(r.errors.is_empty());
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("<svg") && page.contains("<polyline"));
}

#[cfg(feature = "torch")]
#[test]
fn torchscript_model_gives_the_same_results() {
    let ts = example().join("digits_mlp.pt").display().to_string();
    let r = run(&[
        "--model",
        &ts,
        "--data",
        &data_path(),
        "--attack",
        "fgsm,cw",
        "--epsilon",
        "0.1",
        "--limit",
        "60",
        "--cw-steps",
        "50",
    ]);
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    let o = run(&[
        "--model",
        &model_path(),
        "--data",
        &data_path(),
        "--attack",
        "fgsm,cw",
        "--epsilon",
        "0.1",
        "--limit",
        "60",
        "--cw-steps",
        "50",
    ]);
    assert_eq!(r.tables[0].rows[0][3], o.tables[0].rows[0][3]);
    let (a, b) = (
        r.data["cw"]["median_l2"].as_f64().unwrap(),
        o.data["cw"]["median_l2"].as_f64().unwrap(),
    );
    assert!((a - b).abs() <= 0.01 * b, "{a} vs {b}");
}

#[test]
fn no_early_stop_and_every_parameter_in_the_report() {
    let m = model_path();
    let d = data_path();
    let base = [
        "--model",
        &m,
        "--data",
        &d,
        "--limit",
        "60",
        "--attack",
        "pgd,cw",
        "--epsilon",
        "0.1",
        "--steps",
        "8",
        "--cw-steps",
        "20",
        "--cw-binary-steps",
        "2",
        "--no-checks",
    ];
    let early = run(&base);
    let mut args = base.to_vec();
    args.push("--no-early-stop");
    let full = run(&args);
    let params = |r: &Report| r.data["adversarial"]["params"].clone();
    assert_eq!(params(&early)["early_stop"], true);
    assert_eq!(params(&full)["early_stop"], false);
    // Every parameter, defaults resolved, in a table of the report.
    let table = full
        .tables
        .iter()
        .find(|t| t.title == "Attack parameters")
        .expect("a parameter table");
    let value = |attack: &str, key: &str| -> String {
        table
            .rows
            .iter()
            .find(|r| r[0] == attack && r[1] == key)
            .unwrap_or_else(|| panic!("no row {attack} {key}: {:?}", table.rows))[2]
            .clone()
    };
    assert_eq!(value("all", "early stop"), "false");
    assert_eq!(value("all", "batch size"), "256");
    assert_eq!(value("pgd", "steps"), "8");
    assert_eq!(
        value("pgd", "step size α"),
        (2.5f32 * 0.1 / 8.0).to_string()
    );
    assert_eq!(value("cw", "binary-search steps"), "2");
    assert_eq!(value("cw", "steps"), "20");
    // Without early stop only PGD's final iterate counts, so it can only find fewer
    // adversarials than with it (where any fooling iterate counts).
    let robust = |r: &Report| -> f64 {
        let rows = r.data["adversarial"]["results"].as_array().unwrap();
        let pgd = rows.iter().find(|row| row["attack"] == "pgd").unwrap();
        pgd["robust_accuracy"].as_f64().unwrap()
    };
    assert!(robust(&full) >= robust(&early));
}

fn run_err(args: &[&str]) -> String {
    let cli = Cli::try_parse_from(std::iter::once("adversarial").chain(args.iter().copied()))
        .expect("arguments parse");
    match mlsec_adversarial::run(&cli.args, &Context::silent()) {
        Ok(r) => panic!("expected a refusal, got {:?}", r.errors),
        Err(e) => format!("{e:#}"),
    }
}

fn compared_keys(r: &Report) -> Vec<String> {
    r.data["adversarial"]["baseline"]["results"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| e["key"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// A baseline records its data (relative to itself) and every setting, so `--model M
/// --baseline B` alone repeats that evaluation; `--attack`/`--epsilon` select from it.
#[test]
fn baseline_alone_repeats_its_evaluation() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    std::fs::create_dir_all(dir.path().join("ci")).unwrap();
    let data = dir.path().join("data/digits.npz");
    std::fs::copy(example().join("digits_test.npz"), &data).unwrap();
    let baseline = dir.path().join("ci/baseline.json").display().to_string();
    let data = data.display().to_string();
    let first = run(&[
        "--model",
        &model_path(),
        "--data",
        &data,
        "--attack",
        "fgsm,pgd",
        "--epsilon",
        "0.1,0.05",
        "--limit",
        "120",
        "--steps",
        "7",
        "--seed",
        "5",
        "--no-checks",
        "--baseline",
        &baseline,
    ]);
    assert!(first.errors.is_empty(), "{:?}", first.errors);
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&baseline).unwrap()).unwrap();
    assert_eq!(written["schema"], "mlsec-adversarial-baseline/2");
    assert_eq!(written["data"]["path"], "../data/digits.npz");
    assert_eq!(written["data"]["limit"], 120);
    assert_eq!(written["data"]["samples"], 120);
    assert_eq!(
        written["settings"]["attacks"],
        serde_json::json!(["fgsm", "pgd"])
    );
    assert_eq!(
        written["settings"]["epsilon"],
        serde_json::json!([0.05, 0.1])
    );
    assert_eq!(written["settings"]["steps"], 7);
    assert_eq!(written["settings"]["seed"], 5);
    assert_eq!(
        written["model_sha256"].as_str().unwrap().len(),
        64,
        "{written}"
    );

    // The baseline alone: the same evaluation, every result compared, clean.
    let again = run(&[
        "--model",
        &model_path(),
        "--baseline",
        &baseline,
        "--no-checks",
    ]);
    assert!(again.errors.is_empty(), "{:?}", again.errors);
    assert_eq!(status(&again), ExitStatus::Clean);
    assert_eq!(
        compared_keys(&again),
        ["fgsm@0.05", "fgsm@0.1", "pgd@0.05", "pgd@0.1"]
    );
    assert_eq!(again.data["adversarial"]["samples"], 120);
    assert_eq!(again.data["adversarial"]["params"]["steps"], 7);
    // The baseline's results are reproduced exactly, not just within the gate's tolerance.
    // (Every column but the two timings.)
    let rows = |r: &Report| -> Vec<Vec<String>> {
        r.tables[0]
            .rows
            .iter()
            .map(|row| row[..7].to_vec())
            .collect()
    };
    assert_eq!(rows(&first), rows(&again));

    // A selection: only that result runs and is compared.
    let one = run(&[
        "--model",
        &model_path(),
        "--attack",
        "fgsm",
        "--epsilon",
        "0.05",
        "--baseline",
        &baseline,
        "--no-checks",
    ]);
    assert!(one.errors.is_empty(), "{:?}", one.errors);
    assert_eq!(compared_keys(&one), ["fgsm@0.05"]);

    // A degraded model against the baseline alone: the regression is found.
    let worse = run(&[
        "--model",
        &degraded(dir.path()),
        "--baseline",
        &baseline,
        "--no-checks",
    ]);
    assert!(ids(&worse).contains(&"ADV001"), "{:?}", ids(&worse));
    assert_eq!(status(&worse), ExitStatus::Findings);

    // Asking for what the baseline does not have: refused before any attack, naming it.
    for (extra, needle) in [
        (
            &["--attack", "cw"][..],
            "no `cw` results (it has fgsm, pgd)",
        ),
        (&["--epsilon", "0.2"][..], "no results at ε = 0.2"),
        (&["--seed", "6"][..], "--seed is 6, the baseline's 5"),
    ] {
        let mut a = vec!["--model", model_path_static(), "--baseline", &baseline];
        a.extend_from_slice(extra);
        let r = run(&a);
        assert_eq!(status(&r), ExitStatus::Error, "{extra:?}");
        assert!(r.findings.is_empty() && r.tables.is_empty(), "{extra:?}");
        assert!(
            r.errors[0].message.contains(needle),
            "{extra:?}: {:?}",
            r.errors
        );
    }

    // Without data and without a baseline, the error says what to pass.
    let none = run_err(&["--model", &model_path()]);
    assert!(
        none.contains("--data") && none.contains("--baseline"),
        "{none}"
    );
    let missing = dir.path().join("ci/new.json").display().to_string();
    let fresh = run_err(&["--model", &model_path(), "--baseline", &missing]);
    assert!(
        fresh.contains("does not exist yet") && fresh.contains("--data"),
        "{fresh}"
    );
    // A baseline of the old schema is refused with what to do.
    let old = dir.path().join("ci/old.json");
    std::fs::write(
        &old,
        r#"{"schema":"mlsec-adversarial-baseline/1","model_sha256":"","data_sha256":"","params":{},"results":[]}"#,
    )
    .unwrap();
    let r = run(&[
        "--model",
        &model_path(),
        "--baseline",
        &old.display().to_string(),
    ]);
    assert_eq!(status(&r), ExitStatus::Error);
    assert!(
        r.errors[0].message.contains("--update-baseline"),
        "{:?}",
        r.errors
    );
}

fn model_path_static() -> &'static str {
    Box::leak(model_path().into_boxed_str())
}
