//! `cargo xtask codegen`: code generated at development time from the `.proto` files vendored
//! in the crates that use them (`crates/<crate>/proto/`, each with its upstream URL, commit and
//! licence in a header comment) and committed, so no build needs `protoc`. `--check` fails when
//! the committed code is stale, and both modes fail loudly when a vendored proto is missing.
//!
//! One function per generated artifact; [`run`] calls each of them.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};
use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{DescriptorProto, EnumDescriptorProto, FileDescriptorSet};

mod onnx;

pub fn run(check: bool) -> Result<()> {
    triton_schema(check)?;
    onnx::run(check)?;
    Ok(())
}

/// The vendored proto `file` of `krate`, compiled with protox: `crates/<krate>/proto/<file>`.
/// A missing file is an error naming it (a plain clone has every one of them).
fn compile_vendored(krate: &str, file: &str) -> Result<FileDescriptorSet> {
    let dir: PathBuf = crate::root().join("crates").join(krate).join("proto");
    if !dir.join(file).is_file() {
        bail!(
            "{} is missing: the vendored schema is part of the repository (restore it from git)",
            dir.join(file).display()
        );
    }
    protox::compile([file], [&dir])
        .map_err(|e| anyhow::anyhow!("{e}"))
        .with_context(|| format!("compiling {}", dir.join(file).display()))
}

/// Writes `path` from `content`, or with `check` fails if the committed file differs.
fn write_or_check(path: &Path, content: &str, check: bool) -> Result<()> {
    let rel = path
        .strip_prefix(crate::root())
        .unwrap_or(path)
        .display()
        .to_string();
    if check {
        let current = std::fs::read_to_string(path).unwrap_or_default();
        if current != content {
            bail!("{rel} is stale: run `cargo xtask codegen`");
        }
    } else {
        std::fs::write(path, content).with_context(|| format!("cannot write {rel}"))?;
        eprintln!("wrote {rel}");
    }
    Ok(())
}

