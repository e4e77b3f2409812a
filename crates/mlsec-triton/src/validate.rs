//! Checks an untyped text-format tree against the generated `inference.ModelConfig` schema and
//! builds the typed tree the rules read.
//!
//! What Triton's parser refuses is a [`SchemaError`] (the model would not load): unknown field,
//! wrong value type, integer out of range, unknown enum name, a non-repeated field given twice,
//! two members of one oneof, a list for a non-repeated field. What it silently accepts but a
//! reviewer should know about is kept beside the tree: duplicate map keys (the last wins) and
//! `${...}` placeholders inside strings.

use std::collections::HashMap;

use crate::schema::{ENUMS, FieldDesc, Kind, MESSAGES, MODEL_CONFIG, MessageDesc};
use crate::textformat::{Pos, RawMessage, RawScalar, RawValue, ScalarToken};

/// A config Triton would refuse, at a position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaError {
    pub pos: Pos,
    pub message: String,
}

/// A typed message.
#[derive(Debug, Clone)]
pub struct Msg {
    pub pos: Pos,
    /// Every value given, in order; a repeated field has one entry per element.
    pub fields: Vec<Field>,
}

/// One value of one field.
#[derive(Debug, Clone)]
pub struct Field {
    pub desc: &'static FieldDesc,
    /// Where the field name is.
    pub pos: Pos,
    /// Where the value starts.
    pub value_pos: Pos,
    /// The field path for pointers, e.g. `input[1].dims[0]` or `parameters["KEY"]`.
    pub path: String,
    pub value: Value,
}

#[derive(Debug, Clone)]
pub enum Value {
    Int(i64),
    Uint(u64),
    Float(f64),
    Bool(bool),
    Str(String),
    /// An enum value: its name (or the number as text for an unnamed open-enum value).
    Enum(String),
    Msg(Msg),
}

/// A map key given more than once in one map.
#[derive(Debug, Clone)]
pub struct DuplicateKey {
    pub path: String,
    pub key: String,
    pub pos: Pos,
    pub first: Pos,
}

/// An unrendered `${...}` inside a string value.
#[derive(Debug, Clone)]
pub struct Placeholder {
    pub path: String,
    pub text: String,
    pub pos: Pos,
}

/// The result of validating a document.
#[derive(Debug, Clone)]
pub struct Validated {
    pub config: Msg,
    pub errors: Vec<SchemaError>,
    pub duplicate_keys: Vec<DuplicateKey>,
    pub placeholders: Vec<Placeholder>,
}

/// Validates a parsed document as `inference.ModelConfig`.
pub fn validate(raw: &RawMessage) -> Validated {
    let mut v = Validator {
        errors: Vec::new(),
        duplicate_keys: Vec::new(),
        placeholders: Vec::new(),
    };
    let config = v.message(&MESSAGES[MODEL_CONFIG], raw, "");
    Validated {
        config,
        errors: v.errors,
        duplicate_keys: v.duplicate_keys,
        placeholders: v.placeholders,
    }
}

struct Validator {
    errors: Vec<SchemaError>,
    duplicate_keys: Vec<DuplicateKey>,
    placeholders: Vec<Placeholder>,
}

impl Validator {
    fn error(&mut self, pos: Pos, message: String) {
        self.errors.push(SchemaError { pos, message });
    }

