//! The command-line contract, run against the real binary: exit codes for help, usage errors,
//! policy errors, tool errors, findings, and the traps (closed pipe, finding beside an error).

use std::path::Path;
use std::process::{Command, Output, Stdio};

fn mlsec(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mlsec"))
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .expect("mlsec runs")
}

fn code(output: &Output) -> i32 {
    output.status.code().expect("exited, not killed")
}

/// Every row: arguments, expected exit status, a string the output (stdout+stderr) must contain.
#[test]
fn exit_contract_table() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    std::fs::write(cwd.join("bad.toml"), "fail_on = \"loud\"\n").unwrap();
    let cases: &[(&[&str], i32, &str)] = &[
        (&["--help"], 0, "Usage: mlsec"),
        (&["--version"], 0, "mlsec "),
        (&["triton", "--help"], 0, "Usage: mlsec triton"),
        (&[], 1, "Usage: mlsec"),
        (&["no-such-command"], 1, "unrecognized subcommand"),
        (&["triton", "--no-such-flag"], 1, "unexpected argument"),
        (&["triton", "x", "--format", "xml"], 1, "invalid value"),
        (&["triton", "x", "--fail-on", "loud"], 1, "unknown severity"),
        (
            &["triton", "x", "--config", "bad.toml"],
            1,
            "invalid policy file",
        ),
        (
            &["triton", "x", "--config", "missing.toml"],
            1,
            "cannot read policy file",
        ),
        (&["explain", "NOPE999"], 1, "no rule `NOPE999`"),
        (&["rules"], 0, "rules"),
        (
            &["inspect", "--model", "m.onnx"],
            1,
            "no such file or directory",
        ),
        (
            &["export-guard", "lint", "missing.onnx"],
            1,
            "cannot read missing.onnx",
        ),
    ];
    for (args, expected, needle) in cases {
        let out = mlsec(args, cwd);
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(code(&out), *expected, "mlsec {args:?}:\n{all}");
        assert!(
            all.contains(needle),
            "mlsec {args:?} lacks {needle:?}:\n{all}"
        );
    }
}

#[test]
fn json_alias_and_output_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = mlsec(
        &[
            "inspect", "--model", "m.onnx", "--json", "--output", "r.json",
        ],
        dir.path(),
    );
    assert_eq!(code(&out), 1);
    assert!(out.stdout.is_empty(), "report went to the file, not stdout");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("r.json")).unwrap()).unwrap();
    assert_eq!(report["summary"]["exit_code"], 1);
    assert_eq!(report["errors"][0]["file"], "m.onnx");
    // --json and --format conflict rather than silently picking one.
    let out = mlsec(
        &["inspect", "--model", "m", "--json", "--format", "sarif"],
        dir.path(),
    );
    assert_eq!(code(&out), 1);
}

