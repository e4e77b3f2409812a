use mlsec_core::Finding;
use serde_json::{Map, Value};

use crate::keras::Cx;

mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags `Lambda` layers and serialized Python functions (`__lambda__`, bytecode in `function`
    /// configs) anywhere in a Keras model config, including nested models and wrappers such as
    /// `TimeDistributed` and `Bidirectional`.
    /// ## Why is this bad?
    /// A Lambda layer carries Python bytecode that runs when the model is loaded with
    /// `safe_mode=False` or called; it is the Keras equivalent of a pickle payload.
    /// ## Remediation
    /// Replace Lambda layers with registered custom layers reviewed as code, and load with
    /// `safe_mode=True`.
    pub static KERAS_LAMBDA_LAYER = "CKPT050", "keras-lambda-layer", High;
}

/// One object of a Keras config at `path`: a `Lambda` layer, or a serialized Python function
/// (`__lambda__`, `function_type: "lambda"`).
pub(crate) fn check(map: &Map<String, Value>, path: &str, cx: &Cx<'_>) -> Option<Finding> {
    let class = map.get("class_name").and_then(Value::as_str).unwrap_or("");
    if class == "Lambda" {
        let layer = map
            .get("config")
            .and_then(|c| c.get("name"))
            .and_then(Value::as_str)
            .unwrap_or("");
        Some(
            cx.finding(
                &KERAS_LAMBDA_LAYER,
                path,
                format!("Lambda layer `{layer}` carries Python code"),
            )
            .with_evidence("class_name", class)
            .with_evidence("layer", layer),
        )
    } else if class == "__lambda__"
        || map.get("function_type").and_then(Value::as_str) == Some("lambda")
    {
        Some(
            cx.finding(
                &KERAS_LAMBDA_LAYER,
                path,
                "serialized Python function in the model config".into(),
            )
            .with_evidence("class_name", class),
        )
    } else {
        None
    }
}
