use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use globset::{Glob, GlobMatcher};
use serde::Deserialize;

use crate::{Finding, Report, Rule, Severity};

/// The name of the policy file looked up in the current directory.
pub const POLICY_FILE: &str = "mlsec.toml";

/// What fails a run and what is ignored: `--fail-on` plus the `mlsec.toml` policy file.
///
/// ```toml
/// fail_on = "medium"            # info | low (default) | medium | high | critical
///
/// [severity]                    # per-rule overrides, by id or name
/// TRTN004 = "high"
/// pickle-unknown-import = "critical"
///
/// [[ignore]]                    # every ignore needs a reason
/// rule = "TRTN010"              # id or name; optional if `path` is given
/// path = "models/legacy/**"     # glob over the reported file; optional if `rule` is given
/// reason = "legacy models are served from an isolated cluster"
/// ```
#[derive(Debug, Clone)]
pub struct Policy {
    /// Findings at or above this severity fail the run (exit 2).
    pub fail_on: Severity,
    /// Severity overrides keyed by rule id or rule name.
    pub severity: BTreeMap<String, Severity>,
    /// Findings to drop, each with a reason.
    pub ignores: Vec<Ignore>,
    /// Callables to treat as worse than their grade, each with a reason.
    pub denies: Vec<Deny>,
    /// Where the policy was read from, for messages.
    pub source: Option<PathBuf>,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            fail_on: Severity::Low,
            severity: BTreeMap::new(),
            ignores: Vec::new(),
            denies: Vec::new(),
            source: None,
        }
    }
}

/// One `[[ignore]]` entry: drops findings of `rule`, in files matching `path`, whose
/// `callable` evidence matches `callable` (a glob over dotted names: `mypkg.models.*`); at
/// least one of the three.
#[derive(Debug, Clone)]
pub struct Ignore {
    pub rule: Option<String>,
    pub path: Option<GlobMatcher>,
    pub callable: Option<GlobMatcher>,
    pub reason: String,
}

/// One `[[deny]]` entry: findings whose `callable` evidence matches are raised to at least
/// `severity` (a third-party class you do not trust, say).
#[derive(Debug, Clone)]
pub struct Deny {
    pub callable: GlobMatcher,
    pub severity: Severity,
    pub reason: String,
}

fn callable_of(finding: &Finding) -> Option<&str> {
    finding.evidence.get("callable").map(String::as_str)
}

impl Ignore {
    fn matches(&self, finding: &Finding) -> bool {
        let rule = finding.rule;
        let file = finding.location.file.as_str();
        let rule_ok = self
            .rule
            .as_deref()
            .is_none_or(|r| r == rule.id || r == rule.name);
        let path_ok = self
            .path
            .as_ref()
            .is_none_or(|glob| glob.is_match(file) || glob.is_match(file.trim_start_matches("./")));
        let callable_ok = self
            .callable
            .as_ref()
            .is_none_or(|glob| callable_of(finding).is_some_and(|c| glob.is_match(c)));
        rule_ok && path_ok && callable_ok
    }

    fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(rule) = &self.rule {
            parts.push(format!("rule = {rule}"));
        }
        if let Some(path) = &self.path {
            parts.push(format!("path = {}", path.glob()));
        }
        if let Some(callable) = &self.callable {
            parts.push(format!("callable = {}", callable.glob()));
        }
        parts.join(", ")
    }
}

