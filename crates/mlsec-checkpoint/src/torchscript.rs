//! TorchScript code members (`<prefix>code/**/*.py`): the serialized TorchScript source that
//! `torch.jit.load` compiles. It is read as text, never compiled or run: calls of operators
//! outside PyTorch's namespaces (native code from a library that must be loaded first) and
//! run-time file reads are reported (`rules::torchscript_*::check`, called on every dotted
//! path of the text).

use mlsec_core::Finding;

use crate::rules;
use crate::site::Site;

/// Dotted identifier paths in `text` with their byte offsets (`a.b.c` read whole; strings and
/// comments are not special-cased: a match in one is still worth a look).
fn paths(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let bytes = text.as_bytes();
    let is_ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut i = 0;
    std::iter::from_fn(move || {
        while i < bytes.len() {
            if is_ident(bytes[i]) && (i == 0 || !is_ident(bytes[i - 1]) && bytes[i - 1] != b'.') {
                let start = i;
                while i < bytes.len() && (is_ident(bytes[i]) || bytes[i] == b'.') {
                    i += 1;
                }
                return Some((start, text[start..i].trim_end_matches('.')));
            }
            i += 1;
        }
        None
    })
}

/// Findings for one code member's text; `site` is the member's.
pub fn check(text: &str, site: &Site, findings: &mut Vec<Finding>) {
    for (offset, path) in paths(text) {
        let parts: Vec<&str> = path.split('.').collect();
        let at = site.at(offset as u64);
        // A file read is reported as such, even inside `ops.aten`.
        let found = rules::torchscript_file_read::check(path, &parts, at, site)
            .or_else(|| rules::torchscript_custom_op::check(&parts, at, site));
        findings.extend(found);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_whole_dotted_identifiers() {
        let got: Vec<(usize, &str)> =
            paths("x = ops.my_ns.run(torch.add(a, b.c))\n# torch.from_file").collect();
        assert_eq!(
            got,
            [
                (0, "x"),
                (4, "ops.my_ns.run"),
                (18, "torch.add"),
                (28, "a"),
                (31, "b.c"),
                (39, "torch.from_file"),
            ]
        );
    }
}
