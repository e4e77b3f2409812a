use mlsec_core::{Finding, Severity};

use super::{Cx, escape_reason, shell_chars};
use crate::validate::{Field, Value};

mlsec_core::declare_rule! {
    /// ## What it does
    /// Checks the file names a config makes Triton read: `default_model_filename`,
    /// `cc_model_filenames`, `output.label_filename`, warm-up `input_data_file` and sequence
    /// state `data_file`. High when one is absolute, has `..` or is a URL; medium when it holds
    /// shell metacharacters.
    /// ## Why is this bad?
    /// These names are joined to the model directory: an escaping name makes the server load a
    /// model or read data from anywhere it can read (another tenant's model, `/etc`), and the
    /// warm-up data or labels are served back to clients. A symlink in the model directory
    /// that points outside it does the same on disk. Metacharacters break scripts that
    /// handle the repository and hint at injection attempts.
    /// ## Remediation
    /// Use plain file names inside the model (or version) directory.
    pub static FILE_REFERENCE_ESCAPE = "TRTN026", "file-reference-escape", High;
}

fn judge(cx: &Cx, field: &Field, what: &str, value: &str, out: &mut Vec<Finding>) {
    if value.is_empty() {
        return;
    }
    if let Some(reason) = escape_reason(value) {
        out.push(
            Finding::new(
                &FILE_REFERENCE_ESCAPE,
                cx.at(field.value_pos, &field.path),
                format!("{what} {value:?} is {reason}: it resolves outside the model directory"),
            )
            .with_evidence("path", value),
        );
    } else if let Some(chars) = shell_chars(value) {
        out.push(
            Finding::new(
                &FILE_REFERENCE_ESCAPE,
                cx.at(field.value_pos, &field.path),
                format!("{what} {value:?} contains shell metacharacters {chars}"),
            )
            .with_severity(Severity::Medium)
            .with_evidence("path", value),
        );
    }
}

pub(crate) fn check(cx: &Cx, out: &mut Vec<Finding>) {
    check_symlinks(cx, out);
    let c = cx.config;
    if let Some(f) = c.get("default_model_filename") {
        judge(cx, f, "default_model_filename", &f.value.to_text(), out);
    }
    for (_, entry, value) in c.map("cc_model_filenames") {
        let text = value.map(Value::to_text).unwrap_or_default();
        judge(cx, entry, "cc_model_filenames entry", &text, out);
    }
    for (_, output) in c.msgs("output") {
        if let Some(f) = output.get("label_filename") {
            judge(cx, f, "label_filename", &f.value.to_text(), out);
        }
    }
    for (_, warmup) in c.msgs("model_warmup") {
        for (_, entry) in warmup.msgs("inputs") {
            if let Some(input) = entry.msg("value")
                && let Some(f) = input.get("input_data_file")
            {
                judge(cx, f, "warm-up input_data_file", &f.value.to_text(), out);
            }
        }
    }
    if let Some(seq) = c.msg("sequence_batching") {
        for (_, state) in seq.msgs("state") {
            for (_, init) in state.msgs("initial_state") {
                if let Some(f) = init.get("data_file") {
                    judge(cx, f, "initial_state data_file", &f.value.to_text(), out);
                }
            }
        }
    }
}

/// Symlinks in the model directory that point outside it.
pub(crate) fn check_symlinks(cx: &Cx, out: &mut Vec<Finding>) {
    let Some(dir) = cx.model_dir else { return };
    let Ok(root) = dir.canonicalize() else { return };
    for f in cx.files.iter().filter(|f| f.symlink) {
        let target = std::fs::read_link(&f.path)
            .map(|t| t.display().to_string())
            .unwrap_or_default();
        let inside = f
            .path
            .canonicalize()
            .is_ok_and(|real| real.starts_with(&root));
        if !inside {
            out.push(
                Finding::new(
                    &FILE_REFERENCE_ESCAPE,
                    cx.member(&f.rel),
                    format!(
                        "{} is a symlink to {target:?}, outside the model directory",
                        f.rel
                    ),
                )
                .with_evidence("target", &target),
            );
        }
    }
}
