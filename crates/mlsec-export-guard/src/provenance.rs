//! `record` and `verify`: one in-toto Statement v1 with a SLSA provenance v1 predicate per
//! export stage, chained through `resolvedDependencies` (the previous stage's artifacts and the
//! digest of the previous statement).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

use mlsec_core::{Location, Pointer, Report, ScanError, Table};
use mlsec_onnx::OnnxError;
use mlsec_util::hex::encode as hex;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::error::{ProvenanceError, StatementError};
use crate::lint::{self, LintOutcome};
use crate::rules::{artifact_digest_mismatch, provenance_chain_broken};

pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
pub const PREDICATE_TYPE: &str = "https://slsa.dev/provenance/v1";
pub const BUILD_TYPE: &str = "https://github.com/mlsec/mlsec/export-guard/stage/v1";
pub const BUILDER_ID: &str = "https://github.com/mlsec/mlsec/export-guard";
/// The DSSE payload type of an in-toto statement.
pub const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
/// Annotation key saying what a subject or dependency is.
pub(crate) const KIND: &str = "mlsec.kind";
/// Chains longer than this are refused (also stops cycles).
const MAX_CHAIN: usize = 64;

/// Hex SHA-256 of a file, memory-mapped when large.
pub fn file_sha256(path: &Path) -> std::io::Result<String> {
    let file = std::fs::File::open(path)?;
    let size = file.metadata()?.len();
    let mut hasher = Sha256::new();
    if size >= mlsec_onnx::MMAP_THRESHOLD {
        let map = mlsec_onnx::map_file(&file)?;
        hasher.update(&map[..]);
    } else {
        let mut reader = std::io::BufReader::new(file);
        std::io::copy(&mut reader, &mut hasher)?;
    }
    Ok(hex(&hasher.finalize()))
}

/// `a` relative to directory `base`, both made absolute first; `/`-separated.
pub fn relative_to(base: &Path, a: &Path) -> String {
    let abs = |p: &Path| {
        p.canonicalize().unwrap_or_else(|_| {
            std::env::current_dir().map_or_else(|_| p.to_owned(), |c| c.join(p))
        })
    };
    let (base, a) = (abs(base), abs(a));
    let bc: Vec<Component> = base.components().collect();
    let ac: Vec<Component> = a.components().collect();
    let common = bc.iter().zip(&ac).take_while(|(x, y)| x == y).count();
    if common == 0 {
        return a.display().to_string();
    }
    let mut parts: Vec<String> = Vec::new();
    parts.extend(std::iter::repeat_n("..".to_owned(), bc.len() - common));
    parts.extend(
        ac[common..]
            .iter()
            .map(|c| c.as_os_str().to_string_lossy().into_owned()),
    );
    parts.join("/")
}

fn parent_dir(p: &Path) -> PathBuf {
    p.parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_owned()
}

/// Whether a file is linted as ONNX.
pub fn is_onnx(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("onnx"))
}

/// What `record` needs.
pub struct RecordInput<'a> {
    pub stage: &'a str,
    pub artifacts: &'a [PathBuf],
    pub from: Option<&'a Path>,
    pub command: Option<&'a str>,
    pub attestation: &'a Path,
    pub sign_key: Option<&'a Path>,
}

