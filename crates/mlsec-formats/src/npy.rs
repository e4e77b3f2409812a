//! numpy `.npy`: magic, version, a Python-literal header dict, then the array body (raw
//! elements, or a pickle for object arrays).

use crate::dtype::DType;

pub const MAGIC: &[u8] = b"\x93NUMPY";

#[derive(Debug, Clone, PartialEq)]
pub enum NpyBody {
    /// Raw elements; `big_endian` ones must be swapped before use.
    Array { dtype: DType, big_endian: bool },
    /// The dtype holds a Python object somewhere (`O` under any spelling, an object field of a
    /// structured dtype, an object sub-array): numpy unpickles the body.
    Object,
    /// Raw records of a dtype with no [`DType`] (strings, datetimes, structured, void), of
    /// `itemsize` bytes each: read and size-checked, no statistics.
    Records { itemsize: u64 },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Npy {
    pub body: NpyBody,
    /// The descr as numpy would print it back (`<f4`, `|O`, `[('a', '<i4'), ...]`).
    pub descr: String,
    pub shape: Vec<u64>,
    pub fortran_order: bool,
    /// Offset of the body in the given bytes.
    pub data_offset: usize,
}

impl Npy {
    pub fn numel(&self) -> Option<u64> {
        self.shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d))
    }
}

#[derive(Debug, thiserror::Error)]
#[error("invalid .npy: {0}")]
pub struct NpyError(pub String);

fn err<T>(m: impl Into<String>) -> Result<T, NpyError> {
    Err(NpyError(m.into()))
}

/// Reads a `.npy` header the way `numpy.lib.format.read_array` does: the header is a Python
/// literal (`ast.literal_eval`, so any quoting, escapes, adjacent-string concatenation and
/// Python 2 `10L` integers), `descr` is any dtype description numpy accepts (a dtype string, a
/// `(base, shape)` sub-array, or a list of structured fields), and the array is pickled when the
/// dtype holds an object anywhere.
pub fn parse(data: &[u8]) -> Result<Npy, NpyError> {
    if !data.starts_with(MAGIC) || data.len() < 10 {
        return err("missing magic");
    }
    let (len, start) = match data[6] {
        1 => (usize::from(u16::from_le_bytes([data[8], data[9]])), 10usize),
        2 | 3 => {
            let b = data
                .get(8..12)
                .ok_or_else(|| NpyError("truncated header".into()))?;
            (u32::from_le_bytes(b.try_into().expect("4")) as usize, 12)
        }
        v => return err(format!("unsupported version {v}")),
    };
    let header = data
        .get(start..start.saturating_add(len))
        .ok_or_else(|| NpyError("header runs past the end".into()))?;
    // Version 3 headers are UTF-8, older ones latin-1; the literal syntax is ASCII either way.
    let header = match std::str::from_utf8(header) {
        Ok(h) => std::borrow::Cow::Borrowed(h),
        Err(_) => header.iter().map(|&b| char::from(b)).collect(),
    };
    let dict = match Lit::new(&header).document()? {
        Py::Dict(d) => d,
        _ => return err("header is not a dict"),
    };
    let mut descr = None;
    let mut shape = None;
    let mut fortran = None;
    for (k, v) in dict {
        match (k, v) {
            (Py::Str(k), v) if k == "descr" => descr = Some(v),
            (Py::Str(k), Py::Tuple(t)) if k == "shape" => shape = Some(dims(&t)?),
            (Py::Str(k), Py::Bool(b)) if k == "fortran_order" => fortran = Some(b),
            (Py::Str(k), _) => return err(format!("unexpected header key or value `{k}`")),
            _ => return err("header keys must be strings"),
        }
    }
    let (Some(descr), Some(shape), Some(fortran_order)) = (descr, shape, fortran) else {
        return err("header lacks descr, shape or fortran_order");
    };
    let info = dtype_of(&descr, 0)?;
    let body = if info.has_object {
        NpyBody::Object
    } else if let Some((dtype, big_endian)) = info.simple {
        NpyBody::Array { dtype, big_endian }
    } else {
        NpyBody::Records {
            itemsize: info.itemsize,
        }
    };
    let npy = Npy {
        body,
        descr: match &descr {
            Py::Str(s) => s.clone(),
            other => other.to_string(),
        },
        shape,
        fortran_order,
        data_offset: start + len,
    };
    if !info.has_object {
        let need = npy
            .numel()
            .and_then(|n| n.checked_mul(info.itemsize))
            .ok_or_else(|| NpyError("shape overflows".into()))?;
        let have = (data.len() - npy.data_offset) as u64;
        if need != have {
            return err(format!(
                "body holds {have} bytes, shape and dtype need {need}"
            ));
        }
    }
    Ok(npy)
}

