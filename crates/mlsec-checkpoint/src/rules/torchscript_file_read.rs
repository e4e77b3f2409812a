use mlsec_core::Finding;

use crate::site::{Locate, Site};

mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags TorchScript code that reads a file at run time: `torch.from_file(...)` (or
    /// `ops.aten.from_file`), which maps any path on the serving machine into a tensor.
    /// ## Why is this bad?
    /// A model has no reason to read files while it runs. A path in the model's code can pull
    /// secrets (keys, tokens, `/etc/...`) into tensors that flow into its outputs, where a
    /// caller can read them back.
    /// ## Remediation
    /// Do not load the model. Inspect the code member named in the finding and re-export the
    /// model from source you control.
    pub static TORCHSCRIPT_FILE_READ = "CKPT056", "torchscript-file-read", High;
}

/// One dotted path of a TorchScript code member (`parts`: its components), at `offset` of
/// `site`: `torch.from_file` or `ops.aten.from_file`.
pub(crate) fn check(path: &str, parts: &[&str], offset: u64, site: &Site) -> Option<Finding> {
    let file_read = parts.last() == Some(&"from_file")
        && (parts.len() == 2 && parts[0] == "torch" || path.ends_with("ops.aten.from_file"));
    file_read.then(|| {
        site.finding(
            &TORCHSCRIPT_FILE_READ,
            offset,
            format!("TorchScript code reads a file at run time: `{path}`"),
        )
        .with_evidence("call", path)
    })
}