/// Formats generated Rust with rustfmt, so `cargo fmt --check` agrees with the committed file.
fn rustfmt(source: &str) -> Result<String> {
    let mut child = Command::new("rustfmt")
        .args(["--edition", "2024", "--emit", "stdout", "--quiet"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .context("cannot run rustfmt")?;
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(source.as_bytes())?;
    let output = child.wait_with_output()?;
    if !output.status.success() {
        bail!("rustfmt failed on generated code");
    }
    Ok(String::from_utf8(output.stdout)?)
}

// ---------------------------------------------------------------------------------------------
// Triton: `inference.ModelConfig` as a static schema table for mlsec-triton's validator.

const TRITON_PROTO: &str = "model_config.proto";
const TRITON_OUT: &str = "crates/mlsec-triton/src/schema_generated.rs";

/// Generates `crates/mlsec-triton/src/schema_generated.rs` from `crates/mlsec-triton/proto/model_config.proto`: every
/// message (fields, numbers, kinds, labels, oneofs, map entries) and every enum, flattened into
/// static tables the text-format validator walks.
pub fn triton_schema(check: bool) -> Result<()> {
    let set = compile_vendored("mlsec-triton", TRITON_PROTO)?;
    let source = render_triton_schema(&set)?;
    let formatted = rustfmt(&source)?;
    write_or_check(&crate::root().join(TRITON_OUT), &formatted, check)
}

struct Flat<'a> {
    messages: Vec<(String, &'a DescriptorProto)>,
    enums: Vec<(String, &'a EnumDescriptorProto)>,
}

fn flatten<'a>(prefix: &str, message: &'a DescriptorProto, flat: &mut Flat<'a>) {
    let name = format!("{prefix}.{}", message.name());
    flat.messages.push((name.clone(), message));
    for e in &message.enum_type {
        flat.enums.push((format!("{name}.{}", e.name()), e));
    }
    for nested in &message.nested_type {
        flatten(&name, nested, flat);
    }
}

fn render_triton_schema(set: &FileDescriptorSet) -> Result<String> {
    let mut flat = Flat {
        messages: Vec::new(),
        enums: Vec::new(),
    };
    for file in &set.file {
        let package = format!(".{}", file.package());
        for e in &file.enum_type {
            flat.enums.push((format!("{package}.{}", e.name()), e));
        }
        for m in &file.message_type {
            flatten(&package, m, &mut flat);
        }
    }
    let message_index: BTreeMap<&str, usize> = flat
        .messages
        .iter()
        .enumerate()
        .map(|(i, (n, _))| (n.as_str(), i))
        .collect();
    let enum_index: BTreeMap<&str, usize> = flat
        .enums
        .iter()
        .enumerate()
        .map(|(i, (n, _))| (n.as_str(), i))
        .collect();

    let mut out = String::new();
    writeln!(out, "// generated by cargo xtask codegen; do not edit")?;
    writeln!(
        out,
        "// source: crates/mlsec-triton/proto/{TRITON_PROTO} (package inference), compiled with protox"
    )?;
    writeln!(out)?;
    writeln!(
        out,
        "use crate::schema::{{EnumDesc, FieldDesc, Kind, MessageDesc}};"
    )?;
    writeln!(out)?;
    let root = message_index
        .get(".inference.ModelConfig")
        .context("inference.ModelConfig not in the proto")?;
    writeln!(out, "/// Index of `inference.ModelConfig` in [`MESSAGES`].")?;
    writeln!(out, "pub const MODEL_CONFIG: usize = {root};")?;
    writeln!(out)?;
    writeln!(
        out,
        "/// Every message of the schema, nested ones flattened."
    )?;
    writeln!(out, "pub static MESSAGES: &[MessageDesc] = &[")?;
    for (name, message) in &flat.messages {
        let map_entry = message
            .options
            .as_ref()
            .is_some_and(|o| o.map_entry.unwrap_or(false));
        // Synthetic oneofs of proto3 `optional` fields are presence, not a choice.
        let real_oneofs: Vec<usize> = (0..message.oneof_decl.len())
            .filter(|i| {
                !message
                    .field
                    .iter()
                    .any(|f| f.oneof_index == Some(*i as i32) && f.proto3_optional.unwrap_or(false))
            })
            .collect();
        let oneof_names: Vec<String> = real_oneofs
            .iter()
            .map(|i| format!("{:?}", message.oneof_decl[*i].name()))
            .collect();
        writeln!(
            out,
            "MessageDesc {{ name: {:?}, map_entry: {map_entry}, oneofs: &[{}], fields: &[",
            &name[1..],
            oneof_names.join(", ")
        )?;
        for field in &message.field {
            let kind = match field.r#type() {
                Type::Double => "Kind::Double".to_owned(),
                Type::Float => "Kind::Float".to_owned(),
                Type::Int64 | Type::Sint64 | Type::Sfixed64 => "Kind::Int64".to_owned(),
                Type::Uint64 | Type::Fixed64 => "Kind::Uint64".to_owned(),
                Type::Int32 | Type::Sint32 | Type::Sfixed32 => "Kind::Int32".to_owned(),
                Type::Uint32 | Type::Fixed32 => "Kind::Uint32".to_owned(),
                Type::Bool => "Kind::Bool".to_owned(),
                Type::String => "Kind::String".to_owned(),
                Type::Bytes => "Kind::Bytes".to_owned(),
                Type::Enum => format!(
                    "Kind::Enum({})",
                    enum_index
                        .get(field.type_name())
                        .with_context(|| format!("unknown enum {}", field.type_name()))?
                ),
                Type::Message | Type::Group => format!(
                    "Kind::Message({})",
                    message_index
                        .get(field.type_name())
                        .with_context(|| format!("unknown message {}", field.type_name()))?
                ),
            };
            let repeated = field.label() == Label::Repeated;
            let oneof = match field.oneof_index {
                Some(i) if !field.proto3_optional.unwrap_or(false) => {
                    let pos = real_oneofs.iter().position(|r| *r == i as usize);
                    format!("Some({})", pos.context("oneof index")?)
                }
                _ => "None".to_owned(),
            };
            let presence = !repeated
                && (matches!(field.r#type(), Type::Message | Type::Group)
                    || field.oneof_index.is_some());
            writeln!(
                out,
                "FieldDesc {{ name: {:?}, number: {}, kind: {kind}, repeated: {repeated}, \
                 presence: {presence}, oneof: {oneof} }},",
                field.name(),
                field.number()
            )?;
        }
        writeln!(out, "] }},")?;
    }
    writeln!(out, "];")?;
    writeln!(out)?;
    writeln!(out, "/// Every enum of the schema, nested ones flattened.")?;
    writeln!(out, "pub static ENUMS: &[EnumDesc] = &[")?;
    for (name, e) in &flat.enums {
        let values: Vec<String> = e
            .value
            .iter()
            .map(|v| format!("({:?}, {})", v.name(), v.number()))
            .collect();
        writeln!(
            out,
            "EnumDesc {{ name: {:?}, values: &[{}] }},",
            &name[1..],
            values.join(", ")
        )?;
    }
    writeln!(out, "];")?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn generated_code_is_up_to_date() {
        super::run(true).unwrap();
    }
}