fn dims(t: &[Py]) -> Result<Vec<u64>, NpyError> {
    if t.len() > 64 {
        return err("too many dimensions");
    }
    t.iter()
        .map(|d| match d {
            Py::Int(i) => u64::try_from(*i).map_err(|_| NpyError("negative dimension".into())),
            _ => err("bad shape"),
        })
        .collect()
}

/// What a descr means for reading the body.
struct DtypeInfo {
    has_object: bool,
    itemsize: u64,
    /// A plain numeric dtype statistics can read.
    simple: Option<(DType, bool)>,
}

/// `numpy.lib.format.descr_to_dtype`: a string, a `(base, shape)` tuple, or a list of fields
/// `(name, descr[, shape])` whose names may be `(title, name)` pairs.
fn dtype_of(v: &Py, depth: usize) -> Result<DtypeInfo, NpyError> {
    if depth > 32 {
        return err("dtype is nested too deeply");
    }
    match v {
        Py::Str(s) => dtype_str(s),
        Py::Tuple(t) if t.len() == 2 => {
            let base = dtype_of(&t[0], depth + 1)?;
            let n = match &t[1] {
                Py::Int(n) => u64::try_from(*n).ok(),
                Py::Tuple(d) => dims(d)?.iter().try_fold(1u64, |a, &d| a.checked_mul(d)),
                _ => return err("bad sub-array shape in dtype"),
            }
            .ok_or_else(|| NpyError("sub-array shape overflows".into()))?;
            Ok(DtypeInfo {
                has_object: base.has_object,
                itemsize: base
                    .itemsize
                    .checked_mul(n)
                    .ok_or_else(|| NpyError("dtype size overflows".into()))?,
                simple: None,
            })
        }
        Py::List(fields) => {
            let mut out = DtypeInfo {
                has_object: false,
                itemsize: 0,
                simple: None,
            };
            for f in fields {
                let Py::Tuple(parts) = f else {
                    return err("structured dtype field is not a tuple");
                };
                let field = match parts.as_slice() {
                    [_, d] => dtype_of(d, depth + 1)?,
                    [_, d, shape] => {
                        dtype_of(&Py::Tuple(vec![d.clone(), shape.clone()]), depth + 1)?
                    }
                    _ => return err("structured dtype field has the wrong length"),
                };
                out.has_object |= field.has_object;
                out.itemsize = out
                    .itemsize
                    .checked_add(field.itemsize)
                    .ok_or_else(|| NpyError("dtype size overflows".into()))?;
            }
            Ok(out)
        }
        _ => err(format!("unsupported descr `{v}`")),
    }
}