    fn message(&mut self, desc: &'static MessageDesc, raw: &RawMessage, prefix: &str) -> Msg {
        let mut msg = Msg {
            pos: raw.pos,
            fields: Vec::new(),
        };
        // Per field: first position, and whether it is "set" (present or non-default).
        let mut seen: HashMap<&'static str, (Pos, bool)> = HashMap::new();
        let mut oneof_set: HashMap<usize, (&'static str, Pos)> = HashMap::new();
        let mut counts: HashMap<&'static str, usize> = HashMap::new();
        let mut map_keys: HashMap<&'static str, HashMap<String, Pos>> = HashMap::new();
        for raw_field in &raw.fields {
            let Some(field) = desc.field(&raw_field.name) else {
                let hint = did_you_mean(&raw_field.name, desc.fields.iter().map(|f| f.name))
                    .map(|s| format!(" (did you mean `{s}`?)"))
                    .unwrap_or_default();
                self.error(
                    raw_field.pos,
                    format!(
                        "unknown field `{}` in {}{hint}",
                        raw_field.name,
                        desc.short_name()
                    ),
                );
                continue;
            };
            if let Some(index) = field.oneof {
                match oneof_set.get(&index) {
                    Some((other, first)) if *other != field.name => {
                        self.error(
                            raw_field.pos,
                            format!(
                                "`{}` and `{other}` (at {first}) are both members of oneof `{}`: \
                                 only one may be given",
                                field.name, desc.oneofs[index]
                            ),
                        );
                    }
                    _ => {
                        oneof_set.insert(index, (field.name, raw_field.pos));
                    }
                }
            }
            let items: Vec<&RawValue> = match &raw_field.value {
                RawValue::List { items, pos } => {
                    if !field.repeated {
                        self.error(
                            *pos,
                            format!(
                                "field `{}` is not repeated, cannot start a list",
                                field.name
                            ),
                        );
                        continue;
                    }
                    items.iter().collect()
                }
                single => vec![single],
            };
            for item in items {
                let index = counts.entry(field.name).or_insert(0);
                let path = if field.is_map() {
                    format!("{prefix}{}[{}]", field.name, raw_map_key(item))
                } else if field.repeated {
                    format!("{prefix}{}[{index}]", field.name)
                } else {
                    format!("{prefix}{}", field.name)
                };
                *index += 1;
                let Some(value) = self.value(field, item, &path) else {
                    continue;
                };
                if !field.repeated {
                    let set = field.presence || !is_default(&value);
                    if let Some((first, was_set)) = seen.get(field.name)
                        && *was_set
                    {
                        self.error(
                            raw_field.pos,
                            format!(
                                "non-repeated field `{}` is given twice (first at {first})",
                                field.name
                            ),
                        );
                    }
                    seen.insert(field.name, (raw_field.pos, set));
                    // Last value wins, as in Triton.
                    msg.fields.retain(|f| f.desc.name != field.name);
                }
                if field.is_map()
                    && let Value::Msg(entry) = &value
                {
                    let key = entry
                        .get("key")
                        .map(|k| k.value.to_text())
                        .unwrap_or_default();
                    let keys = map_keys.entry(field.name).or_default();
                    if let Some(first) = keys.get(&key) {
                        self.duplicate_keys.push(DuplicateKey {
                            path: path.clone(),
                            key: key.clone(),
                            pos: item.pos(),
                            first: *first,
                        });
                    }
                    keys.insert(key, item.pos());
                }
                msg.fields.push(Field {
                    desc: field,
                    pos: raw_field.pos,
                    value_pos: item.pos(),
                    path,
                    value,
                });
            }
        }
        msg
    }

    fn value(&mut self, field: &'static FieldDesc, raw: &RawValue, path: &str) -> Option<Value> {
        match (field.kind, raw) {
            (Kind::Message(m), RawValue::Message(body)) => Some(Value::Msg(self.message(
                &MESSAGES[m],
                body,
                &format!("{path}."),
            ))),
            (Kind::Message(m), other) => {
                self.error(
                    other.pos(),
                    format!(
                        "field `{}` is a message ({}): expected `{{`",
                        field.name,
                        MESSAGES[m].short_name()
                    ),
                );
                None
            }
            (_, RawValue::Message(body)) => {
                self.error(
                    body.pos,
                    format!(
                        "field `{}` is `{}`, not a message",
                        field.name,
                        field.type_name()
                    ),
                );
                None
            }
            (_, RawValue::List { pos, .. }) => {
                self.error(*pos, format!("nested list for field `{}`", field.name));
                None
            }
            (kind, RawValue::Scalar(s)) => match self.scalar(field, kind, s) {
                Ok(value) => {
                    if let Value::Str(text) = &value {
                        self.find_placeholders(text, s.pos, path);
                    }
                    Some(value)
                }
                Err(e) => {
                    self.error(s.pos, e.to_string());
                    None
                }
            },
        }
    }

    fn find_placeholders(&mut self, text: &str, pos: Pos, path: &str) {
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            let tail = &rest[start..];
            let Some(end) = tail.find('}') else { break };
            self.placeholders.push(Placeholder {
                path: path.to_owned(),
                text: tail[..=end].to_owned(),
                pos,
            });
            rest = &tail[end + 1..];
        }
    }

