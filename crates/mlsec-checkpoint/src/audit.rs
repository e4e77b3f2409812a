//! Turns what the pickle machine recorded into findings, against the format's allowlist.

use std::collections::{HashMap, HashSet};

use mlsec_core::{Finding, Location, Pointer, Severity};
use mlsec_pickle::{CallKind, Machine, Node, NodeId};

use crate::policy::{self, Profile};
use crate::rules;

/// Where the bytes being analysed sit: the file, the archive member, and whether offsets in
/// the buffer are file offsets (`mapped`) or relative to the member/payload at `anchor`.
#[derive(Debug, Clone)]
pub struct Site {
    pub file: String,
    pub member: Option<String>,
    pub mapped: bool,
    /// File offset used as the location when offsets are not file offsets.
    pub anchor: u64,
    /// Offsets of the outer calls that handed this payload over, outermost first.
    pub nested: Vec<u64>,
}

impl Site {
    pub fn file(file: &str) -> Site {
        Site {
            file: file.to_owned(),
            member: None,
            mapped: true,
            anchor: 0,
            nested: Vec::new(),
        }
    }

    /// A finding at `offset` of this site's buffer.
    pub fn finding(
        &self,
        rule: &'static mlsec_core::Rule,
        offset: u64,
        message: String,
    ) -> Finding {
        let mut loc = Location::file(&self.file);
        if let Some(m) = &self.member {
            loc = loc.with_pointer(Pointer::Member(m.clone()));
        }
        let span = if self.mapped { offset } else { self.anchor };
        let mut f = Finding::new(rule, loc.at_bytes(span, 1), message);
        if !self.mapped {
            f = f.with_evidence(
                if self.nested.is_empty() {
                    "member_offset"
                } else {
                    "payload_offset"
                },
                offset,
            );
        }
        if !self.nested.is_empty() {
            let chain: Vec<String> = self.nested.iter().map(|o| format!("{o:#x}")).collect();
            f = f.with_evidence("nested_in", chain.join(" > "));
        }
        f
    }

    pub fn span(&self, offset: u64) -> u64 {
        if self.mapped { offset } else { self.anchor }
    }
}

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
    /// Whether a call outside the allowlist (or a dynamic import/call) was seen.
    pub dangerous: bool,
    /// Argument nodes already evaluated, and whether they gave a payload: a memo reference to
    /// the same (decompressed) payload is reported again but not evaluated and kept again.
    payload_args: HashMap<NodeId, bool>,
    /// Bytes held in `nested`.
    nested_bytes: usize,
}

/// The profile a raw pickle's imports suggest.
pub fn infer_profile(m: &Machine<'_>) -> Profile {
    if m.imports.iter().any(|i| i.module.starts_with("joblib")) {
        Profile::Joblib
    } else if m
        .imports
        .iter()
        .any(|i| i.module == "torch" || i.module.starts_with("torch."))
    {
        Profile::Torch
    } else {
        Profile::Generic
    }
}

