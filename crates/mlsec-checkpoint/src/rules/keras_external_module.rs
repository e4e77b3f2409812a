use mlsec_core::Finding;
use serde_json::{Map, Value};

use crate::keras::Cx;

mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags `module` entries in a Keras model config that name a module outside Keras itself.
    /// ## Why is this bad?
    /// Keras imports the named module to deserialize the object, which runs that module's code; an
    /// attacker who controls the config chooses what is imported.
    /// ## Remediation
    /// Check that every referenced module is a dependency you trust; prefer built-in layers.
    pub static KERAS_EXTERNAL_MODULE = "CKPT051", "keras-external-module", Medium;
}

/// One object of a Keras config at `path` whose `module` is outside `keras`.
pub(crate) fn check(map: &Map<String, Value>, path: &str, cx: &Cx<'_>) -> Option<Finding> {
    let module = map.get("module").and_then(Value::as_str)?;
    if module == "keras" || module.starts_with("keras.") {
        return None;
    }
    let class = map.get("class_name").and_then(Value::as_str).unwrap_or("");
    Some(
        cx.finding(
            &KERAS_EXTERNAL_MODULE,
            path,
            format!("config imports module `{module}`"),
        )
        .with_evidence("module", module)
        .with_evidence("class_name", class),
    )
}
