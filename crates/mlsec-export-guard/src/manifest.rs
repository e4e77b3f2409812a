//! The OpenSSF `model_signing` v1.0 manifest of a model directory: an in-toto statement whose
//! predicate lists every file with its SHA-256 (`resources`, sorted by path) and whose single
//! subject is the directory name with the root digest (SHA-256 over the raw file digests in
//! that order). Written as a bare statement, or as a DSSE envelope inside a Sigstore bundle
//! when signed; read from any of the three.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mlsec_core::{Finding, Location, Pointer, Report, ScanError, Table};
use mlsec_util::hex::encode as hex;
use mlsec_util::walk::{Event, Flow, Skip, Walk};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::provenance::{STATEMENT_TYPE, file_sha256};
use crate::rules::{ARTIFACT_DIGEST_MISMATCH, PROVENANCE_CHAIN_BROKEN};

pub const PREDICATE_TYPE: &str = "https://model_signing/signature/v1.0";
/// Paths model_signing ignores by default.
const IGNORED: [&str; 4] = [".git", ".gitattributes", ".github", ".gitignore"];
const BUNDLE_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";

/// Files of the directory by `/`-separated relative path; symlinks are returned separately
/// (model_signing refuses them). The shared walk (`mlsec_util::walk`) with model_signing's
/// ignored names pruned; anything else it cannot cover (too deep, not a regular file,
/// unreadable) is an error, since a manifest must cover the whole directory.
fn list(dir: &Path, skip: &[PathBuf]) -> std::io::Result<(Vec<String>, Vec<String>)> {
    let mut files = Vec::new();
    let mut links = Vec::new();
    let mut failure = None;
    Walk::new(dir)
        .prune(|e| {
            IGNORED.contains(&e.rel.as_str()) || skip.iter().any(|s| paths_equal(s, &e.path))
        })
        .run(|event| {
            match event {
                Event::File(e) if e.via_symlink => links.push(e.rel.clone()),
                Event::File(e) => files.push(e.rel.clone()),
                Event::Skipped(
                    e,
                    Skip::SymlinkOutside | Skip::SymlinkedDirectory | Skip::BrokenSymlink,
                ) => links.push(e.rel.clone()),
                Event::Skipped(e, why) => {
                    failure = Some(std::io::Error::other(format!(
                        "{}: {}",
                        e.rel,
                        why.reason()
                    )));
                    return Flow::Stop;
                }
                Event::Error(path, message) => {
                    failure = Some(std::io::Error::other(format!(
                        "{}: {message}",
                        path.display()
                    )));
                    return Flow::Stop;
                }
                Event::Dir(_) => {}
            }
            Flow::Continue
        });
    if let Some(e) = failure {
        return Err(e);
    }
    files.sort();
    links.sort();
    Ok((files, links))
}

fn paths_equal(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

fn root_digest(resources: &[(String, String)]) -> String {
    let mut h = Sha256::new();
    for (_, d) in resources {
        let raw: Vec<u8> = (0..d.len() / 2)
            .filter_map(|i| u8::from_str_radix(d.get(2 * i..2 * i + 2)?, 16).ok())
            .collect();
        h.update(raw);
    }
    hex(&h.finalize())
}

/// Writes the manifest of `dir` to `out`.
pub fn write(
    dir: &Path,
    out: &Path,
    sign_key: Option<&Path>,
    report: &mut Report,
) -> anyhow::Result<()> {
    let (files, links) = list(dir, &[out.to_owned()])
        .map_err(|e| anyhow::anyhow!("cannot list {}: {e}", dir.display()))?;
    if let Some(l) = links.first() {
        anyhow::bail!(
            "{}: symbolic link {l} (model_signing refuses symlinks by default)",
            dir.display()
        );
    }
    let mut resources = Vec::new();
    for f in &files {
        let d = file_sha256(&dir.join(f)).map_err(|e| anyhow::anyhow!("cannot hash {f}: {e}"))?;
        resources.push((f.clone(), d));
    }
    let name = dir
        .canonicalize()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "model".into());
    let statement = json!({
        "_type": STATEMENT_TYPE,
        "subject": [ { "name": name, "digest": { "sha256": root_digest(&resources) } } ],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "serialization": {
                "method": "files",
                "hash_type": "sha256",
                "allow_symlinks": false,
                "ignore_paths": IGNORED,
            },
            "resources": resources.iter().map(|(n, d)| json!({ "name": n, "algorithm": "sha256", "digest": d })).collect::<Vec<_>>(),
        }
    });
    let mut text = serde_json::to_vec_pretty(&statement)?;
    if let Some(key) = sign_key {
        let envelope: Value = serde_json::from_slice(&crate::dsse::sign(&text, key)?)?;
        let bundle = json!({
            "mediaType": BUNDLE_MEDIA_TYPE,
            "verificationMaterial": { "publicKey": { "hint": "" } },
            "dsseEnvelope": envelope,
        });
        text = serde_json::to_vec_pretty(&bundle)?;
    }
    text.push(b'\n');
    std::fs::write(out, text)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", out.display()))?;
    report.scanned += files.len() as u64;
    report.tables.push(Table {
        title: format!(
            "model_signing manifest of {} written to {}",
            dir.display(),
            out.display()
        ),
        columns: vec!["file".into(), "sha256".into()],
        rows: resources.into_iter().map(|(n, d)| vec![n, d]).collect(),
    });
    Ok(())
}