pub fn audit(m: &Machine<'_>, profile: Profile, site: &Site) -> Audit {
    let mut out = Audit {
        findings: Vec::new(),
        nested: Vec::new(),
        dangerous: false,
        payload_args: HashMap::new(),
        nested_bytes: 0,
    };
    let mut called: HashSet<usize> = HashSet::new();
    for event in &m.events {
        match event {
            mlsec_pickle::Event::Call { node } => {
                let Node::Obj(obj) = m.node(*node) else {
                    continue;
                };
                audit_call(m, profile, site, obj, &mut called, &mut out);
            }
            mlsec_pickle::Event::DynamicImport {
                offset,
                module,
                name,
            } => {
                out.dangerous = true;
                out.findings.push(
                    site.finding(
                        &rules::PICKLE_DYNAMIC_IMPORT,
                        *offset,
                        "STACK_GLOBAL imports a name computed by the stream".into(),
                    )
                    .with_evidence("opcode", "STACK_GLOBAL")
                    .with_evidence("module", module.as_deref().unwrap_or("<computed>"))
                    .with_evidence("name", name.as_deref().unwrap_or("<computed>")),
                );
            }
            mlsec_pickle::Event::Frame { offset, anomaly } => {
                out.findings.push(
                    site.finding(
                        &rules::PICKLE_FRAME_ANOMALY,
                        *offset,
                        format!("pickle framing no pickler writes: {anomaly}"),
                    )
                    .with_evidence("opcode", "FRAME"),
                );
            }
            mlsec_pickle::Event::Build {
                offset,
                target,
                attribute,
            } => {
                out.dangerous = true;
                let target_name = describe(m, *target);
                out.findings.push(
                    site.finding(
                        &rules::PICKLE_ATTRIBUTE_INJECTION,
                        *offset,
                        format!("BUILD assigns `{attribute}` on {target_name}"),
                    )
                    .with_evidence("opcode", "BUILD")
                    .with_evidence("attribute", attribute)
                    .with_evidence("target", target_name),
                );
            }
            _ => {}
        }
    }
    for (i, import) in m.imports.iter().enumerate() {
        if called.contains(&i) {
            continue;
        }
        let t = import_target(m, i);
        let dotted = t.dotted;
        if policy::allowed(profile, &dotted) {
            continue;
        }
        let severity = policy::grade(&dotted, Some(&t.module), false);
        if severity >= Severity::High {
            out.dangerous = true;
        }
        out.findings.push(
            site.finding(
                &rules::PICKLE_UNSAFE_IMPORT,
                import.offset,
                format!(
                    "pickle imports `{dotted}`, which is not known to be safe in a {} file",
                    profile.name()
                ),
            )
            .with_severity(severity)
            .with_evidence("callable", &dotted)
            .with_evidence("opcode", import.opcode)
            .with_evidence("allowlist", profile.name()),
        );
    }
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
    out.into_iter()
        .map(|(f, more)| {
            if more.is_empty() {
                return f;
            }
            let shown: Vec<String> = more.iter().take(SHOWN).map(|o| format!("{o:#x}")).collect();
            f.with_evidence("occurrences", more.len() + 1)
                .with_evidence("also_at", shown.join(", "))
        })
        .collect()
}