#[test]
fn closed_stdout_keeps_the_computed_status() {
    // The reader end is closed before mlsec writes: the write fails with EPIPE, and the exit
    // status must still be the report's (1 here), not success and not a crash.
    let mut child = Command::new(env!("CARGO_BIN_EXE_mlsec"))
        .args(["inspect", "--model", "m.onnx", "--format", "sarif"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(1));
}

fn repo_root() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn combined(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Real scans of the shipped examples: clean is 0, a finding is 2, a broken input is 1, and a
/// finding beside a broken input is still 2 with the error printed.
#[test]
fn exit_contract_on_real_scans() {
    let root = repo_root();
    let scratch = tempfile::tempdir().unwrap();
    let mixed = scratch.path().join("mixed");
    std::fs::create_dir(&mixed).unwrap();
    std::fs::copy(
        root.join("testdata/checkpoint/malicious/model.pt"),
        mixed.join("model.pt"),
    )
    .unwrap();
    std::fs::copy(
        root.join("testdata/checkpoint/broken/truncated.pkl"),
        mixed.join("truncated.pkl"),
    )
    .unwrap();
    let broken_only = scratch.path().join("broken");
    std::fs::create_dir(&broken_only).unwrap();
    std::fs::copy(
        root.join("testdata/checkpoint/broken/truncated.pkl"),
        broken_only.join("truncated.pkl"),
    )
    .unwrap();
    let mixed = mixed.to_str().unwrap();
    let broken_only = broken_only.to_str().unwrap();
    let cases: &[(&[&str], i32, &[&str])] = &[
        (
            &["triton", "testdata/triton/example-repo"],
            2,
            &["TRTN025", "detector/config.pbtxt:"],
        ),
        (
            &["triton", "testdata/triton/example-repo/resnet50"],
            0,
            &["clean"],
        ),
        (
            &[
                "triton",
                "testdata/triton/errors/syntax-unclosed-block.pbtxt",
            ],
            1,
            &["syntax-unclosed-block.pbtxt:"],
        ),
        (
            &["checkpoint", "testdata/checkpoint/clean/model.pt"],
            0,
            &["no findings"],
        ),
        (
            &["ckpt", "testdata/checkpoint/malicious/model.pt"],
            2,
            &["CKPT001", "builtins.print"],
        ),
        (
            &[
                "ckpt",
                "testdata/checkpoint/malicious/model.pt",
                "--fail-on",
                "critical",
            ],
            0,
            &["CKPT001"],
        ),
        (&["ckpt", broken_only], 1, &["truncated.pkl", "error"]),
        (
            &[
                "inspect",
                "--model",
                "testdata/inspect/weights/clean.safetensors",
            ],
            0,
            &["activations and fgsm skipped", "clean"],
        ),
        (
            &[
                "inspect",
                "--model",
                "testdata/inspect/weights/nan.safetensors",
                "--checks",
                "weights",
            ],
            2,
            &["INSP001", "blocks.2.attn.weight"],
        ),
        (
            &[
                "inspect",
                "--model",
                "testdata/inspect/weights/sharded-missing-shard",
            ],
            1,
            &["model-00002-of-00002.safetensors", "missing"],
        ),
        (
            &[
                "inspect",
                "--model",
                "testdata/inspect/models/insp014_backdoor.onnx",
                "--data",
                "testdata/inspect/models/insp014_probes.npy",
            ],
            2,
            &["INSP014"],
        ),
        (
            &[
                "inspect",
                "--model",
                "testdata/inspect/weights/clean.safetensors",
                "--checks",
                "fgsm",
            ],
            1,
            &["cannot run the model"],
        ),
        (&["ckpt", mixed], 2, &["CKPT001", "truncated.pkl", "error"]),
        (
            &[
                "poison",
                "monitor",
                "--log-dir",
                "testdata/poison-monitor/attacked",
            ],
            2,
            &["POIS"],
        ),
        (
            &[
                "poison-monitor",
                "monitor",
                "--log-dir",
                "testdata/poison-monitor/clean",
            ],
            0,
            &["clean"],
        ),
        (
            &["export", "lint", "testdata/export-guard/benign_cnn.onnx"],
            0,
            &["clean"],
        ),
        (
            &[
                "export",
                "lint",
                "testdata/export-guard/expg012_input_selection.onnx",
            ],
            2,
            &["EXPG012"],
        ),
        (
            &[
                "adv",
                "--model",
                "testdata/adversarial/digits_mlp.onnx",
                "--data",
                "testdata/adversarial/digits_test.npz",
                "--attack",
                "fgsm",
                "--epsilon",
                "0.1",
                "--limit",
                "60",
            ],
            0,
            &["fgsm"],
        ),
        (
            &["adv", "--model", "testdata/adversarial/digits_mlp.onnx"],
            1,
            &["--data"],
        ),
        (&["explain", "CKPT001"], 0, &["## Remediation"]),
        (&["explain", "pickle-unsafe-call"], 0, &["CKPT001"]),
    ];
    for (args, expected, needles) in cases {
        let out = mlsec(args, &root);
        let all = combined(&out);
        assert_eq!(code(&out), *expected, "mlsec {args:?}:\n{all}");
        for needle in *needles {
            assert!(
                all.contains(needle),
                "mlsec {args:?} lacks {needle:?}:\n{all}"
            );
        }
    }
}

#[test]
fn policy_file_ignores_with_reason_and_warns_on_stale_ignores() {
    let root = repo_root();
    let dir = tempfile::tempdir().unwrap();
    let model = root.join("testdata/checkpoint/malicious/model.pt");
    std::fs::copy(&model, dir.path().join("model.pt")).unwrap();
    std::fs::write(
        dir.path().join("mlsec.toml"),
        "[[ignore]]\nrule = \"CKPT001\"\npath = \"model.pt\"\nreason = \"reviewed demo file\"\n\
         [[ignore]]\nrule = \"TRTN025\"\nreason = \"stale\"\n",
    )
    .unwrap();
    let out = mlsec(&["ckpt", "model.pt", "--json"], dir.path());
    assert_eq!(code(&out), 0, "{}", combined(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["summary"]["suppressed"], 1);
    assert_eq!(report["findings"].as_array().unwrap().len(), 0);
    let warnings = report["warnings"].to_string();
    assert!(
        warnings.contains("TRTN025") && warnings.contains("matched no finding"),
        "{warnings}"
    );
}

#[test]
fn dogfood_sarif_of_the_example_repo_is_valid() {
    let out = mlsec(
        &[
            "triton",
            "testdata/triton/example-repo",
            "--format",
            "sarif",
        ],
        &repo_root(),
    );
    assert_eq!(code(&out), 2);
    let sarif: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("schema/sarif-2.1.0.json")).unwrap();
    let validator = jsonschema::draft4::new(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&sarif)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    assert!(results.iter().any(|r| r["ruleId"] == "TRTN025"));
}

/// Without the `torch` feature a TorchScript module still gets its weights checked, and the
/// warning says what running it needs.
#[cfg(not(feature = "torch"))]
#[test]
fn inspect_of_torchscript_without_the_torch_feature_says_what_it_needs() {
    let out = mlsec(
        &["inspect", "--model", "testdata/adversarial/digits_mlp.pt"],
        &repo_root(),
    );
    let text = combined(&out);
    assert_eq!(code(&out), 0, "{text}");
    assert!(text.contains("3.weight"), "{text}");
    assert!(
        text.contains("a TorchScript module, which needs a build with the `torch` feature"),
        "{text}"
    );
}

/// GGUF files and formats `checkpoint` recognises but does not read: a clean model passes, a
/// template injection fails with its snippet, a lying header is an error; an unscanned format
/// named on the command line is an error (exit 1), and in a directory scan a warning plus a
/// count in the summary line (exit 0 when nothing else is wrong).
#[test]
fn checkpoint_gguf_and_formats_not_scanned() {
    let cases: &[(&[&str], i32, &[&str])] = &[
        (
            &["checkpoint", "testdata/gguf/clean/tiny-llama.gguf"],
            0,
            &["no findings", "1 Q8_0"],
        ),
        (
            &["checkpoint", "testdata/gguf/templates"],
            0,
            &["no findings"],
        ),
        (
            &[
                "checkpoint",
                "testdata/gguf/malicious/chat-template-cve-2024-34359.gguf",
            ],
            2,
            &["CKPT026", "tokenizer.chat_template", "().__class__"],
        ),
        (
            &[
                "checkpoint",
                "testdata/gguf/broken/lying-metadata-count.gguf",
            ],
            1,
            &["invalid GGUF", "cannot fit"],
        ),
        (
            &[
                "checkpoint",
                "testdata/gguf/anomalies/tensor-out-of-bounds.gguf",
            ],
            2,
            &["CKPT021", "b.weight"],
        ),
        (
            &["checkpoint", "testdata/formats/unscanned/model.tflite"],
            1,
            &["not scanned: TensorFlow Lite flatbuffer", "incomplete"],
        ),
        (
            &["checkpoint", "testdata/formats/unscanned/model.skops"],
            1,
            &["not scanned: skops"],
        ),
        (
            &["checkpoint", "testdata/formats/unscanned"],
            0,
            &[
                "warning: model.mlmodel: not scanned: Core ML model",
                "warning: saved_model/saved_model.pb: not scanned: TensorFlow SavedModel",
                "6 not scanned",
                "clean",
            ],
        ),
        (
            &["checkpoint", "testdata/formats/keras-json/lambda.json"],
            2,
            &["CKPT050"],
        ),
        (
            &["checkpoint", "testdata/formats/keras-json/model.json"],
            0,
            &["no findings"],
        ),
    ];
    for (args, expected, needles) in cases {
        let out = mlsec(args, &repo_root());
        let text = combined(&out);
        assert_eq!(code(&out), *expected, "mlsec {args:?}:\n{text}");
        for needle in *needles {
            assert!(
                text.contains(needle),
                "mlsec {args:?} lacks {needle:?}:\n{text}"
            );
        }
    }
}

/// The command lines printed in the original mlsec article, run exactly as printed (file names
/// included) in a directory holding the files they name. `checkpoint.pt`/`model.pt` hold the
/// example ONNX model: models are recognised by content (the TorchScript version of this test
/// is in tests/torch.rs).
#[test]
fn article_command_lines_run_as_printed() {
    let root = repo_root();
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let onnx = root.join("testdata/adversarial/digits_mlp.onnx");
    for name in ["checkpoint.pt", "model.pt"] {
        std::fs::copy(&onnx, cwd.join(name)).unwrap();
    }
    std::fs::copy(
        root.join("testdata/adversarial/digits_test.npz"),
        cwd.join("digits_test.npz"),
    )
    .unwrap();
    let run = |line: &str, expected: i32| -> String {
        let args: Vec<&str> = line.split_whitespace().skip(1).collect();
        let out = mlsec(&args, cwd);
        let all = combined(&out);
        assert_eq!(code(&out), expected, "{line}\n{all}");
        all
    };

    // Adversarial: the article's lines need a baseline that records data and settings.
    let no_data = run(
        "mlsec adversarial --model checkpoint.pt --attack fgsm --epsilon 0.03",
        1,
    );
    assert!(
        no_data.contains("--data") && no_data.contains("--baseline"),
        "{no_data}"
    );
    run(
        "mlsec adversarial --model checkpoint.pt --data digits_test.npz --limit 200 --attack fgsm,pgd --epsilon 0.03,0.1 --baseline baseline.json",
        0,
    );
    let one = run(
        "mlsec adversarial --model checkpoint.pt --attack fgsm --epsilon 0.03 --baseline baseline.json",
        0,
    );
    assert!(one.contains("fgsm") && !one.contains("pgd"), "{one}");
    let all = run(
        "mlsec adversarial --model model.pt --baseline baseline.json",
        0,
    );
    assert!(
        all.contains("ε=0.03") && all.contains("ε=0.1") && all.contains("pgd"),
        "{all}"
    );

    // Poison monitor: simulate writes ./gradient_logs/ and says so; the next line reads it.
    let sim = run("mlsec poison-monitor simulate --workers 4 --steps 100", 0);
    assert!(sim.contains("gradient_logs/"), "{sim}");
    assert!(cwd.join("gradient_logs/worker_3.jsonl").is_file());
    run("mlsec poison-monitor monitor --log-dir ./gradient_logs/", 0);

    // Export guard, the article's form: --format onnx --output names the exported model.
    let missing = run(
        "mlsec export-guard --model model.pt --format onnx --output model.onnx --attestation provenance.json",
        1,
    );
    assert!(
        missing.contains("never runs PyTorch") && missing.contains("torch.onnx.export"),
        "{missing}"
    );
    std::fs::copy(&onnx, cwd.join("model.onnx")).unwrap();
    run(
        "mlsec export-guard --model model.pt --format onnx --output model.onnx --attestation provenance.json",
        0,
    );
    assert_eq!(
        std::fs::read(cwd.join("model.onnx")).unwrap(),
        std::fs::read(&onnx).unwrap(),
        "the report must not overwrite the model"
    );
    let statement = std::fs::read_to_string(cwd.join("provenance.json")).unwrap();
    assert!(statement.contains("model.onnx"), "{statement}");
    assert!(cwd.join("provenance.checkpoint.json").is_file());
    run(
        "mlsec export-guard verify --attestation provenance.json --artifact model.onnx",
        0,
    );
    let trt = run(
        "mlsec export-guard --model model.pt --format tensorrt --output model.engine --attestation provenance.json",
        1,
    );
    assert!(
        trt.contains("record --stage tensorrt --artifact model.engine"),
        "{trt}"
    );
    // Elsewhere an export target is not a report format.
    let wrong = run("mlsec triton . --format onnx", 1);
    assert!(
        wrong.contains("report formats are text, json, sarif and github"),
        "{wrong}"
    );

    // Inspect, triton and checkpoint lines keep working.
    let inspect = run(
        "mlsec inspect --model model.pt --type vision --checks weights activations fgsm",
        0,
    );
    assert!(inspect.contains("fgsm"), "{inspect}");
    let example = root
        .join("testdata/triton/example-repo")
        .display()
        .to_string();
    let triton = mlsec(&["triton", &example], cwd);
    assert_eq!(code(&triton), 2, "{}", combined(&triton));
    let clean = root.join("testdata/checkpoint/clean/model.pt");
    std::fs::copy(&clean, cwd.join("model.pt")).unwrap();
    run("mlsec checkpoint model.pt", 0);
}
