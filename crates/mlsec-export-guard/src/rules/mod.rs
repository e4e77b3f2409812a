//! The rules, one per file: each file holds the rule's declaration, its documentation and the
//! function that decides it.
//!
//! Lint rules are `fn check(&Cx, &mut Vec<Finding>)`: [`Cx`] is built once per model by
//! `lint` with everything the checks share (scopes, tensors, external data resolved once, the
//! inlined main graph with its dataflow facts and selections), and `lint` runs every entry of
//! [`LINT_CHECKS`] over it. The `diff` rules read a [`crate::diff::DiffCx`] through
//! [`DIFF_CHECKS`]. The provenance rules are raised in the middle of `verify`'s walk of the
//! chain; their files hold the decisions and the findings that `verify` calls.

use std::collections::{BTreeMap, BTreeSet};

use mlsec_core::{Finding, Location, Pointer, Rule};
use mlsec_onnx::LoadedModel;
use mlsec_onnx::proto::{ModelProto, NodeProto};
use mlsec_onnx::tensor::DataError;
use mlsec_onnx::wire::UnknownField;

use crate::dataflow::Facts;
use crate::diff::DiffCx;
use crate::external::External;
use crate::model::{self, Flat, FlatNode, Scope, TensorRef};
use crate::ops;
use crate::selection::{self, Selection};

mod absurd_tensor_dims;
pub(crate) mod artifact_digest_mismatch;
mod constant_output_selection;
mod custom_domain_op;
mod data_dependent_control_flow;
mod data_location_mismatch;
mod dead_graph_elements;
mod external_data_bad_keys;
mod external_data_bad_range;
mod external_data_link;
mod external_data_missing;
mod external_data_path_escape;
mod graph_structure_changed;
mod input_conditioned_selection;
mod input_skip_to_output;
mod ir_version_newer;
mod magic_constant_comparison;
mod oversized_metadata;
pub(crate) mod provenance_chain_broken;
mod runtime_specific_domain;
mod training_artifacts;
mod unknown_operator;
mod unknown_proto_fields;
mod weights_changed;

pub use absurd_tensor_dims::{ABSURD_TENSOR_DIMS, MAX_ELEMENTS};
pub use artifact_digest_mismatch::ARTIFACT_DIGEST_MISMATCH;
pub use constant_output_selection::CONSTANT_OUTPUT_SELECTION;
pub use custom_domain_op::CUSTOM_DOMAIN_OP;
pub use data_dependent_control_flow::DATA_DEPENDENT_CONTROL_FLOW;
pub use data_location_mismatch::DATA_LOCATION_MISMATCH;
pub use dead_graph_elements::DEAD_GRAPH_ELEMENTS;
pub use external_data_bad_keys::EXTERNAL_DATA_BAD_KEYS;
pub use external_data_bad_range::EXTERNAL_DATA_BAD_RANGE;
pub use external_data_link::EXTERNAL_DATA_LINK;
pub use external_data_missing::EXTERNAL_DATA_MISSING;
pub use external_data_path_escape::EXTERNAL_DATA_PATH_ESCAPE;
pub use graph_structure_changed::GRAPH_STRUCTURE_CHANGED;
pub use input_conditioned_selection::INPUT_CONDITIONED_SELECTION;
pub use input_skip_to_output::INPUT_SKIP_TO_OUTPUT;
pub use ir_version_newer::IR_VERSION_NEWER;
pub use magic_constant_comparison::MAGIC_CONSTANT_COMPARISON;
pub use oversized_metadata::{MAX_METADATA_BYTES, MAX_TEXT_BYTES, OVERSIZED_METADATA};
pub use provenance_chain_broken::PROVENANCE_CHAIN_BROKEN;
pub use runtime_specific_domain::RUNTIME_SPECIFIC_DOMAIN;
pub use training_artifacts::TRAINING_ARTIFACTS;
pub use unknown_operator::UNKNOWN_OPERATOR;
pub use unknown_proto_fields::UNKNOWN_PROTO_FIELDS;
pub use weights_changed::WEIGHTS_CHANGED;

