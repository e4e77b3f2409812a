//! The `inference.ModelConfig` schema as static tables, generated from
//! `crates/mlsec-triton/proto/model_config.proto` (vendored) by `cargo xtask codegen` (see `schema_generated.rs`).

pub use crate::schema_generated::{ENUMS, MESSAGES, MODEL_CONFIG};

/// A field's value type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Double,
    Float,
    Int32,
    Int64,
    Uint32,
    Uint64,
    Bool,
    String,
    #[allow(dead_code)] // the generator maps every proto type; ModelConfig has no bytes
    Bytes,
    /// Index into [`ENUMS`].
    Enum(usize),
    /// Index into [`MESSAGES`].
    Message(usize),
}

/// One field of a message.
#[derive(Debug)]
pub struct FieldDesc {
    pub name: &'static str,
    #[allow(dead_code)] // kept so the table is the whole descriptor
    pub number: u32,
    pub kind: Kind,
    pub repeated: bool,
    /// Whether the field tracks presence (message fields and oneof members): giving it twice is
    /// an error even when the first value was the default.
    pub presence: bool,
    /// Index into the message's `oneofs`.
    pub oneof: Option<usize>,
}

/// One message type.
#[derive(Debug)]
pub struct MessageDesc {
    /// Full name without the leading dot, e.g. `inference.ModelConfig`.
    pub name: &'static str,
    /// A synthesized `map<K, V>` entry (fields `key` = 1 and `value` = 2).
    pub map_entry: bool,
    pub oneofs: &'static [&'static str],
    pub fields: &'static [FieldDesc],
}

/// One enum type.
#[derive(Debug)]
pub struct EnumDesc {
    pub name: &'static str,
    pub values: &'static [(&'static str, i32)],
}

impl MessageDesc {
    pub fn field(&self, name: &str) -> Option<&'static FieldDesc> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// The short name (`ModelConfig.Step` → `Step`).
    pub fn short_name(&self) -> &'static str {
        self.name.rsplit('.').next().unwrap_or(self.name)
    }
}

impl FieldDesc {
    /// A `map<K, V>` field: repeated entries of a map-entry message.
    pub fn is_map(&self) -> bool {
        self.repeated && matches!(self.kind, Kind::Message(m) if MESSAGES[m].map_entry)
    }

    /// The type as written in the proto, for messages.
    pub fn type_name(&self) -> String {
        let base = match self.kind {
            Kind::Double => "double",
            Kind::Float => "float",
            Kind::Int32 => "int32",
            Kind::Int64 => "int64",
            Kind::Uint32 => "uint32",
            Kind::Uint64 => "uint64",
            Kind::Bool => "bool",
            Kind::String => "string",
            Kind::Bytes => "bytes",
            Kind::Enum(e) => ENUMS[e].name.rsplit('.').next().unwrap_or(""),
            Kind::Message(m) if MESSAGES[m].map_entry => "map",
            Kind::Message(m) => MESSAGES[m].short_name(),
        };
        if self.repeated && !self.is_map() {
            format!("repeated {base}")
        } else {
            base.to_owned()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_config_is_the_root() {
        let root = &MESSAGES[MODEL_CONFIG];
        assert_eq!(root.name, "inference.ModelConfig");
        assert!(root.field("max_batch_size").is_some());
        assert!(root.field("parameters").unwrap().is_map());
        let sched = root.field("dynamic_batching").unwrap();
        assert_eq!(
            sched.oneof.map(|i| root.oneofs[i]),
            Some("scheduling_choice")
        );
    }
}
