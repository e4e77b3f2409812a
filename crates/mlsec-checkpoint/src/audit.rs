//! Turns what the pickle machine recorded into findings, against the format's allowlist: one
//! pass over the machine's events and imports, in which each call is resolved to the global it
//! finally reaches (through `functools.partial`, `getattr(import, 'name')` and other
//! forwarders) and handed to the pickle rules (`rules::pickle_*::check`), which decide.

use std::collections::{HashMap, HashSet};

use mlsec_core::{Finding, Pointer, Severity};
use mlsec_pickle::{CallKind, Event, Machine, Node, NodeId};

use crate::policy::{self, Profile};
use crate::rules;
pub use crate::site::Site;

/// A payload found inside the pickle: the bytes, the loader kind, the call offset.
pub struct Nested {
    pub bytes: Vec<u8>,
    pub loader: &'static str,
    pub callable: String,
    pub offset: u64,
}

/// Result of auditing one machine.
pub struct Audit {
    pub findings: Vec<Finding>,
    pub nested: Vec<Nested>,
    /// Whether a call outside the allowlist (or a dynamic import/call) was seen: a parse
    /// failure after it is `pickle-broken-after-call` (`rules::pickle_broken_after_call::arms`).
    pub dangerous: bool,
    /// The payloads evaluated so far: a memo reference to the same (decompressed) payload is
    /// reported again but not evaluated and kept again.
    payloads: rules::pickle_nested_payload::Payloads,
}

pub fn audit(m: &Machine<'_>, profile: Profile, site: &Site) -> Audit {
    let mut out = Audit {
        findings: Vec::new(),
        nested: Vec::new(),
        dangerous: false,
        payloads: Default::default(),
    };
    let mut called: HashSet<usize> = HashSet::new();
    for event in &m.events {
        match event {
            Event::Call { node } => {
                let Node::Obj(obj) = &*m.node(*node) else {
                    continue;
                };
                audit_call(m, profile, site, obj, &mut called, &mut out);
            }
            Event::DynamicImport {
                offset,
                module,
                name,
            } => out.findings.push(rules::pickle_dynamic_import::check(
                *offset,
                module.as_deref(),
                name.as_deref(),
                site,
            )),
            Event::Frame { offset, anomaly } => out
                .findings
                .push(rules::pickle_frame_anomaly::check(*offset, anomaly, site)),
            Event::Build {
                offset,
                target,
                attribute,
            } => out.findings.push(rules::pickle_attribute_injection::check(
                m, *offset, *target, attribute, site,
            )),
            _ => {}
        }
    }
    // Imports no call reached are still judged: the import alone runs module code.
    for (i, import) in m.imports.iter().enumerate() {
        if called.contains(&i) {
            continue;
        }
        let target = import_target(m, i);
        out.findings.extend(rules::pickle_unsafe_import::check(
            import, &target, profile, site,
        ));
    }
    out.dangerous = out
        .findings
        .iter()
        .any(rules::pickle_broken_after_call::arms);
    out
}

