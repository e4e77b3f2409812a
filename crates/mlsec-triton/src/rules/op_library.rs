use mlsec_core::{Finding, Severity};

use super::{Cx, escape_reason};

mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags `model_operations.op_library_filename`: custom-operation libraries the backend
    /// loads before the model. Critical when the path is absolute, has `..`, or is a URL.
    /// ## Why is this bad?
    /// The library is `dlopen`ed into the server process: its constructors run native code at
    /// load time with the server's privileges, before any model input is seen.
    /// ## Remediation
    /// Build custom ops into a reviewed backend image, or keep the library in the model
    /// directory under a checksum.
    pub static OP_LIBRARY = "TRTN024", "op-library", High;
}

pub(crate) fn check(cx: &Cx, out: &mut Vec<Finding>) {
    let Some(ops) = cx.config.msg("model_operations") else {
        return;
    };
    for f in ops.all("op_library_filename") {
        let value = f.value.to_text();
        let mut finding = Finding::new(
            &OP_LIBRARY,
            cx.at(f.value_pos, &f.path),
            format!("custom op library {value:?} is loaded as native code into the server"),
        )
        .with_evidence("library", &value);
        if let Some(reason) = escape_reason(&value) {
            finding = finding
                .with_severity(Severity::Critical)
                .with_evidence("escape", reason);
        }
        out.push(finding);
    }
}
