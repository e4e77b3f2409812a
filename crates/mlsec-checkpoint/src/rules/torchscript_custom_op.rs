use mlsec_core::Finding;

use crate::site::{Locate, Site};

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

mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags TorchScript code (`code/**/*.py` in a TorchScript archive) that calls an operator
    /// outside PyTorch's own namespaces (`ops.<namespace>.<op>` with a namespace other than
    /// `aten`, `prim`, `quantized`, ...) or uses a custom TorchScript class (`torch.classes.*`).
    /// ## Why is this bad?
    /// TorchScript cannot run arbitrary Python, but custom operators and classes are native
    /// code: the archive only loads after a shared library registering them was loaded
    /// (`torch.ops.load_library`), and that library then runs with the model's inputs. A model
    /// that needs one tells you to load code you have not reviewed.
    /// ## Remediation
    /// Find out which library provides the operator and review or rebuild it from source before
    /// loading the model; prefer an export (ONNX) that uses standard operators only.
    pub static TORCHSCRIPT_CUSTOM_OP = "CKPT055", "torchscript-custom-op", Medium;
}

/// One dotted path of a TorchScript code member (`parts`: its components), at `offset` of
/// `site`: `torch.ops.ns.op` or `ops.ns.op` outside PyTorch's namespaces, or
/// `torch.classes.ns.Class`.
pub(crate) fn check(parts: &[&str], offset: u64, site: &Site) -> Option<Finding> {
    let ops = parts.iter().position(|p| *p == "ops");
    let classes = parts.windows(2).position(|w| w == ["torch", "classes"]);
    if let Some(k) = ops.filter(|&k| parts.len() >= k + 3)
        && !BUILTIN_NAMESPACES.contains(&parts[k + 1])
    {
        let op = parts[k + 1..k + 3].join("::");
        Some(
            site.finding(
                &TORCHSCRIPT_CUSTOM_OP,
                offset,
                format!("TorchScript code calls the custom operator `{op}` (native code from a library loaded beside the model)"),
            )
            .with_evidence("operator", op)
            .with_evidence("namespace", parts[k + 1]),
        )
    } else if let Some(k) = classes.filter(|&k| parts.len() >= k + 4) {
        let class = parts[k + 2..k + 4].join(".");
        Some(
            site.finding(
                &TORCHSCRIPT_CUSTOM_OP,
                offset,
                format!("TorchScript code uses the custom class `torch.classes.{class}` (native code from a library loaded beside the model)"),
            )
            .with_evidence("class", class)
            .with_evidence("namespace", parts[k + 2]),
        )
    } else {
        None
    }
}
