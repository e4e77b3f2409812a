//! Jinja chat templates (`tokenizer.chat_template` and `tokenizer.chat_template.<name>` in GGUF
//! metadata): lexed the way Jinja's lexer does (text, `{# #}` comments, `{% raw %}` blocks,
//! `{{ }}` and `{% %}` code with bracket balancing, string literals with Python escapes), then
//! the code is searched for the constructs a template needs to reach Python objects: the
//! llama-cpp-python CVE-2024-34359 class, where a model's template is rendered by a
//! non-sandboxed `jinja2.Environment` and walks `().__class__.__base__.__subclasses__()` to
//! `os.popen`.
//!
//! Text outside code is output verbatim by Jinja and never checked. Nothing is rendered.
//!
//! What is reported, and why a benign chat template has none of it (checked on the chat
//! templates of real models, see `docs/checkpoint.md`):
//! - a name or attribute that is a dunder (`__class__`, `__globals__`, `__import__`), or an
//!   attribute starting with `_` (`self._TemplateReference__context`, `x()._module`): Jinja's
//!   own sandbox refuses `_`-prefixed attributes, and chat templates only read message fields;
//! - a string literal (after unescaping `\x5f` and friends) or a string built from literals
//!   (`"__cla" ~ "ss__"`, `"_" * 2 ~ "class"`, `["__","class","__"]|join`, `"__SSALC__"|lower|reverse`)
//!   that spells a dunder;
//! - the `attr` filter (a computed attribute lookup) and `format` with `%c` (characters made
//!   from numbers);
//! - attribute access on Jinja's global objects and framework globals (`cycler.`, `joiner.`,
//!   `lipsum.`, `namespace.`, `self.`, `range.`, `request.`, `config.`), and calls of `popen`,
//!   `system`, `eval`, `exec`, `import_module`, `check_output` as methods;
//! - a character taken out of an object's string form (`(()|select|string)[24]`, `x|string|list`).

/// One offending construct: where it is in the template, why, and the code around it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    /// Byte offset within the template.
    pub offset: usize,
    pub construct: String,
    /// The code block around it, sanitised and truncated.
    pub snippet: String,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Name(String),
    Str(String),
    Int(i64),
    Num,
    Op(&'static str),
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    start: usize,
}

const OPS: &[&str] = &[
    "**", "//", "==", "!=", ">=", "<=", "+", "-", "/", "*", "%", "~", "[", "]", "(", ")", "{", "}",
    ",", ".", ":", "|", "=", "<", ">", ";",
];

/// Jinja globals and framework objects whose attributes lead to Python internals.
const GLOBAL_OBJECTS: &[&str] = &[
    "cycler",
    "joiner",
    "lipsum",
    "namespace",
    "self",
    "range",
    "dict",
    "request",
    "config",
    "url_for",
    "get_flashed_messages",
];

/// Methods that run commands or code once reached.
const EXEC_METHODS: &[&str] = &[
    "popen",
    "system",
    "eval",
    "exec",
    "import_module",
    "check_output",
    "getoutput",
    "spawn",
    "execl",
    "execv",
    "load_module",
];

/// The offending constructs of a template, in order.
pub fn check(template: &str) -> Vec<Site> {
    let mut sites = Vec::new();
    for block in blocks(template) {
        let tokens = lex(template, block.start, block.end);
        check_block(template, &block, &tokens, &mut sites);
    }
    sites
}

/// A code block: the byte range of its inside.
struct Block {
    start: usize,
    end: usize,
}

/// The code blocks of a template, skipping text, comments and raw blocks.
fn blocks(t: &str) -> Vec<Block> {
    let b = t.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(p) = find(b, i, b"{") {
        let Some(&next) = b.get(p + 1) else { break };
        match next {
            b'#' => {
                i = find(b, p + 2, b"#}").map_or(b.len(), |e| e + 2);
            }
            b'{' | b'%' => {
                let mut s = p + 2;
                if matches!(b.get(s), Some(b'-' | b'+')) {
                    s += 1;
                }
                let end = code_end(t, s, next == b'%');
                if next == b'%' && is_raw(&t[s..end.0]) {
                    i = raw_end(b, end.1);
                    continue;
                }
                out.push(Block {
                    start: s,
                    end: end.0,
                });
                i = end.1;
            }
            _ => i = p + 1,
        }
    }
    out
}

