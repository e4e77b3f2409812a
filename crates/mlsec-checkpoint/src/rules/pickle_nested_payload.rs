use std::collections::HashMap;

use mlsec_core::Finding;
use mlsec_pickle::{Machine, NodeId, Obj};

use crate::audit::{MAX_NESTED, eval_bytes};
use crate::site::{Locate, Site};

mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags bytes handed to a loader inside the pickle (`pickle.loads`, `torch.load`,
    /// `marshal.loads`, `zlib.decompress`, ...); the nested payload is decoded and scanned too, and
    /// its findings are reported with its offset.
    /// ## Why is this bad?
    /// A second-stage payload inside a bytes literal is invisible to scanners that only read the
    /// outer stream.
    /// ## Remediation
    /// Treat the file as malicious: do not load it.
    pub static PICKLE_NESTED_PAYLOAD = "CKPT007", "pickle-nested-payload", Critical;
}

/// The payloads one pickle's audit has evaluated: each argument node once, and all of them
/// together at most [`MAX_NESTED`] bytes (a zlib bomb referenced a thousand times through the
/// memo is one payload).
#[derive(Debug, Default)]
pub(crate) struct Payloads {
    /// Argument nodes already evaluated, and whether they gave bytes.
    evaluated: HashMap<NodeId, bool>,
    /// Bytes of the payloads handed back so far.
    held: usize,
}

/// A reported call `obj` of `callable`, a loader of nested payloads
/// ([`crate::policy::nested_loader`]): its first argument, evaluated without running anything
/// ([`eval_bytes`]), is a payload. Returns the finding and, the first time an argument gives
/// bytes, the bytes to scan; a payload seen before, or one over the byte budget, is reported
/// without bytes; an argument that is not bytes is nothing.
pub(crate) fn check(
    m: &Machine<'_>,
    obj: &Obj,
    callable: &str,
    site: &Site,
    payloads: &mut Payloads,
) -> Option<(Finding, Option<Vec<u8>>)> {
    let arg = m.seq_of(obj.args).and_then(|a| a.first().copied())?;
    let why = match payloads.evaluated.get(&arg) {
        Some(false) => return None,
        Some(true) => Some("the same payload as an earlier call".to_owned()),
        None if payloads.held >= MAX_NESTED => Some(format!(
            "not evaluated: the nested payloads already hold {} bytes",
            payloads.held
        )),
        None => None,
    };
    if let Some(why) = why {
        let f = site
            .finding(
                &PICKLE_NESTED_PAYLOAD,
                obj.offset,
                format!("bytes handed to `{callable}` form a nested payload ({why})"),
            )
            .with_evidence("callable", callable);
        return Some((f, None));
    }
    let bytes = eval_bytes(m, arg, 0);
    payloads.evaluated.insert(arg, bytes.is_some());
    let bytes = bytes?;
    payloads.held += bytes.len();
    let f = site
        .finding(
            &PICKLE_NESTED_PAYLOAD,
            obj.offset,
            format!(
                "{} bytes handed to `{callable}` form a nested payload",
                bytes.len()
            ),
        )
        .with_evidence("callable", callable)
        .with_evidence("payload_bytes", bytes.len());
    Some((f, Some(bytes)))
}
