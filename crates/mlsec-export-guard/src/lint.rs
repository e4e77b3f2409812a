//! `export-guard lint`: every check over one decoded model.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use mlsec_core::{Finding, Location, Pointer, Severity};
use mlsec_onnx::proto::tensor_proto::DataLocation;
use mlsec_onnx::proto::{ModelProto, TypeProto, ValueInfoProto};
use mlsec_onnx::tensor::{self, DataError, ExternalRef};
use mlsec_onnx::{LoadedModel, OnnxError};

use crate::dataflow::{Facts, trunk_free_trace, value_carrying_trace};
use crate::fingerprint;
use crate::model::{self, Flat, ScopeKind, TensorRole};
use crate::ops;
use crate::rules::*;

/// `doc_string` values (model, graph, node) above this many bytes are flagged.
pub const MAX_TEXT_BYTES: usize = 4096;
/// A `metadata_props` entry above this many bytes is flagged, and so is the total above it.
/// Genuine exporters store label lists and vocabularies there: PaddleOCR's recognition
/// models keep their character dictionary in `character`, measured at 26,258 bytes (PP-OCRv4,
/// 6,623 characters, rapidocr-onnxruntime 1.4.4) and 74,955 bytes (PP-OCRv6, 18,708
/// characters, rapidocr 3.10.0), so the 4 KiB text limit is too low for metadata; 256 KiB is
/// over three times the largest.
pub const MAX_METADATA_BYTES: usize = 256 * 1024;
/// Tensors with more elements than this are absurd (2^36, 256 GiB of fp32).
pub const MAX_ELEMENTS: u64 = 1 << 36;
/// At most this many dead nodes are reported one by one.
const MAX_DEAD_REPORTED: usize = 20;

/// What linting one model produced.
#[derive(Debug, Clone, Default)]
pub struct LintOutcome {
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
    let mut out = lint_model(&loaded, display);
    for u in &unknown {
        out.findings.push(
            Finding::new(
                &UNKNOWN_PROTO_FIELDS,
                Location::file(display)
                    .with_pointer(Pointer::Field(format!("{}#{}", u.path, u.number)))
                    .at_bytes(u.offset, u.len),
                format!(
                    "field number {} is not defined in {} (wire type {}, {} bytes)",
                    u.number, u.message, u.wire_type, u.len
                ),
            )
            .with_evidence("message", u.message)
            .with_evidence("field_number", u.number)
            .with_evidence("value_bytes", u.len),
        );
    }
    Ok(out)
}

