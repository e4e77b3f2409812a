//! Protobuf text format, as the C++ `TextFormat` parser that Triton uses accepts it, into an
//! untyped tree where every field, value and block keeps its position.
//!
//! Accepted: `#` comments; `name: value` and `name { .. }` / `name: { .. }` / `name < .. >`;
//! lists `name: [a, b]` and `name [ {..}, {..} ]`; `,` or `;` after any field; adjacent string
//! concatenation with C escapes (`\n`, `\x41`, `\101`, `\u00e9`); decimal, hex and octal
//! integers; floats with exponent and `f` suffix, `inf`, `nan`; a leading `-`. Which colon is
//! required and which value fits which field is the schema's business ([`crate::validate`]).

use std::fmt;

/// A 1-based line and column (columns count characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Pos {
    pub line: u32,
    pub column: u32,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// A syntax error at a position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub pos: Pos,
    pub message: String,
}

/// Nesting deeper than this is refused (protobuf's own default recursion limit).
pub const MAX_DEPTH: usize = 100;

/// A message body: `{ field... }`, or the whole file.
#[derive(Debug, Clone)]
pub struct RawMessage {
    /// The opening delimiter (1:1 for the file).
    pub pos: Pos,
    pub fields: Vec<RawField>,
}

/// `name [:] value`.
#[derive(Debug, Clone)]
pub struct RawField {
    pub name: String,
    pub pos: Pos,
    pub value: RawValue,
}

#[derive(Debug, Clone)]
pub enum RawValue {
    Message(RawMessage),
    /// `[ .. ]` at `pos`.
    List {
        pos: Pos,
        items: Vec<RawValue>,
    },
    Scalar(RawScalar),
}

impl RawValue {
    pub fn pos(&self) -> Pos {
        match self {
            RawValue::Message(m) => m.pos,
            RawValue::List { pos, .. } => *pos,
            RawValue::Scalar(s) => s.pos,
        }
    }
}

/// One scalar token, possibly negated.
#[derive(Debug, Clone)]
pub struct RawScalar {
    pub pos: Pos,
    pub negative: bool,
    pub token: ScalarToken,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ScalarToken {
    Ident(String),
    /// Integer literal as written (`12`, `0x1f`, `017`).
    Int(String),
    /// Float literal as written (`1.5`, `1e3`, `2f`).
    Float(String),
    /// Concatenated, unescaped string bytes.
    Str(Vec<u8>),
}

impl fmt::Display for RawScalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.negative {
            f.write_str("-")?;
        }
        match &self.token {
            ScalarToken::Ident(s) | ScalarToken::Int(s) | ScalarToken::Float(s) => f.write_str(s),
            ScalarToken::Str(b) => write!(f, "{:?}", String::from_utf8_lossy(b)),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Int(String),
    Float(String),
    Str(Vec<u8>),
    Punct(u8),
    Eof,
}

impl fmt::Display for Tok {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tok::Ident(s) | Tok::Int(s) | Tok::Float(s) => write!(f, "`{s}`"),
            Tok::Str(_) => f.write_str("a string"),
            Tok::Punct(c) => write!(f, "`{}`", *c as char),
            Tok::Eof => f.write_str("end of file"),
        }
    }
}

struct Lexer<'a> {
    src: &'a [u8],
    at: usize,
    line: u32,
    column: u32,
}

type Res<T> = Result<T, SyntaxError>;

impl<'a> Lexer<'a> {
    fn pos(&self) -> Pos {
        Pos {
            line: self.line,
            column: self.column,
        }
    }

    fn peek_byte(&self, ahead: usize) -> Option<u8> {
        self.src.get(self.at + ahead).copied()
    }

    fn bump(&mut self) -> Option<u8> {
        let b = *self.src.get(self.at)?;
        self.at += 1;
        if b == b'\n' {
            self.line += 1;
            self.column = 1;
        } else if b & 0xC0 != 0x80 {
            // One column per character: UTF-8 continuation bytes do not count.
            self.column += 1;
        }
        Some(b)
    }