/// A dtype string as `numpy.dtype(str)` reads it: comma-separated fields, an optional
/// `(shape)` prefix, a byte order, then a type code with its size (`f4`, `U10`, `M8[ns]`, `O8`)
/// or a type name (`float32`, `object`).
fn dtype_str(s: &str) -> Result<DtypeInfo, NpyError> {
    let s = s.trim();
    // Commas outside a `(shape)` separate the fields of a structured dtype (`'i4,O'`).
    let mut depth = 0i32;
    let parts: Vec<&str> = s
        .split(|c| {
            match c {
                '(' => depth += 1,
                ')' => depth -= 1,
                _ => {}
            }
            c == ',' && depth == 0
        })
        .collect();
    if parts.len() > 1 {
        let fields: Vec<Py> = parts
            .into_iter()
            .filter(|f| !f.trim().is_empty())
            .enumerate()
            .map(|(i, f)| Py::Tuple(vec![Py::Str(format!("f{i}")), Py::Str(f.trim().to_owned())]))
            .collect();
        return dtype_of(&Py::List(fields), 1);
    }
    if let Some(rest) = s.strip_prefix('(') {
        let close = rest
            .find(')')
            .ok_or_else(|| NpyError(format!("unsupported dtype `{s}`")))?;
        let shape: Vec<Py> = rest[..close]
            .split(',')
            .filter(|d| !d.trim().is_empty())
            .map(|d| d.trim().parse::<i128>().map(Py::Int))
            .collect::<Result<_, _>>()
            .map_err(|_| NpyError(format!("unsupported dtype `{s}`")))?;
        return dtype_of(
            &Py::Tuple(vec![
                Py::Str(rest[close + 1..].to_owned()),
                Py::Tuple(shape),
            ]),
            1,
        );
    }
    let (big, code) = match s.as_bytes().first() {
        Some(b'>' | b'!') => (true, &s[1..]),
        Some(b'<' | b'=' | b'|') => (false, &s[1..]),
        _ => (false, s),
    };
    let record = |itemsize: u64| DtypeInfo {
        has_object: false,
        itemsize,
        simple: None,
    };
    if is_object_code(code) {
        return Ok(DtypeInfo {
            has_object: true,
            itemsize: 8,
            simple: None,
        });
    }
    let canonical = match code {
        "float64" | "double" | "d" | "float" => "f8",
        "f" | "float32" | "single" => "f4",
        "float16" | "half" | "e" => "f2",
        "int64" | "l" | "q" | "int" | "long" | "longlong" | "intp" | "p" => "i8",
        "int32" | "i" | "intc" => "i4",
        "int16" | "h" | "short" => "i2",
        "int8" | "b" | "byte" => "i1",
        "uint64" | "L" | "Q" | "uint" | "ulong" | "ulonglong" | "uintp" | "P" => "u8",
        "uint32" | "I" | "uintc" => "u4",
        "uint16" | "H" | "ushort" => "u2",
        "uint8" | "B" | "ubyte" => "u1",
        "bool" | "bool_" | "?" | "b1" => "b1",
        "complex64" | "F" | "csingle" => "c8",
        "complex128" | "D" | "complex" | "cdouble" => "c16",
        other => other,
    };
    if let Some((dtype, big_endian)) = DType::from_numpy(canonical) {
        return Ok(DtypeInfo {
            has_object: false,
            itemsize: dtype.size() as u64,
            simple: Some((dtype, big_endian || (big && dtype.size() > 1))),
        });
    }
    let (kind, rest) = code.split_at(code.chars().next().map_or(0, char::len_utf8));
    let size = |digits: &str| -> Result<u64, NpyError> {
        if digits.is_empty() {
            return Ok(0);
        }
        digits
            .parse()
            .map_err(|_| NpyError(format!("unsupported dtype `{s}`")))
    };
    match kind {
        // Byte strings, unicode (4 bytes a character), raw void records.
        "S" | "a" | "V" => Ok(record(size(rest)?)),
        "U" => Ok(record(
            size(rest)?
                .checked_mul(4)
                .ok_or_else(|| NpyError("dtype size overflows".into()))?,
        )),
        // Datetimes and timedeltas: 8 bytes, with an optional `[unit]`.
        "M" | "m" => {
            let digits = rest.split('[').next().unwrap_or("");
            match digits {
                "" | "8" => Ok(record(8)),
                _ => err(format!("unsupported dtype `{s}`")),
            }
        }
        _ => match code {
            // x87 extended precision, as `long double` is stored on x86-64.
            "f16" | "g" | "longdouble" => Ok(record(16)),
            "c32" | "G" | "clongdouble" => Ok(record(32)),
            "str" | "str_" | "unicode" | "bytes" | "bytes_" | "void" => Ok(record(0)),
            "datetime64" | "timedelta64" => Ok(record(8)),
            _ => err(format!("unsupported dtype `{s}`")),
        },
    }
}