/// One finding per cause: findings of one pickle that differ only in where they are (the same
/// global called at 64 places, the same attribute planted on every object) become the first of
/// them with `occurrences` and the offsets of the next few (`also_at`).
pub fn group(findings: Vec<Finding>) -> Vec<Finding> {
    const SHOWN: usize = 5;
    let where_ = |f: &Finding| -> u64 {
        f.evidence
            .get("member_offset")
            .or_else(|| f.evidence.get("payload_offset"))
            .and_then(|o| o.parse().ok())
            .or(match f.location.span {
                Some(mlsec_core::Span::Bytes { offset, .. }) => Some(offset),
                _ => None,
            })
            .unwrap_or(0)
    };
    let mut out: Vec<(Finding, Vec<u64>)> = Vec::new();
    let mut index: HashMap<(&'static str, Severity, String, Option<Pointer>), usize> =
        HashMap::new();
    for f in findings {
        let key = (
            f.rule.id,
            f.severity,
            f.message.clone(),
            f.location.pointer.clone(),
        );
        match index.get(&key) {
            Some(&i) => out[i].1.push(where_(&f)),
            None => {
                index.insert(key, out.len());
                out.push((f, Vec::new()));
            }
        }
    }
    let grouped = out
        .into_iter()
        .map(|(f, more)| {
            if more.is_empty() {
                return f;
            }
            let shown: Vec<String> = more.iter().take(SHOWN).map(|o| format!("{o:#x}")).collect();
            f.with_evidence("occurrences", more.len() + 1)
                .with_evidence("also_at", shown.join(", "))
        })
        .collect();
    cap(grouped)
}

/// Findings of one rule one pickle lists; the rest are counted in one finding. A hostile
/// pickle can import 200,000 distinct names in 6 MB: listed one by one they took 1.6 GB and
/// 6 s to report. No genuine file reaches it: the real-world corpus (`cargo xtask realworld`,
/// 2,257 files) gives the same 574 findings with the cap as without.
pub const MAX_PER_RULE: usize = 256;

/// Keeps the [`MAX_PER_RULE`] most severe findings of each rule (in their order) and replaces
/// the rest with one finding as severe as the most severe of them, so the exit code and the
/// `--fail-on` gate are what the full list would give.
fn cap(findings: Vec<Finding>) -> Vec<Finding> {
    let mut per_rule: HashMap<&'static str, Vec<usize>> = HashMap::new();
    for (i, f) in findings.iter().enumerate() {
        per_rule.entry(f.rule.id).or_default().push(i);
    }
    if per_rule.values().all(|v| v.len() <= MAX_PER_RULE) {
        return findings;
    }
    let mut dropped = vec![false; findings.len()];
    for indices in per_rule.values_mut() {
        if indices.len() <= MAX_PER_RULE {
            continue;
        }
        // Most severe first; a stable sort keeps the stream's order among equals.
        indices.sort_by_key(|&i| std::cmp::Reverse(findings[i].severity));
        for &i in &indices[MAX_PER_RULE..] {
            dropped[i] = true;
        }
    }
    let mut out = Vec::new();
    let mut summaries: Vec<(Finding, usize)> = Vec::new();
    for (i, f) in findings.into_iter().enumerate() {
        if !dropped[i] {
            out.push(f);
            continue;
        }
        match summaries.iter_mut().find(|(s, _)| s.rule.id == f.rule.id) {
            Some((s, n)) => {
                *n += 1;
                s.severity = s.severity.max(f.severity);
            }
            None => summaries.push((f, 1)),
        }
    }
    for (first, n) in summaries {
        let message = format!(
            "{n} more `{}` findings in this pickle are not listed (past {MAX_PER_RULE}); the first: {}",
            first.rule.name, first.message
        );
        let mut summary = Finding::new(first.rule, first.location, message)
            .with_severity(first.severity)
            .with_evidence("not_listed", n);
        summary.remediation = first.remediation;
        out.push(summary);
    }
    out
}

/// A short description of a node for messages.
pub(crate) fn describe(m: &Machine<'_>, id: NodeId) -> String {
    match &*m.node(id) {
        Node::Global(i) => format!("imported `{}`", m.imports[*i].dotted()),
        Node::Obj(o) => format!("the result of calling {}", describe(m, o.callee)),
        Node::DynamicGlobal { offset } => format!("a dynamically imported name (at {offset:#x})"),
        Node::PersId { offset, .. } => format!("a persistent object (at {offset:#x})"),
        Node::Tuple(t) if t.len() == 2 => match m.str_of(t[1]) {
            Some(method) => format!("{}.{method}", describe(m, t[0])),
            None => "a computed value".into(),
        },
        _ => "a computed value".into(),
    }
}

/// A global a call finally reaches: its dotted name, module, and import offset.
pub(crate) struct Target {
    pub(crate) dotted: String,
    pub(crate) module: String,
    pub(crate) offset: u64,
}

fn import_target(m: &Machine<'_>, i: usize) -> Target {
    let import = &m.imports[i];
    let (module, _) = mlsec_pickle::fix_name(&import.module, &import.name);
    Target {
        dotted: import.dotted(),
        module: module.to_owned(),
        offset: import.offset,
    }
}

/// What a value is, as a callable: an import, an attribute of one reached by
/// `getattr(import, 'name')` (a dunder name stays `builtins.getattr`, which is dangerous), or
/// what a `functools.partial` wraps. Marks the imports it passes through as called.
fn value_target(
    m: &Machine<'_>,
    id: NodeId,
    called: &mut HashSet<usize>,
    depth: usize,
) -> Option<Target> {
    if depth > 8 {
        return None;
    }
    match &*m.node(id) {
        Node::Global(i) => {
            called.insert(*i);
            Some(import_target(m, *i))
        }
        Node::Obj(o) => {
            let inner = value_target(m, o.callee, called, depth + 1)?;
            let args = m.seq_of(o.args).unwrap_or(&[]);
            match inner.dotted.as_str() {
                "builtins.getattr" => {
                    let attr = args.get(1).and_then(|&a| m.str_of(a))?;
                    if attr.contains("__") {
                        return Some(inner);
                    }
                    let base = value_target(m, *args.first()?, called, depth + 1)?;
                    Some(Target {
                        dotted: format!("{}.{attr}", base.dotted),
                        module: base.module,
                        offset: base.offset,
                    })
                }
                d if policy::is_forwarder(d) => {
                    value_target(m, *args.first()?, called, depth + 1).or(Some(inner))
                }
                _ => None,
            }
        }
        _ => None,
    }
}

fn audit_call(
    m: &Machine<'_>,
    profile: Profile,
    site: &Site,
    obj: &mlsec_pickle::Obj,
    called: &mut HashSet<usize>,
    out: &mut Audit,
) {
    let args = m.seq_of(obj.args).unwrap_or(&[]);
    // Resolve the callable: an import (through wrappers and getattr), an import's method, or
    // something computed.
    let target = match &*m.node(obj.callee) {
        Node::Tuple(t) if obj.kind == CallKind::Method && t.len() == 2 => {
            value_target(m, t[0], called, 0).map(|base| Target {
                dotted: format!("{}.{}", base.dotted, m.str_of(t[1]).unwrap_or("?")),
                ..base
            })
        }
        _ => value_target(m, obj.callee, called, 0).map(|t| {
            let wrapped = policy::is_forwarder(&t.dotted)
                .then(|| args.first().and_then(|&f| value_target(m, f, called, 0)))
                .flatten();
            // `getattr(import, 'name')` is reading `import.name`.
            let attribute = (t.dotted == "builtins.getattr")
                .then(|| {
                    let attr = args.get(1).and_then(|&a| m.str_of(a))?;
                    let base = value_target(m, *args.first()?, called, 0)?;
                    (!attr.contains("__")).then(|| Target {
                        dotted: format!("{}.{attr}", base.dotted),
                        ..base
                    })
                })
                .flatten();
            wrapped.or(attribute).unwrap_or(t)
        }),
    };
    let Some(target) = target else {
        out.findings
            .extend(rules::pickle_indirect_call::check(m, obj, site));
        return;
    };
    let Some(f) = rules::pickle_unsafe_call::check(m, obj, &target, profile, site) else {
        return;
    };
    out.findings.push(f);
    if let Some(loader) = policy::nested_loader(&target.dotted)
        && let Some((f, bytes)) =
            rules::pickle_nested_payload::check(m, obj, &target.dotted, site, &mut out.payloads)
    {
        out.findings.push(f);
        if let Some(bytes) = bytes {
            out.nested.push(Nested {
                bytes,
                loader,
                callable: target.dotted,
                offset: obj.offset,
            });
        }
    }
}

/// Bytes all nested payloads of one pickle may hold, and one zlib payload may inflate to.
pub(crate) const MAX_NESTED: usize = 256 << 20;

/// Evaluates an expression that builds bytes, without running anything: literals,
/// `_codecs.encode(str, 'latin1')`, `io.BytesIO(b)`, `zlib.decompress(b)`,
/// `base64.b64decode(b)`, `bytes(...)`.
pub fn eval_bytes(m: &Machine<'_>, id: NodeId, depth: usize) -> Option<Vec<u8>> {
    if depth > 8 {
        return None;
    }
    match &*m.node(id) {
        Node::Bytes(_) | Node::ByteArray(_) => m.bytes_of(id).map(<[u8]>::to_vec),
        Node::Str(s) => Some(s.chars().map(|c| c as u32 as u8).collect()),
        Node::Obj(o) => {
            let name = m.global_name(o.callee)?;
            let args = m.seq_of(o.args)?;
            let first = *args.first()?;
            match name.as_str() {
                "_codecs.encode" | "codecs.encode" => {
                    let s = m.str_of(first)?;
                    let enc = args.get(1).and_then(|&e| m.str_of(e)).unwrap_or("utf-8");
                    if enc.starts_with("latin") || enc == "iso-8859-1" {
                        Some(s.chars().map(|c| c as u32 as u8).collect())
                    } else {
                        Some(s.as_bytes().to_vec())
                    }
                }
                "io.BytesIO" | "builtins.bytes" | "builtins.bytearray" | "_io.BytesIO" => {
                    eval_bytes(m, first, depth + 1)
                }
                "zlib.decompress" => {
                    let b = eval_bytes(m, first, depth + 1)?;
                    miniz_oxide::inflate::decompress_to_vec_zlib_with_limit(&b, MAX_NESTED).ok()
                }
                "base64.b64decode" | "base64.standard_b64decode" | "binascii.a2b_base64" => {
                    let b = eval_bytes(m, first, depth + 1)?;
                    mlsec_util::base64::decode_lenient(&b)
                }
                _ => None,
            }
        }
        _ => None,
    }
}