    fn err<T>(&self, pos: Pos, message: impl Into<String>) -> Res<T> {
        Err(SyntaxError {
            pos,
            message: message.into(),
        })
    }

    fn skip_trivia(&mut self) {
        while let Some(b) = self.peek_byte(0) {
            match b {
                b' ' | b'\t' | b'\r' | b'\n' | 0x0b | 0x0c => {
                    self.bump();
                }
                b'#' => {
                    while let Some(b) = self.peek_byte(0) {
                        if b == b'\n' {
                            break;
                        }
                        self.bump();
                    }
                }
                _ => break,
            }
        }
    }

    fn next(&mut self) -> Res<(Tok, Pos)> {
        self.skip_trivia();
        let pos = self.pos();
        let Some(b) = self.peek_byte(0) else {
            return Ok((Tok::Eof, pos));
        };
        let tok = match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'_' => {
                let start = self.at;
                while matches!(
                    self.peek_byte(0),
                    Some(b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_')
                ) {
                    self.bump();
                }
                Tok::Ident(String::from_utf8_lossy(&self.src[start..self.at]).into_owned())
            }
            b'0'..=b'9' => self.number(pos)?,
            b'.' if matches!(self.peek_byte(1), Some(b'0'..=b'9')) => self.number(pos)?,
            b'"' | b'\'' => Tok::Str(self.string(pos)?),
            b'{' | b'}' | b'<' | b'>' | b'[' | b']' | b':' | b',' | b';' | b'-' | b'/' | b'.' => {
                self.bump();
                Tok::Punct(b)
            }
            b'$' if self.peek_byte(1) == Some(b'{') => {
                let rest = &self.src[self.at..];
                let end = rest.iter().take(200).position(|&c| c == b'}' || c == b'\n');
                let text = match end {
                    Some(e) if rest[e] == b'}' => String::from_utf8_lossy(&rest[..=e]).into_owned(),
                    _ => "${".to_owned(),
                };
                return self.err(
                    pos,
                    format!(
                        "unrendered template placeholder `{text}`: this is a template, render it \
                         before deploying or scanning"
                    ),
                );
            }
            _ => {
                let ch = std::str::from_utf8(&self.src[self.at..(self.at + 4).min(self.src.len())])
                    .ok()
                    .or_else(|| {
                        (1..4).rev().find_map(|n| {
                            std::str::from_utf8(self.src.get(self.at..self.at + n)?).ok()
                        })
                    })
                    .and_then(|s| s.chars().next());
                let shown = match ch {
                    Some(c) if !c.is_control() => format!("`{c}`"),
                    _ => format!("byte 0x{b:02x}"),
                };
                return self.err(pos, format!("unexpected character {shown}"));
            }
        };
        Ok((tok, pos))
    }

    fn number(&mut self, pos: Pos) -> Res<Tok> {
        let start = self.at;
        let mut float = false;
        let digits = |l: &mut Self, pred: fn(u8) -> bool| {
            let mut n = 0;
            while l.peek_byte(0).is_some_and(pred) {
                l.bump();
                n += 1;
            }
            n
        };
        if self.peek_byte(0) == Some(b'0') && matches!(self.peek_byte(1), Some(b'x' | b'X')) {
            self.bump();
            self.bump();
            if digits(self, |b| b.is_ascii_hexdigit()) == 0 {
                return self.err(pos, "\"0x\" must be followed by hex digits");
            }
        } else if self.peek_byte(0) == Some(b'0') && matches!(self.peek_byte(1), Some(b'0'..=b'9'))
        {
            self.bump();
            digits(self, |b| b.is_ascii_digit());
            let text = &self.src[start..self.at];
            if text.iter().any(|b| *b > b'7') {
                return self.err(pos, "numbers starting with leading zero must be in octal");
            }
        } else {
            digits(self, |b| b.is_ascii_digit());
            if self.peek_byte(0) == Some(b'.') {
                self.bump();
                float = true;
                digits(self, |b| b.is_ascii_digit());
            }
            if matches!(self.peek_byte(0), Some(b'e' | b'E')) {
                self.bump();
                float = true;
                if matches!(self.peek_byte(0), Some(b'+' | b'-')) {
                    self.bump();
                }
                if digits(self, |b| b.is_ascii_digit()) == 0 {
                    return self.err(pos, "\"e\" must be followed by exponent");
                }
            }
            if matches!(self.peek_byte(0), Some(b'f' | b'F')) {
                self.bump();
                float = true;
            }
        }
        if matches!(self.peek_byte(0), Some(b'a'..=b'z' | b'A'..=b'Z' | b'_')) {
            return self.err(self.pos(), "need space between number and identifier");
        }
        let text = String::from_utf8_lossy(&self.src[start..self.at]).into_owned();
        Ok(if float {
            Tok::Float(text)
        } else {
            Tok::Int(text)
        })
    }

