//! Keras model configs (`config.json` of a `.keras` archive): Lambda layers, serialized
//! functions and modules outside Keras, found by walking the whole config (nested models,
//! `TimeDistributed`/`Bidirectional` wrappers, functional graphs).

use mlsec_core::{Finding, Pointer};
use serde_json::Value;

use crate::audit::Site;
use crate::rules;

const MAX_DEPTH: usize = 128;

pub fn check(config: &Value, site: &Site, out: &mut Vec<Finding>) {
    walk(config, "", site, out, 0);
}

fn finding(site: &Site, rule: &'static mlsec_core::Rule, path: &str, message: String) -> Finding {
    let mut f = site.finding(rule, 0, message);
    f.location.pointer = Some(Pointer::Field(if path.is_empty() {
        "$".into()
    } else {
        path.to_owned()
    }));
    f.with_evidence("member", site.member.as_deref().unwrap_or("config.json"))
}

fn walk(v: &Value, path: &str, site: &Site, out: &mut Vec<Finding>, depth: usize) {
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