/// Every rule, in id order.
pub static ALL: &[&Rule] = &[
    &EXTERNAL_DATA_PATH_ESCAPE,
    &EXTERNAL_DATA_LINK,
    &EXTERNAL_DATA_MISSING,
    &EXTERNAL_DATA_BAD_RANGE,
    &EXTERNAL_DATA_BAD_KEYS,
    &DATA_LOCATION_MISMATCH,
    &CUSTOM_DOMAIN_OP,
    &RUNTIME_SPECIFIC_DOMAIN,
    &TRAINING_ARTIFACTS,
    &UNKNOWN_OPERATOR,
    &IR_VERSION_NEWER,
    &INPUT_CONDITIONED_SELECTION,
    &MAGIC_CONSTANT_COMPARISON,
    &CONSTANT_OUTPUT_SELECTION,
    &DATA_DEPENDENT_CONTROL_FLOW,
    &INPUT_SKIP_TO_OUTPUT,
    &DEAD_GRAPH_ELEMENTS,
    &OVERSIZED_METADATA,
    &ABSURD_TENSOR_DIMS,
    &UNKNOWN_PROTO_FIELDS,
    &ARTIFACT_DIGEST_MISMATCH,
    &PROVENANCE_CHAIN_BROKEN,
    &GRAPH_STRUCTURE_CHANGED,
    &WEIGHTS_CHANGED,
];

/// One lint check over one model.
pub(crate) type Check = fn(&Cx, &mut Vec<Finding>);

/// Every lint check with its rule, in id order. Each check pushes its findings in the order it
/// finds them; the report is sorted before it is rendered.
pub(crate) static LINT_CHECKS: &[(&Rule, Check)] = &[
    (&EXTERNAL_DATA_PATH_ESCAPE, external_data_path_escape::check),
    (&EXTERNAL_DATA_LINK, external_data_link::check),
    (&EXTERNAL_DATA_MISSING, external_data_missing::check),
    (&EXTERNAL_DATA_BAD_RANGE, external_data_bad_range::check),
    (&EXTERNAL_DATA_BAD_KEYS, external_data_bad_keys::check),
    (&DATA_LOCATION_MISMATCH, data_location_mismatch::check),
    (&CUSTOM_DOMAIN_OP, custom_domain_op::check),
    (&RUNTIME_SPECIFIC_DOMAIN, runtime_specific_domain::check),
    (&TRAINING_ARTIFACTS, training_artifacts::check),
    (&UNKNOWN_OPERATOR, unknown_operator::check),
    (&IR_VERSION_NEWER, ir_version_newer::check),
    (
        &INPUT_CONDITIONED_SELECTION,
        input_conditioned_selection::check,
    ),
    (&MAGIC_CONSTANT_COMPARISON, magic_constant_comparison::check),
    (&CONSTANT_OUTPUT_SELECTION, constant_output_selection::check),
    (
        &DATA_DEPENDENT_CONTROL_FLOW,
        data_dependent_control_flow::check,
    ),
    (&INPUT_SKIP_TO_OUTPUT, input_skip_to_output::check),
    (&DEAD_GRAPH_ELEMENTS, dead_graph_elements::check),
    (&OVERSIZED_METADATA, oversized_metadata::check),
    (&ABSURD_TENSOR_DIMS, absurd_tensor_dims::check),
    (&UNKNOWN_PROTO_FIELDS, unknown_proto_fields::check),
];

/// One check of `diff` over two linted models.
pub(crate) type DiffCheck = fn(&DiffCx, &mut Vec<Finding>);

/// Every `diff` check with its rule.
pub(crate) static DIFF_CHECKS: &[(&Rule, DiffCheck)] = &[
    (&GRAPH_STRUCTURE_CHANGED, graph_structure_changed::check),
    (&WEIGHTS_CHANGED, weights_changed::check),
];

