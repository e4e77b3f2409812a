use mlsec_core::Finding;

use super::Cx;
use super::checksum_md5_only::entries;

mlsec_core::declare_rule! {
    /// ## What it does
    /// With a checksum agent configured and the model directory on disk, flags model and code
    /// files (model weights, `*.py`, `*.so`, environment tarballs, plans) that no checksum
    /// entry covers.
    /// ## Why is this bad?
    /// The agent only verifies the files it lists: an unlisted `model.py` or library can be
    /// changed freely while the config gives the impression the model is pinned.
    /// ## Remediation
    /// Add an `MD5:<path>` entry for every file Triton or the backend loads.
    pub static CHECKSUM_INCOMPLETE = "TRTN033", "checksum-incomplete", Medium;
}

/// Files that carry a model or code (what a checksum list must cover).
const LOADED: &[&str] = &[
    ".py",
    ".so",
    ".onnx",
    ".plan",
    ".engine",
    ".pt",
    ".pth",
    ".bin",
    ".safetensors",
    ".pb",
    ".savedmodel",
    ".graphdef",
    ".tar.gz",
    ".tgz",
    ".xml",
    ".json",
    ".txt",
    ".model",
    ".dali",
];

pub(crate) fn check(cx: &Cx, out: &mut Vec<Finding>) {
    let listed: Vec<String> = entries(cx)
        .into_iter()
        .filter_map(|(k, _, _)| {
            k.split_once(':')
                .map(|(_, p)| p.trim_start_matches("./").to_owned())
        })
        .collect();
    if cx.model_dir.is_none() || listed.is_empty() {
        return;
    }
    let agent = cx
        .config
        .get("model_repository_agents")
        .expect("has agents");
    for f in cx.files {
        if f.rel == "config.pbtxt" || !LOADED.iter().any(|ext| f.rel.ends_with(ext)) {
            continue;
        }
        if !listed.contains(&f.rel) {
            out.push(
                Finding::new(
                    &CHECKSUM_INCOMPLETE,
                    cx.at(agent.pos, "model_repository_agents"),
                    format!("{} is not covered by the checksum agent", f.rel),
                )
                .with_evidence("file", &f.rel),
            );
        }
    }
}
