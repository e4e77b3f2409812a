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
        (&["inspect", "--model", "m.onnx"], 1, "not implemented"),
        (&["export-guard", "lint", "m.onnx"], 1, "not implemented"),
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
        &["adv", "--model", "m.onnx", "--json", "--output", "r.json"],
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
        &["adv", "--model", "m", "--json", "--format", "sarif"],
        dir.path(),
    );
    assert_eq!(code(&out), 1);
}

#[test]
fn closed_stdout_keeps_the_computed_status() {
    // The reader end is closed before mlsec writes: the write fails with EPIPE, and the exit
    // status must still be the report's (1 here), not success and not a crash.
    let mut child = Command::new(env!("CARGO_BIN_EXE_mlsec"))
        .args(["adv", "--model", "m.onnx", "--format", "sarif"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(1));
}