fn find(b: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    b.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

fn is_raw(code: &str) -> bool {
    code.trim_matches(|c: char| c.is_whitespace() || c == '-' || c == '+') == "raw"
}

/// After `{% raw %}`: the position after the matching `{% endraw %}`.
fn raw_end(b: &[u8], mut i: usize) -> usize {
    while let Some(p) = find(b, i, b"{%") {
        let mut j = p + 2;
        while j < b.len() && (b[j].is_ascii_whitespace() || b[j] == b'-' || b[j] == b'+') {
            j += 1;
        }
        if b[j..].starts_with(b"endraw") {
            return find(b, j, b"%}").map_or(b.len(), |e| e + 2);
        }
        i = p + 2;
    }
    b.len()
}

/// The end of a code block starting at `s`: (end of its inside, position after the closer).
/// Strings are skipped and closers inside open brackets ignored, as Jinja's lexer does.
fn code_end(t: &str, s: usize, statement: bool) -> (usize, usize) {
    let b = t.as_bytes();
    let closer: &[u8] = if statement { b"%}" } else { b"}}" };
    let mut depth = 0usize;
    let mut i = s;
    while i < b.len() {
        if depth == 0 && b[i..].starts_with(closer) {
            let inner = if i > s && matches!(b[i - 1], b'-' | b'+') {
                i - 1
            } else {
                i
            };
            return (inner, i + 2);
        }
        match b[i] {
            b'\'' | b'"' => i = string_end(b, i),
            b'(' | b'[' | b'{' => {
                depth += 1;
                i += 1;
            }
            b')' | b']' | b'}' => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            _ => i += 1,
        }
    }
    (b.len().min(i), b.len())
}

/// The position after the string literal opening at `i` (the end of input if unterminated).
fn string_end(b: &[u8], i: usize) -> usize {
    let q = b[i];
    let mut j = i + 1;
    while j < b.len() {
        match b[j] {
            b'\\' => j += 2,
            c if c == q => return j + 1,
            _ => j += 1,
        }
    }
    b.len()
}

fn lex(t: &str, start: usize, end: usize) -> Vec<Token> {
    let b = t.as_bytes();
    let mut out = Vec::new();
    let mut i = start;
    while i < end {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c == b'\'' || c == b'"' {
            let e = string_end(b, i).min(end);
            // Without its closing quote when it has one (an unterminated literal runs to the end).
            let close = if e > i + 1 && b[e - 1] == c { e - 1 } else { e };
            let body = &t[i + 1..close];
            out.push(Token {
                tok: Tok::Str(unescape(body)),
                start: i,
            });
            i = e;
        } else if c.is_ascii_digit() {
            let s = i;
            while i < end && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'.') {
                i += 1;
            }
            let text = t[s..i].replace('_', "");
            let tok = if let Some(h) = text.strip_prefix("0x") {
                i64::from_str_radix(h, 16).map_or(Tok::Num, Tok::Int)
            } else {
                text.parse().map_or(Tok::Num, Tok::Int)
            };
            out.push(Token { tok, start: s });
        } else if c == b'_' || c.is_ascii_alphabetic() || c >= 0x80 {
            let s = i;
            while i < end && (b[i] == b'_' || b[i].is_ascii_alphanumeric() || b[i] >= 0x80) {
                i += 1;
            }
            out.push(Token {
                tok: Tok::Name(t[s..i].to_owned()),
                start: s,
            });
        } else {
            let op = OPS.iter().find(|op| b[i..end].starts_with(op.as_bytes()));
            match op {
                Some(op) => {
                    out.push(Token {
                        tok: Tok::Op(op),
                        start: i,
                    });
                    i += op.len();
                }
                None => i += 1,
            }
        }
    }
    out
}

