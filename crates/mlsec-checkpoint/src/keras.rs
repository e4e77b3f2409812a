//! Keras model configs (`config.json` of a `.keras` archive, the `model_config` and
//! `training_config` attributes of a Keras `.h5` file): Lambda layers, serialized functions
//! and modules outside Keras, found by walking the whole config (nested models,
//! `TimeDistributed`/`Bidirectional` wrappers, functional graphs). One walker serves both
//! containers, so the same rules apply to both.

use mlsec_core::{Finding, Pointer};
use serde_json::Value;

use crate::audit::Site;
use crate::rules;

const MAX_DEPTH: usize = 128;

/// Where a config came from: an archive member (`.keras`) or an HDF5 attribute (`.h5`).
#[derive(Debug, Clone, Copy)]
pub enum Source<'a> {
    Member(&'a str),
    /// Attribute name and file offset of its message.
    Attribute(&'a str, u64),
}

/// Whether a file is a Keras model saved as JSON (`model.to_json()`): an object with
/// `class_name` and `config`, and `keras_version` or `backend`. Only the first 64 KiB are looked
/// at for the keys; the whole file is parsed when they are there.
pub fn is_model_json(data: &[u8]) -> bool {
    let head = &data[..data.len().min(64 << 10)];
    let text = String::from_utf8_lossy(head);
    text.trim_start().starts_with('{')
        && text.contains("\"class_name\"")
        && text.contains("\"config\"")
        && (text.contains("\"keras_version\"") || text.contains("\"backend\""))
}

pub fn check(config: &Value, site: &Site, source: Source<'_>, out: &mut Vec<Finding>) {
    let cx = Cx { site, source };
    walk(config, "", &cx, out, 0);
}

struct Cx<'a> {
    site: &'a Site,
    source: Source<'a>,
}

fn finding(cx: &Cx<'_>, rule: &'static mlsec_core::Rule, path: &str, message: String) -> Finding {
    let offset = match cx.source {
        Source::Member(_) => 0,
        Source::Attribute(_, o) => o,
    };
    let mut f = cx.site.finding(rule, offset, message);
    f.location.pointer = Some(Pointer::Field(if path.is_empty() {
        "$".into()
    } else {
        path.to_owned()
    }));
    match cx.source {
        Source::Member(m) => f.with_evidence("member", m),
        Source::Attribute(a, _) => f.with_evidence("attribute", a),
    }
}

fn walk(v: &Value, path: &str, site: &Cx<'_>, out: &mut Vec<Finding>, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    match v {
        Value::Object(map) => {
            let class = map.get("class_name").and_then(Value::as_str).unwrap_or("");
            let layer = map
                .get("config")
                .and_then(|c| c.get("name"))
                .and_then(Value::as_str)
                .unwrap_or("");
            if class == "Lambda" {
                out.push(
                    finding(
                        site,
                        &rules::KERAS_LAMBDA_LAYER,
                        path,
                        format!("Lambda layer `{layer}` carries Python code"),
                    )
                    .with_evidence("class_name", class)
                    .with_evidence("layer", layer),
                );
            } else if class == "__lambda__"
                || map.get("function_type").and_then(Value::as_str) == Some("lambda")
            {
                out.push(
                    finding(
                        site,
                        &rules::KERAS_LAMBDA_LAYER,
                        path,
                        "serialized Python function in the model config".into(),
                    )
                    .with_evidence("class_name", class),
                );
            }
            if let Some(module) = map.get("module").and_then(Value::as_str)
                && !(module == "keras" || module.starts_with("keras."))
            {
                out.push(
                    finding(
                        site,
                        &rules::KERAS_EXTERNAL_MODULE,
                        path,
                        format!("config imports module `{module}`"),
                    )
                    .with_evidence("module", module)
                    .with_evidence("class_name", class),
                );
            }
            for (k, child) in map {
                walk(child, &format!("{path}.{k}"), site, out, depth + 1);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                walk(child, &format!("{path}[{i}]"), site, out, depth + 1);
            }
        }
        _ => {}
    }
}