    fn scalar(&self, field: &FieldDesc, kind: Kind, s: &RawScalar) -> Result<Value, ScalarError> {
        let ty = field.type_name();
        let name = field.name;
        let at = |ty: &str| ScalarAt {
            name: name.to_owned(),
            ty: ty.to_owned(),
            value: s.to_string(),
        };
        let wrong = || ScalarError::Invalid(at(&ty));
        match kind {
            Kind::Int32 | Kind::Int64 | Kind::Uint32 | Kind::Uint64 => {
                let ScalarToken::Int(text) = &s.token else {
                    return Err(ScalarError::NotInteger(at(&ty)));
                };
                let out_of_range = || ScalarError::OutOfRange(at(&ty));
                let magnitude = parse_int(text).ok_or_else(out_of_range)?;
                match kind {
                    Kind::Uint32 | Kind::Uint64 => {
                        if s.negative {
                            return Err(ScalarError::Negative(at(&ty)));
                        }
                        let max = if kind == Kind::Uint32 {
                            u64::from(u32::MAX)
                        } else {
                            u64::MAX
                        };
                        if magnitude > max {
                            return Err(out_of_range());
                        }
                        Ok(Value::Uint(magnitude))
                    }
                    _ => {
                        let (min, max) = if kind == Kind::Int32 {
                            (i128::from(i32::MIN), i128::from(i32::MAX))
                        } else {
                            (i128::from(i64::MIN), i128::from(i64::MAX))
                        };
                        let v = if s.negative {
                            -i128::from(magnitude)
                        } else {
                            i128::from(magnitude)
                        };
                        if v < min || v > max {
                            return Err(out_of_range());
                        }
                        Ok(Value::Int(v as i64))
                    }
                }
            }
            Kind::Float | Kind::Double => {
                let v = match &s.token {
                    ScalarToken::Int(text) => {
                        parse_int(text).map(|m| m as f64).ok_or_else(wrong)?
                    }
                    ScalarToken::Float(text) => text
                        .trim_end_matches(['f', 'F'])
                        .parse::<f64>()
                        .map_err(|_| wrong())?,
                    ScalarToken::Ident(id) => match id.to_ascii_lowercase().as_str() {
                        "inf" | "infinity" => f64::INFINITY,
                        "nan" => f64::NAN,
                        _ => return Err(wrong()),
                    },
                    ScalarToken::Str(_) => return Err(wrong()),
                };
                Ok(Value::Float(if s.negative { -v } else { v }))
            }
            Kind::Bool => match (&s.token, s.negative) {
                (ScalarToken::Ident(id), false) => match id.as_str() {
                    "true" | "True" | "t" => Ok(Value::Bool(true)),
                    "false" | "False" | "f" => Ok(Value::Bool(false)),
                    _ => Err(wrong()),
                },
                (ScalarToken::Int(text), false) => match parse_int(text) {
                    Some(0) => Ok(Value::Bool(false)),
                    Some(1) => Ok(Value::Bool(true)),
                    _ => Err(ScalarError::OutOfRange(at("bool"))),
                },
                _ => Err(wrong()),
            },
            Kind::String | Kind::Bytes => match &s.token {
                ScalarToken::Str(bytes) => {
                    Ok(Value::Str(String::from_utf8_lossy(bytes).into_owned()))
                }
                _ => Err(ScalarError::NotString(at(&ty))),
            },
            Kind::Enum(e) => {
                let desc = &ENUMS[e];
                match &s.token {
                    ScalarToken::Ident(id) if !s.negative => {
                        if desc.values.iter().any(|(n, _)| n == id) {
                            Ok(Value::Enum(id.clone()))
                        } else {
                            let hint = did_you_mean(id, desc.values.iter().map(|(n, _)| *n))
                                .map(|h| format!(" (did you mean `{h}`?)"))
                                .unwrap_or_default();
                            Err(ScalarError::UnknownEnum {
                                id: id.clone(),
                                name: name.to_owned(),
                                enum_name: desc.name.trim_start_matches("inference.").to_owned(),
                                hint,
                            })
                        }
                    }
                    ScalarToken::Int(text) => {
                        let m = parse_int(text).unwrap_or(u64::MAX);
                        let v = if s.negative { -(m as i128) } else { m as i128 };
                        if v < i128::from(i32::MIN) || v > i128::from(i32::MAX) {
                            return Err(ScalarError::EnumOutOfRange(at("")));
                        }
                        // Proto3 enums are open: Triton's parser accepts any number.
                        let v = v as i32;
                        Ok(Value::Enum(
                            desc.values
                                .iter()
                                .find(|(_, n)| *n == v)
                                .map_or_else(|| v.to_string(), |(n, _)| (*n).to_owned()),
                        ))
                    }
                    _ => Err(wrong()),
                }
            }
            Kind::Message(_) => Err(wrong()),
        }
    }
}