/// Python's `unicode-escape` decoding of a Jinja string literal's body.
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let Some(e) = it.next() else {
            out.push('\\');
            break;
        };
        let hex = |n: usize, it: &mut std::iter::Peekable<std::str::Chars<'_>>| {
            let h: String = (0..n).filter_map(|_| it.next()).collect();
            u32::from_str_radix(&h, 16)
                .ok()
                .and_then(char::from_u32)
                .unwrap_or('\u{fffd}')
        };
        match e {
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            'a' => out.push('\x07'),
            'b' => out.push('\x08'),
            'f' => out.push('\x0c'),
            'v' => out.push('\x0b'),
            '\n' => {}
            'x' => out.push(hex(2, &mut it)),
            'u' => out.push(hex(4, &mut it)),
            'U' => out.push(hex(8, &mut it)),
            'N' => {
                let mut name = String::new();
                if it.peek() == Some(&'{') {
                    it.next();
                    for c in it.by_ref() {
                        if c == '}' {
                            break;
                        }
                        name.push(c);
                    }
                }
                out.push(match name.to_ascii_uppercase().as_str() {
                    "LOW LINE" | "SPACING UNDERSCORE" => '_',
                    "FULL STOP" | "PERIOD" => '.',
                    _ => '\u{fffd}',
                });
            }
            '0'..='7' => {
                let mut v = e.to_digit(8).expect("octal");
                for _ in 0..2 {
                    match it.peek().and_then(|c| c.to_digit(8)) {
                        Some(d) => {
                            v = v * 8 + d;
                            it.next();
                        }
                        None => break,
                    }
                }
                out.push(char::from_u32(v).unwrap_or('\u{fffd}'));
            }
            other => {
                // `\\`, `\'`, `\"` and unknown escapes (kept with their backslash).
                if !matches!(other, '\\' | '\'' | '"') {
                    out.push('\\');
                }
                out.push(other);
            }
        }
    }
    out
}

/// Whether a string spells a dunder name (`__x__` somewhere in it).
fn has_dunder(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while let Some(p) = find(b, i, b"__") {
        let mut j = p + 2;
        while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
            j += 1;
        }
        let inner = &s[p + 2..j];
        let name = inner.trim_end_matches('_');
        if !name.is_empty()
            && inner.len() - name.len() >= 2
            && name.bytes().next().is_some_and(|c| c.is_ascii_alphabetic())
        {
            return true;
        }
        i = p + 2;
    }
    false
}

fn check_block(t: &str, block: &Block, tokens: &[Token], sites: &mut Vec<Site>) {
    let mut push = |offset: usize, construct: String| {
        sites.push(Site {
            offset,
            construct,
            snippet: snippet(t, block, offset),
        });
    };
    let op = |i: usize| match tokens.get(i).map(|t| &t.tok) {
        Some(Tok::Op(o)) => Some(*o),
        _ => None,
    };
    let mut folded_until = 0;
    for (i, tok) in tokens.iter().enumerate() {
        let after_dot = i > 0 && op(i - 1) == Some(".");
        let after_pipe = i > 0 && op(i - 1) == Some("|");
        match &tok.tok {
            Tok::Name(n) => {
                if n.len() > 4 && n.starts_with("__") && n.ends_with("__") {
                    push(tok.start, format!("dunder name `{n}`"));
                } else if after_dot && n.starts_with('_') {
                    push(tok.start, format!("private attribute `{n}`"));
                } else if after_pipe && n == "attr" {
                    push(
                        tok.start,
                        "`attr` filter (computed attribute lookup)".into(),
                    );
                } else if after_pipe && n == "format" && format_has_char_code(tokens, i) {
                    push(
                        tok.start,
                        "`format` with `%c` (characters built from numbers)".into(),
                    );
                } else if !after_dot
                    && GLOBAL_OBJECTS.contains(&n.as_str())
                    && matches!(op(i + 1), Some(".") | Some("["))
                {
                    push(tok.start, format!("attribute of the global object `{n}`"));
                } else if after_dot && EXEC_METHODS.contains(&n.as_str()) && op(i + 1) == Some("(")
                {
                    push(tok.start, format!("call of the method `{n}`"));
                } else if after_pipe && n == "string" && string_mined(tokens, i) {
                    push(
                        tok.start,
                        "characters taken from an object's string form".into(),
                    );
                }
            }
            Tok::Str(s) if has_dunder(s) => {
                push(
                    tok.start,
                    format!("string `{}` spells a dunder", clip(s, 40)),
                );
            }
            _ => {}
        }
        let foldable = match &tok.tok {
            Tok::Str(_) | Tok::Op("[" | "(") => true,
            Tok::Int(_) => op(i + 1) == Some("*"),
            _ => false,
        };
        if foldable
            && i >= folded_until
            && let Some((value, next, built)) = fold(tokens, i, 0)
        {
            folded_until = next;
            if built && has_dunder(&value) {
                push(
                    tok.start,
                    format!("string built from pieces spells `{}`", clip(&value, 40)),
                );
            }
        }
    }
}

