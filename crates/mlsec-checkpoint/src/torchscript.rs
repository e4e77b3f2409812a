//! TorchScript code members (`<prefix>code/**/*.py`): the serialized TorchScript source that
//! `torch.jit.load` compiles. It is read as text, never compiled or run: calls of operators
//! outside PyTorch's namespaces (native code from a library that must be loaded first) and
//! run-time file reads are reported.

use mlsec_core::Finding;

use crate::audit::Site;
use crate::rules;

/// Operator namespaces PyTorch itself registers.
const BUILTIN_NAMESPACES: &[&str] = &[
    "aten",
    "prim",
    "quantized",
    "_quantized",
    "prepacked",
    "quantized_decomposed",
    "c10d",
    "_c10d_functional",
    "_c10d_functional_autograd",
    "profiler",
    "mkldnn",
    "xnnpack",
    "_caffe2",
];

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
        // `torch.ops.ns.op`, or `ops.ns.op` as serialized code writes it.
        let ops = parts.iter().position(|p| *p == "ops");
        let classes = parts.windows(2).position(|w| w == ["torch", "classes"]);
        let file_read = parts.last() == Some(&"from_file")
            && (parts.len() == 2 && parts[0] == "torch" || path.ends_with("ops.aten.from_file"));
        let at = site_offset(site, offset);
        if file_read {
            findings.push(
                site.finding(
                    &rules::TORCHSCRIPT_FILE_READ,
                    at,
                    format!("TorchScript code reads a file at run time: `{path}`"),
                )
                .with_evidence("call", path),
            );
        } else if let Some(k) = ops.filter(|&k| parts.len() >= k + 3)
            && !BUILTIN_NAMESPACES.contains(&parts[k + 1])
        {
            let op = parts[k + 1..k + 3].join("::");
            findings.push(
                site.finding(
                    &rules::TORCHSCRIPT_CUSTOM_OP,
                    at,
                    format!("TorchScript code calls the custom operator `{op}` (native code from a library loaded beside the model)"),
                )
                .with_evidence("operator", op)
                .with_evidence("namespace", parts[k + 1]),
            );
        } else if let Some(k) = classes.filter(|&k| parts.len() >= k + 4) {
            let class = parts[k + 2..k + 4].join(".");
            findings.push(
                site.finding(
                    &rules::TORCHSCRIPT_CUSTOM_OP,
                    at,
                    format!("TorchScript code uses the custom class `torch.classes.{class}` (native code from a library loaded beside the model)"),
                )
                .with_evidence("class", class)
                .with_evidence("namespace", parts[k + 2]),
            );
        }
    }
}

/// A member offset as the site's findings want it (file offsets for stored members).
fn site_offset(site: &Site, offset: usize) -> u64 {
    if site.mapped {
        site.anchor + offset as u64
    } else {
        offset as u64
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
