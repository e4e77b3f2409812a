//! Renderers over a finished, sorted report. Each format shows the same findings, errors and
//! warnings; none of them decides anything.

mod github;
mod json;
mod sarif;
mod text;

use mlsec_core::{ExitStatus, Finding, Policy, Report, Rule};
use sha2::{Digest, Sha256};

use crate::cli::Format;

/// What the renderers need to know about the run besides the report.
pub struct Invocation<'a> {
    pub subcommand: &'static str,
    /// The rules of the subcommand that ran (SARIF lists them all).
    pub rules: &'static [&'static Rule],
    pub policy: &'a Policy,
    pub status: ExitStatus,
    pub color: bool,
    pub quiet: bool,
    pub verbose: bool,
}

pub fn render(report: &Report, format: Format, inv: &Invocation) -> String {
    match format {
        Format::Text => text::render(report, inv),
        Format::Json => json::render(report, inv),
        Format::Sarif => sarif::render(report, inv),
        Format::Github => github::render(report, inv),
    }
}

/// A stable identity for a finding across runs, for SARIF `partialFingerprints` and JSON:
/// rule, file, pointer and message, but not the line, so it survives edits elsewhere in a file.
pub fn fingerprint(finding: &Finding) -> String {
    let mut hasher = Sha256::new();
    for part in [
        finding.rule.id,
        &finding.location.file,
        &finding
            .location
            .pointer
            .as_ref()
            .map(|p| format!("{}:{}", p.kind(), p.path()))
            .unwrap_or_default(),
        &finding.message,
    ] {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    let digest = hasher.finalize();
    mlsec_util::hex::encode(&digest[..16])
}

#[cfg(test)]
mod tests;