/// Hashes and lints a stage's artifacts, writes its statement, and returns the lint findings.
pub fn record(input: &RecordInput<'_>, report: &mut Report) -> Result<(), ProvenanceError> {
    let out_dir = parent_dir(input.attestation);
    let mut subjects: Vec<Value> = Vec::new();
    let mut byproducts: Vec<Value> = Vec::new();
    let mut rows = Vec::new();
    // Lint ONNX artifacts on this thread while the other hashes every file.
    let mut files: Vec<(PathBuf, &'static str, Option<String>)> = Vec::new();
    for a in input.artifacts {
        let kind = if is_onnx(a) { "onnx" } else { "file" };
        files.push((a.clone(), kind, None));
        if kind == "onnx" {
            for ext in external_files_quick(a) {
                files.push((ext, "onnx-external-data", Some(relative_to(&out_dir, a))));
            }
        }
    }
    let mut dedup = BTreeSet::new();
    files.retain(|(p, _, _)| dedup.insert(p.canonicalize().unwrap_or_else(|_| p.clone())));
    let (digests, lints) = std::thread::scope(|s| {
        let hashing = s.spawn(|| {
            files
                .iter()
                .map(|(p, _, _)| file_sha256(p))
                .collect::<Vec<_>>()
        });
        let lints: Vec<(PathBuf, Result<LintOutcome, OnnxError>)> = input
            .artifacts
            .iter()
            .filter(|a| is_onnx(a))
            .map(|a| {
                let display = a.display().to_string();
                (a.clone(), lint::lint_file(a, &display))
            })
            .collect();
        (hashing.join().unwrap_or_default(), lints)
    });
    let mut failed = false;
    for ((path, kind, model), digest) in files.iter().zip(digests) {
        let name = relative_to(&out_dir, path);
        match digest {
            Ok(d) => {
                let mut annotations = json!({ KIND: kind });
                if let Some(m) = model {
                    annotations["model"] = json!(m);
                }
                if crate::checkpoint::has_tensors(path) {
                    match crate::checkpoint::tensor_digests(path) {
                        Ok(t) => annotations["mlsec.tensors"] = json!(t),
                        Err(e) => report.warnings.push(format!(
                            "{}: per-tensor digests skipped: {e}",
                            path.display()
                        )),
                    }
                }
                rows.push(vec![
                    input.stage.to_owned(),
                    name.clone(),
                    (*kind).to_owned(),
                    d.clone(),
                ]);
                subjects.push(
                    json!({ "name": name, "digest": { "sha256": d }, "annotations": annotations }),
                );
            }
            Err(e) => {
                failed = true;
                report.errors.push(ScanError::new(
                    path.display().to_string(),
                    format!("cannot hash: {e}"),
                ));
            }
        }
    }
    for (path, outcome) in lints {
        let display = path.display().to_string();
        match outcome {
            Ok(o) => {
                let lint_json = serde_json::to_vec(&lint_report_json(&o))?;
                let name = relative_to(&out_dir, &path);
                byproducts.push(json!({
                    "name": format!("lint-report:{name}"),
                    "digest": { "sha256": crate::fingerprint::sha256_hex(&lint_json) },
                    "annotations": { KIND: "lint-report", "findings": o.findings.len() }
                }));
                byproducts.push(json!({
                    "name": format!("graph-fingerprint:{name}"),
                    "digest": { "sha256": o.fingerprint },
                    "annotations": { KIND: "graph-fingerprint", "nodes": o.nodes, "ir_version": o.ir_version, "opset": o.opset }
                }));
                byproducts.push(json!({
                    "name": format!("weights:{name}"),
                    "digest": { "sha256": o.weights },
                    "annotations": { KIND: "weights", "tensors": o.tensor_digests.len() }
                }));
                report.findings.extend(o.findings);
            }
            Err(e) => {
                failed = true;
                report
                    .errors
                    .push(ScanError::new(display, format!("{e:#}")));
            }
        }
    }
    report.scanned += subjects.len() as u64;
    if failed {
        return Err(ProvenanceError::ArtifactsUnreadable(
            input.attestation.to_owned(),
        ));
    }
    let mut deps: Vec<Value> = Vec::new();
    if let Some(prev) = input.from {
        let bytes = std::fs::read(prev).map_err(|error| ProvenanceError::ReadPrevious {
            path: prev.to_owned(),
            error,
        })?;
        let statement =
            parse_statement(&bytes).map_err(|error| ProvenanceError::PreviousStatement {
                path: prev.to_owned(),
                error,
            })?;
        let prev_dir = parent_dir(prev);
        let prev_stage = stage_of(&statement);
        for s in statement["subject"].as_array().into_iter().flatten() {
            let name = s["name"].as_str().unwrap_or_default();
            let mut dep = s.clone();
            dep["name"] = json!(relative_to(&out_dir, &prev_dir.join(name)));
            dep["annotations"]["mlsec.stage"] = json!(prev_stage);
            deps.push(dep);
        }
        deps.push(json!({
            "name": relative_to(&out_dir, prev),
            "digest": { "sha256": crate::fingerprint::sha256_hex(&bytes) },
            "annotations": { KIND: "previous-statement", "mlsec.stage": prev_stage }
        }));
    }
    let statement = json!({
        "_type": STATEMENT_TYPE,
        "subject": subjects,
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": {
                    "stage": input.stage,
                    "command": input.command,
                },
                "internalParameters": { "tool": "mlsec export-guard", "version": env!("CARGO_PKG_VERSION") },
                "resolvedDependencies": deps,
            },
            "runDetails": {
                "builder": { "id": BUILDER_ID },
                "byproducts": byproducts,
            }
        }
    });
    let mut text = serde_json::to_vec_pretty(&statement)?;
    if let Some(key) = input.sign_key {
        text = crate::dsse::sign(&text, key).map_err(ProvenanceError::Sign)?;
    }
    text.push(b'\n');
    std::fs::write(input.attestation, &text).map_err(|error| ProvenanceError::Write {
        path: input.attestation.to_owned(),
        error,
    })?;
    report.tables.push(Table {
        title: format!(
            "stage {} recorded in {}",
            input.stage,
            input.attestation.display()
        ),
        columns: vec![
            "stage".into(),
            "artifact".into(),
            "kind".into(),
            "sha256".into(),
        ],
        rows,
    });
    report.data.insert("statement".into(), statement);
    Ok(())
}

