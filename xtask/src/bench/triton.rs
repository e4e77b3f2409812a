//! `mlsec triton` over the real-config corpus (`testdata/triton-corpus`, 506 files): parse,
//! validate against the schema and run every check, in-process through the library. Goal:
//! the whole corpus in at most 0.3 s in a release build.

use std::path::PathBuf;

use anyhow::{Context as _, Result, bail};
use mlsec_core::Context;

use super::{Bench, Row};

pub fn run(bench: &mut Bench) -> Result<()> {
    let dir = crate::root().join("testdata/triton-corpus");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .with_context(|| format!("{} is part of the repository", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "pbtxt"))
        .collect();
    files.sort();
    let bytes: u64 = files
        .iter()
        .map(|p| std::fs::metadata(p).map_or(0, |m| m.len()))
        .sum();
    let n = files.len() as u64;
    let args = mlsec_triton::Args {
        targets: files,
        summary: true,
        launch_args: Some("tritonserver --model-repository=/models".to_owned()),
        launch_args_file: None,
    };
    let ctx = Context::silent();
    let mut findings = 0;
    let time = bench.time_fn(5, || {
        let report = mlsec_triton::run(&args, &ctx)?;
        if !report.errors.is_empty() {
            bail!("corpus config rejected: {}", report.errors[0]);
        }
        findings = report.findings.len();
        Ok(report.scanned)
    })?;
    bench.row(Row {
        workload: format!("triton: audit the {n}-config corpus (library, best of 5)"),
        bytes,
        items: Some((n, "configs")),
        time,
        peak_rss_kib: None,
        note: format!("{findings} findings; goal <= 0.3 s"),
    });
    // The release binary on the same files: wall time and peak RSS.
    let mut argv = vec!["triton".to_owned(), "--launch-args".to_owned()];
    argv.push("tritonserver --model-repository=/models".to_owned());
    argv.extend(
        args.targets
            .iter()
            .map(|p| p.to_string_lossy().into_owned()),
    );
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    let m = bench.time_mlsec(&argv, 5)?;
    if !matches!(m.exit_code, 0 | 2) {
        bail!("mlsec triton on the corpus: exit {}", m.exit_code);
    }
    bench.row(Row {
        workload: format!("triton: audit the {n}-config corpus (mlsec binary, best of 5)"),
        bytes,
        items: Some((n, "configs")),
        time: m.time,
        peak_rss_kib: Some(m.peak_rss_kib),
        note: "process start, render and exit included".into(),
    });
    Ok(())
}
