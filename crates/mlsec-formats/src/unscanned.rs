//! Model formats recognised by content (and, where the content alone is ambiguous, by the
//! file name their tools always use) that no reader here understands. A scanner reports them
//! as "not scanned: <format>" instead of "unrecognised" or, worse, skipping them silently.

/// The format's name, if `data` (named `name`) is one of the recognised-but-unscanned ones.
pub fn recognise(data: &[u8], name: &str) -> Option<&'static str> {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let ext = base
        .rsplit_once('.')
        .map_or("", |(_, e)| e)
        .to_ascii_lowercase();
    // A FlatBuffer with the TFLite file identifier after the root-table offset.
    if data.get(4..8) == Some(b"TFL3") {
        return Some("TensorFlow Lite flatbuffer");
    }
    if matches!(base, "saved_model.pb" | "saved_model.pbtxt") {
        return Some("TensorFlow SavedModel");
    }
    if matches!(base, "keras_metadata.pb" | "fingerprint.pb") {
        return Some("TensorFlow SavedModel metadata");
    }
    // TensorBundle checkpoints (`variables/variables.index`): a LevelDB-format table, whose
    // footer ends with the table magic number.
    if data.len() >= 48 && data[data.len() - 8..] == 0xdb47_7524_8b80_fb57u64.to_le_bytes() {
        return Some("TensorFlow checkpoint index");
    }
    if is_tf_data_shard(base) {
        return Some("TensorFlow checkpoint data");
    }
    if looks_like_coreml(data) || ext == "mlmodel" {
        return Some("Core ML model");
    }
    None
}

/// `variables.data-00000-of-00001`.
fn is_tf_data_shard(base: &str) -> bool {
    let Some((_, tail)) = base.rsplit_once(".data-") else {
        return false;
    };
    let b = tail.as_bytes();
    b.len() == 14 && &tail[5..9] == "-of-" && b[..5].iter().chain(&b[9..]).all(u8::is_ascii_digit)
}

/// Core ML `Model`: `specificationVersion` (field 1, varint) then `description` (field 2, a
/// message whose first field is an input, tag `0x0a`). ONNX starts with the same two tags,
/// but its field 2 is the producer name, text that never starts with a newline.
fn looks_like_coreml(data: &[u8]) -> bool {
    if data.first() != Some(&0x08)
        || !matches!(data.get(1), Some(1..=32))
        || data.get(2) != Some(&0x12)
    {
        return false;
    }
    let mut i = 3;
    while data.get(i).is_some_and(|b| b & 0x80 != 0) && i < 8 {
        i += 1;
    }
    data.get(i + 1) == Some(&0x0a)
}

#[cfg(test)]
mod tests {
    use super::recognise;

    #[test]
    fn recognises_by_content_and_tool_names() {
        let mut tflite = vec![0x1c, 0, 0, 0];
        tflite.extend_from_slice(b"TFL3\0\0\0\0");
        assert_eq!(
            recognise(&tflite, "m.bin"),
            Some("TensorFlow Lite flatbuffer")
        );
        assert_eq!(
            recognise(b"\x08\x01\x12\x05", "dir/saved_model.pb"),
            Some("TensorFlow SavedModel")
        );
        assert_eq!(
            recognise(b"", "variables/variables.data-00000-of-00001"),
            Some("TensorFlow checkpoint data")
        );
        let mut index = vec![0u8; 40];
        index.extend_from_slice(&0xdb47_7524_8b80_fb57u64.to_le_bytes());
        assert_eq!(
            recognise(&index, "variables.index"),
            Some("TensorFlow checkpoint index")
        );
        assert_eq!(
            recognise(b"\x08\x04\x12\x10\x0a\x05input", "x"),
            Some("Core ML model")
        );
        // ONNX: producer name text after the same tags.
        assert_eq!(recognise(b"\x08\x07\x12\x07pytorch", "m.onnx"), None);
        assert_eq!(recognise(b"\x80\x02}q\x00.", "m.pkl"), None);
        assert_eq!(recognise(b"", "x.data-1-of-2"), None);
    }
}