/// The canonical JSON of a lint report whose digest is recorded as a byproduct.
pub fn lint_report_json(o: &LintOutcome) -> Value {
    let mut findings: Vec<Value> = o
        .findings
        .iter()
        .map(|f| {
            json!({
                "rule": f.rule.id,
                "severity": f.severity.to_string(),
                "location": f.location.to_string(),
                "message": f.message,
                "evidence": f.evidence,
            })
        })
        .collect();
    findings.sort_by_key(|v| v.to_string());
    json!({ "fingerprint": o.fingerprint, "weights": o.weights, "findings": findings })
}

/// External data files a model references, resolved without the full lint (for hashing in
/// parallel with it). Locations that fail the path checks are skipped: lint reports them.
fn external_files_quick(model: &Path) -> Vec<PathBuf> {
    let Ok(loaded) = mlsec_onnx::load(model) else {
        return Vec::new();
    };
    let scopes = crate::model::scopes(&loaded.model);
    let mut out = BTreeSet::new();
    for t in crate::model::tensors(&scopes) {
        if !mlsec_onnx::tensor::is_external(t.tensor) {
            continue;
        }
        if let Some(loc) = mlsec_onnx::tensor::ExternalRef::parse(t.tensor).location
            && let Ok(p) = mlsec_onnx::tensor::resolve_location(&loaded.dir, &loc)
        {
            out.insert(p);
        }
    }
    out.into_iter().collect()
}

/// Parses a statement, unwrapping a DSSE envelope; checks the statement and predicate types.
pub fn parse_statement(bytes: &[u8]) -> Result<Value, StatementError> {
    let value: Value = serde_json::from_slice(bytes).map_err(StatementError::Json)?;
    let value = if value.get("payloadType").is_some() {
        let payload = crate::dsse::payload(&value)?;
        serde_json::from_slice(&payload).map_err(StatementError::PayloadJson)?
    } else {
        value
    };
    if value["_type"] != STATEMENT_TYPE {
        return Err(StatementError::StatementType);
    }
    if value["predicateType"] != PREDICATE_TYPE {
        return Err(StatementError::PredicateType);
    }
    if !value["subject"].is_array() {
        return Err(StatementError::Subject);
    }
    Ok(value)
}

pub(crate) fn stage_of(statement: &Value) -> String {
    statement["predicate"]["buildDefinition"]["externalParameters"]["stage"]
        .as_str()
        .unwrap_or("?")
        .to_owned()
}

fn sha_of(v: &Value) -> Option<&str> {
    v["digest"]["sha256"].as_str()
}

