//! numpy `.npy`: magic, version, a Python-literal header dict, then the array body (raw
//! elements, or a pickle for object arrays).

use crate::dtype::DType;

pub const MAGIC: &[u8] = b"\x93NUMPY";

#[derive(Debug, Clone, PartialEq)]
pub enum NpyBody {
    /// Raw elements; `big_endian` ones must be swapped before use.
    Array { dtype: DType, big_endian: bool },
    /// `dtype=object`: the body is a pickle.
    Object,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Npy {
    pub body: NpyBody,
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
    let header = std::str::from_utf8(header).map_err(|_| NpyError("header is not text".into()))?;
    let mut p = Lit {
        s: header.as_bytes(),
        i: 0,
    };
    let dict = p.dict()?;
    let mut descr = None;
    let mut shape = None;
    let mut fortran = None;
    for (k, v) in dict {
        match (k.as_str(), v) {
            ("descr", LitVal::Str(s)) => descr = Some(s),
            ("descr", LitVal::Other) => return err("structured dtypes are not supported"),
            ("shape", LitVal::Tuple(t)) => shape = Some(t),
            ("fortran_order", LitVal::Bool(b)) => fortran = Some(b),
            (k, _) => return err(format!("unexpected header key or value `{k}`")),
        }
    }
    let (Some(descr), Some(shape), Some(fortran_order)) = (descr, shape, fortran) else {
        return err("header lacks descr, shape or fortran_order");
    };
    let body = if descr == "|O" || descr == "O" {
        NpyBody::Object
    } else {
        let (dtype, big_endian) = DType::from_numpy(&descr)
            .ok_or_else(|| NpyError(format!("unsupported dtype `{descr}`")))?;
        NpyBody::Array { dtype, big_endian }
    };
    let npy = Npy {
        body,
        descr,
        shape,
        fortran_order,
        data_offset: start + len,
    };
    if let NpyBody::Array { dtype, .. } = npy.body {
        let need = npy
            .numel()
            .and_then(|n| n.checked_mul(dtype.size() as u64))
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

enum LitVal {
    Str(String),
    Bool(bool),
    Tuple(Vec<u64>),
    Other,
}

/// The tiny Python-literal subset numpy writes: `{'k': 'v', 'k': True, 'k': (1, 2), }`.
struct Lit<'a> {
    s: &'a [u8],
    i: usize,
}

impl Lit<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
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
    fn string(&mut self) -> Result<String, NpyError> {
        self.ws();
        let q = *self
            .s
            .get(self.i)
            .ok_or_else(|| NpyError("truncated header".into()))?;
        if q != b'\'' && q != b'"' {
            return err("expected a string in the header");
        }
        let start = self.i + 1;
        let end = self.s[start..]
            .iter()
            .position(|&c| c == q)
            .ok_or_else(|| NpyError("unterminated string".into()))?
            + start;
        self.i = end + 1;
        Ok(String::from_utf8_lossy(&self.s[start..end]).into_owned())
    }
    fn value(&mut self) -> Result<LitVal, NpyError> {
        self.ws();
        match self.s.get(self.i) {
            Some(b'\'' | b'"') => Ok(LitVal::Str(self.string()?)),
            Some(b'(') => {
                self.i += 1;
                let mut v = Vec::new();
                loop {
                    if self.eat(b')') {
                        return Ok(LitVal::Tuple(v));
                    }
                    self.ws();
                    let start = self.i;
                    while self.s.get(self.i).is_some_and(u8::is_ascii_digit) {
                        self.i += 1;
                    }
                    let n = std::str::from_utf8(&self.s[start..self.i])
                        .ok()
                        .and_then(|t| t.parse().ok())
                        .ok_or_else(|| NpyError("bad shape".into()))?;
                    v.push(n);
                    if v.len() > 64 {
                        return err("too many dimensions");
                    }
                    self.eat(b',');
                }
            }
            Some(b'[') => Ok(LitVal::Other),
            _ => {
                if self.s[self.i..].starts_with(b"True") {
                    self.i += 4;
                    Ok(LitVal::Bool(true))
                } else if self.s[self.i..].starts_with(b"False") {
                    self.i += 5;
                    Ok(LitVal::Bool(false))
                } else {
                    err("unexpected value in header")
                }
            }
        }
    }
    fn dict(&mut self) -> Result<Vec<(String, LitVal)>, NpyError> {
        if !self.eat(b'{') {
            return err("header is not a dict");
        }
        let mut out = Vec::new();
        loop {
            if self.eat(b'}') {
                return Ok(out);
            }
            let k = self.string()?;
            if !self.eat(b':') {
                return err("expected `:` in header");
            }
            let v = self.value()?;
            if matches!(v, LitVal::Other) {
                out.push((k, v));
                return Ok(out);
            }
            out.push((k, v));
            self.eat(b',');
            if out.len() > 16 {
                return err("header has too many keys");
            }
        }
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
}