fn is_default(value: &Value) -> bool {
    match value {
        Value::Int(v) => *v == 0,
        Value::Uint(v) => *v == 0,
        Value::Float(v) => *v == 0.0,
        Value::Bool(b) => !b,
        Value::Str(s) => s.is_empty(),
        Value::Enum(_) | Value::Msg(_) => false,
    }
}

/// The key of a map entry as written, for its path (`"NAME"` or `1`).
fn raw_map_key(item: &RawValue) -> String {
    let RawValue::Message(body) = item else {
        return "?".to_owned();
    };
    match body
        .fields
        .iter()
        .rev()
        .find(|f| f.name == "key")
        .map(|f| &f.value)
    {
        Some(RawValue::Scalar(s)) => match &s.token {
            ScalarToken::Str(b) => format!("{:?}", String::from_utf8_lossy(b)),
            _ => s.to_string(),
        },
        _ => "\"\"".to_owned(),
    }
}

/// Parses a decimal, hex (`0x`) or octal (leading `0`) magnitude.
pub fn parse_int(text: &str) -> Option<u64> {
    if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        u64::from_str_radix(hex, 16).ok()
    } else if text.len() > 1 && text.starts_with('0') {
        u64::from_str_radix(&text[1..], 8).ok()
    } else {
        text.parse().ok()
    }
}

/// The closest candidate by edit distance, if close enough to be a likely typo.
pub fn did_you_mean<'a>(word: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let len = word.chars().count();
    let limit = (len / 3).clamp(1, 4);
    // Lengths further apart than the limit cannot be within it: skipping them keeps a
    // megabyte-long unknown name linear instead of megabytes times every field name.
    let word = word.to_ascii_lowercase();
    candidates
        .filter(|c| c.chars().count().abs_diff(len) <= limit)
        .map(|c| (edit_distance(&word, &c.to_ascii_lowercase()), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

impl Value {
    /// The value as text (numbers, booleans, enum names, strings).
    pub fn to_text(&self) -> String {
        match self {
            Value::Int(v) => v.to_string(),
            Value::Uint(v) => v.to_string(),
            Value::Float(v) => v.to_string(),
            Value::Bool(v) => v.to_string(),
            Value::Str(s) | Value::Enum(s) => s.clone(),
            Value::Msg(_) => "{..}".to_owned(),
        }
    }

    pub fn as_i128(&self) -> Option<i128> {
        match self {
            Value::Int(v) => Some(i128::from(*v)),
            Value::Uint(v) => Some(i128::from(*v)),
            _ => None,
        }
    }
}

impl Msg {
    /// The effective (last) value of a field.
    pub fn get(&self, name: &str) -> Option<&Field> {
        self.fields.iter().rev().find(|f| f.desc.name == name)
    }

    /// Every value of a (repeated) field, in order.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Field> + 'a {
        self.fields.iter().filter(move |f| f.desc.name == name)
    }

    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    pub fn str(&self, name: &str) -> Option<&str> {
        match &self.get(name)?.value {
            Value::Str(s) | Value::Enum(s) => Some(s),
            _ => None,
        }
    }

    pub fn int(&self, name: &str) -> Option<i128> {
        self.get(name)?.value.as_i128()
    }

    pub fn bool(&self, name: &str) -> bool {
        matches!(self.get(name).map(|f| &f.value), Some(Value::Bool(true)))
    }

    pub fn msg(&self, name: &str) -> Option<&Msg> {
        match &self.get(name)?.value {
            Value::Msg(m) => Some(m),
            _ => None,
        }
    }

    pub fn msgs<'a>(&'a self, name: &'a str) -> impl Iterator<Item = (&'a Field, &'a Msg)> + 'a {
        self.all(name).filter_map(|f| match &f.value {
            Value::Msg(m) => Some((f, m)),
            _ => None,
        })
    }

    /// The effective entries of a map (the last of duplicate keys wins): key, entry field, value.
    pub fn map<'a>(&'a self, name: &'a str) -> Vec<(String, &'a Field, Option<&'a Value>)> {
        let mut out: Vec<(String, &Field, Option<&Value>)> = Vec::new();
        for (field, entry) in self.msgs(name) {
            let key = entry
                .get("key")
                .map(|k| k.value.to_text())
                .unwrap_or_default();
            out.retain(|(k, _, _)| *k != key);
            out.push((key, field, entry.get("value").map(|v| &v.value)));
        }
        out
    }

    /// A `map<string, string>` or `map<string, ModelParameter>` value as a string.
    pub fn map_string<'a>(&'a self, name: &'a str, key: &str) -> Option<(String, &'a Field)> {
        self.map(name)
            .into_iter()
            .find(|(k, _, _)| k == key)
            .map(|(_, f, v)| (param_text(v), f))
    }
}

