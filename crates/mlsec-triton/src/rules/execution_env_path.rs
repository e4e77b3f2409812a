use mlsec_core::{Finding, Severity};

use super::{Cx, escape_reason};
use crate::tarball;

mlsec_core::declare_rule! {
    /// ## What it does
    /// Checks the python backend's `EXECUTION_ENV_PATH` parameter (a conda-pack tarball that
    /// Triton unpacks and whose interpreter and packages it runs). High when the path is
    /// absolute, has `..`, is a remote URL, or does not start with `$$TRITON_MODEL_DIRECTORY`;
    /// low when it stays in the model directory (the tarball is still code to review). When the
    /// tarball should be in the model directory but is not, medium. When it is there, its
    /// entries are listed (never extracted): paths or links leaving the environment are high,
    /// setuid files and device nodes medium.
    /// ## Why is this bad?
    /// Everything in the environment (the Python interpreter, site-packages, `.pth` files)
    /// runs inside the model's stub process. An environment outside the model directory is
    /// not versioned or reviewed with the model, and may be writable by someone else.
    /// ## Remediation
    /// Ship the environment inside the model directory and reference it as
    /// `$$TRITON_MODEL_DIRECTORY/<file>.tar.gz`; review and checksum it with the model.
    pub static EXECUTION_ENV_PATH = "TRTN022", "execution-env-path", High;
}

const MODEL_DIR: &str = "$$TRITON_MODEL_DIRECTORY";

pub(crate) fn check(cx: &Cx, out: &mut Vec<Finding>) {
    let Some((value, field)) = cx.parameter("EXECUTION_ENV_PATH") else {
        return;
    };
    let loc = cx.at(field.value_pos, &field.path);
    let inside = value.strip_prefix(MODEL_DIR);
    let reason = match inside {
        Some(rest) => escape_reason(rest.trim_start_matches('/'))
            .map(|r| format!("has {r} after {MODEL_DIR}")),
        None => Some(match escape_reason(&value) {
            Some(r) => format!("is {r} outside the model directory"),
            None => format!(
                "is not anchored at {MODEL_DIR} (resolved against the server's working directory)"
            ),
        }),
    };
    if let Some(reason) = reason {
        out.push(
            Finding::new(
                &EXECUTION_ENV_PATH,
                loc,
                format!("EXECUTION_ENV_PATH {value:?} {reason}: the python environment runs as model code"),
            )
            .with_evidence("path", &value),
        );
        return;
    }
    let rel = inside.unwrap_or_default().trim_start_matches('/');
    let mut finding = Finding::new(
        &EXECUTION_ENV_PATH,
        loc,
        format!("EXECUTION_ENV_PATH {value:?}: a packed python environment from the model directory runs as model code"),
    )
    .with_severity(Severity::Low)
    .with_evidence("path", &value);
    let on_disk = cx.files.iter().find(|f| f.rel == rel);
    if cx.model_dir.is_some() && on_disk.is_none() {
        finding = finding
            .with_severity(Severity::Medium)
            .with_evidence("missing", format!("{rel} is not in the model directory"));
    }
    out.push(finding);
    if let Some(file) = on_disk {
        check_tarball(cx, &file.rel, &file.path, out);
    }
}

/// The environment tarball's entries: what extracting it would do outside the environment.
fn check_tarball(cx: &Cx, rel: &str, path: &std::path::Path, out: &mut Vec<Finding>) {
    let report = tarball::scan(path);
    let groups: [(&[String], Severity, &str); 4] = [
        (
            &report.escaping,
            Severity::High,
            "entries with absolute or `..` paths extract outside the environment",
        ),
        (
            &report.links_out,
            Severity::High,
            "links point outside the environment",
        ),
        (&report.setuid, Severity::Medium, "setuid/setgid files"),
        (&report.devices, Severity::Medium, "device or FIFO entries"),
    ];
    for (entries, severity, what) in groups {
        if entries.is_empty() {
            continue;
        }
        out.push(
            Finding::new(
                &EXECUTION_ENV_PATH,
                cx.member(rel),
                format!("environment tarball {rel}: {what}"),
            )
            .with_severity(severity)
            .with_evidence("entries", entries.join(", ")),
        );
    }
    if let Some(error) = report.error {
        out.push(
            Finding::new(
                &EXECUTION_ENV_PATH,
                cx.member(rel),
                format!("environment tarball {rel} could not be fully read ({error}): its entries were not all checked"),
            )
            .with_severity(Severity::Medium)
            .with_evidence("entries_read", report.entries),
        );
    }
}