/// The rules `verify` raises while it walks a chain (see their files).
#[cfg(test)]
static VERIFY_RULES: &[&Rule] = &[&ARTIFACT_DIGEST_MISMATCH, &PROVENANCE_CHAIN_BROKEN];

/// What a lint check sees: one decoded model and the analyses the checks share, each computed
/// once.
pub(crate) struct Cx<'a> {
    /// The file name used in findings.
    pub display: &'a str,
    pub model: &'a ModelProto,
    /// Every graph scope, main graph first (see [`model::scopes`]).
    pub scopes: Vec<Scope<'a>>,
    /// `(domain, name)` of the model-local functions: a node calling one is checked inside the
    /// function, not at the call.
    pub local_functions: BTreeSet<(&'a str, &'a str)>,
    /// Opset version per domain (`""` for the default domain).
    pub imports: BTreeMap<String, i64>,
    /// Every tensor of every scope.
    pub tensors: Vec<TensorRef<'a>>,
    /// The external data references of `tensors`, parsed and resolved.
    pub external: External,
    /// The inlined main graph and its dataflow, when the model has a main graph.
    pub graph: Option<GraphCx<'a>>,
    /// Fields the ONNX schema does not define (empty when only the decoded model was given).
    pub unknown_fields: &'a [UnknownField],
}

/// The inlined main graph with what the backdoor heuristics share.
pub(crate) struct GraphCx<'a> {
    pub flat: Flat<'a>,
    pub facts: Facts,
    /// Per node of `flat`: what it selects between, for `Where`, `If` and soft multiplexers in
    /// the standard domain.
    pub selections: Vec<Option<Selection>>,
}

/// A node of a scope, as the node-level checks see it.
pub(crate) struct ScopeNode<'s, 'a> {
    pub scope: &'s Scope<'a>,
    pub index: usize,
    pub node: &'a NodeProto,
}

impl ScopeNode<'_, '_> {
    /// Message path of the node, e.g. `graph.node[3]`.
    pub fn path(&self) -> String {
        format!("{}.node[{}]", self.scope.path, self.index)
    }
}

impl<'a> Cx<'a> {
    pub fn new(
        loaded: &'a LoadedModel,
        unknown_fields: &'a [UnknownField],
        display: &'a str,
    ) -> Self {
        let model = &loaded.model;
        let scopes = model::scopes(model);
        let tensors = model::tensors(&scopes);
        let external = External::resolve(&tensors, &loaded.dir);
        let graph = Flat::build(model).map(|flat| {
            let facts = Facts::compute(&flat);
            let selections = selection::selections(&flat, &facts);
            GraphCx {
                flat,
                facts,
                selections,
            }
        });
        Cx {
            display,
            model,
            local_functions: model
                .functions
                .iter()
                .map(|fun| (fun.domain(), fun.name()))
                .collect(),
            imports: opset_imports(model),
            scopes,
            tensors,
            external,
            graph,
            unknown_fields,
        }
    }

    /// A location in the model file.
    pub fn at(&self, pointer: Pointer) -> Location {
        Location::file(self.display).with_pointer(pointer)
    }

    /// A location at a node, by message path.
    pub fn node_at(&self, path: &str) -> Location {
        self.at(Pointer::Node(path.to_owned()))
    }

    /// A location at a field, by message path.
    pub fn field_at(&self, path: impl Into<String>) -> Location {
        self.at(Pointer::Field(path.into()))
    }

    /// Every node of every scope that is not a call of a model-local function, scope by scope.
    pub fn scope_nodes(&self) -> impl Iterator<Item = ScopeNode<'_, 'a>> {
        self.scopes
            .iter()
            .flat_map(move |scope| self.nodes_of(scope))
    }