/// The string of a `map<string, string>` value or of a `ModelParameter { string_value }`.
pub fn param_text(value: Option<&Value>) -> String {
    match value {
        Some(Value::Msg(m)) => m.str("string_value").unwrap_or_default().to_owned(),
        Some(v) => v.to_text(),
        None => String::new(),
    }
}

/// The field a scalar was given for, and the scalar as written.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ScalarAt {
    name: String,
    ty: String,
    value: String,
}

/// Why a scalar is not a valid value of its field (Triton's parser refuses it too).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum ScalarError {
    #[error("field `{}` is `{}`: `{}` is not a valid value", .0.name, .0.ty, .0.value)]
    Invalid(ScalarAt),
    #[error("field `{}` is `{}`: expected an integer, found `{}`", .0.name, .0.ty, .0.value)]
    NotInteger(ScalarAt),
    #[error("integer `{}` out of range for `{}` (`{}`)", .0.value, .0.name, .0.ty)]
    OutOfRange(ScalarAt),
    #[error("field `{}` is `{}` (unsigned): negative value `{}`", .0.name, .0.ty, .0.value)]
    Negative(ScalarAt),
    #[error("field `{}` is `{}`: expected a quoted string, found `{}`", .0.name, .0.ty, .0.value)]
    NotString(ScalarAt),
    #[error("unknown enum value `{id}` for `{name}` ({enum_name}){hint}")]
    UnknownEnum {
        id: String,
        name: String,
        enum_name: String,
        /// ` (did you mean `X`?)` or empty.
        hint: String,
    },
    #[error("integer `{}` out of range for enum `{}`", .0.value, .0.name)]
    EnumOutOfRange(ScalarAt),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::textformat::parse;

    fn check(src: &str) -> Validated {
        validate(&parse(src.as_bytes()).expect("syntax"))
    }

    fn one_error(src: &str) -> (u32, u32, String) {
        let v = check(src);
        assert_eq!(v.errors.len(), 1, "{src}: {:?}", v.errors);
        let e = &v.errors[0];
        (e.pos.line, e.pos.column, e.message.clone())
    }

    #[test]
    fn valid_config_has_no_errors() {
        let v = check(concat!(
            "name: \"m\" backend: \"onnxruntime\" max_batch_size: 8\n",
            "input [ { name: \"x\" data_type: TYPE_FP32 dims: [ -1, 3 ] } ]\n",
            "instance_group { kind: KIND_GPU count: 2 gpus: 0 gpus: [1] }\n",
            "dynamic_batching { max_queue_delay_microseconds: 100 priority_queue_policy { key: 1 value { max_queue_size: 4 } } }\n",
            "parameters { key: \"A\" value { string_value: \"b\" } }\n",
            "version_policy: { latest { num_versions: 2 } }\n",
            "optimization { cuda { graphs: t } }\n",
        ));
        assert!(v.errors.is_empty(), "{:?}", v.errors);
        let c = &v.config;
        assert_eq!(c.int("max_batch_size"), Some(8));
        assert_eq!(c.msg("instance_group").unwrap().all("gpus").count(), 2);
        assert_eq!(c.map_string("parameters", "A").unwrap().0, "b");
        let dims: Vec<_> = c
            .msgs("input")
            .next()
            .unwrap()
            .1
            .all("dims")
            .map(|f| f.path.clone())
            .collect();
        assert_eq!(dims, ["input[0].dims[0]", "input[0].dims[1]"]);
    }

    #[test]
    fn unknown_field_suggests() {
        let (l, c, m) = one_error("name: \"m\"\nmax_batch_sizes: 4");
        assert_eq!((l, c), (2, 1));
        assert!(m.contains("did you mean `max_batch_size`"), "{m}");
    }

    #[test]
    fn wrong_types_and_ranges() {
        assert!(
            one_error("max_batch_size: \"8\"")
                .2
                .contains("expected an integer")
        );
        assert!(
            one_error("max_batch_size: 1.5")
                .2
                .contains("expected an integer")
        );
        assert!(
            one_error("max_batch_size: 3000000000")
                .2
                .contains("out of range")
        );
        assert!(
            one_error("max_batch_size: 0x80000000")
                .2
                .contains("out of range")
        );
        assert!(check("max_batch_size: -2147483648").errors.is_empty());
        assert!(
            one_error("dynamic_batching { max_queue_delay_microseconds: -1 }")
                .2
                .contains("negative")
        );
        assert!(one_error("name: 5").2.contains("quoted string"));
        assert!(
            one_error("input { name: \"x\" dims { } }")
                .2
                .contains("not a message")
        );
        assert!(one_error("input: 4").2.contains("is a message"));
        assert!(
            one_error("max_batch_size: [1, 2]")
                .2
                .contains("not repeated")
        );
        assert!(
            one_error("response_cache { enable: 2 }")
                .2
                .contains("out of range")
        );
    }

    #[test]
    fn enums() {
        let (l, c, m) = one_error("instance_group [\n  { kind: KIND_GPUS }\n]");
        assert_eq!((l, c), (2, 11));
        assert!(m.contains("did you mean `KIND_GPU`"), "{m}");
        assert!(check("instance_group { kind: 1 }").errors.is_empty());
        assert!(check("instance_group { kind: 99 }").errors.is_empty());
    }

    #[test]
    fn duplicates_and_oneofs() {
        let (l, _, m) = one_error("max_batch_size: 4\nmax_batch_size: 8");
        assert_eq!(l, 2);
        assert!(m.contains("given twice (first at 1:1)"), "{m}");
        // A proto3 scalar left at its default is not "set": Triton accepts the second value.
        assert!(
            check("max_batch_size: 0\nmax_batch_size: 8")
                .errors
                .is_empty()
        );
        assert!(
            one_error("version_policy { all {} }\nversion_policy { all {} }")
                .2
                .contains("twice")
        );
        let (l, _, m) = one_error("dynamic_batching {}\nsequence_batching {}");
        assert_eq!(l, 2);
        assert!(m.contains("oneof `scheduling_choice`"), "{m}");
        assert!(
            one_error("version_policy { all {} latest {} }")
                .2
                .contains("policy_choice")
        );
    }

    #[test]
    fn duplicate_map_keys_are_kept_last() {
        let v = check(
            "parameters { key: \"P\" value { string_value: \"a\" } }\nparameters { key: \"P\" value { string_value: \"b\" } }",
        );
        assert!(v.errors.is_empty());
        assert_eq!(v.duplicate_keys.len(), 1);
        assert_eq!(v.duplicate_keys[0].pos.line, 2);
        assert_eq!(v.duplicate_keys[0].first.line, 1);
        assert_eq!(v.config.map_string("parameters", "P").unwrap().0, "b");
    }

    #[test]
    fn placeholders_in_strings() {
        let v = check("parameters { key: \"E\" value { string_value: \"${engine_dir}/x\" } }");
        assert!(v.errors.is_empty());
        assert_eq!(v.placeholders.len(), 1);
        assert_eq!(v.placeholders[0].text, "${engine_dir}");
        assert_eq!(
            v.placeholders[0].path,
            "parameters[\"E\"].value.string_value"
        );
    }
}
