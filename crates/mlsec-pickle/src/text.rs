//! The text operands of protocol-0 opcodes, parsed as CPython parses them.

use crate::R;

/// Result of parsing a protocol-0 integer.
#[derive(Debug, PartialEq, Eq)]
pub enum IntText {
    Small(i64),
    Big,
}

/// Parses the INT opcode's text the way `_pickle.load_int` does: C `strtol(s, &end, 0)`
/// (leading whitespace, sign, `0x` hex, leading-`0` octal), and when that does not consume
/// the whole line or overflows, Python's `int(s, 0)` (`0o`/`0b` prefixes, `_` separators).
pub fn parse_int_opcode(line: &[u8]) -> Option<IntText> {
    if let Some(v) = c_strtol(line) {
        return Some(IntText::Small(v));
    }
    parse_py_int(line)
}

/// C `strtol(s, &end, 0)` that must consume the whole input without overflow.
pub(crate) fn c_strtol(line: &[u8]) -> Option<i64> {
    let mut i = 0;
    while i < line.len() && matches!(line[i], b' ' | b'\t' | b'\x0b' | b'\x0c' | b'\r') {
        i += 1;
    }
    let neg = match line.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let rest = &line[i..];
    let (radix, digits) = if rest.len() > 2
        && rest[0] == b'0'
        && matches!(rest[1], b'x' | b'X')
        && rest[2].is_ascii_hexdigit()
    {
        (16, &rest[2..])
    } else if rest.first() == Some(&b'0') {
        (8, rest)
    } else {
        (10, rest)
    };
    if digits.is_empty() {
        return None;
    }
    let mut v: i64 = 0;
    for &b in digits {
        let d = char::from(b).to_digit(radix)?;
        v = v.checked_mul(i64::from(radix))?.checked_add(i64::from(d))?;
    }
    Some(if neg { -v } else { v })
}

/// Python's `int(s, 0)`: surrounding whitespace, sign, `0x`/`0o`/`0b` prefixes, single `_`
/// separators, no leading zeros on decimal numbers.
pub fn parse_py_int(line: &[u8]) -> Option<IntText> {
    let s = std::str::from_utf8(line).ok()?;
    let t = s.trim_matches([' ', '\t', '\x0b', '\x0c', '\r', '\n']);
    let (neg, t) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let lower = t.to_ascii_lowercase();
    let (radix, digits) = if let Some(r) = lower.strip_prefix("0x") {
        (16, r)
    } else if let Some(r) = lower.strip_prefix("0o") {
        (8, r)
    } else if let Some(r) = lower.strip_prefix("0b") {
        (2, r)
    } else {
        (10, lower.as_str())
    };
    let d = digits
        .strip_prefix('_')
        .filter(|_| radix != 10)
        .unwrap_or(digits);
    if d.starts_with('_') || d.ends_with('_') || d.contains("__") {
        return None;
    }
    let digits = d.replace('_', "");
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    // Python rejects decimal literals with leading zeros ("007"), except all zeros.
    if radix == 10
        && digits.len() > 1
        && digits.starts_with('0')
        && digits.bytes().any(|b| b != b'0')
    {
        return None;
    }
    match i64::from_str_radix(&digits, radix) {
        Ok(v) => Some(IntText::Small(if neg { -v } else { v })),
        Err(_) => Some(IntText::Big),
    }
}

pub(crate) fn parse_decimal(line: &[u8]) -> Option<u64> {
    match parse_int_opcode(line)? {
        IntText::Small(v) if v >= 0 => Some(v as u64),
        _ => None,
    }
}

pub(crate) fn parse_float(line: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(line).ok()?.trim_start();
    match s.to_ascii_lowercase().as_str() {
        "nan" | "+nan" | "-nan" => return Some(f64::NAN),
        "inf" | "+inf" | "infinity" | "+infinity" => return Some(f64::INFINITY),
        "-inf" | "-infinity" => return Some(f64::NEG_INFINITY),
        _ => {}
    }
    s.parse().ok()
}