/// `|format(` whose format string (the string before the pipe) holds `%c`.
fn format_has_char_code(tokens: &[Token], i: usize) -> bool {
    i >= 2 && matches!(&tokens[i - 2].tok, Tok::Str(s) if s.contains("%c"))
}

/// `x|string|list`, or `(...|string)[N]`: indexing into an object's repr.
fn string_mined(tokens: &[Token], i: usize) -> bool {
    let op = |j: usize| match tokens.get(j).map(|t| &t.tok) {
        Some(Tok::Op(o)) => Some(*o),
        _ => None,
    };
    let is_name =
        |j: usize, n: &str| matches!(tokens.get(j).map(|t| &t.tok), Some(Tok::Name(m)) if m == n);
    (op(i + 1) == Some("|") && is_name(i + 2, "list"))
        || (op(i + 1) == Some(")") && op(i + 2) == Some("["))
        || op(i + 1) == Some("[")
}

/// Folds a string expression made only of literals starting at `i`: adjacent strings, `~` and
/// `+` between them, `* N` / `N *` repetition, lists joined with `|join`, and the filters
/// `lower`, `upper`, `reverse`, `title`, `capitalize`, `trim`, `string`, `replace`. Returns the
/// value, the index after it, and whether it was built (more than one literal, or transformed).
fn fold(tokens: &[Token], i: usize, depth: usize) -> Option<(String, usize, bool)> {
    if depth > 16 {
        return None;
    }
    let (mut value, mut j, mut built) = fold_term(tokens, i, depth)?;
    while let Some(Tok::Op("~" | "+")) = tokens.get(j).map(|t| &t.tok) {
        let Some((v, next, _)) = fold_term(tokens, j + 1, depth) else {
            break;
        };
        value.push_str(&v);
        if value.len() > MAX_FOLD {
            return None;
        }
        j = next;
        built = true;
    }
    Some((value, j, built))
}