/// Every check over an already decoded model.
pub fn lint_model(loaded: &LoadedModel, display: &str) -> LintOutcome {
    let model = &loaded.model;
    let mut out = LintOutcome {
        ir_version: model.ir_version.unwrap_or(0),
        opset: default_opset(model).unwrap_or(0),
        ..LintOutcome::default()
    };
    let f = &mut out.findings;
    let at = |pointer: Pointer| Location::file(display).with_pointer(pointer);
    check_versions(model, display, f);
    let scopes = model::scopes(model);
    let local: BTreeSet<(&str, &str)> = model
        .functions
        .iter()
        .map(|fun| (fun.domain(), fun.name()))
        .collect();
    let imports = opset_imports(model);
    let mut missing_import: BTreeSet<String> = BTreeSet::new();
    for scope in &scopes {
        for (i, node) in scope.nodes.iter().enumerate() {
            out.nodes += 1;
            let domain = node.domain();
            let op = node.op_type();
            *out.ops
                .entry(if domain.is_empty() {
                    op.to_owned()
                } else {
                    format!("{domain}::{op}")
                })
                .or_default() += 1;
            let path = format!("{}.node[{i}]", scope.path);
            let label = node_label(node);
            if local.contains(&(domain, op)) {
                continue;
            }
            if ops::normal_domain(domain) == ops::TRAINING_DOMAIN {
                let mut finding = Finding::new(
                    &TRAINING_ARTIFACTS,
                    at(Pointer::Node(path.clone())),
                    format!("training operator {op} {label}in an inference graph"),
                )
                .with_evidence("domain", domain);
                // Outside `training_info` the op is in plain sight and an inference runtime
                // refuses the model rather than running something hidden (see the rule doc).
                if scope.kind != ScopeKind::Training {
                    finding = finding.with_severity(Severity::Info);
                }
                f.push(finding);
            }
            if ops::is_runtime_domain(domain) {
                let mut finding = Finding::new(
                    &RUNTIME_SPECIFIC_DOMAIN,
                    at(Pointer::Node(path.clone())),
                    format!("{domain}::{op} {label}runs only on a specific runtime"),
                )
                .with_evidence("domain", domain)
                .with_evidence("op_type", op);
                // Built into the runtime: a portability note, not code to load (rule doc).
                if ops::is_builtin_runtime_domain(domain) {
                    finding = finding
                        .with_severity(Severity::Info)
                        .with_evidence("builtin", true);
                }
                f.push(finding);
            } else if !ops::is_standard_domain(domain) {
                f.push(
                    Finding::new(
                        &CUSTOM_DOMAIN_OP,
                        at(Pointer::Node(path.clone())),
                        format!(
                            "{domain}::{op} {label}is a custom-domain op with no model-local function: it needs a native library"
                        ),
                    )
                    .with_evidence("domain", domain)
                    .with_evidence("op_type", op),
                );
            } else if scope.kind != ScopeKind::Function
                || imports.contains_key(ops::normal_domain(domain))
            {
                match imports.get(ops::normal_domain(domain)) {
                    None => {
                        missing_import.insert(if domain.is_empty() { "ai.onnx".to_owned() } else { domain.to_owned() });
                    }
                    Some(&version) => match ops::since_version(domain, op) {
                        None => f.push(
                            Finding::new(
                                &UNKNOWN_OPERATOR,
                                at(Pointer::Node(path.clone())),
                                format!("{op} {label}is not a standard operator of {}", domain_name(domain)),
                            )
                            .with_evidence("op_type", op)
                            .with_evidence("opset", version),
                        ),
                        Some(since) if since > version => f.push(
                            Finding::new(
                                &UNKNOWN_OPERATOR,
                                at(Pointer::Node(path.clone())),
                                format!("{op} {label}was introduced in opset {since}, the model declares {version}"),
                            )
                            .with_evidence("op_type", op)
                            .with_evidence("since_opset", since)
                            .with_evidence("opset", version),
                        ),
                        Some(_) => {}
                    },
                }
            }
            if node.doc_string().len() > MAX_TEXT_BYTES {
                f.push(oversized(
                    display,
                    &format!("{path}.doc_string"),
                    node.doc_string().len(),
                    "node doc_string",
                ));
            }
        }
        if let Some(g) = scope.graph {
            if g.doc_string().len() > MAX_TEXT_BYTES {
                f.push(oversized(
                    display,
                    &format!("{}.doc_string", scope.path),
                    g.doc_string().len(),
                    "graph doc_string",
                ));
            }
            check_shapes(
                g.input.iter().chain(&g.output).chain(&g.value_info),
                &scope.path,
                display,
                f,
            );
        }
    }
    for domain in missing_import {
        f.push(
            Finding::new(
                &UNKNOWN_OPERATOR,
                at(Pointer::Field("opset_import".into())),
                format!("ops of domain {domain} are used but no opset_import declares it"),
            )
            .with_evidence("domain", domain),
        );
    }
    for (i, t) in model.training_info.iter().enumerate() {
        let nodes = t.algorithm.as_ref().map_or(0, |g| g.node.len())
            + t.initialization.as_ref().map_or(0, |g| g.node.len());
        f.push(
            Finding::new(
                &TRAINING_ARTIFACTS,
                at(Pointer::Field(format!("training_info[{i}]"))),
                format!("training_info with {nodes} nodes travels with the model; inference tools ignore it"),
            )
            .with_evidence("nodes", nodes),
        );
    }
    check_metadata(model, display, f);
    let tensors = model::tensors(&scopes);
    out.external_files = check_tensors(&tensors, &loaded.dir, display, f);
    if let Some(flat) = Flat::build(model) {
        check_graph(&flat, model, display, f);
    }
    let fp = fingerprint::compute(model, &loaded.dir);
    out.fingerprint = fp.structure;
    out.weights = fp.weights;
    out.tensor_digests = fp.tensors;
    out
}

fn domain_name(domain: &str) -> &str {
    if domain.is_empty() { "ai.onnx" } else { domain }
}

fn node_label(node: &mlsec_onnx::proto::NodeProto) -> String {
    match node.name() {
        "" => String::new(),
        name => format!("`{name}` "),
    }
}

fn oversized(display: &str, path: &str, len: usize, what: &str) -> Finding {
    Finding::new(
        &OVERSIZED_METADATA,
        Location::file(display).with_pointer(Pointer::Field(path.to_owned())),
        format!("{what} is {len} bytes"),
    )
    .with_evidence("bytes", len)
    .with_evidence("limit", MAX_TEXT_BYTES)
}

/// Opset version per domain (`""` for the default domain).
fn opset_imports(model: &ModelProto) -> BTreeMap<String, i64> {
    model
        .opset_import
        .iter()
        .map(|o| (ops::normal_domain(o.domain()).to_owned(), o.version()))
        .collect()
}

fn default_opset(model: &ModelProto) -> Option<i64> {
    opset_imports(model).get("").copied()
}