    fn string(&mut self, pos: Pos) -> Res<Vec<u8>> {
        let quote = self.bump().expect("at a quote");
        let mut out = Vec::new();
        loop {
            let here = self.pos();
            match self.peek_byte(0) {
                None => return self.err(pos, "unterminated string literal"),
                Some(b'\n') => {
                    return self.err(pos, "string literals cannot cross line boundaries");
                }
                Some(b) if b == quote => {
                    self.bump();
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.bump();
                    let Some(e) = self.bump() else {
                        return self.err(pos, "unterminated string literal");
                    };
                    match e {
                        b'a' => out.push(0x07),
                        b'b' => out.push(0x08),
                        b'f' => out.push(0x0c),
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'v' => out.push(0x0b),
                        b'\\' | b'?' | b'\'' | b'"' => out.push(e),
                        b'0'..=b'7' => {
                            let mut v = u32::from(e - b'0');
                            for _ in 0..2 {
                                match self.peek_byte(0) {
                                    Some(d @ b'0'..=b'7') => {
                                        self.bump();
                                        v = v * 8 + u32::from(d - b'0');
                                    }
                                    _ => break,
                                }
                            }
                            out.push((v & 0xff) as u8);
                        }
                        b'x' | b'X' => {
                            let mut v = 0u32;
                            let mut n = 0;
                            while n < 2 && self.peek_byte(0).is_some_and(|b| b.is_ascii_hexdigit())
                            {
                                let d = self.bump().expect("peeked");
                                v = v * 16 + (d as char).to_digit(16).expect("hex digit");
                                n += 1;
                            }
                            if n == 0 {
                                return self.err(here, "expected hex digits for escape sequence");
                            }
                            out.push(v as u8);
                        }
                        b'u' | b'U' => {
                            let want = if e == b'u' { 4 } else { 8 };
                            let mut v = 0u32;
                            for _ in 0..want {
                                match self.peek_byte(0) {
                                    Some(d) if d.is_ascii_hexdigit() => {
                                        self.bump();
                                        v = v.saturating_mul(16)
                                            + (d as char).to_digit(16).expect("hex digit");
                                    }
                                    _ => {
                                        return self.err(
                                            here,
                                            "expected hex digits for unicode escape sequence",
                                        );
                                    }
                                }
                            }
                            let Some(c) = char::from_u32(v) else {
                                return self.err(here, "invalid unicode escape sequence");
                            };
                            let mut buf = [0u8; 4];
                            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                        }
                        _ => return self.err(here, "invalid escape sequence in string literal"),
                    }
                }
                Some(_) => {
                    out.push(self.bump().expect("peeked"));
                }
            }
        }
    }
}

struct Parser<'a> {
    lexer: Lexer<'a>,
    tok: Tok,
    pos: Pos,
    depth: usize,
}