/// A short description of a node for messages.
fn describe(m: &Machine<'_>, id: NodeId) -> String {
    match m.node(id) {
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
struct Target {
    dotted: String,
    module: String,
    offset: u64,
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
    match m.node(id) {
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
    let opcode = obj.kind.opcode();
    let args = m.seq_of(obj.args).unwrap_or(&[]);
    // Resolve the callable: an import (through wrappers and getattr), an import's method, or
    // something computed.
    let target = match m.node(obj.callee) {
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
    let Some(Target {
        dotted,
        module,
        offset: import_offset,
    }) = target
    else {
        indirect(m, site, obj, out);
        return;
    };
    // `operator.attrgetter('a.b')` only reads plain attributes.
    let plain_attrgetter = dotted == "operator.attrgetter"
        && !args.is_empty()
        && args
            .iter()
            .all(|&a| m.str_of(a).is_some_and(|s| !s.contains("__")));
    if obj.kind != CallKind::Method
        && obj.kind != CallKind::Build
        && (policy::allowed(profile, &dotted) || plain_attrgetter)
    {
        return;
    }
    let severity = policy::grade(&dotted, Some(&module), true);
    // A third-party class (information) does not make a broken stream malicious.
    out.dangerous |= severity >= Severity::High;
    let mut f = site
        .finding(
            &rules::PICKLE_UNSAFE_CALL,
            obj.offset,
            if severity == Severity::Info {
                format!(
                    "pickle calls `{dotted}` ({opcode}) from the third-party package `{}`, which loading needs installed",
                    policy::package(&dotted).0
                )
            } else {
                format!(
                    "pickle calls `{dotted}` ({opcode}), which is not known to be safe in a {} file",
                    profile.name()
                )
            },
        )
        .with_severity(severity)
        .with_evidence("callable", &dotted)
        .with_evidence("opcode", opcode)
        .with_evidence("import_offset", site.span(import_offset))
        .with_evidence("allowlist", profile.name());
    if let Some(entry) = policy::denied_parts(&dotted, Some(&module)) {
        f = f.with_evidence("denylist", entry);
    } else if severity == Severity::Info {
        f = f.with_evidence("package", policy::package(&dotted).0);
    }
    if let Some(arg) = first_str_arg(m, obj.args) {
        f = f.with_evidence("argument", arg);
    }
    out.findings.push(f);
    if let Some(loader) = policy::nested_loader(&dotted) {
        let Some(arg) = m.seq_of(obj.args).and_then(|a| a.first().copied()) else {
            return;
        };
        // Each payload is evaluated once, and all of them together hold at most MAX_NESTED
        // bytes: a zlib bomb referenced a thousand times through the memo is one payload.
        let why = match out.payload_args.get(&arg) {
            Some(false) => return,
            Some(true) => Some("the same payload as an earlier call".to_owned()),
            None if out.nested_bytes >= MAX_NESTED => Some(format!(
                "not evaluated: the nested payloads already hold {} bytes",
                out.nested_bytes
            )),
            None => None,
        };
        if let Some(why) = why {
            out.findings.push(
                site.finding(
                    &rules::PICKLE_NESTED_PAYLOAD,
                    obj.offset,
                    format!("bytes handed to `{dotted}` form a nested payload ({why})"),
                )
                .with_evidence("callable", &dotted),
            );
            return;
        }
        let bytes = eval_bytes(m, arg, 0);
        out.payload_args.insert(arg, bytes.is_some());
        let Some(bytes) = bytes else {
            return;
        };
        out.nested_bytes += bytes.len();
        out.findings.push(
            site.finding(
                &rules::PICKLE_NESTED_PAYLOAD,
                obj.offset,
                format!(
                    "{} bytes handed to `{dotted}` form a nested payload",
                    bytes.len()
                ),
            )
            .with_evidence("callable", &dotted)
            .with_evidence("payload_bytes", bytes.len()),
        );
        out.nested.push(Nested {
            bytes,
            loader,
            callable: dotted,
            offset: obj.offset,
        });
    }
}

fn indirect(m: &Machine<'_>, site: &Site, obj: &mlsec_pickle::Obj, out: &mut Audit) {
    // Calling a plain value (a string, a number) fails at load time; nothing runs.
    if !matches!(
        m.node(obj.callee),
        Node::Obj(_) | Node::DynamicGlobal { .. } | Node::PersId { .. } | Node::Tuple(_)
    ) {
        return;
    }
    out.dangerous = true;
    let what = describe(m, obj.callee);
    out.findings.push(
        site.finding(
            &rules::PICKLE_INDIRECT_CALL,
            obj.offset,
            format!("pickle calls {what} ({})", obj.kind.opcode()),
        )
        .with_evidence("callable", what)
        .with_evidence("opcode", obj.kind.opcode()),
    );
}

fn first_str_arg(m: &Machine<'_>, args: NodeId) -> Option<String> {
    let first = *m.seq_of(args)?.first()?;
    let s = m.str_of(first)?;
    Some(s.chars().take(120).collect())
}

const MAX_NESTED: usize = 256 << 20;

/// Evaluates an expression that builds bytes, without running anything: literals,
/// `_codecs.encode(str, 'latin1')`, `io.BytesIO(b)`, `zlib.decompress(b)`,
/// `base64.b64decode(b)`, `bytes(...)`.
pub fn eval_bytes(m: &Machine<'_>, id: NodeId, depth: usize) -> Option<Vec<u8>> {
    if depth > 8 {
        return None;
    }
    match m.node(id) {
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