fn check_versions(model: &ModelProto, display: &str, f: &mut Vec<Finding>) {
    let ir = model.ir_version.unwrap_or(0);
    if ir > mlsec_onnx::SCHEMA_IR_VERSION {
        f.push(
            Finding::new(
                &IR_VERSION_NEWER,
                Location::file(display).with_pointer(Pointer::Field("ir_version".into())),
                format!(
                    "IR version {ir} is newer than the schema mlsec knows ({})",
                    mlsec_onnx::SCHEMA_IR_VERSION
                ),
            )
            .with_evidence("ir_version", ir)
            .with_evidence("schema_ir_version", mlsec_onnx::SCHEMA_IR_VERSION),
        );
    }
    if let Some(opset) = default_opset(model).filter(|v| *v > ops::MAX_KNOWN_OPSET) {
        f.push(
            Finding::new(
                &IR_VERSION_NEWER,
                Location::file(display).with_pointer(Pointer::Field("opset_import".into())),
                format!(
                    "opset {opset} is newer than the operator table mlsec knows ({})",
                    ops::MAX_KNOWN_OPSET
                ),
            )
            .with_evidence("opset", opset)
            .with_evidence("known_opset", ops::MAX_KNOWN_OPSET),
        );
    }
}

fn check_metadata(model: &ModelProto, display: &str, f: &mut Vec<Finding>) {
    let mut total = 0usize;
    for (i, p) in model.metadata_props.iter().enumerate() {
        let len = p.key().len() + p.value().len();
        total += len;
        if len > MAX_METADATA_BYTES {
            f.push(
                oversized(
                    display,
                    &format!("metadata_props[{i}]"),
                    len,
                    "metadata entry",
                )
                .with_evidence("limit", MAX_METADATA_BYTES)
                .with_evidence("key", p.key().chars().take(64).collect::<String>()),
            );
        }
    }
    // One cause, one finding: the total only when no single entry is already flagged.
    let entry_flagged = model
        .metadata_props
        .iter()
        .any(|p| p.key().len() + p.value().len() > MAX_METADATA_BYTES);
    if total > MAX_METADATA_BYTES && !entry_flagged {
        f.push(
            oversized(display, "metadata_props", total, "metadata_props in total")
                .with_evidence("total_limit", MAX_METADATA_BYTES),
        );
    }
    if model.doc_string().len() > MAX_TEXT_BYTES {
        f.push(oversized(
            display,
            "doc_string",
            model.doc_string().len(),
            "model doc_string",
        ));
    }
}

fn check_shapes<'a>(
    infos: impl Iterator<Item = &'a ValueInfoProto>,
    scope: &str,
    display: &str,
    f: &mut Vec<Finding>,
) {
    for info in infos {
        let Some(TypeProto {
            value: Some(mlsec_onnx::proto::type_proto::Value::TensorType(t)),
            ..
        }) = &info.r#type
        else {
            continue;
        };
        let Some(shape) = &t.shape else { continue };
        let dims: Vec<i64> = shape
            .dim
            .iter()
            .filter_map(|d| match d.value {
                Some(mlsec_onnx::proto::tensor_shape_proto::dimension::Value::DimValue(v)) => {
                    Some(v)
                }
                _ => None,
            })
            .collect();
        // A literal -1 in a declared shape is an unknown dimension, as a `dim_param` would
        // be: Paddle2ONNX writes dynamic dims that way (rapidocr's PP-OCR models declare
        // `x: [-1, 3, -1, -1]`) and runtimes accept it. Only the known dims are counted.
        let known: Vec<i64> = dims.iter().copied().filter(|&d| d != -1).collect();
        let problem = if let Some(d) = known.iter().find(|&&d| d < 0) {
            Some(format!("has the negative dimension {d}"))
        } else {
            match tensor::element_count(&known) {
                None => Some("has an overflowing number of elements".to_owned()),
                Some(c) if c > MAX_ELEMENTS => Some(format!("has {c} elements")),
                Some(_) => None,
            }
        };
        if let Some(problem) = problem {
            f.push(
                Finding::new(
                    &ABSURD_TENSOR_DIMS,
                    Location::file(display)
                        .with_pointer(Pointer::Field(format!("{scope}:{}", info.name()))),
                    format!("declared shape {dims:?} of `{}` {problem}", info.name()),
                )
                .with_evidence("dims", format!("{dims:?}"))
                .with_evidence("limit", MAX_ELEMENTS),
            );
        }
    }
}

