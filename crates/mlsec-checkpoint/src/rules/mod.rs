//! The checks, one rule per file: each file holds the rule's declaration, its documentation
//! and the function that decides it (`check`), over a typed input the traversal hands over
//! (a zip anomaly or entry, a tensor's statistics, a GGUF metadata value, a pickle machine's
//! call, a fingerprint entry), never the traversal itself. [`crate::scan`], [`crate::audit`],
//! [`crate::keras`], [`crate::torchscript`] and [`crate::fingerprint`] only walk their input
//! and call these; [`ALL`] lists every rule.
//!
//! Where one input can only be one of several rules (a zip anomaly, a GGUF anomaly), a
//! dispatcher here matches it exhaustively, so a new kind of input does not compile until a
//! rule decides it.

use mlsec_core::{Finding, Location, Pointer};
use mlsec_formats::gguf::{AnomalyKind, GgufAnomaly};
use mlsec_formats::zip::ZipAnomaly;

use crate::site::Site;

pub(crate) mod pickle_unsafe_call;
pub use pickle_unsafe_call::PICKLE_UNSAFE_CALL;
pub(crate) mod pickle_unsafe_import;
pub use pickle_unsafe_import::PICKLE_UNSAFE_IMPORT;
pub(crate) mod pickle_dynamic_import;
pub use pickle_dynamic_import::PICKLE_DYNAMIC_IMPORT;
pub(crate) mod pickle_indirect_call;
pub use pickle_indirect_call::PICKLE_INDIRECT_CALL;
pub(crate) mod pickle_attribute_injection;
pub use pickle_attribute_injection::PICKLE_ATTRIBUTE_INJECTION;
pub(crate) mod pickle_broken_after_call;
pub use pickle_broken_after_call::PICKLE_BROKEN_AFTER_CALL;
pub(crate) mod pickle_nested_payload;
pub use pickle_nested_payload::PICKLE_NESTED_PAYLOAD;
pub(crate) mod pickle_frame_anomaly;
pub use pickle_frame_anomaly::PICKLE_FRAME_ANOMALY;
pub(crate) mod zip_crc_mismatch;
pub use zip_crc_mismatch::ZIP_CRC_MISMATCH;
pub(crate) mod zip_header_mismatch;
pub use zip_header_mismatch::ZIP_HEADER_MISMATCH;
pub(crate) mod zip_duplicate_entry;
pub use zip_duplicate_entry::ZIP_DUPLICATE_ENTRY;
pub(crate) mod zip_entry_outside_prefix;
pub use zip_entry_outside_prefix::ZIP_ENTRY_OUTSIDE_PREFIX;
pub(crate) mod zip_case_variant;
pub use zip_case_variant::ZIP_CASE_VARIANT;
pub(crate) mod zip_prepended_data;
pub use zip_prepended_data::ZIP_PREPENDED_DATA;
pub(crate) mod zip_trailing_data;
pub use zip_trailing_data::ZIP_TRAILING_DATA;
pub(crate) mod zip_bomb;
pub use zip_bomb::ZIP_BOMB;
pub(crate) mod zip_reader_differential;
pub use zip_reader_differential::ZIP_READER_DIFFERENTIAL;
pub(crate) mod safetensors_header_anomaly;
pub use safetensors_header_anomaly::SAFETENSORS_HEADER_ANOMALY;
pub(crate) mod gguf_header_anomaly;
pub use gguf_header_anomaly::GGUF_HEADER_ANOMALY;
pub(crate) mod gguf_chat_template_injection;
pub use gguf_chat_template_injection::GGUF_CHAT_TEMPLATE_INJECTION;
pub(crate) mod tensor_out_of_bounds;
pub use tensor_out_of_bounds::TENSOR_OUT_OF_BOUNDS;
pub(crate) mod weight_non_finite;
pub use weight_non_finite::WEIGHT_NON_FINITE;
pub(crate) mod weight_above_threshold;
pub use weight_above_threshold::WEIGHT_ABOVE_THRESHOLD;
pub(crate) mod weight_outlier;
pub(crate) mod weights;
pub use weight_outlier::WEIGHT_OUTLIER;
pub(crate) mod fingerprint_missing_tensor;
pub use fingerprint_missing_tensor::FINGERPRINT_MISSING_TENSOR;
pub(crate) mod fingerprint_unexpected_tensor;
pub use fingerprint_unexpected_tensor::FINGERPRINT_UNEXPECTED_TENSOR;
pub(crate) mod fingerprint_renamed_tensor;
pub use fingerprint_renamed_tensor::FINGERPRINT_RENAMED_TENSOR;
pub(crate) mod fingerprint_shape_change;
pub use fingerprint_shape_change::FINGERPRINT_SHAPE_CHANGE;
pub(crate) mod fingerprint_distribution_shift;
pub use fingerprint_distribution_shift::FINGERPRINT_DISTRIBUTION_SHIFT;
pub(crate) mod fingerprint_moment_shift;
pub use fingerprint_moment_shift::FINGERPRINT_MOMENT_SHIFT;
pub(crate) mod fingerprint_hash_changed;
pub use fingerprint_hash_changed::FINGERPRINT_HASH_CHANGED;
pub(crate) mod keras_lambda_layer;
pub use keras_lambda_layer::KERAS_LAMBDA_LAYER;
pub(crate) mod keras_external_module;
pub use keras_external_module::KERAS_EXTERNAL_MODULE;
pub(crate) mod torchscript_custom_op;
pub use torchscript_custom_op::TORCHSCRIPT_CUSTOM_OP;
pub(crate) mod torchscript_file_read;
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

/// The finding for an anomaly the zip reader reported while parsing the archive at `site`.
pub(crate) fn zip_anomaly(anomaly: &ZipAnomaly, site: &Site) -> Option<Finding> {
    match anomaly {
        ZipAnomaly::HeaderMismatch { .. } => zip_header_mismatch::check(anomaly, site),
        ZipAnomaly::Duplicate { .. } => zip_duplicate_entry::check(anomaly, site),
        ZipAnomaly::PrependedData { .. } => zip_prepended_data::check(anomaly, site),
        ZipAnomaly::TrailingData { .. } => zip_trailing_data::check(anomaly, site),
        ZipAnomaly::CommentOverrun { .. } | ZipAnomaly::ReaderDifferential { .. } => {
            zip_reader_differential::check(anomaly, site)
        }
    }
}

/// The finding for an anomaly the GGUF reader reported in `file`.
pub(crate) fn gguf_anomaly(anomaly: &GgufAnomaly, file: &str) -> Option<Finding> {
    match anomaly.kind {
        AnomalyKind::Structure => gguf_header_anomaly::check(anomaly, file),
        AnomalyKind::OutOfBounds => tensor_out_of_bounds::check_gguf(anomaly, file),
    }
}

/// Where a GGUF anomaly is: its record, pointing at the tensor or else the metadata key.
fn gguf_location(anomaly: &GgufAnomaly, file: &str) -> Location {
    let loc = Location::file(file).at_bytes(anomaly.offset, 1);
    if let Some(t) = &anomaly.tensor {
        loc.with_pointer(Pointer::Tensor(t.clone()))
    } else if let Some(k) = &anomaly.key {
        loc.with_pointer(Pointer::Field(k.clone()))
    } else {
        loc
    }
}
