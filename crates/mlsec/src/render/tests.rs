//! One snapshot per output format over the same mixed report (findings and an error), plus
//! the properties each format must keep whatever the artifact says.

use mlsec_core::{
    ExitStatus, Finding, Location, Pointer, Policy, Report, Rule, ScanError, Severity, Table,
};

use super::{Invocation, render};
use crate::cli::Format;

mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags a test condition in a config file.
    /// ## Why is this bad?
    /// It is only a test.
    /// ## Remediation
    /// Remove the test condition.
    static CONFIG_RULE = "TRTN999", "test-config-rule", Medium;
}

mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags a test import in a binary file.
    /// ## Why is this bad?
    /// It is only a test.
    /// ## Remediation
    /// Re-export the model as safetensors.
    static BINARY_RULE = "CKPT999", "test-binary-rule", Critical;
}

static RULES: &[&Rule] = &[&CONFIG_RULE, &BINARY_RULE];

/// A finding in a text file, a finding in a binary file whose strings are hostile (ANSI
/// escape, newline, bidi override, workflow-command separators), and an error.
fn mixed_report() -> Report {
    let mut report = Report::new();
    report.findings.push(
        Finding::new(
            &CONFIG_RULE,
            Location::file("models/a b/config.pbtxt")
                .with_pointer(Pointer::Field("input[0].dims".into()))
                .at_line(3, 5),
            "input `x` has an unbounded dimension",
        )
        .with_evidence("dims", "[-1, 3]"),
    );
    report.findings.push(
        Finding::new(
            &BINARY_RULE,
            Location::file("evil\u{202e}gpj.pt")
                .with_pointer(Pointer::Member("archive/data.pkl".into()))
                .at_bytes(0x2a, 12),
            "pickle imports `posix.system`\n::error::forged",
        )
        .with_evidence("callable", "posix.system\x1b[2J")
        .with_evidence("opcode", "STACK_GLOBAL")
        .with_remediation("do not load this file; rebuild it from trusted code"),
    );
    report.errors.push(ScanError::new(
        "broken.safetensors",
        "header length 107374182400 exceeds the file size 64",
    ));
    report
        .warnings
        .push("mlsec.toml: ignore (rule = CKPT001) matched no finding".into());
    report.tables.push(Table {
        title: "models".into(),
        columns: vec!["model".into(), "findings".into()],
        rows: vec![vec!["a b".into(), "1".into()]],
    });
    report.scanned = 3;
    report.sort();
    report
}

fn rendered(format: Format) -> String {
    let report = mixed_report();
    let policy = Policy::default();
    let status = report.exit_status(&policy);
    assert_eq!(status, ExitStatus::Findings);
    let inv = Invocation {
        subcommand: "checkpoint",
        rules: RULES,
        policy: &policy,
        status,
        color: false,
        quiet: false,
        verbose: false,
    };
    render(&report, format, &inv)
}

fn without_version(text: String) -> String {
    text.replace(env!("CARGO_PKG_VERSION"), "[VERSION]")
}

#[test]
fn text_snapshot() {
    insta::assert_snapshot!(rendered(Format::Text));
}

#[test]
fn json_snapshot() {
    insta::assert_snapshot!(without_version(rendered(Format::Json)));
}

#[test]
fn sarif_snapshot() {
    insta::assert_snapshot!(without_version(rendered(Format::Sarif)));
}

#[test]
fn github_snapshot() {
    insta::assert_snapshot!(rendered(Format::Github));
}

#[test]
fn every_format_shows_every_finding_and_error() {
    for format in [Format::Text, Format::Json, Format::Sarif, Format::Github] {
        let out = rendered(format);
        for needle in ["TRTN999", "CKPT999", "broken.safetensors", "107374182400"] {
            assert!(out.contains(needle), "{format:?} lacks {needle}:\n{out}");
        }
    }
}

#[test]
fn text_and_github_never_pass_control_characters_through() {
    for format in [Format::Text, Format::Github] {
        let out = rendered(format);
        assert!(!out.contains('\x1b'), "{format:?} leaks an escape");
        assert!(
            !out.contains('\u{202e}'),
            "{format:?} leaks a bidi override"
        );
        // Only our own line breaks: no artifact string starts a new line.
        assert!(
            !out.lines().any(|l| l.starts_with("::error::forged")),
            "{format:?}:\n{out}"
        );
    }
}

#[test]
fn json_and_sarif_are_valid_json_with_the_same_findings() {
    let json: serde_json::Value = serde_json::from_str(&rendered(Format::Json)).unwrap();
    let sarif: serde_json::Value = serde_json::from_str(&rendered(Format::Sarif)).unwrap();
    assert_eq!(json["schema_version"], 1);
    let json_rules: Vec<&str> = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap())
        .collect();
    let sarif_rules: Vec<&str> = sarif["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["ruleId"].as_str().unwrap())
        .collect();
    assert_eq!(json_rules, sarif_rules);
    // Hostile strings survive JSON intact (escaped by the encoder, not altered).
    assert!(json["findings"].to_string().contains("\\u001b[2J"));
}

#[test]
fn sarif_validates_against_the_2_1_0_schema() {
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../../tests/schema/sarif-2.1.0.json")).unwrap();
    let validator = jsonschema::draft4::new(&schema).expect("schema compiles");
    let sarif: serde_json::Value = serde_json::from_str(&rendered(Format::Sarif)).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&sarif)
        .map(|e| format!("{e} at {}", e.instance_path))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let run = &sarif["runs"][0];
    assert_eq!(run["invocations"][0]["executionSuccessful"], false);
    let binary = &run["results"][0];
    assert_eq!(binary["ruleId"], "CKPT999");
    assert_eq!(
        binary["locations"][0]["physicalLocation"]["region"]["byteOffset"],
        42
    );
    assert_eq!(
        binary["locations"][0]["logicalLocations"][0]["fullyQualifiedName"],
        "archive/data.pkl"
    );
    assert_eq!(binary["ruleIndex"], 1);
    assert!(
        binary["partialFingerprints"]["mlsecFindingHash/v1"]
            .as_str()
            .unwrap()
            .len()
            == 32
    );
    let rule = &run["tool"]["driver"]["rules"][1];
    assert_eq!(
        rule["properties"]["security-severity"],
        Severity::Critical.security_score()
    );
}

#[test]
fn github_escapes_data_and_properties() {
    let out = rendered(Format::Github);
    let line = out.lines().find(|l| l.contains("TRTN999")).unwrap();
    assert!(line.starts_with("::warning file=models/a b/config.pbtxt,line=3,col=5,title=TRTN999 test-config-rule (medium)::"), "{line}");
    let binary = out.lines().find(|l| l.contains("CKPT999")).unwrap();
    assert!(binary.starts_with("::error "), "{binary}");
    assert!(binary.contains("%0A"), "newlines are escaped: {binary}");
}