/// numpy's object type under every spelling `numpy.dtype` accepts: `O`, `O8`/`O4` (the pointer
/// size), `object`, `object_`, `object0`.
pub fn is_object_code(code: &str) -> bool {
    let code = code.trim_start_matches(['<', '>', '|', '=', '!']);
    matches!(code, "object" | "object_" | "object0")
        || code
            .strip_prefix('O')
            .is_some_and(|rest| rest.chars().all(|c| c.is_ascii_digit()))
}

/// A Python literal, as much of `ast.literal_eval` as a header can use.
#[derive(Debug, Clone, PartialEq)]
enum Py {
    Str(String),
    Bytes(Vec<u8>),
    Int(i128),
    Float(f64),
    Bool(bool),
    None,
    Tuple(Vec<Py>),
    List(Vec<Py>),
    Dict(Vec<(Py, Py)>),
}

impl std::fmt::Display for Py {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let seq = |f: &mut std::fmt::Formatter<'_>, items: &[Py]| -> std::fmt::Result {
            for (i, x) in items.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{x}")?;
            }
            Ok(())
        };
        match self {
            Py::Str(s) => write!(f, "'{}'", s.escape_default()),
            Py::Bytes(b) => write!(f, "b'{}'", b.escape_ascii()),
            Py::Int(i) => write!(f, "{i}"),
            Py::Float(x) => write!(f, "{x}"),
            Py::Bool(true) => f.write_str("True"),
            Py::Bool(false) => f.write_str("False"),
            Py::None => f.write_str("None"),
            Py::Tuple(t) => {
                f.write_str("(")?;
                seq(f, t)?;
                if t.len() == 1 {
                    f.write_str(",")?;
                }
                f.write_str(")")
            }
            Py::List(l) => {
                f.write_str("[")?;
                seq(f, l)?;
                f.write_str("]")
            }
            Py::Dict(d) => {
                f.write_str("{")?;
                for (i, (k, v)) in d.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k}: {v}")?;
                }
                f.write_str("}")
            }
        }
    }
}

/// A recursive-descent reader of Python literals, bounded in depth and size.
struct Lit<'a> {
    s: &'a [u8],
    i: usize,
    depth: usize,
}

