use std::fmt;

use serde::Serialize;

use crate::{Finding, Location, Policy, Severity, Span};

/// Something the tool could not check: the file and what went wrong.
///
/// An error is never a clean result: a run with errors exits 1 unless a finding makes it 2.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct ScanError {
    /// The file (or argument) that could not be checked.
    pub file: String,
    /// Where inside it, when known (the line of a syntax error, the offset of a truncation).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub span: Option<Span>,
    /// What went wrong, with its causes (`{err:#}`).
    pub message: String,
}

impl ScanError {
    pub fn new(file: impl Into<String>, message: impl Into<String>) -> ScanError {
        ScanError {
            file: file.into(),
            span: None,
            message: message.into(),
        }
    }

    #[must_use]
    pub fn with_span(mut self, span: Span) -> ScanError {
        self.span = Some(span);
        self
    }

    /// The error's position as a [`Location`] without pointer.
    pub fn location(&self) -> Location {
        Location {
            file: self.file.clone(),
            pointer: None,
            span: self.span,
        }
    }
}

impl fmt::Display for ScanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location(), self.message)
    }
}

/// A table of results for people (per-layer statistics, per-model summary, robustness curve).
/// Text output prints it aligned; JSON carries it as arrays.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Table {
    pub title: String,
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

/// A run's result: what was found and what could not be checked. A bad file is an error
/// entry, not an early return: the rest of the scan goes on.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Findings that survived the policy's ignores.
    pub findings: Vec<Finding>,
    /// Files or inputs that could not be checked.
    pub errors: Vec<ScanError>,
    /// Things the user should know that are neither findings nor errors (an ignore that matched
    /// nothing, a skipped optional check).
    pub warnings: Vec<String>,
    /// Result tables for people.
    pub tables: Vec<Table>,
    /// Machine-readable results beyond findings (JSON output only), keyed by name.
    pub data: std::collections::BTreeMap<String, serde_json::Value>,
    /// How many artifacts (files, models, records) were examined.
    pub scanned: u64,
    /// How many findings the policy's ignores removed.
    pub suppressed: u64,
    /// How many artifacts were recognised but not examined (a format no reader understands,
    /// met in a directory walk; each also has a warning line).
    pub not_scanned: u64,
}

impl Report {
    pub fn new() -> Report {
        Report::default()
    }

    /// Adds everything from `other` to this report.
    pub fn merge(&mut self, other: Report) {
        self.findings.extend(other.findings);
        self.errors.extend(other.errors);
        self.warnings.extend(other.warnings);
        self.tables.extend(other.tables);
        self.data.extend(other.data);
        self.scanned += other.scanned;
        self.suppressed += other.suppressed;
        self.not_scanned += other.not_scanned;
    }

    /// Puts findings and errors in their canonical order (file, position, rule, message), so
    /// every renderer prints the same order whatever order the scan finished in.
    pub fn sort(&mut self) {
        fn key(f: &Finding) -> impl Ord + '_ {
            let loc = &f.location;
            (&loc.file, loc.span, &loc.pointer, f.rule.id, &f.message)
        }
        self.findings.sort_by(|a, b| key(a).cmp(&key(b)));
        self.errors.sort();
        self.warnings.sort();
        self.warnings.dedup();
    }

    /// The findings at or above the policy's `fail_on` threshold.
    pub fn failing<'a>(&'a self, policy: &'a Policy) -> impl Iterator<Item = &'a Finding> + 'a {
        self.findings
            .iter()
            .filter(move |finding| finding.severity >= policy.fail_on)
    }

    /// How many findings there are of each severity, lowest first.
    pub fn counts(&self) -> [(Severity, usize); 5] {
        Severity::ALL.map(|sev| {
            (
                sev,
                self.findings.iter().filter(|f| f.severity == sev).count(),
            )
        })
    }

    /// The exit contract, in one place.
    ///
    /// `Findings` (2) if any finding is at or above `fail_on`; otherwise `Error` (1) if anything
    /// could not be checked; otherwise `Clean` (0). A finding wins over an error because a
    /// finding must never be hidden, and 2 is never "clean" either: CI fails in both cases, and
    /// the errors are still printed beside the findings.
    pub fn exit_status(&self, policy: &Policy) -> ExitStatus {
        if self.failing(policy).next().is_some() {
            ExitStatus::Findings
        } else if !self.errors.is_empty() {
            ExitStatus::Error
        } else {
            ExitStatus::Clean
        }
    }
}

/// The process exit code: `0` clean, `1` the tool could not do its job, `2` a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ExitStatus {
    Clean = 0,
    Error = 1,
    Findings = 2,
}

impl ExitStatus {
    pub fn code(self) -> u8 {
        self as u8
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Location, Severity};

    crate::declare_rule! {
        /// ## What it does
        /// Test rule.
        /// ## Why is this bad?
        /// Test.
        /// ## Remediation
        /// Test.
        static LOW_RULE = "CKPT900", "test-low", Low;
    }

    fn finding(severity: Severity) -> Finding {
        Finding::new(&LOW_RULE, Location::file("a.pt"), "x").with_severity(severity)
    }

    #[test]
    fn exit_contract_table() {
        let default = Policy::default();
        let high = Policy {
            fail_on: Severity::High,
            ..Policy::default()
        };
        let error = ScanError::new("b.pt", "truncated");
        let cases: Vec<(Vec<Finding>, Vec<ScanError>, &Policy, ExitStatus)> = vec![
            (vec![], vec![], &default, ExitStatus::Clean),
            (
                vec![finding(Severity::Info)],
                vec![],
                &default,
                ExitStatus::Clean,
            ),
            (
                vec![finding(Severity::Low)],
                vec![],
                &default,
                ExitStatus::Findings,
            ),
            (
                vec![finding(Severity::Medium)],
                vec![],
                &high,
                ExitStatus::Clean,
            ),
            (
                vec![finding(Severity::Critical)],
                vec![],
                &high,
                ExitStatus::Findings,
            ),
            (vec![], vec![error.clone()], &default, ExitStatus::Error),
            (
                vec![finding(Severity::Info)],
                vec![error.clone()],
                &default,
                ExitStatus::Error,
            ),
            // A finding is never hidden by an error in the same run.
            (
                vec![finding(Severity::High)],
                vec![error.clone()],
                &default,
                ExitStatus::Findings,
            ),
        ];
        for (i, (findings, errors, policy, expected)) in cases.into_iter().enumerate() {
            let report = Report {
                findings,
                errors,
                ..Report::default()
            };
            assert_eq!(report.exit_status(policy), expected, "case {i}");
        }
        assert_eq!(ExitStatus::Findings.code(), 2);
    }

    #[test]
    fn sort_is_canonical() {
        let mut report = Report::new();
        report
            .findings
            .push(Finding::new(&LOW_RULE, Location::file("b"), "m"));
        report.findings.push(Finding::new(
            &LOW_RULE,
            Location::file("a").at_line(9, 1),
            "m",
        ));
        report.findings.push(Finding::new(
            &LOW_RULE,
            Location::file("a").at_line(2, 1),
            "m",
        ));
        report.sort();
        let order: Vec<String> = report
            .findings
            .iter()
            .map(|f| f.location.to_string())
            .collect();
        assert_eq!(order, ["a:2:1", "a:9:1", "b"]);
    }
}
