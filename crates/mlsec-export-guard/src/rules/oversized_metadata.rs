use mlsec_core::Finding;

use super::Cx;

/// `doc_string` values (model, graph, node) above this many bytes are flagged.
pub const MAX_TEXT_BYTES: usize = 4096;
/// A `metadata_props` entry above this many bytes is flagged, and so is the total above it.
/// Genuine exporters store label lists and vocabularies there: PaddleOCR's recognition
/// models keep their character dictionary in `character`, measured at 26,258 bytes (PP-OCRv4,
/// 6,623 characters, rapidocr-onnxruntime 1.4.4) and 74,955 bytes (PP-OCRv6, 18,708
/// characters, rapidocr 3.10.0), so the 4 KiB text limit is too low for metadata; 256 KiB is
/// over three times the largest.
pub const MAX_METADATA_BYTES: usize = 256 * 1024;

mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags `doc_string` fields over 4 KiB, and `metadata_props` entries (or all of them
    /// together) over 256 KiB.
    ///
    /// Metadata gets the larger limit because genuine exporters keep label lists there:
    /// PaddleOCR's recognition models store their character dictionary in `character`
    /// (26,258 bytes for PP-OCRv4's 6,623 characters in rapidocr-onnxruntime 1.4.4, 74,955
    /// bytes for PP-OCRv6's 18,708 in rapidocr 3.10.0); 256 KiB is over three times the
    /// largest.
    /// ## Why is this bad?
    /// Metadata is not executed, so large values are where payloads (pickles, scripts, exfiltrated
    /// data) are smuggled through model registries that only check the graph.
    /// ## Remediation
    /// Keep metadata short; store documentation next to the model, not inside it.
    pub static OVERSIZED_METADATA = "EXPG018", "oversized-metadata", Low;
}

pub(crate) fn check(cx: &Cx, out: &mut Vec<Finding>) {
    for scope in &cx.scopes {
        for n in cx.nodes_of(scope) {
            let len = n.node.doc_string().len();
            if len > MAX_TEXT_BYTES {
                out.push(oversized(
                    cx,
                    format!("{}.doc_string", n.path()),
                    len,
                    "node doc_string",
                ));
            }
        }
        if let Some(g) = scope.graph
            && g.doc_string().len() > MAX_TEXT_BYTES
        {
            out.push(oversized(
                cx,
                format!("{}.doc_string", scope.path),
                g.doc_string().len(),
                "graph doc_string",
            ));
        }
    }
    check_metadata_props(cx, out);
    let model_doc = cx.model.doc_string().len();
    if model_doc > MAX_TEXT_BYTES {
        out.push(oversized(
            cx,
            "doc_string".to_owned(),
            model_doc,
            "model doc_string",
        ));
    }
}

fn check_metadata_props(cx: &Cx, out: &mut Vec<Finding>) {
    let props = &cx.model.metadata_props;
    let mut total = 0usize;
    for (i, p) in props.iter().enumerate() {
        let len = p.key().len() + p.value().len();
        total += len;
        if len > MAX_METADATA_BYTES {
            out.push(
                oversized(cx, format!("metadata_props[{i}]"), len, "metadata entry")
                    .with_evidence("limit", MAX_METADATA_BYTES)
                    .with_evidence("key", p.key().chars().take(64).collect::<String>()),
            );
        }
    }
    // One cause, one finding: the total only when no single entry is already flagged.
    let entry_flagged = props
        .iter()
        .any(|p| p.key().len() + p.value().len() > MAX_METADATA_BYTES);
    if total > MAX_METADATA_BYTES && !entry_flagged {
        out.push(
            oversized(
                cx,
                "metadata_props".to_owned(),
                total,
                "metadata_props in total",
            )
            .with_evidence("total_limit", MAX_METADATA_BYTES),
        );
    }
}

fn oversized(cx: &Cx, path: String, len: usize, what: &str) -> Finding {
    Finding::new(
        &OVERSIZED_METADATA,
        cx.field_at(path),
        format!("{what} is {len} bytes"),
    )
    .with_evidence("bytes", len)
    .with_evidence("limit", MAX_TEXT_BYTES)
}
