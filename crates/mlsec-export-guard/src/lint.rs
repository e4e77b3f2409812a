//! `export-guard lint`: decode a model, build the context of its checks once
//! ([`crate::rules::Cx`]: scopes, tensors, external data, the inlined graph with its dataflow),
//! run every check of the rule table ([`crate::rules::LINT_CHECKS`]) over it, and return the
//! findings with the model's statistics and digests.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mlsec_core::Finding;
use mlsec_onnx::wire::UnknownField;
use mlsec_onnx::{LoadedModel, OnnxError};

use crate::fingerprint;
use crate::rules::{Cx, LINT_CHECKS};

pub use crate::rules::{MAX_ELEMENTS, MAX_METADATA_BYTES, MAX_TEXT_BYTES};

/// What linting one model produced.
#[derive(Debug, Clone, Default)]
pub struct LintOutcome {
    /// Every check's findings, in rule table order (the report sorts them).
    pub findings: Vec<Finding>,
    /// Canonical structural hash (names stripped), hex SHA-256.
    pub fingerprint: String,
    /// Hash over name, type, dims and bytes of every main-graph initializer, hex SHA-256.
    pub weights: String,
    /// Per-initializer digests, by name.
    pub tensor_digests: BTreeMap<String, String>,
    /// External data files the model references that passed the path checks, by location.
    pub external_files: BTreeMap<String, PathBuf>,
    /// Node count of every scope, and op histogram (`domain::op`).
    pub nodes: usize,
    pub ops: BTreeMap<String, usize>,
    pub ir_version: i64,
    pub opset: i64,
}

/// Loads and lints `path`; `display` is the file name used in findings.
pub fn lint_file(path: &Path, display: &str) -> Result<LintOutcome, OnnxError> {
    let loaded = mlsec_onnx::load(path)?;
    let unknown = mlsec_onnx::wire::unknown_fields(&loaded.bytes)?;
    Ok(lint(&loaded, &unknown, display))
}

/// Every check over an already decoded model, except the wire walk for unknown fields
/// (EXPG020), which needs the file's bytes: [`lint_file`] does both.
pub fn lint_model(loaded: &LoadedModel, display: &str) -> LintOutcome {
    lint(loaded, &[], display)
}

fn lint(loaded: &LoadedModel, unknown: &[UnknownField], display: &str) -> LintOutcome {
    let cx = Cx::new(loaded, unknown, display);
    let mut findings = Vec::new();
    for (_, check) in LINT_CHECKS {
        check(&cx, &mut findings);
    }
    let (nodes, ops) = op_histogram(&cx);
    let fp = fingerprint::compute(&loaded.model, &loaded.dir);
    LintOutcome {
        findings,
        fingerprint: fp.structure,
        weights: fp.weights,
        tensor_digests: fp.tensors,
        external_files: cx.external.resolved_files(),
        nodes,
        ops,
        ir_version: loaded.model.ir_version.unwrap_or(0),
        opset: cx.default_opset().unwrap_or(0),
    }
}

/// The number of nodes in every scope (function calls included) and how many of each op
/// (`domain::op`, the default domain without a prefix).
fn op_histogram(cx: &Cx<'_>) -> (usize, BTreeMap<String, usize>) {
    let mut nodes = 0;
    let mut ops: BTreeMap<String, usize> = BTreeMap::new();
    for node in cx.scopes.iter().flat_map(|s| s.nodes) {
        nodes += 1;
        let (domain, op) = (node.domain(), node.op_type());
        *ops.entry(if domain.is_empty() {
            op.to_owned()
        } else {
            format!("{domain}::{op}")
        })
        .or_default() += 1;
    }
    (nodes, ops)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every check reports only its own rule, on every fixture.
    #[test]
    fn checks_report_only_their_rule() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/export-guard");
        let mut onnx = Vec::new();
        mlsec_util::walk::Walk::new(&root).run(|event| {
            if let mlsec_util::walk::Event::File(e) = event
                && crate::provenance::is_onnx(&e.path)
            {
                onnx.push(e.path.clone());
            }
            mlsec_util::walk::Flow::Continue
        });
        assert!(onnx.len() > 20, "fixtures: {}", onnx.len());
        let mut fired = std::collections::BTreeSet::new();
        for path in &onnx {
            let Ok(loaded) = mlsec_onnx::load(path) else {
                continue;
            };
            let unknown = mlsec_onnx::wire::unknown_fields(&loaded.bytes).unwrap_or_default();
            let cx = Cx::new(&loaded, &unknown, "m");
            for (rule, check) in LINT_CHECKS {
                let mut found = Vec::new();
                check(&cx, &mut found);
                for f in &found {
                    assert_eq!(f.rule.id, rule.id, "{}: {}", path.display(), f.message);
                    fired.insert(rule.id);
                }
            }
        }
        // Every lint rule has a fixture it fires on, so the assertion above covers it.
        assert_eq!(fired.len(), LINT_CHECKS.len(), "{fired:?}");
    }
}
