//! Keras model configs (`config.json` of a `.keras` archive, the `model_config` and
//! `training_config` attributes of a Keras `.h5` file): Lambda layers, serialized functions
//! and modules outside Keras, found by walking the whole config (nested models,
//! `TimeDistributed`/`Bidirectional` wrappers, functional graphs). One walker serves both
//! containers, so the same rules apply to both (`rules::keras_*::check`, called on every
//! object of the config).

use mlsec_core::{Finding, Pointer};
use serde_json::Value;

use crate::rules;
use crate::site::{Locate, Site};

const MAX_DEPTH: usize = 128;

/// Where a config came from: an archive member (`.keras`) or an HDF5 attribute (`.h5`).
#[derive(Debug, Clone, Copy)]
pub enum Source<'a> {
    Member(&'a str),
    /// Attribute name and file offset of its message.
    Attribute(&'a str, u64),
}

pub fn check(config: &Value, site: &Site, source: Source<'_>, out: &mut Vec<Finding>) {
    let cx = Cx { site, source };
    walk(config, "", &cx, out, 0);
}

/// One config being walked: where it is, for the findings of the rules.
pub(crate) struct Cx<'a> {
    site: &'a Site,
    source: Source<'a>,
}

impl Cx<'_> {
    /// A finding about the object at `path` (`$` for the root) of this config.
    pub(crate) fn finding(
        &self,
        rule: &'static mlsec_core::Rule,
        path: &str,
        message: String,
    ) -> Finding {
        let offset = match self.source {
            Source::Member(_) => 0,
            Source::Attribute(_, o) => o,
        };
        let mut f = self.site.finding(rule, offset, message);
        f.location.pointer = Some(Pointer::Field(if path.is_empty() {
            "$".into()
        } else {
            path.to_owned()
        }));
        match self.source {
            Source::Member(m) => f.with_evidence("member", m),
            Source::Attribute(a, _) => f.with_evidence("attribute", a),
        }
    }
}

fn walk(v: &Value, path: &str, cx: &Cx<'_>, out: &mut Vec<Finding>, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    match v {
        Value::Object(map) => {
            out.extend(rules::keras_lambda_layer::check(map, path, cx));
            out.extend(rules::keras_external_module::check(map, path, cx));
            for (k, child) in map {
                walk(child, &format!("{path}.{k}"), cx, out, depth + 1);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                walk(child, &format!("{path}[{i}]"), cx, out, depth + 1);
            }
        }
        _ => {}
    }
}