/// The STRING opcode: a quoted Python 2 literal with backslash escapes.
pub(crate) fn decode_string_opcode(line: &[u8]) -> R<Vec<u8>> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.len() < 2 || line[0] != line[line.len() - 1] || !matches!(line[0], b'\'' | b'"') {
        return Err("the STRING opcode argument must be quoted".into());
    }
    decode_escapes(&line[1..line.len() - 1])
}

pub(crate) fn decode_escapes(s: &[u8]) -> R<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        i += 1;
        if c != b'\\' {
            out.push(c);
            continue;
        }
        let Some(&e) = s.get(i) else {
            return Err("trailing \\ in string".into());
        };
        i += 1;
        match e {
            b'\n' => {}
            b'\\' => out.push(b'\\'),
            b'\'' => out.push(b'\''),
            b'"' => out.push(b'"'),
            b'a' => out.push(7),
            b'b' => out.push(8),
            b'f' => out.push(12),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'v' => out.push(11),
            b'0'..=b'7' => {
                let mut v = u32::from(e - b'0');
                for _ in 0..2 {
                    match s.get(i) {
                        Some(&d @ b'0'..=b'7') => {
                            v = v * 8 + u32::from(d - b'0');
                            i += 1;
                        }
                        _ => break,
                    }
                }
                out.push((v & 0xff) as u8);
            }
            b'x' => {
                let hex = s.get(i..i + 2).ok_or("invalid \\x escape")?;
                let v = std::str::from_utf8(hex)
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or("invalid \\x escape")?;
                out.push(v);
                i += 2;
            }
            other => {
                out.push(b'\\');
                out.push(other);
            }
        }
    }
    Ok(out)
}

/// `raw-unicode-escape`: bytes are Latin-1 except `\uXXXX` and `\UXXXXXXXX`.
pub(crate) fn decode_raw_unicode_escape(s: &[u8]) -> R<String> {
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        if c == b'\\' && matches!(s.get(i + 1), Some(b'u' | b'U')) {
            let n = if s[i + 1] == b'u' { 4 } else { 8 };
            let hex = s.get(i + 2..i + 2 + n).ok_or("truncated \\uXXXX escape")?;
            let v = std::str::from_utf8(hex)
                .ok()
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .ok_or("truncated \\uXXXX escape")?;
            out.push(char::from_u32(v).unwrap_or('\u{fffd}'));
            i += 2 + n;
        } else {
            out.push(char::from(c));
            i += 1;
        }
    }
    Ok(out)
}

/// `b` as text, exactly like `std::str::from_utf8`, but ASCII (nearly every key of a vocabulary
/// or state dict) is recognised with one word-at-a-time test instead of the byte-wise
/// validator: for ten-byte keys that was 110 instructions a string, a quarter of a 14 MB
/// vocabulary pickle's scan.
#[allow(unsafe_code)]
pub(crate) fn utf8(b: &[u8]) -> Result<&str, std::str::Utf8Error> {
    if b.is_ascii() {
        // SAFETY: every ASCII byte sequence is valid UTF-8.
        return Ok(unsafe { std::str::from_utf8_unchecked(b) });
    }
    std::str::from_utf8(b)
}

/// UTF-8 that is valid when surrogate code points are allowed (`surrogatepass`).
pub(crate) fn utf8_surrogatepass_ok(b: &[u8]) -> bool {
    let mut i = 0;
    while i < b.len() {
        match std::str::from_utf8(&b[i..]) {
            Ok(_) => return true,
            Err(e) => {
                i += e.valid_up_to();
                // ED A0..BF xx encodes U+D800..U+DFFF.
                if b.get(i) == Some(&0xED)
                    && b.get(i + 1).is_some_and(|c| (0xA0..=0xBF).contains(c))
                    && b.get(i + 2).is_some_and(|c| (0x80..=0xBF).contains(c))
                {
                    i += 3;
                } else {
                    return false;
                }
            }
        }
    }
    true
}
