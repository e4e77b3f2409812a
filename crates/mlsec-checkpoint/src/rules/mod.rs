//! One rule per file; `RULES` lists them all.
mod pickle_unsafe_call;
pub use pickle_unsafe_call::PICKLE_UNSAFE_CALL;
mod pickle_unsafe_import;
pub use pickle_unsafe_import::PICKLE_UNSAFE_IMPORT;
mod pickle_dynamic_import;
pub use pickle_dynamic_import::PICKLE_DYNAMIC_IMPORT;
mod pickle_indirect_call;
pub use pickle_indirect_call::PICKLE_INDIRECT_CALL;
mod pickle_attribute_injection;
pub use pickle_attribute_injection::PICKLE_ATTRIBUTE_INJECTION;
mod pickle_broken_after_call;
pub use pickle_broken_after_call::PICKLE_BROKEN_AFTER_CALL;
mod pickle_nested_payload;
pub use pickle_nested_payload::PICKLE_NESTED_PAYLOAD;
mod pickle_frame_anomaly;
pub use pickle_frame_anomaly::PICKLE_FRAME_ANOMALY;
mod zip_crc_mismatch;
pub use zip_crc_mismatch::ZIP_CRC_MISMATCH;
mod zip_header_mismatch;
pub use zip_header_mismatch::ZIP_HEADER_MISMATCH;
mod zip_duplicate_entry;
pub use zip_duplicate_entry::ZIP_DUPLICATE_ENTRY;
mod zip_entry_outside_prefix;
pub use zip_entry_outside_prefix::ZIP_ENTRY_OUTSIDE_PREFIX;
mod zip_case_variant;
pub use zip_case_variant::ZIP_CASE_VARIANT;
mod zip_prepended_data;
pub use zip_prepended_data::ZIP_PREPENDED_DATA;
mod zip_trailing_data;
pub use zip_trailing_data::ZIP_TRAILING_DATA;
mod zip_bomb;
pub use zip_bomb::ZIP_BOMB;
mod zip_reader_differential;
pub use zip_reader_differential::ZIP_READER_DIFFERENTIAL;
mod safetensors_header_anomaly;
pub use safetensors_header_anomaly::SAFETENSORS_HEADER_ANOMALY;
mod gguf_header_anomaly;
pub use gguf_header_anomaly::GGUF_HEADER_ANOMALY;
mod gguf_chat_template_injection;
pub use gguf_chat_template_injection::GGUF_CHAT_TEMPLATE_INJECTION;
mod tensor_out_of_bounds;
pub use tensor_out_of_bounds::TENSOR_OUT_OF_BOUNDS;
mod weight_non_finite;
pub use weight_non_finite::WEIGHT_NON_FINITE;
mod weight_above_threshold;
pub use weight_above_threshold::WEIGHT_ABOVE_THRESHOLD;
mod weight_outlier;
pub use weight_outlier::WEIGHT_OUTLIER;
mod fingerprint_missing_tensor;
pub use fingerprint_missing_tensor::FINGERPRINT_MISSING_TENSOR;
mod fingerprint_unexpected_tensor;
pub use fingerprint_unexpected_tensor::FINGERPRINT_UNEXPECTED_TENSOR;
mod fingerprint_renamed_tensor;
pub use fingerprint_renamed_tensor::FINGERPRINT_RENAMED_TENSOR;
mod fingerprint_shape_change;
pub use fingerprint_shape_change::FINGERPRINT_SHAPE_CHANGE;
mod fingerprint_distribution_shift;
pub use fingerprint_distribution_shift::FINGERPRINT_DISTRIBUTION_SHIFT;
mod fingerprint_moment_shift;
pub use fingerprint_moment_shift::FINGERPRINT_MOMENT_SHIFT;
mod fingerprint_hash_changed;
pub use fingerprint_hash_changed::FINGERPRINT_HASH_CHANGED;
mod keras_lambda_layer;
pub use keras_lambda_layer::KERAS_LAMBDA_LAYER;
mod keras_external_module;
pub use keras_external_module::KERAS_EXTERNAL_MODULE;
mod torchscript_custom_op;
pub use torchscript_custom_op::TORCHSCRIPT_CUSTOM_OP;
mod torchscript_file_read;
pub use torchscript_file_read::TORCHSCRIPT_FILE_READ;

pub static ALL: &[&mlsec_core::Rule] = &[
    &PICKLE_UNSAFE_CALL,
    &PICKLE_UNSAFE_IMPORT,
    &PICKLE_DYNAMIC_IMPORT,
    &PICKLE_INDIRECT_CALL,
    &PICKLE_ATTRIBUTE_INJECTION,
    &PICKLE_BROKEN_AFTER_CALL,
    &PICKLE_NESTED_PAYLOAD,
    &PICKLE_FRAME_ANOMALY,
    &ZIP_CRC_MISMATCH,
    &ZIP_HEADER_MISMATCH,
    &ZIP_DUPLICATE_ENTRY,
    &ZIP_ENTRY_OUTSIDE_PREFIX,
    &ZIP_CASE_VARIANT,
    &ZIP_PREPENDED_DATA,
    &ZIP_TRAILING_DATA,
    &ZIP_BOMB,
    &ZIP_READER_DIFFERENTIAL,
    &SAFETENSORS_HEADER_ANOMALY,
    &TENSOR_OUT_OF_BOUNDS,
    &GGUF_HEADER_ANOMALY,
    &GGUF_CHAT_TEMPLATE_INJECTION,
    &WEIGHT_NON_FINITE,
    &WEIGHT_ABOVE_THRESHOLD,
    &WEIGHT_OUTLIER,
    &FINGERPRINT_MISSING_TENSOR,
    &FINGERPRINT_UNEXPECTED_TENSOR,
    &FINGERPRINT_RENAMED_TENSOR,
    &FINGERPRINT_SHAPE_CHANGE,
    &FINGERPRINT_DISTRIBUTION_SHIFT,
    &FINGERPRINT_MOMENT_SHIFT,
    &FINGERPRINT_HASH_CHANGED,
    &KERAS_LAMBDA_LAYER,
    &KERAS_EXTERNAL_MODULE,
    &TORCHSCRIPT_CUSTOM_OP,
    &TORCHSCRIPT_FILE_READ,
];
