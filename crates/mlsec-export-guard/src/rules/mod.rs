//! One rule per file; the checks that report them live in `lint`, `provenance` and `diff`.

mod absurd_tensor_dims;
mod artifact_digest_mismatch;
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
mod provenance_chain_broken;
mod runtime_specific_domain;
mod training_artifacts;
mod unknown_operator;
mod unknown_proto_fields;
mod weights_changed;

pub use absurd_tensor_dims::ABSURD_TENSOR_DIMS;
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
pub use oversized_metadata::OVERSIZED_METADATA;
pub use provenance_chain_broken::PROVENANCE_CHAIN_BROKEN;
pub use runtime_specific_domain::RUNTIME_SPECIFIC_DOMAIN;
pub use training_artifacts::TRAINING_ARTIFACTS;
pub use unknown_operator::UNKNOWN_OPERATOR;
pub use unknown_proto_fields::UNKNOWN_PROTO_FIELDS;
pub use weights_changed::WEIGHTS_CHANGED;

/// Every rule, in id order.
pub static ALL: &[&mlsec_core::Rule] = &[
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
