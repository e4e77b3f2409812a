use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use crate::{Rule, Severity};

/// Evidence for a finding: sorted key/value pairs, so every output is deterministic.
pub type Evidence = BTreeMap<&'static str, String>;

/// One security-relevant observation about one artifact.
#[derive(Debug, Clone)]
pub struct Finding {
    /// The rule that fired.
    pub rule: &'static Rule,
    /// The rule's default severity unless the detector graded this occurrence or the policy
    /// overrode it.
    pub severity: Severity,
    /// Where in which file.
    pub location: Location,
    /// One line about this occurrence: lowercase, no final period.
    pub message: String,
    /// Why it fired: the imported callable, the statistic and its threshold, the offending value.
    pub evidence: Evidence,
    /// What to do about this occurrence; renderers fall back to the rule's `## Remediation`.
    pub remediation: Option<String>,
}

impl Finding {
    /// A finding with the rule's default severity and no evidence yet.
    pub fn new(rule: &'static Rule, location: Location, message: impl Into<String>) -> Finding {
        Finding {
            rule,
            severity: rule.default_severity,
            location,
            message: message.into(),
            evidence: Evidence::new(),
            remediation: None,
        }
    }

    /// Grades this occurrence differently from the rule's default.
    #[must_use]
    pub fn with_severity(mut self, severity: Severity) -> Finding {
        self.severity = severity;
        self
    }

    /// Adds one evidence entry (replacing an earlier one with the same key).
    #[must_use]
    pub fn with_evidence(mut self, key: &'static str, value: impl ToString) -> Finding {
        self.evidence.insert(key, value.to_string());
        self
    }

    /// Sets the occurrence-specific remediation.
    #[must_use]
    pub fn with_remediation(mut self, remediation: impl Into<String>) -> Finding {
        self.remediation = Some(remediation.into());
        self
    }

    /// The remediation to show: the occurrence's own, else the rule's documented one.
    pub fn remediation_text(&self) -> String {
        match &self.remediation {
            Some(text) => text.clone(),
            // The documented remediation is wrapped Markdown: unwrap it into one line.
            None => self
                .rule
                .parsed_docs()
                .remediation
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" "),
        }
    }
}

/// Where a finding or error is: the file (relative to the scan root where there is one), a
/// pointer to the thing inside the artifact, and a span in its text or bytes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Location {
    pub file: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pointer: Option<Pointer>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub span: Option<Span>,
}

impl Location {
    /// The whole file.
    pub fn file(file: impl Into<String>) -> Location {
        Location {
            file: file.into(),
            pointer: None,
            span: None,
        }
    }

    #[must_use]
    pub fn with_pointer(mut self, pointer: Pointer) -> Location {
        self.pointer = Some(pointer);
        self
    }

    #[must_use]
    pub fn with_span(mut self, span: Span) -> Location {
        self.span = Some(span);
        self
    }

    /// A text position (1-based line and column).
    #[must_use]
    pub fn at_line(self, line: u32, column: u32) -> Location {
        self.with_span(Span::Text { line, column })
    }

    /// A byte range in a binary file.
    #[must_use]
    pub fn at_bytes(self, offset: u64, len: u64) -> Location {
        self.with_span(Span::Bytes { offset, len })
    }
}

impl fmt::Display for Location {
    /// `file:line:col`, `file@0x1f` for byte offsets, then the pointer in brackets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        match self.span {
            Some(Span::Text { line, column }) => write!(f, ":{line}:{column}")?,
            Some(Span::Bytes { offset, .. }) => write!(f, "@{offset:#x}")?,
            None => {}
        }
        if let Some(pointer) = &self.pointer {
            write!(f, " [{pointer}]")?;
        }
        Ok(())
    }
}

/// A pointer to the thing inside an artifact that a finding is about.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(tag = "kind", content = "path", rename_all = "lowercase")]
pub enum Pointer {
    /// A tensor or weight, by its state-dict name.
    Tensor(String),
    /// A graph node, layer or module.
    Node(String),
    /// A configuration field path, e.g. `input[0].dims`.
    Field(String),
    /// A member of an archive, e.g. `archive/data.pkl`.
    Member(String),
    /// A training worker's record.
    Rank { rank: u32, step: Option<u64> },
    /// The n-th record or sample (0-based).
    Record(u64),
}

impl Pointer {
    /// The path shown to users and put in SARIF `logicalLocations[].fullyQualifiedName`.
    pub fn path(&self) -> String {
        match self {
            Pointer::Tensor(s) | Pointer::Node(s) | Pointer::Field(s) | Pointer::Member(s) => {
                s.clone()
            }
            Pointer::Rank { rank, step: None } => format!("rank {rank}"),
            Pointer::Rank {
                rank,
                step: Some(step),
            } => format!("rank {rank} step {step}"),
            Pointer::Record(n) => format!("record {n}"),
        }
    }

    /// The kind's name: `tensor`, `node`, `field`, `member`, `rank`, `record`.
    pub fn kind(&self) -> &'static str {
        match self {
            Pointer::Tensor(_) => "tensor",
            Pointer::Node(_) => "node",
            Pointer::Field(_) => "field",
            Pointer::Member(_) => "member",
            Pointer::Rank { .. } => "rank",
            Pointer::Record(_) => "record",
        }
    }
}

impl fmt::Display for Pointer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pointer::Rank { .. } | Pointer::Record(_) => f.write_str(&self.path()),
            _ => write!(f, "{} {}", self.kind(), self.path()),
        }
    }
}

/// A position in a text file or a byte range in a binary one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Span {
    /// 1-based line and column (columns count characters).
    Text { line: u32, column: u32 },
    /// A byte range: the opcode, zip entry or tensor data.
    Bytes { offset: u64, len: u64 },
}
