use mlsec_core::{Finding, Severity};

use super::Cx;

mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags shared libraries (`*.so`, `*.so.N`) in `<model>/` or `<model>/<version>/`.
    /// Critical for `libtriton_<backend>.so` and `batchstrategy.so`, which Triton itself loads
    /// from there.
    /// ## Why is this bad?
    /// Triton searches the model version directory, then the model directory, before the
    /// installed backends: a `libtriton_onnxruntime.so` dropped into a model replaces the real
    /// backend with attacker code in the server process. Other libraries are native code too,
    /// loaded by custom ops or the backend.
    /// ## Remediation
    /// Remove libraries from the model repository; install backends in the server image.
    pub static SHARED_LIBRARY_IN_MODEL_DIR = "TRTN025", "shared-library-in-model-dir", High;
}

pub(crate) fn check(cx: &Cx, out: &mut Vec<Finding>) {
    for f in cx.files {
        let depth = f.rel.matches('/').count();
        let name = f.rel.rsplit('/').next().unwrap_or(&f.rel);
        let is_so = name.ends_with(".so") || name.contains(".so.");
        if !is_so || depth > 1 {
            continue;
        }
        let loaded_by_triton =
            (name.starts_with("libtriton_") && name.ends_with(".so")) || name == "batchstrategy.so";
        let mut finding = Finding::new(
            &SHARED_LIBRARY_IN_MODEL_DIR,
            cx.member(&f.rel),
            if loaded_by_triton {
                format!(
                    "{} in the model directory is loaded by Triton instead of the installed one",
                    f.rel
                )
            } else {
                format!("shared library {} in the model directory", f.rel)
            },
        )
        .with_evidence("size", f.size);
        if loaded_by_triton {
            finding = finding.with_severity(Severity::Critical);
        }
        out.push(finding);
    }
}
