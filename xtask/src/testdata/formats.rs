//! Fixtures for model formats `mlsec checkpoint` recognises but does not read (TensorFlow
//! SavedModel and checkpoints, TFLite, skops, Core ML), which must give "not scanned: <format>"
//! (exit 1 when named, a warning and a count in a directory scan), and Keras models saved as
//! JSON, which are read by the Keras config rules. The unscanned files carry only the bytes
//! that identify their format (a TFLite flatbuffer header, a SavedModel protobuf prefix, a
//! LevelDB table footer, a skops `schema.json`, a Core ML `Model` prefix), not whole models.

use std::path::Path;

use anyhow::Result;
use mlsec_formats::npy;
use mlsec_testkit::ZipWriter;

fn write(out: &Path, rel: &str, bytes: &[u8]) -> Result<()> {
    let path = out.join(rel);
    std::fs::create_dir_all(path.parent().expect("has parent"))?;
    std::fs::write(path, bytes)?;
    Ok(())
}

const KERAS_JSON: &str = r#"{"class_name": "Sequential", "config": {"name": "sequential", "layers": [{"class_name": "Dense", "config": {"name": "dense", "units": 4, "activation": "relu"}}]}, "keras_version": "2.15.0", "backend": "tensorflow"}"#;

const KERAS_JSON_LAMBDA: &str = r#"{"class_name": "Sequential", "config": {"name": "sequential", "layers": [{"class_name": "Lambda", "config": {"name": "lambda", "function": ["4wEAAAAAAAAAAAAAAAEAAAACAAAAQwAAAHMEAAAAfABTACkBTqkAKQHaAXhyAQAAAHIBAAAA+gc8c3RkaW4+2gg8bGFtYmRhPgEAAADzAAAAAA==", null, null], "function_type": "lambda"}}]}, "keras_version": "2.15.0", "backend": "tensorflow"}"#;

pub fn generate(out: &Path) -> Result<()> {
    // TFLite: root table offset, then the file identifier `TFL3`.
    let mut tflite = vec![0x1c, 0, 0, 0];
    tflite.extend_from_slice(b"TFL3");
    tflite.extend_from_slice(&[0; 24]);
    write(out, "unscanned/model.tflite", &tflite)?;
    // SavedModel: `saved_model_schema_version: 1`, then a MetaGraphDef.
    write(
        out,
        "unscanned/saved_model/saved_model.pb",
        b"\x08\x01\x12\x0a\x0a\x08\x12\x06\x0a\x04serve",
    )?;
    let mut index = vec![0u8; 40];
    index.extend_from_slice(&0xdb47_7524_8b80_fb57u64.to_le_bytes());
    write(
        out,
        "unscanned/saved_model/variables/variables.index",
        &index,
    )?;
    write(
        out,
        "unscanned/saved_model/variables/variables.data-00000-of-00001",
        &[0u8; 16],
    )?;
    // skops: `schema.json` says what to build; arrays are .npy members.
    let mut z = ZipWriter::new();
    z.add(
        "schema.json",
        br#"{"__class__": "LogisticRegression", "__module__": "sklearn.linear_model._logistic", "__loader__": "ObjectNode", "protocol": 2, "_skops_version": "0.10.0"}"#,
        true,
        0,
    );
    z.add("coef.npy", &npy::write("<f8", &[2], &[0u8; 16]), false, 0);
    write(out, "unscanned/model.skops", &z.finish())?;
    // Core ML: `specificationVersion: 4`, then a description whose first field is an input.
    write(
        out,
        "unscanned/model.mlmodel",
        b"\x08\x04\x12\x0b\x0a\x09\x0a\x05input\x1a\x00",
    )?;
    write(out, "keras-json/model.json", KERAS_JSON.as_bytes())?;
    write(out, "keras-json/lambda.json", KERAS_JSON_LAMBDA.as_bytes())?;
    Ok(())
}