fn fold_term(tokens: &[Token], i: usize, depth: usize) -> Option<(String, usize, bool)> {
    if depth > 16 {
        return None;
    }
    let tok = |j: usize| tokens.get(j).map(|t| &t.tok);
    let (mut value, mut j, mut built) = match tok(i)? {
        Tok::Str(s) => {
            let mut v = s.clone();
            let mut j = i + 1;
            let mut built = false;
            while let Some(Tok::Str(s)) = tok(j) {
                v.push_str(s);
                j += 1;
                built = true;
            }
            (v, j, built)
        }
        Tok::Int(n) if tok(i + 1) == Some(&Tok::Op("*")) => {
            let (v, j, _) = fold_term(tokens, i + 2, depth + 1)?;
            (repeat(&v, *n)?, j, true)
        }
        Tok::Op("(") => {
            let (v, j, b) = fold(tokens, i + 1, depth + 1)?;
            if tok(j) != Some(&Tok::Op(")")) {
                return None;
            }
            (v, j + 1, b)
        }
        Tok::Op("[") => {
            // A list of string literals: only meaningful when joined.
            let mut items = Vec::new();
            let mut j = i + 1;
            loop {
                let (v, next, _) = fold(tokens, j, depth + 1)?;
                items.push(v);
                j = next;
                match tok(j)? {
                    Tok::Op(",") => j += 1,
                    Tok::Op("]") => break,
                    _ => return None,
                }
            }
            j += 1;
            if tok(j) != Some(&Tok::Op("|")) || tok(j + 1) != Some(&Tok::Name("join".into())) {
                return None;
            }
            let mut sep = String::new();
            j += 2;
            if tok(j) == Some(&Tok::Op("(")) {
                if let Some(Tok::Str(s)) = tok(j + 1) {
                    sep = s.clone();
                }
                while j < tokens.len() && tok(j) != Some(&Tok::Op(")")) {
                    j += 1;
                }
                j += 1;
            }
            let joined = items.join(&sep);
            if joined.len() > MAX_FOLD {
                return None;
            }
            (joined, j, true)
        }
        _ => return None,
    };
    loop {
        match (tok(j), tok(j + 1)) {
            (Some(Tok::Op("*")), Some(Tok::Int(n))) => {
                value = repeat(&value, *n)?;
                j += 2;
                built = true;
            }
            (Some(Tok::Op("|")), Some(Tok::Name(f))) => {
                match f.as_str() {
                    "lower" => value = value.to_lowercase(),
                    "upper" => value = value.to_uppercase(),
                    "reverse" => value = value.chars().rev().collect(),
                    "title" | "capitalize" | "trim" | "string" | "e" | "escape" => {}
                    "replace" => {
                        let (
                            Some(Tok::Op("(")),
                            Some(Tok::Str(a)),
                            Some(Tok::Op(",")),
                            Some(Tok::Str(b)),
                        ) = (tok(j + 2), tok(j + 3), tok(j + 4), tok(j + 5))
                        else {
                            break;
                        };
                        if !a.is_empty() {
                            value = value.replace(a.as_str(), b);
                        }
                        if value.len() > MAX_FOLD {
                            return None;
                        }
                        // Past the closing parenthesis (a count argument is ignored).
                        j += 6;
                        while j < tokens.len() && tok(j) != Some(&Tok::Op(")")) {
                            j += 1;
                        }
                        j += 1;
                        built = true;
                        continue;
                    }
                    _ => break,
                }
                j += 2;
                built = true;
                if value.len() > MAX_FOLD {
                    return None;
                }
            }
            _ => break,
        }
    }
    Some((value, j, built))
}

/// The longest string folded from literals (a dunder name is short; longer text is prose).
const MAX_FOLD: usize = 4096;

fn repeat(s: &str, n: i64) -> Option<String> {
    let n = usize::try_from(n).unwrap_or(0);
    if s.len().saturating_mul(n) > MAX_FOLD {
        return None;
    }
    Some(s.repeat(n))
}

fn clip(s: &str, n: usize) -> String {
    let clean = sanitise(s);
    if clean.chars().count() <= n {
        clean
    } else {
        clean.chars().take(n).collect::<String>() + "…"
    }
}