/// Checks `dir` against a manifest (bare statement, DSSE envelope or Sigstore bundle).
pub fn check(
    dir: &Path,
    manifest: &Path,
    verify_key: Option<&Path>,
    report: &mut Report,
) -> anyhow::Result<()> {
    let bytes = std::fs::read(manifest)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", manifest.display()))?;
    let display = manifest.display().to_string();
    let broken = |m: String| Finding::new(&PROVENANCE_CHAIN_BROKEN, Location::file(&display), m);
    let value: Value = match serde_json::from_slice(&bytes) {
        Ok(v) => v,
        Err(e) => {
            report
                .findings
                .push(broken(format!("manifest is not JSON: {e}")));
            return Ok(());
        }
    };
    let envelope = if value.get("dsseEnvelope").is_some() {
        Some(value["dsseEnvelope"].clone())
    } else if value.get("payloadType").is_some() {
        Some(value.clone())
    } else {
        None
    };
    let statement: Value = match &envelope {
        Some(env) => {
            if let Some(key) = verify_key
                && let Err(e) = crate::dsse::verify(&serde_json::to_vec(env)?, key)
            {
                report
                    .findings
                    .push(broken(format!("DSSE signature does not verify: {e}")));
            }
            match crate::dsse::payload(env)
                .map_err(|e| e.to_string())
                .and_then(|p| serde_json::from_slice(&p).map_err(|e| e.to_string()))
            {
                Ok(s) => s,
                Err(e) => {
                    report
                        .findings
                        .push(broken(format!("bad DSSE payload: {e}")));
                    return Ok(());
                }
            }
        }
        None => value,
    };
    if statement["_type"] != STATEMENT_TYPE || statement["predicateType"] != PREDICATE_TYPE {
        report.findings.push(broken(format!(
            "not a model_signing {PREDICATE_TYPE} statement"
        )));
        return Ok(());
    }
    let recorded: Vec<(String, String)> = statement["predicate"]["resources"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            (
                r["name"].as_str().unwrap_or_default().to_owned(),
                r["digest"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let root = statement["subject"][0]["digest"]["sha256"]
        .as_str()
        .unwrap_or_default();
    if root_digest(&recorded) != root {
        report.findings.push(broken(
            "the root digest does not match the listed resources".into(),
        ));
    }
    let (files, links) = match list(dir, &[manifest.to_owned()]) {
        Ok(x) => x,
        Err(e) => {
            report.errors.push(ScanError::new(
                dir.display().to_string(),
                format!("cannot list: {e}"),
            ));
            return Ok(());
        }
    };
    let at = |name: &str| Location::file(&display).with_pointer(Pointer::Field(name.to_owned()));
    let map: BTreeMap<&str, &str> = recorded
        .iter()
        .map(|(n, d)| (n.as_str(), d.as_str()))
        .collect();
    let mut rows = Vec::new();
    for (name, expected) in &map {
        let status = match file_sha256(&dir.join(name)) {
            Ok(d) if d == *expected => "ok",
            Ok(_) => {
                report.findings.push(Finding::new(
                    &ARTIFACT_DIGEST_MISMATCH,
                    at(name),
                    format!("{name} changed since the manifest was written"),
                ));
                "CHANGED"
            }
            Err(_) => {
                report.findings.push(Finding::new(
                    &ARTIFACT_DIGEST_MISMATCH,
                    at(name),
                    format!("{name} is missing"),
                ));
                "MISSING"
            }
        };
        rows.push(vec![(*name).to_owned(), status.to_owned()]);
    }
    for f in files
        .iter()
        .chain(&links)
        .filter(|f| !map.contains_key(f.as_str()))
    {
        report.findings.push(Finding::new(
            &ARTIFACT_DIGEST_MISMATCH,
            at(f),
            format!("{f} is not in the manifest"),
        ));
        rows.push(vec![f.clone(), "NOT IN MANIFEST".into()]);
    }
    report.scanned += map.len() as u64;
    report.tables.push(Table {
        title: format!("{} against {}", dir.display(), display),
        columns: vec!["file".into(), "status".into()],
        rows,
    });
    Ok(())
}
