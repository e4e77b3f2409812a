//! A protobuf wire-format walker: prost silently drops fields it does not know, so hidden
//! payloads in unknown field numbers are found here, with the message path they sit in.

use crate::OnnxError;

/// How a known field is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireKind {
    Varint,
    Fixed32,
    Fixed64,
    /// Strings and bytes.
    Bytes,
    /// A nested message: its index in [`crate::schema::MESSAGES`].
    Message(usize),
}

/// One field of a message schema.
#[derive(Debug)]
pub struct FieldSchema {
    pub number: u32,
    pub name: &'static str,
    pub kind: WireKind,
    pub repeated: bool,
}

/// One message of the schema.
#[derive(Debug)]
pub struct MessageSchema {
    pub name: &'static str,
    pub fields: &'static [FieldSchema],
}

/// A field number the schema does not know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownField {
    /// Where it sits, e.g. `graph.node[3].attribute[0]`.
    pub path: String,
    /// The message type it was found in.
    pub message: &'static str,
    pub number: u64,
    pub wire_type: u8,
    /// Byte offset of its tag in the file.
    pub offset: u64,
    /// Encoded size of its value.
    pub len: u64,
}

/// Deeper nesting than this is refused (prost's own limit is 100).
pub const RECURSION_LIMIT: usize = 100;

/// At most this many unknown fields are collected; the walk still checks the whole file.
pub const MAX_REPORTED: usize = 1000;

/// Walks a serialized `ModelProto` and lists every unknown field.
pub fn unknown_fields(buf: &[u8]) -> Result<Vec<UnknownField>, OnnxError> {
    unknown_fields_of(buf, crate::schema::MODEL_PROTO)
}

/// Walks a serialized message of type `root` (an index into [`crate::schema::MESSAGES`]).
pub fn unknown_fields_of(buf: &[u8], root: usize) -> Result<Vec<UnknownField>, OnnxError> {
    let mut out = Vec::new();
    let mut path = String::new();
    walk(buf, 0, root, &mut path, 0, &mut out)?;
    Ok(out)
}

fn err(offset: u64, message: impl Into<String>) -> OnnxError {
    OnnxError::Wire {
        offset,
        message: message.into(),
    }
}

fn varint(buf: &[u8], pos: &mut usize, base: u64) -> Result<u64, OnnxError> {
    let mut value = 0u64;
    for shift in 0..10 {
        let Some(&b) = buf.get(*pos) else {
            return Err(err(base + *pos as u64, "truncated varint"));
        };
        *pos += 1;
        value |= u64::from(b & 0x7f) << (7 * shift);
        if b & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(err(base + *pos as u64, "varint longer than 10 bytes"))
}

fn walk(
    buf: &[u8],
    base: u64,
    message: usize,
    path: &mut String,
    depth: usize,
    out: &mut Vec<UnknownField>,
) -> Result<(), OnnxError> {
    if depth > RECURSION_LIMIT {
        return Err(err(base, "recursion limit reached"));
    }
    let schema = &crate::schema::MESSAGES[message];
    let mut counts: Vec<u32> = vec![0; schema.fields.len()];
    let mut pos = 0usize;
    while pos < buf.len() {
        let tag_at = pos;
        let key = varint(buf, &mut pos, base)?;
        let number = key >> 3;
        let wire_type = (key & 7) as u8;
        if number == 0 {
            return Err(err(base + tag_at as u64, "field number 0"));
        }
        let value_at = pos;
        let (start, end) = match wire_type {
            0 => {
                varint(buf, &mut pos, base)?;
                (value_at, pos)
            }
            1 | 5 => {
                let n = if wire_type == 1 { 8 } else { 4 };
                if buf.len() - pos < n {
                    return Err(err(base + pos as u64, "truncated fixed-width value"));
                }
                pos += n;
                (value_at, pos)
            }
            2 => {
                let len = varint(buf, &mut pos, base)?;
                if len > (buf.len() - pos) as u64 {
                    return Err(err(
                        base + pos as u64,
                        format!("length {len} runs past the end of the data"),
                    ));
                }
                let start = pos;
                pos += len as usize;
                (start, pos)
            }
            _ => {
                return Err(err(
                    base + tag_at as u64,
                    format!("unsupported wire type {wire_type}"),
                ));
            }
        };
        let known = schema
            .fields
            .iter()
            .position(|f| u64::from(f.number) == number);
        match known {
            None => {
                if out.len() < MAX_REPORTED {
                    out.push(UnknownField {
                        path: if path.is_empty() {
                            "model".to_owned()
                        } else {
                            path.clone()
                        },
                        message: schema.name,
                        number,
                        wire_type,
                        offset: base + tag_at as u64,
                        len: (end - value_at) as u64,
                    });
                }
            }
            Some(i) => {
                let field = &schema.fields[i];
                let index = counts[i];
                counts[i] += 1;
                if let (WireKind::Message(nested), 2) = (field.kind, wire_type) {
                    let saved = path.len();
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(field.name);
                    if field.repeated {
                        path.push_str(&format!("[{index}]"));
                    }
                    walk(
                        &buf[start..end],
                        base + start as u64,
                        nested,
                        path,
                        depth + 1,
                        out,
                    )?;
                    path.truncate(saved);
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_unknown_field_with_path() {
        // ModelProto { graph (7) { node (1) { op_type (4) = "Relu", field 99 = varint 1 } } }
        let node = [&[0x22, 4][..], b"Relu", &[0x98, 0x06, 0x01]].concat();
        let graph = [&[0x0a, node.len() as u8][..], &node].concat();
        let model = [&[0x08, 0x07, 0x3a, graph.len() as u8][..], &graph].concat();
        let unknown = unknown_fields(&model).unwrap();
        assert_eq!(unknown.len(), 1);
        assert_eq!(unknown[0].path, "graph.node[0]");
        assert_eq!(unknown[0].number, 99);
        assert_eq!(unknown[0].message, "onnx.NodeProto");
    }

    #[test]
    fn truncated_and_garbage_are_errors() {
        assert!(unknown_fields(&[0x3a, 0x10, 0x0a]).is_err());
        assert!(unknown_fields(&[0xff; 16]).is_err());
        assert!(unknown_fields(&[0x0f]).is_err());
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        // TypeProto.sequence_type (4) -> Sequence.elem_type (1) -> TypeProto ... nested 500 times.
        let mut msg: Vec<u8> = Vec::new();
        for i in 0..1000 {
            let tag = if i % 2 == 0 { 0x0a } else { 0x22 };
            let mut len = Vec::new();
            let mut n = msg.len() as u64;
            loop {
                let b = (n & 0x7f) as u8;
                n >>= 7;
                if n == 0 {
                    len.push(b);
                    break;
                }
                len.push(b | 0x80);
            }
            msg = [&[tag][..], &len, &msg].concat();
        }
        let type_proto = crate::schema::MESSAGES
            .iter()
            .position(|m| m.name == "onnx.TypeProto")
            .unwrap();
        assert!(unknown_fields_of(&msg, type_proto).is_err());
    }
}