/// Control and bidirectional-override characters as `\u{..}` escapes.
fn sanitise(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control()
            || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
        {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// The code around `offset`: at most 60 bytes before and 100 after, within the block.
fn snippet(t: &str, block: &Block, offset: usize) -> String {
    let floor = |mut i: usize| {
        while !t.is_char_boundary(i) {
            i -= 1;
        }
        i
    };
    let s = floor(offset.saturating_sub(60).max(block.start));
    let e = floor((offset + 100).min(block.end).max(s));
    let mut out = String::new();
    if s > block.start {
        out.push('…');
    }
    out.push_str(&sanitise(t[s..e].trim()));
    if e < block.end {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn constructs(t: &str) -> Vec<String> {
        check(t).into_iter().map(|s| s.construct).collect()
    }

    #[test]
    fn cve_2024_34359_payload_is_found_with_offset_and_snippet() {
        let t = "{% for x in ().__class__.__base__.__subclasses__() %}{% if \"warning\" in x.__name__ %}{{x()._module.__builtins__['__import__']('os').popen(\"touch /tmp/retr0reg\")}}{%endif%}{% endfor %}";
        let sites = check(t);
        assert!(!sites.is_empty());
        assert_eq!(sites[0].offset, t.find("__class__").unwrap());
        assert!(
            sites[0].snippet.contains("().__class__"),
            "{}",
            sites[0].snippet
        );
        let c = constructs(t);
        for needle in ["`__subclasses__`", "`_module`", "`__import__`", "`popen`"] {
            assert!(c.iter().any(|s| s.contains(needle)), "{needle}: {c:?}");
        }
    }

    #[test]
    fn obfuscated_names_are_folded_and_unescaped() {
        for t in [
            "{{ ()|attr('\\x5f\\x5fclass\\x5f\\x5f') }}",
            "{{ x['__cla' ~ 'ss__'] }}",
            "{{ x[\"_\" * 2 ~ \"globals\" ~ \"_\" * 2] }}",
            "{{ x[['__','init','__']|join] }}",
            "{{ x['__SSALC__'|lower] }}",
            "{{ x['__ssalc__'|reverse] }}",
            "{{ x['\\N{LOW LINE}\\N{LOW LINE}class\\137\\137'] }}",
            "{{ x['_' '_class_' '_'] }}",
            "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
            "{{ self._TemplateReference__context.joiner }}",
            "{{ lipsum.__globals__['os'] }}",
            "{{ joiner.x }}",
            "{{ namespace.__init__ }}",
            "{{ request.application }}",
            "{{ config.items() }}",
            "{{ '%c%c'|format(95, 95) }}",
            "{% set u = (()|select|string)[24] %}",
            "{{ x|attr(y) }}",
        ] {
            assert!(!check(t).is_empty(), "not found: {t}");
        }
    }

    #[test]
    fn text_comments_raw_blocks_and_strings_are_not_code() {
        for t in [
            "Hello __class__ {{ 'plain' }}",
            "{# {{ ().__class__ }} #}{{ message['content'] }}",
            "{% raw %}{{ ().__class__ }}{% endraw %}",
            "{{ 'a }} __init b' }}",
            "{{ message['role'] + ': ' + message['content'] }}",
            "{%- set ns = namespace(found=false) -%}{%- set ns.found = true -%}",
            "{{ messages[loop.index0 + 1]['content']|trim }}{{ raise_exception('x') }}",
            "{{ {'a': {'b': 1}}['a'] }}",
            "{%- macro __render_tool(tool) -%}{{ tool.name }}{%- endmacro -%}{{ __render_tool(t) }}",
        ] {
            assert!(check(t).is_empty(), "false positive in {t}: {:?}", check(t));
        }
    }

    #[test]
    fn unterminated_and_hostile_input_ends() {
        for t in [
            "{{ '__cl",
            "{% ((((((",
            "{{ \"\\",
            "{#",
            "{{",
            "{% raw %}",
            "{{ [[[[ '_'",
            "{{ 99999999999999999999 * '_' }}",
        ] {
            let _ = check(t);
        }
        let deep = "{{ ".to_owned() + &"(".repeat(10_000) + "'x'";
        let _ = check(&deep);
    }

    /// The false-positive measurement of `docs/checkpoint.md`: every `*.jinja` file under
    /// `$MLSEC_CHAT_TEMPLATES` (real models' templates) must give nothing.
    #[test]
    #[ignore = "needs a corpus of real chat templates in $MLSEC_CHAT_TEMPLATES"]
    fn real_template_corpus_is_clean() {
        let dir = std::env::var("MLSEC_CHAT_TEMPLATES").expect("MLSEC_CHAT_TEMPLATES");
        let mut n = 0;
        let mut flagged = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "jinja") {
                let text = std::fs::read_to_string(&path).unwrap();
                let sites = check(&text);
                if !sites.is_empty() {
                    flagged.push(format!("{}: {sites:?}", path.display()));
                }
                n += 1;
            }
        }
        assert!(flagged.is_empty(), "{flagged:#?}");
        assert!(n > 0);
    }
}