    /// The nodes of one scope that are not calls of a model-local function.
    pub fn nodes_of<'s>(&'s self, scope: &'s Scope<'a>) -> impl Iterator<Item = ScopeNode<'s, 'a>> {
        scope
            .nodes
            .iter()
            .enumerate()
            .filter(move |(_, node)| {
                !self
                    .local_functions
                    .contains(&(node.domain(), node.op_type()))
            })
            .map(move |(index, node)| ScopeNode { scope, index, node })
    }

    /// A location at a tensor: its name, or its message path when it has none.
    pub fn tensor_at(&self, r: &TensorRef<'_>) -> Location {
        let name = r.tensor.name();
        self.at(Pointer::Tensor(if name.is_empty() {
            r.path.clone()
        } else {
            name.to_owned()
        }))
    }

    /// The version of the default opset, if declared.
    pub fn default_opset(&self) -> Option<i64> {
        self.imports.get("").copied()
    }
}

impl<'a> GraphCx<'a> {
    /// The nodes the backdoor heuristics look at: standard-domain nodes of the inlined graph,
    /// with their index.
    pub fn std_nodes(&self) -> impl Iterator<Item = (usize, &FlatNode<'a>)> {
        self.flat
            .nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| ops::normal_domain(n.node.domain()).is_empty())
    }
}

/// One finding per external data location that failed to resolve with a problem `rule`
/// reports: links are EXPG002's, missing or unreadable files EXPG003's, every other escape
/// EXPG001's (a location that is only not normalised still resolves; EXPG001 reports it per
/// tensor).
pub(crate) fn unresolved_locations(cx: &Cx, rule: &'static Rule, out: &mut Vec<Finding>) {
    for (location, file) in &cx.external.files {
        let Err(problem) = &file.resolved else {
            continue;
        };
        let reported_by: &Rule = match problem {
            DataError::Symlink | DataError::HardLink(_) => &EXTERNAL_DATA_LINK,
            DataError::Missing(_) | DataError::NotAFile | DataError::Io(_) => {
                &EXTERNAL_DATA_MISSING
            }
            DataError::NotNormalised => continue,
            _ => &EXTERNAL_DATA_PATH_ESCAPE,
        };
        if reported_by.id != rule.id {
            continue;
        }
        let first = &cx.tensors[file.users[0]].path;
        out.push(
            Finding::new(
                rule,
                cx.field_at(first.clone()),
                format!(
                    "external data location {location:?}: {problem} ({} tensor(s))",
                    file.users.len()
                ),
            )
            .with_evidence("location", location)
            .with_evidence("tensors", file.users.len())
            .with_evidence("first_tensor", first),
        );
    }
}

/// Opset version per domain (`""` for the default domain).
pub(crate) fn opset_imports(model: &ModelProto) -> BTreeMap<String, i64> {
    model
        .opset_import
        .iter()
        .map(|o| (ops::normal_domain(o.domain()).to_owned(), o.version()))
        .collect()
}

/// The node's name as shown in messages: "`name` " (with the space), or nothing.
pub(crate) fn node_label(node: &NodeProto) -> String {
    match node.name() {
        "" => String::new(),
        name => format!("`{name}` "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every rule is decided in exactly one place: the lint table, the diff table, or `verify`.
    #[test]
    fn every_rule_is_checked_once() {
        let mut checked: Vec<&str> = LINT_CHECKS
            .iter()
            .map(|(r, _)| r.id)
            .chain(DIFF_CHECKS.iter().map(|(r, _)| r.id))
            .chain(VERIFY_RULES.iter().map(|r| r.id))
            .collect();
        checked.sort_unstable();
        let mut all: Vec<&str> = ALL.iter().map(|r| r.id).collect();
        all.sort_unstable();
        assert_eq!(checked, all);
        for rule in ALL {
            assert!(rule.id.starts_with("EXPG"));
            assert!(
                rule.convention_errors().is_empty(),
                "{}: {:?}",
                rule.id,
                rule.convention_errors()
            );
        }
    }
}