/// Why a policy file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("cannot read policy file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid policy file {path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    fail_on: Option<String>,
    #[serde(default)]
    severity: BTreeMap<String, String>,
    #[serde(default)]
    ignore: Vec<RawIgnore>,
    #[serde(default)]
    deny: Vec<RawDeny>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIgnore {
    rule: Option<String>,
    path: Option<String>,
    callable: Option<String>,
    reason: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDeny {
    callable: String,
    severity: Option<String>,
    reason: Option<String>,
}

impl Policy {
    /// Parses a policy file's text; `path` is only used in error messages.
    ///
    /// Rule names in `[severity]` and `[[ignore]]` are checked against `known_rules` so a typo is
    /// an error rather than a silently inactive policy.
    pub fn from_toml(
        text: &str,
        path: &Path,
        known_rules: &[&Rule],
    ) -> Result<Policy, PolicyError> {
        let invalid = |message: String| PolicyError::Invalid {
            path: path.to_owned(),
            message,
        };
        let raw: RawPolicy = toml::from_str(text).map_err(|e| invalid(e.message().to_owned()))?;
        let known = |name: &str| known_rules.iter().any(|r| r.id == name || r.name == name);
        let mut policy = Policy {
            source: Some(path.to_owned()),
            ..Policy::default()
        };
        if let Some(fail_on) = raw.fail_on {
            policy.fail_on = fail_on
                .parse()
                .map_err(|e| invalid(format!("fail_on: {e}")))?;
        }
        for (rule, severity) in raw.severity {
            if !known(&rule) {
                return Err(invalid(format!("[severity]: unknown rule `{rule}`")));
            }
            let severity = severity
                .parse()
                .map_err(|e| invalid(format!("[severity] {rule}: {e}")))?;
            policy.severity.insert(rule, severity);
        }
        for (i, raw) in raw.ignore.into_iter().enumerate() {
            let n = i + 1;
            let reason = raw.reason.unwrap_or_default();
            if reason.trim().is_empty() {
                return Err(invalid(format!(
                    "ignore #{n} has no `reason`: say why it is safe"
                )));
            }
            if raw.rule.is_none() && raw.path.is_none() && raw.callable.is_none() {
                return Err(invalid(format!(
                    "ignore #{n} needs a `rule`, a `path` or a `callable`"
                )));
            }
            if let Some(rule) = &raw.rule
                && !known(rule)
            {
                return Err(invalid(format!("ignore #{n}: unknown rule `{rule}`")));
            }
            let path = match raw.path {
                Some(glob) => Some(
                    Glob::new(&glob)
                        .map_err(|e| invalid(format!("ignore #{n}: bad path glob: {e}")))?
                        .compile_matcher(),
                ),
                None => None,
            };
            let callable = match raw.callable {
                Some(glob) => Some(
                    Glob::new(&glob)
                        .map_err(|e| invalid(format!("ignore #{n}: bad callable glob: {e}")))?
                        .compile_matcher(),
                ),
                None => None,
            };
            policy.ignores.push(Ignore {
                rule: raw.rule,
                path,
                callable,
                reason,
            });
        }
        for (i, raw) in raw.deny.into_iter().enumerate() {
            let n = i + 1;
            let reason = raw.reason.unwrap_or_default();
            if reason.trim().is_empty() {
                return Err(invalid(format!("deny #{n} has no `reason`")));
            }
            let severity = match raw.severity {
                Some(s) => s.parse().map_err(|e| invalid(format!("deny #{n}: {e}")))?,
                None => Severity::High,
            };
            let callable = Glob::new(&raw.callable)
                .map_err(|e| invalid(format!("deny #{n}: bad callable glob: {e}")))?
                .compile_matcher();
            policy.denies.push(Deny {
                callable,
                severity,
                reason,
            });
        }
        Ok(policy)
    }

    /// Reads a policy file.
    pub fn load(path: &Path, known_rules: &[&Rule]) -> Result<Policy, PolicyError> {
        let text = std::fs::read_to_string(path).map_err(|source| PolicyError::Io {
            path: path.to_owned(),
            source,
        })?;
        Policy::from_toml(&text, path, known_rules)
    }

    /// Reads `mlsec.toml` from `dir` if it exists, else returns the default policy.
    pub fn discover(dir: &Path, known_rules: &[&Rule]) -> Result<Policy, PolicyError> {
        let path = dir.join(POLICY_FILE);
        if path.is_file() {
            Policy::load(&path, known_rules)
        } else {
            Ok(Policy::default())
        }
    }

    /// Applies severity overrides and ignores to a finished report. Each ignore that matched
    /// nothing becomes a warning (it is stale or mistyped).
    pub fn apply(&self, report: &mut Report) {
        for finding in &mut report.findings {
            let by_id = self.severity.get(finding.rule.id);
            let by_name = self.severity.get(finding.rule.name);
            if let Some(severity) = by_id.or(by_name) {
                finding.severity = *severity;
            }
        }
        // A deny that matches nothing is a guard, not a stale entry: no warning.
        for finding in &mut report.findings {
            for deny in &self.denies {
                if callable_of(finding).is_some_and(|c| deny.callable.is_match(c)) {
                    finding.severity = finding.severity.max(deny.severity);
                    finding
                        .evidence
                        .insert("policy", format!("deny: {}", deny.reason));
                }
            }
        }
        let mut used = vec![false; self.ignores.len()];
        let before = report.findings.len();
        report.findings.retain(|finding| {
            let hit = self
                .ignores
                .iter()
                .position(|ignore| ignore.matches(finding));
            if let Some(i) = hit {
                used[i] = true;
            }
            hit.is_none()
        });
        report.suppressed += (before - report.findings.len()) as u64;
        let source = self
            .source
            .as_ref()
            .map_or_else(|| POLICY_FILE.to_owned(), |p| p.display().to_string());
        for (ignore, used) in self.ignores.iter().zip(used) {
            if !used {
                report.warnings.push(format!(
                    "{source}: ignore ({}) matched no finding; remove it if it is stale",
                    ignore.describe()
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Finding, Location};

    crate::declare_rule! {
        /// ## What it does
        /// Test rule.
        /// ## Why is this bad?
        /// Test.
        /// ## Remediation
        /// Test.
        static RULE_A = "TRTN901", "rule-a", Low;
    }

    crate::declare_rule! {
        /// ## What it does
        /// Test rule.
        /// ## Why is this bad?
        /// Test.
        /// ## Remediation
        /// Test.
        static RULE_B = "TRTN902", "rule-b", Medium;
    }

    const RULES: &[&Rule] = &[&RULE_A, &RULE_B];

    fn parse(text: &str) -> Result<Policy, PolicyError> {
        Policy::from_toml(text, Path::new("mlsec.toml"), RULES)
    }

    #[test]
    fn overrides_ignores_and_stale_ignores() {
        let policy = parse(
            r#"
            fail_on = "medium"
            [severity]
            rule-a = "critical"
            [[ignore]]
            rule = "TRTN902"
            path = "models/legacy/**"
            reason = "isolated cluster"
            [[ignore]]
            rule = "TRTN901"
            path = "nowhere/**"
            reason = "stale"
            "#,
        )
        .unwrap();
        assert_eq!(policy.fail_on, Severity::Medium);
        let mut report = Report::new();
        report.findings.push(Finding::new(
            &RULE_A,
            Location::file("models/a/config.pbtxt"),
            "a",
        ));
        report.findings.push(Finding::new(
            &RULE_B,
            Location::file("models/legacy/b/config.pbtxt"),
            "b",
        ));
        report.findings.push(Finding::new(
            &RULE_B,
            Location::file("models/c/config.pbtxt"),
            "c",
        ));
        policy.apply(&mut report);
        assert_eq!(report.findings.len(), 2);
        assert_eq!(report.findings[0].severity, Severity::Critical);
        assert_eq!(report.suppressed, 1);
        assert_eq!(report.warnings.len(), 1);
        assert!(
            report.warnings[0].contains("nowhere/**"),
            "{:?}",
            report.warnings
        );
    }

    #[test]
    fn callables_are_allowed_and_denied_by_pattern() {
        let policy = parse(
            r#"
            [[ignore]]
            callable = "gensim.models.*"
            reason = "we train and sign our own gensim models"
            [[deny]]
            callable = "sklearn.*"
            severity = "critical"
            reason = "no pickled sklearn models in this repository"
            "#,
        )
        .unwrap();
        let mut report = Report::new();
        for callable in [
            "gensim.models.word2vec.Word2Vec",
            "sklearn.svm._classes.SVC",
            "x.Y",
        ] {
            report.findings.push(
                Finding::new(&RULE_A, Location::file("m.pkl"), callable)
                    .with_severity(Severity::Info)
                    .with_evidence("callable", callable),
            );
        }
        policy.apply(&mut report);
        let left: Vec<(&str, Severity)> = report
            .findings
            .iter()
            .map(|f| (f.message.as_str(), f.severity))
            .collect();
        assert_eq!(
            left,
            [
                ("sklearn.svm._classes.SVC", Severity::Critical),
                ("x.Y", Severity::Info)
            ]
        );
        assert_eq!(report.suppressed, 1);
        assert!(report.warnings.is_empty(), "{:?}", report.warnings);
        assert!(parse("[[deny]]\ncallable = \"a.*\"\n").is_err());
    }

    #[test]
    fn rejects_bad_policies() {
        for (text, expected) in [
            ("[[ignore]]\nrule = \"TRTN901\"\n", "no `reason`"),
            ("[[ignore]]\nreason = \"x\"\n", "needs a `rule`"),
            (
                "[[ignore]]\nrule = \"NOPE001\"\nreason = \"x\"\n",
                "unknown rule",
            ),
            ("[severity]\nTRTN901 = \"severe\"\n", "unknown severity"),
            ("fail_on = \"loud\"\n", "unknown severity"),
            ("failon = \"low\"\n", "unknown field"),
        ] {
            let err = parse(text).unwrap_err().to_string();
            assert!(err.contains(expected), "{text:?}: {err}");
        }
    }

    #[test]
    fn discover_reads_the_file_in_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            Policy::discover(dir.path(), RULES).unwrap().fail_on,
            Severity::Low
        );
        std::fs::write(dir.path().join(POLICY_FILE), "fail_on = \"high\"\n").unwrap();
        assert_eq!(
            Policy::discover(dir.path(), RULES).unwrap().fail_on,
            Severity::High
        );
    }
}