/// External-data, data-location and dims checks over every tensor; returns the external
/// files that passed the path checks.
fn check_tensors(
    tensors: &[model::TensorRef<'_>],
    dir: &Path,
    display: &str,
    f: &mut Vec<Finding>,
) -> BTreeMap<String, PathBuf> {
    let mut files = BTreeMap::new();
    // One finding per (location, problem), not per tensor.
    let mut by_location: BTreeMap<String, (Result<PathBuf, DataError>, Vec<&str>)> =
        BTreeMap::new();
    for r in tensors {
        let t = r.tensor;
        let name = t.name().to_owned();
        let pointer = || {
            Pointer::Tensor(if name.is_empty() {
                r.path.clone()
            } else {
                name.clone()
            })
        };
        let loc = || Location::file(display).with_pointer(pointer());
        let external_declared = tensor::is_external(t);
        let has_entries = !t.external_data.is_empty();
        let mismatch = if external_declared && t.raw_data.is_some() {
            Some("data_location is EXTERNAL but the tensor also has inline raw_data")
        } else if external_declared && !has_entries {
            Some("data_location is EXTERNAL but there are no external_data entries")
        } else if !external_declared && has_entries {
            Some(
                "external_data entries on a tensor whose data_location is DEFAULT: tools disagree on which data is used",
            )
        } else if t
            .data_location
            .is_some_and(|d| DataLocation::try_from(d).is_err())
        {
            Some("data_location has an undefined value")
        } else {
            None
        };
        if let Some(m) = mismatch {
            f.push(Finding::new(&DATA_LOCATION_MISMATCH, loc(), m).with_evidence("path", &r.path));
        }
        // Dims.
        let count = tensor::element_count(&t.dims);
        if count.is_none_or(|c| c > MAX_ELEMENTS) {
            f.push(
                Finding::new(
                    &ABSURD_TENSOR_DIMS,
                    loc(),
                    format!(
                        "dims {:?} give {} elements",
                        t.dims,
                        count.map_or("an overflowing number of".to_owned(), |c| c.to_string())
                    ),
                )
                .with_evidence("path", &r.path)
                .with_evidence("limit", MAX_ELEMENTS),
            );
            continue;
        }
        let expected = if r.role == TensorRole::SparseValues || r.role == TensorRole::SparseIndices
        {
            None
        } else {
            tensor::expected_bytes(t)
        };
        if !(external_declared || has_entries) {
            if let (Some(expected), Some(actual)) = (expected, stored_bytes(t)) {
                if expected != actual {
                    f.push(
                        Finding::new(
                            &ABSURD_TENSOR_DIMS,
                            loc(),
                            format!(
                                "stored data is {actual} bytes but {:?} {} needs {expected}",
                                t.dims,
                                tensor::type_name(t.data_type())
                            ),
                        )
                        .with_evidence("path", &r.path)
                        .with_evidence("expected_bytes", expected)
                        .with_evidence("actual_bytes", actual),
                    );
                }
            }
            continue;
        }
        // External data.
        let ext = ExternalRef::parse(t);
        if !ext.unknown_keys.is_empty()
            || !ext.duplicate_keys.is_empty()
            || (ext.location.is_none() && has_entries)
        {
            let sev = if ext.duplicate_keys.is_empty() {
                Severity::Low
            } else {
                Severity::Medium
            };
            let mut what = Vec::new();
            if ext.location.is_none() {
                what.push("no `location`".to_owned());
            }
            if !ext.duplicate_keys.is_empty() {
                what.push(format!("duplicate keys {:?}", ext.duplicate_keys));
            }
            if !ext.unknown_keys.is_empty() {
                what.push(format!("unknown keys {:?}", ext.unknown_keys));
            }
            f.push(
                Finding::new(
                    &EXTERNAL_DATA_BAD_KEYS,
                    loc(),
                    format!("external_data has {}", what.join(", ")),
                )
                .with_severity(sev)
                .with_evidence("path", &r.path),
            );
        }
        let Some(location) = ext.location.clone() else {
            continue;
        };
        for problem in tensor::location_problems(&location) {
            if problem == DataError::NotNormalised {
                // Reported with the location group below only if it also fails resolution.
                f.push(
                    Finding::new(
                        &EXTERNAL_DATA_PATH_ESCAPE,
                        loc(),
                        format!("location {location:?}: {problem}"),
                    )
                    .with_severity(Severity::Low)
                    .with_evidence("location", &location)
                    .with_evidence("path", &r.path),
                );
            }
        }
        let entry = by_location
            .entry(location.clone())
            .or_insert_with(|| (tensor::resolve_location(dir, &location), Vec::new()));
        entry.1.push(&r.path);
        let resolved = match &entry.0 {
            Ok(p) => p.clone(),
            Err(_) => continue,
        };
        files.insert(location.clone(), resolved.clone());
        // Range checks against the real file.
        let size = std::fs::metadata(&resolved).map(|m| m.len()).unwrap_or(0);
        let range = ext
            .offset_value()
            .and_then(|off| Ok((off, ext.length_value()?)));
        let problem = match range {
            Err(e) => Some(e.to_string()),
            Ok((offset, length)) => {
                let len = length.unwrap_or(size.saturating_sub(offset));
                match offset.checked_add(len) {
                    None => Some(format!("offset {offset} + length {len} overflows")),
                    Some(end) if end > size || offset > size => Some(
                        DataError::OutOfRange {
                            offset,
                            length: len,
                            size,
                        }
                        .to_string(),
                    ),
                    Some(_) => match expected {
                        Some(e) if e != len => Some(
                            DataError::SizeMismatch {
                                expected: e,
                                actual: len,
                            }
                            .to_string(),
                        ),
                        _ => None,
                    },
                }
            }
        };
        if let Some(problem) = problem {
            f.push(
                Finding::new(
                    &EXTERNAL_DATA_BAD_RANGE,
                    loc(),
                    format!("external data in {location:?}: {problem}"),
                )
                .with_evidence("location", &location)
                .with_evidence("file_bytes", size)
                .with_evidence("path", &r.path),
            );
        }
    }
    for (location, (result, users)) in by_location {
        let Err(problem) = result else { continue };
        let (rule, sev) = match problem {
            DataError::Symlink | DataError::HardLink(_) => (&EXTERNAL_DATA_LINK, None),
            DataError::Missing(_) | DataError::NotAFile | DataError::Io(_) => {
                (&EXTERNAL_DATA_MISSING, None)
            }
            DataError::NotNormalised => continue,
            _ => (&EXTERNAL_DATA_PATH_ESCAPE, None::<Severity>),
        };
        let mut finding = Finding::new(
            rule,
            Location::file(display).with_pointer(Pointer::Field(users[0].to_owned())),
            format!(
                "external data location {location:?}: {problem} ({} tensor(s))",
                users.len()
            ),
        )
        .with_evidence("location", &location)
        .with_evidence("tensors", users.len())
        .with_evidence("first_tensor", users[0]);
        if let Some(sev) = sev {
            finding = finding.with_severity(sev);
        }
        f.push(finding);
    }
    files
}

/// Bytes of inline data, when the tensor stores fixed-width data inline.
fn stored_bytes(t: &mlsec_onnx::proto::TensorProto) -> Option<u64> {
    tensor::element_bits(t.data_type())?;
    if let Some(raw) = &t.raw_data {
        return Some(raw.len() as u64);
    }
    let typed = tensor::typed_bytes(t);
    if typed.is_empty() {
        // No data at all is a legal (empty or shape-only) tensor only with zero elements.
        return Some(0);
    }
    // Sub-byte types pack two (or four) values per int32_data element.
    match tensor::element_bits(t.data_type()) {
        Some(b) if b < 8 => None,
        _ => Some(typed.len() as u64),
    }
}

/// The backdoor heuristics and dead-element check over the inlined main graph.
///
/// Every heuristic looks for computation that bypasses or overrides the learned layers, so
/// each needs a trunk: a graph with no learned layer (the ONNX test suite's operator
/// expansions, pre- and post-processing graphs) has nothing to bypass.
fn check_graph(flat: &Flat<'_>, model: &ModelProto, display: &str, f: &mut Vec<Finding>) {
    let facts = Facts::compute(flat);
    let at = |path: &str| Location::file(display).with_pointer(Pointer::Node(path.to_owned()));
    let control_flow = flat
        .nodes
        .iter()
        .filter(|n| matches!(n.node.op_type(), "If" | "Loop" | "Scan" | "SequenceMap"))
        .count();
    for (i, n) in flat.nodes.iter().enumerate() {
        let op = n.node.op_type();
        let label = node_label(n.node);
        let std_domain = ops::normal_domain(n.node.domain()).is_empty();
        if !std_domain {
            continue;
        }
        // What a selection chooses between, and whether each alternative is learned.
        let alternatives = selection_alternatives(n, flat, &facts);
        let overrides_trunk = facts.has_trunk
            && alternatives.iter().any(|a| a.1)
            && alternatives.iter().any(|a| !a.1);
        // Selections: Where/If condition, or a soft mux (Mul/Add with a Cast/Sigmoid of a comparison).
        let condition: Option<&str> = match op {
            "Where" | "If" => n.inputs.first().map(String::as_str),
            "Mul" => n
                .inputs
                .iter()
                .map(String::as_str)
                .find(|v| is_soft_gate(flat, v)),
            _ => None,
        };
        // A soft mux is suspicious when what it gates is trunk-free (a chosen value added on
        // top of the model); gating a learned value by an input mask is ordinary masking.
        let gated_trunk_free = op == "Mul"
            && facts.has_trunk
            && n.inputs
                .iter()
                .filter(|v| Some(v.as_str()) != condition && !v.is_empty())
                .all(|v| facts.value_via_trunk(flat, v) == 0);
        let cond_trace = condition
            .filter(|c| !c.is_empty())
            .and_then(|c| trunk_free_trace(flat, &facts, c));
        if let Some(trace) = cond_trace
            .as_ref()
            .filter(|_| overrides_trunk || gated_trunk_free)
        {
            let dist = facts.to_output[i];
            let near = dist.is_some_and(|d| d <= 2);
            let mut score = 0.4;
            let mut reasons = vec![format!(
                "condition reaches raw input `{}` without passing the trunk",
                trace.input
            )];
            if trace.comparisons > 0 || ops::is_comparison(op) {
                score += 0.25;
                reasons.push(format!("{} comparison(s) on the way", trace.comparisons));
            }
            if trace.reductions > 0 {
                score += 0.15;
                reasons.push(format!("{} reduction(s) on the way", trace.reductions));
            }
            if near {
                score += 0.2;
                reasons.push(format!("{} hop(s) from a graph output", dist.unwrap_or(0)));
            }
            let score: f64 = f64::min(score, 1.0);
            if score >= 0.6 {
                let sev = if score >= 0.8 {
                    Severity::High
                } else {
                    Severity::Medium
                };
                let mut slice: Vec<String> = trace.ops.clone();
                slice.truncate(12);
                f.push(
                    Finding::new(
                        &INPUT_CONDITIONED_SELECTION,
                        at(&n.path),
                        format!("{op} {label}selects on a condition computed from raw input `{}` (score {score:.2})", trace.input),
                    )
                    .with_severity(sev)
                    .with_evidence("score", format!("{score:.2}"))
                    .with_evidence("reasons", reasons.join("; "))
                    .with_evidence("condition_slice", slice.join(" <- "))
                    .with_evidence("alternatives", describe_alternatives(&alternatives))
                    .with_evidence("distance_to_output", dist.map_or("none".to_owned(), |d| d.to_string())),
                );
            }
        }
        // Exact float comparison against constants.
        if op == "Equal" {
            for (k, input) in n.inputs.iter().enumerate() {
                let Some(c) = constant_of(flat, input) else {
                    continue;
                };
                if !tensor::is_float(c.data_type()) {
                    continue;
                }
                let bytes = tensor::tensor_bytes(c, Path::new("/nonexistent")).unwrap_or_default();
                // Zero is the one value natural data hits exactly (a zero denominator, ReLU
                // output, padding): `Equal(x, 0)` is TensorFlow's `div_no_nan` guard.
                if !bytes.is_empty() && bytes.iter().all(|&b| b == 0) {
                    break;
                }
                let values = tensor::values_f64(c, &bytes, 8);
                let other = n.inputs.get(1 - k.min(1)).map(String::as_str).unwrap_or("");
                let from_input = facts.value_from_input(flat, other);
                let sev = if from_input {
                    Severity::Medium
                } else {
                    Severity::Low
                };
                f.push(
                    Finding::new(
                        &MAGIC_CONSTANT_COMPARISON,
                        at(&n.path),
                        format!(
                            "Equal {label}compares {} data exactly against constant `{input}`",
                            tensor::type_name(c.data_type())
                        ),
                    )
                    .with_severity(sev)
                    .with_evidence("constant", input)
                    .with_evidence("values", format!("{values:?}"))
                    .with_evidence("elements", tensor::element_count(&c.dims).unwrap_or(0))
                    .with_evidence("compared_value_from_input", from_input),
                );
                break;
            }
        }
        // Selections with a constant-only branch that reaches an output, chosen by a
        // trunk-free condition on the input, instead of a learned alternative.
        if facts.to_output[i].is_some() && overrides_trunk && cond_trace.is_some() {
            let constant_branch = match op {
                "Where" => n
                    .inputs
                    .iter()
                    .skip(1)
                    .position(|v| !v.is_empty() && !facts.value_from_input(flat, v))
                    .map(|k| format!("input {}", k + 1)),
                "If" => if_constant_branch(n.node, flat, &facts),
                _ => None,
            };
            if let Some(branch) = constant_branch {
                f.push(
                    Finding::new(
                        &CONSTANT_OUTPUT_SELECTION,
                        at(&n.path),
                        format!("{op} {label}can route a constant-only {branch} to a graph output"),
                    )
                    .with_evidence("constant_branch", branch)
                    .with_evidence("alternatives", describe_alternatives(&alternatives))
                    .with_evidence("distance_to_output", facts.to_output[i].unwrap_or(0)),
                );
            }
        }
        // Data-dependent control flow: a loop count computed from the data the model computes
        // on, or a branch on the input between a learned and a trunk-free path.
        let dependent: Vec<&str> = match op {
            "Loop" => [(0, "trip count M"), (1, "loop condition")]
                .into_iter()
                .filter(|(k, _)| {
                    n.inputs.get(*k).is_some_and(|v| {
                        !v.is_empty() && facts.value_inputs(flat, v) & facts.data_inputs != 0
                    })
                })
                .map(|(_, w)| w)
                .collect(),
            "If" if overrides_trunk => n
                .inputs
                .first()
                .filter(|v| facts.value_from_input(flat, v))
                .map(|_| vec!["branch condition"])
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        if !dependent.is_empty() {
            let unbounded = op == "Loop"
                && n.inputs
                    .first()
                    .is_none_or(|v| v.is_empty() || facts.value_from_input(flat, v));
            f.push(
                Finding::new(
                    &DATA_DEPENDENT_CONTROL_FLOW,
                    at(&n.path),
                    format!(
                        "{op} {label}{} computed from graph input",
                        dependent.join(" and ")
                    ),
                )
                .with_evidence("depends_on_input", dependent.join(", "))
                .with_evidence("unbounded_trip_count", unbounded)
                .with_evidence("control_flow_ops_in_graph", control_flow),
            );
        }
        // Skip from a raw input around the learned layers to the last layers: the node mixes
        // a learned value computed from input X with X itself, trunk-free. A learned layer
        // reading a raw input (an LSTM's initial state, `addmm`'s bias) is the model working,
        // and a side input that never went through the trunk (an attention mask added to the
        // scores, a sample rate) is not a skip around it; nor is a path through a comparison
        // (a padding mask from the token ids in masked mean pooling): it carries a condition,
        // which is EXPG012's business, not the input's values.
        if facts.has_trunk
            && facts.to_output[i].is_some_and(|d| d <= 1)
            && !facts.trunk[i]
            && !matches!(op, "Where" | "If" | "Loop" | "Scan" | "SequenceMap")
        {
            let reads = crate::dataflow::value_reads(flat, n);
            let via = reads
                .iter()
                .filter(|v| facts.value_through_trunk(flat, v))
                .fold(0u64, |acc, v| acc | facts.value_via_trunk(flat, v));
            let skip = reads
                .iter()
                .filter(|v| !facts.value_through_trunk(flat, v))
                .filter_map(|v| value_carrying_trace(flat, &facts, v))
                .find(|t| facts.input_bit(&t.input).is_some_and(|b| via & b != 0));
            if let Some(trace) = skip {
                f.push(
                    Finding::new(
                        &INPUT_SKIP_TO_OUTPUT,
                        at(&n.path),
                        format!("{op} {label}mixes the trunk with raw input `{}` that skips every learned layer", trace.input),
                    )
                    .with_evidence("input", &trace.input)
                    .with_evidence("skip_path", trace.ops.join(" <- "))
                    .with_evidence("distance_to_output", facts.to_output[i].unwrap_or(0)),
                );
            }
        }
    }
    check_dead(flat, &facts, model, display, f);
}

/// Dead nodes and initializers. Dead elements that can carry something fail (rule severity):
/// a node computing from input values (a dormant branch), a learned layer, a constant or
/// initializer holding more than one distinct value (a payload). Dead code that only computes
/// from constants and input shapes, and unused tensors of one repeated value (zero buffers,
/// scalars), carry nothing: exporters leave them (the ONNX suite's function expansions,
/// torch.onnx's unused zero initializers in silero-vad), so they are information.
fn check_dead(
    flat: &Flat<'_>,
    facts: &Facts,
    model: &ModelProto,
    display: &str,
    f: &mut Vec<Finding>,
) {
    let at = |path: &str| Location::file(display).with_pointer(Pointer::Node(path.to_owned()));
    let dead: Vec<usize> = (0..flat.nodes.len())
        .filter(|&i| facts.to_output[i].is_none())
        .collect();
    let (can_carry, inert): (Vec<usize>, Vec<usize>) = dead.iter().partition(|&&i| {
        let n = &flat.nodes[i];
        facts.from_input[i]
            || facts.trunk[i]
            || !ops::normal_domain(n.node.domain()).is_empty()
            || n.node.attribute.iter().any(|a| !attribute_inert(a))
    });
    for &i in can_carry.iter().take(MAX_DEAD_REPORTED) {
        let n = &flat.nodes[i];
        f.push(
            Finding::new(
                &DEAD_GRAPH_ELEMENTS,
                at(&n.path),
                format!(
                    "{} {}never contributes to a graph output",
                    n.node.op_type(),
                    node_label(n.node)
                ),
            )
            .with_evidence("dead_nodes", dead.len()),
        );
    }
    if can_carry.len() > MAX_DEAD_REPORTED {
        f.push(
            Finding::new(
                &DEAD_GRAPH_ELEMENTS,
                Location::file(display).with_pointer(Pointer::Field("graph.node".into())),
                format!("{} more dead nodes", can_carry.len() - MAX_DEAD_REPORTED),
            )
            .with_evidence("dead_nodes", dead.len()),
        );
    }
    if let Some(&first) = inert.first() {
        let first_ops: Vec<&str> = inert
            .iter()
            .take(8)
            .map(|&i| flat.nodes[i].node.op_type())
            .collect();
        f.push(
            Finding::new(
                &DEAD_GRAPH_ELEMENTS,
                at(&flat.nodes[first].path),
                format!(
                    "{} dead node(s) compute only from constants and input shapes",
                    inert.len()
                ),
            )
            .with_severity(Severity::Info)
            .with_evidence("inert_dead_nodes", inert.len())
            .with_evidence("ops", first_ops.join(", ")),
        );
    }
    let mut used: BTreeSet<&str> = flat.outputs.iter().map(String::as_str).collect();
    for n in &flat.nodes {
        used.extend(n.inputs.iter().chain(&n.outer).map(String::as_str));
    }
    if let Some(g) = &model.graph {
        for (i, t) in g.initializer.iter().enumerate() {
            if !used.contains(t.name()) {
                let mut finding = Finding::new(
                    &DEAD_GRAPH_ELEMENTS,
                    Location::file(display).with_pointer(Pointer::Tensor(t.name().to_owned())),
                    format!("initializer `{}` is not used by any node", t.name()),
                )
                .with_evidence("path", format!("graph.initializer[{i}]"))
                .with_evidence("bytes", tensor::expected_bytes(t).unwrap_or(0));
                if is_uniform(t) {
                    finding = finding
                        .with_severity(Severity::Info)
                        .with_evidence("uniform", true);
                }
                f.push(finding);
            }
        }
    }
}

/// Whether an attribute of a dead node can carry nothing: numbers, one repeated value, or a
/// tensor of one repeated value. Strings and subgraphs can carry a payload.
fn attribute_inert(a: &mlsec_onnx::proto::AttributeProto) -> bool {
    if a.g.is_some() || !a.graphs.is_empty() || !a.strings.is_empty() || a.s.is_some() {
        return false;
    }
    if a.sparse_tensor.is_some() || !a.sparse_tensors.is_empty() || !a.tensors.is_empty() {
        return false;
    }
    if let Some(t) = &a.t {
        return is_uniform(t);
    }
    a.ints.windows(2).all(|w| w[0] == w[1])
        && a.floats
            .windows(2)
            .all(|w| w[0].to_bits() == w[1].to_bits())
}

/// A tensor whose elements are all the same (or that has at most one): no room for a payload.
/// External and unreadable data count as not uniform.
fn is_uniform(t: &mlsec_onnx::proto::TensorProto) -> bool {
    let Some(bits) = tensor::element_bits(t.data_type()) else {
        return false;
    };
    let Ok(bytes) = tensor::tensor_bytes(t, Path::new("/nonexistent")) else {
        return false;
    };
    let width = usize::try_from(bits / 8).unwrap_or(1).max(1);
    let mut chunks = bytes.chunks(width);
    let first = chunks.next();
    chunks.all(|c| Some(c) == first)
}

/// The alternatives a selection chooses between, each with whether it is learned: input
/// values reach it through a trunk op (`Where` data inputs), or the branch runs a trunk op on
/// input values or reads such a value (`If` branches). A constant put through a dummy layer
/// (`MatMul(target, I)`) is not learned.
fn selection_alternatives(
    n: &crate::model::FlatNode<'_>,
    flat: &Flat<'_>,
    facts: &Facts,
) -> Vec<(String, bool)> {
    match n.node.op_type() {
        "Where" => n
            .inputs
            .iter()
            .enumerate()
            .skip(1)
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (format!("input {k}"), facts.value_via_trunk(flat, v) != 0))
            .collect(),
        "If" => n
            .node
            .attribute
            .iter()
            .filter_map(|a| a.g.as_ref().map(|g| (a.name(), g)))
            .map(|(name, g)| {
                let refs = model::outer_refs(g);
                let learned = (crate::dataflow::graph_has_trunk(g)
                    && refs.iter().any(|r| facts.value_from_input(flat, r)))
                    || refs.iter().any(|r| facts.value_via_trunk(flat, r) != 0);
                (name.to_owned(), learned)
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn describe_alternatives(alts: &[(String, bool)]) -> String {
    alts.iter()
        .map(|(name, learned)| {
            format!(
                "{name}: {}",
                if *learned { "learned" } else { "trunk-free" }
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// A `Cast`/`Sigmoid`-of-comparison gate (the soft form of a selection).
fn is_soft_gate(flat: &Flat<'_>, value: &str) -> bool {
    let Some(&p) = flat.producer.get(value) else {
        return false;
    };
    let node = &flat.nodes[p];
    match node.node.op_type() {
        op if ops::is_comparison(op) => true,
        "Cast" | "Sigmoid" | "Not" => node
            .inputs
            .first()
            .and_then(|v| flat.producer.get(v))
            .is_some_and(|&q| ops::is_comparison(flat.nodes[q].node.op_type())),
        _ => false,
    }
}

/// The tensor of a constant value (initializer or `Constant` output).
fn constant_of<'a>(flat: &Flat<'a>, value: &str) -> Option<&'a mlsec_onnx::proto::TensorProto> {
    flat.constants.get(value).copied()
}

/// Names an `If` branch whose outputs use nothing from the enclosing graph but constants.
fn if_constant_branch(
    node: &mlsec_onnx::proto::NodeProto,
    flat: &Flat<'_>,
    facts: &Facts,
) -> Option<String> {
    for attr in &node.attribute {
        let Some(g) = &attr.g else { continue };
        if g.output.is_empty() {
            continue;
        }
        let refs = model::outer_refs(g);
        if refs.iter().all(|r| !facts.value_from_input(flat, r)) {
            return Some(attr.name().to_owned());
        }
    }
    None
}
