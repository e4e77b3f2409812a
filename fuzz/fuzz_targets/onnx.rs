//! The ONNX decoder (prost, bounded), the unknown-field wire walk and every `export-guard
//! lint` check over what decodes, as `lint_file` runs them but from memory.
#![no_main]

use std::path::PathBuf;

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use mlsec_onnx::LoadedModel;

fuzz_target!(|data: &[u8]| {
    let bytes = Bytes::copy_from_slice(data);
    let _ = mlsec_onnx::wire::unknown_fields(&bytes);
    let Ok(model) = mlsec_onnx::decode_model(bytes.clone()) else {
        return;
    };
    // External data is resolved against a directory that does not exist: the checks run on
    // the paths, no file is read.
    let loaded = LoadedModel {
        path: PathBuf::from("/nonexistent-mlsec-fuzz/model.onnx"),
        dir: PathBuf::from("/nonexistent-mlsec-fuzz"),
        bytes,
        model,
    };
    let out = mlsec_export_guard::lint::lint_model(&loaded, "model.onnx");
    let _ = (out.findings.len(), out.nodes);
});