impl<'a> Lit<'a> {
    fn new(s: &'a str) -> Lit<'a> {
        Lit {
            s: s.as_bytes(),
            i: 0,
            depth: 0,
        }
    }

    fn document(&mut self) -> Result<Py, NpyError> {
        let v = self.value()?;
        self.ws();
        if self.i != self.s.len() {
            return err("unexpected text after the header dict");
        }
        Ok(v)
    }

    fn ws(&mut self) {
        while let Some(&c) = self.s.get(self.i) {
            if c.is_ascii_whitespace() {
                self.i += 1;
            } else if c == b'\\' && self.s.get(self.i + 1) == Some(&b'\n') {
                self.i += 2; // line continuation
            } else {
                break;
            }
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        self.ws();
        if self.s.get(self.i) == Some(&c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn value(&mut self) -> Result<Py, NpyError> {
        self.depth += 1;
        if self.depth > 64 {
            return err("header literal is nested too deeply");
        }
        let v = self.value_inner();
        self.depth -= 1;
        v
    }

    fn value_inner(&mut self) -> Result<Py, NpyError> {
        self.ws();
        let Some(&c) = self.s.get(self.i) else {
            return err("truncated header");
        };
        match c {
            b'{' => {
                self.i += 1;
                let mut out = Vec::new();
                while !self.eat(b'}') {
                    let k = self.value()?;
                    if !self.eat(b':') {
                        return err("expected `:` in header");
                    }
                    let v = self.value()?;
                    out.push((k, v));
                    if !self.eat(b',') {
                        if !self.eat(b'}') {
                            return err("expected `,` or `}` in header");
                        }
                        break;
                    }
                }
                Ok(Py::Dict(out))
            }
            b'(' | b'[' => {
                self.i += 1;
                let close = if c == b'(' { b')' } else { b']' };
                let mut items = Vec::new();
                let mut comma = false;
                while !self.eat(close) {
                    items.push(self.value()?);
                    comma = self.eat(b',');
                    if !comma {
                        if !self.eat(close) {
                            return err("expected `,` or a closing bracket in header");
                        }
                        break;
                    }
                }
                Ok(if c == b'[' {
                    Py::List(items)
                } else if items.len() == 1 && !comma {
                    items.pop().expect("one item") // `(x)` is just x
                } else {
                    Py::Tuple(items)
                })
            }
            _ if self.string_start().is_some() => {
                // Adjacent literals concatenate (`'<' 'f4'`), as in Python source.
                let mut out = self.string()?;
                while self.string_start().is_some() {
                    match (&mut out, self.string()?) {
                        (Py::Str(a), Py::Str(b)) => a.push_str(&b),
                        (Py::Bytes(a), Py::Bytes(b)) => a.extend(b),
                        _ => return err("cannot mix bytes and str literals"),
                    }
                }
                Ok(out)
            }
            b'-' | b'+' | b'0'..=b'9' | b'.' => self.number(),
            _ => {
                let start = self.i;
                while self
                    .s
                    .get(self.i)
                    .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
                {
                    self.i += 1;
                }
                match &self.s[start..self.i] {
                    b"True" => Ok(Py::Bool(true)),
                    b"False" => Ok(Py::Bool(false)),
                    b"None" => Ok(Py::None),
                    _ => err("unexpected value in header"),
                }
            }
        }
    }

    /// The quote position when a (possibly prefixed) string literal starts here.
    fn string_start(&mut self) -> Option<usize> {
        self.ws();
        let mut j = self.i;
        while j < self.i + 2 && self.s.get(j).is_some_and(|c| b"rRbBuU".contains(c)) {
            j += 1;
        }
        matches!(self.s.get(j), Some(b'\'' | b'"')).then_some(j)
    }

    fn string(&mut self) -> Result<Py, NpyError> {
        let q_at = self.string_start().expect("checked by the caller");
        let prefix = self.s[self.i..q_at].to_ascii_lowercase();
        let raw = prefix.contains(&b'r');
        let bytes = prefix.contains(&b'b');
        let q = self.s[q_at];
        let triple = self.s.get(q_at..q_at + 3) == Some(&[q, q, q][..]);
        let open = if triple { 3 } else { 1 };
        let mut i = q_at + open;
        let mut out: Vec<u32> = Vec::new();
        loop {
            let Some(&c) = self.s.get(i) else {
                return err("unterminated string in header");
            };
            if c == q && (!triple || self.s.get(i..i + 3) == Some(&[q, q, q][..])) {
                i += open;
                break;
            }
            if c == b'\n' && !triple {
                return err("unterminated string in header");
            }
            if c == b'\\' {
                let e = *self
                    .s
                    .get(i + 1)
                    .ok_or_else(|| NpyError("unterminated string in header".into()))?;
                if raw {
                    out.push(u32::from(c));
                    out.push(u32::from(e));
                    i += 2;
                    continue;
                }
                i += 2;
                let hex = |s: &[u8], n: usize, at: usize| -> Result<u32, NpyError> {
                    s.get(at..at + n)
                        .and_then(|h| std::str::from_utf8(h).ok())
                        .and_then(|h| u32::from_str_radix(h, 16).ok())
                        .ok_or_else(|| NpyError("bad escape in header string".into()))
                };
                match e {
                    b'\n' => {}
                    b'\\' | b'\'' | b'"' => out.push(u32::from(e)),
                    b'a' => out.push(7),
                    b'b' => out.push(8),
                    b'f' => out.push(12),
                    b'n' => out.push(10),
                    b'r' => out.push(13),
                    b't' => out.push(9),
                    b'v' => out.push(11),
                    b'x' => {
                        out.push(hex(self.s, 2, i)?);
                        i += 2;
                    }
                    b'u' if !bytes => {
                        out.push(hex(self.s, 4, i)?);
                        i += 4;
                    }
                    b'U' if !bytes => {
                        out.push(hex(self.s, 8, i)?);
                        i += 8;
                    }
                    b'0'..=b'7' => {
                        let mut v = u32::from(e - b'0');
                        for _ in 0..2 {
                            match self.s.get(i) {
                                Some(&d @ b'0'..=b'7') => {
                                    v = v * 8 + u32::from(d - b'0');
                                    i += 1;
                                }
                                _ => break,
                            }
                        }
                        out.push(v);
                    }
                    b'N' if !bytes => return err("named unicode escapes are not supported"),
                    other => {
                        out.push(u32::from(b'\\'));
                        out.push(u32::from(other));
                    }
                }
                continue;
            }
            // Multi-byte UTF-8 characters pass through whole.
            let len = match c {
                0xf0..=0xff => 4,
                0xe0..=0xef => 3,
                0xc0..=0xdf => 2,
                _ => 1,
            };
            let chunk = self.s.get(i..i + len).unwrap_or(&self.s[i..i + 1]);
            match std::str::from_utf8(chunk) {
                Ok(ch) => out.extend(ch.chars().map(u32::from)),
                Err(_) => out.push(u32::from(c)),
            }
            i += chunk.len();
        }
        self.i = i;
        if bytes {
            Ok(Py::Bytes(out.iter().map(|&c| c as u8).collect()))
        } else {
            Ok(Py::Str(
                out.iter()
                    .map(|&c| char::from_u32(c).unwrap_or('\u{fffd}'))
                    .collect(),
            ))
        }
    }

    fn number(&mut self) -> Result<Py, NpyError> {
        let start = self.i;
        while self
            .s
            .get(self.i)
            .is_some_and(|c| c.is_ascii_alphanumeric() || b"+-._".contains(c))
        {
            self.i += 1;
        }
        let text = std::str::from_utf8(&self.s[start..self.i]).expect("ascii");
        // Python 2 headers write `10L` (numpy filters the suffix out before evaluating).
        let text = text.strip_suffix(['L', 'l']).unwrap_or(text);
        let (neg, digits) = match text.as_bytes().first() {
            Some(b'-') => (true, &text[1..]),
            Some(b'+') => (false, &text[1..]),
            _ => (false, text),
        };
        let clean = digits.replace('_', "");
        let (radix, body) = match clean.get(..2) {
            Some("0x" | "0X") => (16, &clean[2..]),
            Some("0o" | "0O") => (8, &clean[2..]),
            Some("0b" | "0B") => (2, &clean[2..]),
            _ => (10, clean.as_str()),
        };
        if let Ok(v) = i128::from_str_radix(body, radix) {
            return Ok(Py::Int(if neg { -v } else { v }));
        }
        text.parse::<f64>()
            .map(Py::Float)
            .map_err(|_| NpyError(format!("bad number `{text}` in header")))
    }
}

/// Writes a `.npy` (v1) for fixtures and tests.
pub fn write(descr: &str, shape: &[u64], body: &[u8]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(u64::to_string).collect();
    let shape = match dims.len() {
        1 => format!("({},)", dims[0]),
        _ => format!("({})", dims.join(", ")),
    };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip() {
        let f = write("<f4", &[2, 3], &[0u8; 24]);
        let n = parse(&f).unwrap();
        assert_eq!(n.shape, [2, 3]);
        assert_eq!(
            n.body,
            NpyBody::Array {
                dtype: DType::F32,
                big_endian: false
            }
        );
        assert_eq!(n.data_offset % 64, 0);
        assert!(parse(&f[..f.len() - 1]).is_err());
        let o = write("|O", &[2], b"\x80\x02N.");
        assert_eq!(parse(&o).unwrap().body, NpyBody::Object);
    }

    fn header(h: &str, body: &[u8]) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&[1, 0]);
        out.extend_from_slice(&(h.len() as u16).to_le_bytes());
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(body);
        out
    }

    #[test]
    fn every_spelling_of_an_object_dtype_is_an_object_array() {
        for descr in [
            "'|O'",
            "'O'",
            "'|O8'",
            "'<O'",
            "'>O8'",
            "'=O'",
            "'O8'",
            "'object'",
            "'\\x7cO'",
            "'|' 'O'",
            "u'|O'",
            "[('a', '<i4'), ('b', '|O')]",
            "[('a', [('x', '<f4'), ('y', 'O')])]",
            "('|O', (2,))",
            "[(('title', 'a'), '|O8', (3,))]",
            "'i4,O'",
            "'(2,)O'",
        ] {
            let h = format!("{{'descr': {descr}, 'fortran_order': False, 'shape': (1,), }}\n");
            let parsed =
                parse(&header(&h, b"\x80\x02N.")).unwrap_or_else(|e| panic!("{descr}: {e}"));
            assert_eq!(parsed.body, NpyBody::Object, "{descr}");
        }
    }

    #[test]
    fn genuine_non_numeric_headers_read() {
        let cases: [(&str, u64, usize); 8] = [
            ("'|S5'", 5, 3),
            ("'<U4'", 16, 2),
            ("'<M8[ns]'", 8, 2),
            ("'<m8[D]'", 8, 1),
            ("[('x', '<f8'), ('n', '<i4'), ('', '|V4')]", 16, 2),
            ("[('row', '<f4', (2, 3))]", 24, 1),
            ("'|V12'", 12, 2),
            ("'<f8,<i4'", 12, 2),
        ];
        for (descr, itemsize, n) in cases {
            let h = format!("{{'descr': {descr}, 'fortran_order': False, 'shape': ({n}L,), }}\n");
            let body = vec![0u8; itemsize as usize * n];
            let parsed = parse(&header(&h, &body)).unwrap_or_else(|e| panic!("{descr}: {e}"));
            assert_eq!(parsed.body, NpyBody::Records { itemsize }, "{descr}");
            assert!(parse(&header(&h, &body[1..])).is_err(), "{descr}");
        }
        // Numeric spellings map to statistics dtypes, big-endian noted.
        let h = "{'descr': '>f2', 'fortran_order': True, 'shape': (2, 2), }\n";
        let parsed = parse(&header(h, &[0; 8])).unwrap();
        assert_eq!(
            parsed.body,
            NpyBody::Array {
                dtype: DType::F16,
                big_endian: true
            }
        );
        assert!(parsed.fortran_order);
    }

    #[test]
    fn hostile_headers_are_errors() {
        for h in [
            "{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}",
            "{'descr': '<f4', 'fortran_order': False}",
            "{'descr': 'nonsense', 'fortran_order': False, 'shape': (1,)}",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (1,)} trailing",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (1,)",
            "{'descr': '<f4",
        ] {
            assert!(parse(&header(h, &[0; 4])).is_err(), "{h}");
        }
        let deep = format!(
            "{{'descr': {}'<f4'{}, 'fortran_order': False, 'shape': (1,)}}",
            "[".repeat(5000),
            "]".repeat(5000)
        );
        assert!(parse(&header(&deep, &[0; 4])).is_err());
    }
}
