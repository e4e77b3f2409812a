//! Every string that came out of an artifact (file names, tensor names, pickle operands,
//! config values) is hostile: it may carry ANSI escapes that rewrite the terminal, newlines
//! that forge extra output lines, or bidi overrides that reorder what a reviewer sees.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Escapes control characters (C0, DEL, C1), bidi and zero-width format characters as
/// `\u{XXXX}` (and `\n`, `\r`, `\t`, `\\`' as their usual escapes), so the text is one safe line.
pub fn text(s: &str) -> Cow<'_, str> {
    if !s.chars().any(needs_escape) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if needs_escape(c) => {
                let _ = write!(out, "\\u{{{:04x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}'
                | '\u{200b}'..='\u{200f}'
                | '\u{2028}'..='\u{202e}'
                | '\u{2060}'..='\u{2069}'
                | '\u{feff}'
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_terminal_tricks() {
        assert_eq!(text("plain/name.pt"), "plain/name.pt");
        assert_eq!(text("a\x1b[31mred"), "a\\u{001b}[31mred");
        assert_eq!(text("line\nforged: clean"), "line\\nforged: clean");
        assert_eq!(text("evil\u{202e}txt.pt"), "evil\\u{202e}txt.pt");
        assert_eq!(text("c1\u{9b}x"), "c1\\u{009b}x");
        assert_eq!(text("zero\u{200b}width"), "zero\\u{200b}width");
    }
}
