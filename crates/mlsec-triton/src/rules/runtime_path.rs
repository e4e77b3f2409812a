use mlsec_core::{Finding, Severity};

use super::{Cx, escape_reason};

mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags a `runtime` that is a path rather than a file name: absolute, with `..`, or with
    /// directory separators.
    /// ## Why is this bad?
    /// `runtime` names the shared library (or Python file) that implements the backend.
    /// Triton resolves it against the backend directory; a path lets a config load a library
    /// from anywhere on the server, including writable locations, as native code inside the
    /// server process.
    /// ## Remediation
    /// Use a bare file name (`runtime: "model.py"`) or drop `runtime` and let the backend's
    /// default apply.
    pub static RUNTIME_PATH = "TRTN021", "runtime-path", High;
}

pub(crate) fn check(cx: &Cx, out: &mut Vec<Finding>) {
    let Some(f) = cx.config.get("runtime") else {
        return;
    };
    let runtime = cx.config.str("runtime").unwrap_or("");
    if let Some(reason) = escape_reason(runtime) {
        out.push(
            Finding::new(
                &RUNTIME_PATH,
                cx.at(f.value_pos, &f.path),
                format!("runtime {runtime:?} is {reason}: Triton loads this code into the server"),
            )
            .with_evidence("runtime", runtime),
        );
    } else if runtime.contains(['/', '\\']) {
        out.push(
            Finding::new(
                &RUNTIME_PATH,
                cx.at(f.value_pos, &f.path),
                format!("runtime {runtime:?} contains a directory: the loaded code is resolved relative to the backend directory"),
            )
            .with_severity(Severity::Medium)
            .with_evidence("runtime", runtime),
        );
    }
}