/// Parses a whole text-format document.
pub fn parse(src: &[u8]) -> Result<RawMessage, SyntaxError> {
    let mut lexer = Lexer {
        src,
        at: 0,
        line: 1,
        column: 1,
    };
    // A UTF-8 byte-order mark is not part of the text.
    if src.starts_with(&[0xEF, 0xBB, 0xBF]) {
        lexer.at = 3;
    }
    let (tok, pos) = lexer.next()?;
    let mut parser = Parser {
        lexer,
        tok,
        pos,
        depth: 0,
    };
    let fields = parser.fields(None)?;
    Ok(RawMessage {
        pos: Pos { line: 1, column: 1 },
        fields,
    })
}

impl Parser<'_> {
    fn advance(&mut self) -> Res<()> {
        let (tok, pos) = self.lexer.next()?;
        self.tok = tok;
        self.pos = pos;
        Ok(())
    }

    fn err<T>(&self, message: impl Into<String>) -> Res<T> {
        Err(SyntaxError {
            pos: self.pos,
            message: message.into(),
        })
    }

    fn is_punct(&self, c: u8) -> bool {
        self.tok == Tok::Punct(c)
    }

    /// Fields until `close` (or end of file when `close` is `None`).
    fn fields(&mut self, close: Option<u8>) -> Res<Vec<RawField>> {
        let mut fields = Vec::new();
        loop {
            match (&self.tok, close) {
                (Tok::Eof, None) => return Ok(fields),
                (Tok::Eof, Some(c)) => {
                    return self.err(format!(
                        "expected `{}` or a field name, found end of file",
                        c as char
                    ));
                }
                (Tok::Punct(p), Some(c)) if *p == c => {
                    self.advance()?;
                    return Ok(fields);
                }
                _ => {}
            }
            fields.push(self.field()?);
            if self.is_punct(b',') || self.is_punct(b';') {
                self.advance()?;
            }
        }
    }

    fn field(&mut self) -> Res<RawField> {
        let pos = self.pos;
        let name = match &self.tok {
            Tok::Ident(name) => name.clone(),
            Tok::Punct(b'[') => {
                return self.err(
                    "extension and `Any` fields (`[name]`) are not part of inference.ModelConfig",
                );
            }
            other => return self.err(format!("expected a field name, found {other}")),
        };
        self.advance()?;
        let colon = self.is_punct(b':');
        if colon {
            self.advance()?;
        }
        let value = if self.is_punct(b'[') {
            let list_pos = self.pos;
            self.advance()?;
            let mut items = Vec::new();
            if self.is_punct(b']') {
                self.advance()?;
            } else {
                loop {
                    items.push(self.value(colon)?);
                    if self.is_punct(b',') {
                        self.advance()?;
                    } else if self.is_punct(b']') {
                        self.advance()?;
                        break;
                    } else {
                        return self
                            .err(format!("expected `,` or `]` in list, found {}", self.tok));
                    }
                }
            }
            RawValue::List {
                pos: list_pos,
                items,
            }
        } else {
            self.value(colon)?
        };
        Ok(RawField { name, pos, value })
    }

    /// A message or a scalar. Without a preceding colon only a message may follow.
    fn value(&mut self, scalar_ok: bool) -> Res<RawValue> {
        let pos = self.pos;
        if self.is_punct(b'{') || self.is_punct(b'<') {
            let close = if self.is_punct(b'{') { b'}' } else { b'>' };
            self.depth += 1;
            if self.depth > MAX_DEPTH {
                return self.err(format!("message nesting deeper than {MAX_DEPTH} levels"));
            }
            self.advance()?;
            let fields = self.fields(Some(close))?;
            self.depth -= 1;
            return Ok(RawValue::Message(RawMessage { pos, fields }));
        }
        let negative = self.is_punct(b'-');
        if negative {
            self.advance()?;
        }
        let token = match &self.tok {
            Tok::Ident(s) => ScalarToken::Ident(s.clone()),
            Tok::Int(s) => ScalarToken::Int(s.clone()),
            Tok::Float(s) => ScalarToken::Float(s.clone()),
            Tok::Str(_) if !negative => {
                let mut bytes = Vec::new();
                while let Tok::Str(b) = &self.tok {
                    bytes.extend_from_slice(b);
                    self.advance()?;
                }
                if !scalar_ok {
                    return Err(SyntaxError {
                        pos,
                        message: "expected `:` before the string value".to_owned(),
                    });
                }
                return Ok(RawValue::Scalar(RawScalar {
                    pos,
                    negative,
                    token: ScalarToken::Str(bytes),
                }));
            }
            other => {
                let what = if negative {
                    "a number after `-`"
                } else {
                    "a value"
                };
                return self.err(format!("expected {what}, found {other}"));
            }
        };
        if !scalar_ok {
            return Err(SyntaxError {
                pos,
                message: format!("expected `:` before the scalar value {}", self.tok),
            });
        }
        self.advance()?;
        Ok(RawValue::Scalar(RawScalar {
            pos,
            negative,
            token,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(src: &str) -> RawMessage {
        parse(src.as_bytes()).unwrap_or_else(|e| panic!("{src:?}: {}: {}", e.pos, e.message))
    }

    fn err(src: &str) -> (u32, u32, String) {
        let e = parse(src.as_bytes()).expect_err(src);
        (e.pos.line, e.pos.column, e.message)
    }

    #[test]
    fn accepts_the_textformat_variants() {
        let m = ok(concat!(
            "# comment\n",
            "name: \"a\" 'b' \"\\x41\\101\\n\"\n",
            "input [ { name: \"x\" dims: [ -1, 0x10, 017 ] }, < name: 'y' > ];\n",
            "output: { dims: 4 },\n",
            "f: -inf g: nan h: 1.5e3f i: .5 j: 2f k: True\n",
        ));
        assert_eq!(m.fields.len(), 9);
        assert_eq!(m.fields[0].name, "name");
        match &m.fields[0].value {
            RawValue::Scalar(s) => assert_eq!(s.token, ScalarToken::Str(b"abAA\n".to_vec())),
            v => panic!("{v:?}"),
        }
        assert_eq!(m.fields[1].pos, Pos { line: 3, column: 1 });
        match &m.fields[1].value {
            RawValue::List { items, pos } => {
                assert_eq!(items.len(), 2);
                assert_eq!(*pos, Pos { line: 3, column: 7 });
                assert_eq!(
                    items[1].pos(),
                    Pos {
                        line: 3,
                        column: 48
                    }
                );
            }
            v => panic!("{v:?}"),
        }
        match &m.fields[3].value {
            RawValue::Scalar(s) => {
                assert!(s.negative);
                assert_eq!(s.token, ScalarToken::Ident("inf".into()));
            }
            v => panic!("{v:?}"),
        }
    }

    #[test]
    fn columns_count_characters() {
        let m = ok("name: \"é\" x: 1");
        assert_eq!(
            m.fields[1].pos,
            Pos {
                line: 1,
                column: 11
            }
        );
    }

    fn at(src: &str) -> (u32, u32) {
        let (l, c, _) = err(src);
        (l, c)
    }

    #[test]
    fn syntax_errors_have_positions() {
        assert_eq!(err("a {\n b: 1\n").0, 3);
        assert_eq!(at("a: \"x\n\""), (1, 4));
        assert_eq!(at("a: 1 }"), (1, 6));
        assert_eq!(at("a: 12ab"), (1, 6));
        assert_eq!(at("a: 09"), (1, 4));
        assert_eq!(at("a: [1 2]"), (1, 7));
        assert_eq!(at("a: \"\\q\""), (1, 5));
        let (l, c, m) = err("a {\n  b: ${batch}\n}");
        assert_eq!((l, c), (2, 6));
        assert!(m.contains("`${batch}`"), "{m}");
        assert!(err(&"a {".repeat(200)).2.contains("nesting"));
        assert!(err("a: @").2.contains("`@`"));
    }
}