/// Recomputes every digest of the chain ending at `attestation`.
pub fn verify(
    attestation: &Path,
    artifacts: &[PathBuf],
    verify_key: Option<&Path>,
    report: &mut Report,
) -> Result<(), ProvenanceError> {
    let bytes = std::fs::read(attestation).map_err(|error| ProvenanceError::ReadStatement {
        path: attestation.to_owned(),
        error,
    })?;
    if let Some(key) = verify_key {
        if !key.is_file() {
            return Err(ProvenanceError::VerifyKey(key.to_owned()));
        }
        if let Err(e) = crate::dsse::verify(&bytes, key) {
            report
                .findings
                .push(provenance_chain_broken::bad_signature(attestation, key, &e));
        }
    }
    let mut rows = Vec::new();
    let mut seen = BTreeSet::new();
    let last = verify_one(attestation, &bytes, report, &mut rows, &mut seen, 0);
    if let Some(statement) = last {
        let covered: BTreeSet<&str> = statement["subject"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(sha_of)
            .collect();
        for a in artifacts {
            let display = a.display().to_string();
            match file_sha256(a) {
                Err(e) => report
                    .errors
                    .push(ScanError::new(display, format!("cannot hash: {e}"))),
                Ok(d) if covered.contains(d.as_str()) => {
                    rows.push(vec![stage_of(&statement), display, "ok".into(), d]);
                }
                Ok(d) => {
                    report.findings.push(artifact_digest_mismatch::not_covered(
                        &display,
                        &stage_of(&statement),
                        attestation,
                        &d,
                    ));
                    rows.push(vec![stage_of(&statement), display, "NOT COVERED".into(), d]);
                }
            }
        }
    }
    report.tables.push(Table {
        title: format!("provenance chain of {}", attestation.display()),
        columns: vec![
            "stage".into(),
            "file".into(),
            "status".into(),
            "sha256".into(),
        ],
        rows,
    });
    Ok(())
}

fn verify_one(
    path: &Path,
    bytes: &[u8],
    report: &mut Report,
    rows: &mut Vec<Vec<String>>,
    seen: &mut BTreeSet<PathBuf>,
    depth: usize,
) -> Option<Value> {
    let display = path.display().to_string();
    if depth > MAX_CHAIN || !seen.insert(path.canonicalize().unwrap_or_else(|_| path.to_owned())) {
        report
            .findings
            .push(provenance_chain_broken::cyclic_or_too_long(&display));
        return None;
    }
    let statement = match parse_statement(bytes) {
        Ok(s) => s,
        Err(e) => {
            report
                .findings
                .push(provenance_chain_broken::not_a_statement(&display, &e));
            return None;
        }
    };
    report.scanned += 1;
    let dir = parent_dir(path);
    let stage = stage_of(&statement);
    let at = |name: &str| {
        Location::file(&display).with_pointer(Pointer::Field(format!("stage {stage}: {name}")))
    };
    let mut recorded: BTreeMap<PathBuf, String> = BTreeMap::new();
    for s in statement["subject"].as_array().into_iter().flatten() {
        let name = s["name"].as_str().unwrap_or_default();
        let Some(expected) = sha_of(s) else {
            report
                .findings
                .push(provenance_chain_broken::subject_without_digest(at(name)));
            continue;
        };
        let file = dir.join(name);
        recorded.insert(
            file.canonicalize().unwrap_or_else(|_| file.clone()),
            expected.to_owned(),
        );
        match file_sha256(&file) {
            Ok(actual) if actual == expected => {
                rows.push(vec![stage.clone(), name.to_owned(), "ok".into(), actual]);
            }
            Ok(actual) => {
                report.findings.push(artifact_digest_mismatch::changed(
                    at(name),
                    (name, &stage),
                    (expected, &actual),
                    s["annotations"]["mlsec.tensors"].as_object(),
                    || crate::checkpoint::tensor_digests(&file).ok(),
                ));
                rows.push(vec![
                    stage.clone(),
                    name.to_owned(),
                    "CHANGED".into(),
                    actual,
                ]);
            }
            Err(e) => {
                report.findings.push(artifact_digest_mismatch::missing(
                    at(name),
                    (name, &stage),
                    expected,
                    &e,
                ));
                rows.push(vec![
                    stage.clone(),
                    name.to_owned(),
                    "MISSING".into(),
                    String::new(),
                ]);
            }
        }
    }
    // An ONNX subject must not reference external data the statement does not cover.
    for s in statement["subject"].as_array().into_iter().flatten() {
        if s["annotations"][KIND] != "onnx" {
            continue;
        }
        let name = s["name"].as_str().unwrap_or_default();
        for ext in external_files_quick(&dir.join(name)) {
            let canon = ext.canonicalize().unwrap_or_else(|_| ext.clone());
            if !recorded.contains_key(&canon) {
                let rel = relative_to(&dir, &ext);
                report
                    .findings
                    .push(artifact_digest_mismatch::unrecorded_external(
                        at(&rel),
                        (name, &stage),
                        &rel,
                    ));
                rows.push(vec![
                    stage.clone(),
                    rel,
                    "NOT RECORDED".into(),
                    String::new(),
                ]);
            }
        }
    }
    let deps = statement["predicate"]["buildDefinition"]["resolvedDependencies"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let previous: Vec<&Value> = deps
        .iter()
        .filter(|d| d["annotations"][KIND] == "previous-statement")
        .collect();
    for p in previous {
        let name = p["name"].as_str().unwrap_or_default();
        let file = dir.join(name);
        let expected = sha_of(p).unwrap_or_default();
        let prev_bytes = match std::fs::read(&file) {
            Ok(b) => b,
            Err(e) => {
                report
                    .findings
                    .push(provenance_chain_broken::previous_missing(
                        &display,
                        (name, &stage),
                        &e,
                    ));
                continue;
            }
        };
        let actual = crate::fingerprint::sha256_hex(&prev_bytes);
        if actual != expected {
            report
                .findings
                .push(provenance_chain_broken::previous_changed(
                    at(name),
                    (name, &stage),
                    (expected, &actual),
                ));
        }
        let Some(prev) = verify_one(&file, &prev_bytes, report, rows, seen, depth + 1) else {
            continue;
        };
        provenance_chain_broken::check_inputs(&deps, (&stage, &prev), at, &mut report.findings);
    }
    Some(statement)
}
