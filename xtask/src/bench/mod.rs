//! `cargo xtask bench`: benchmarks on generated inputs, one table with throughput and peak
//! RSS. Speed is measured here, never asserted in tests.
//!
//! Each benchmark builds its inputs in a scratch directory and times the release `mlsec`
//! binary as a child process (so peak RSS is the real tool's), or times library calls directly.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

mod adversarial;
mod checkpoint;
mod export_guard;
mod poison_monitor;
mod triton;

/// One benchmark: builds inputs and adds rows to the table.
pub type Benchmark = fn(&mut Bench) -> Result<()>;

/// Every benchmark, by name (`cargo xtask bench NAME`).
pub fn benchmarks() -> Vec<(&'static str, Benchmark)> {
    vec![
        ("checkpoint", checkpoint::run),
        ("export-guard", export_guard::run),
        ("adversarial", adversarial::run),
        ("poison-monitor", poison_monitor::run),
        ("triton", triton::run),
    ]
}

/// One line of the results table.
pub struct Row {
    pub workload: String,
    pub bytes: u64,
    /// Items processed (files, records, samples) when throughput is not in bytes.
    pub items: Option<(u64, &'static str)>,
    pub time: Duration,
    /// Peak resident set size of the measured process, in KiB, when it was a child process.
    pub peak_rss_kib: Option<u64>,
    pub note: String,
}

/// What a benchmark gets: a scratch directory, the release binary, and the table.
pub struct Bench {
    scratch: tempfile::TempDir,
    binary: PathBuf,
    pub rows: Vec<Row>,
}

/// A finished child run.
pub struct Measured {
    pub time: Duration,
    pub peak_rss_kib: u64,
    pub exit_code: i32,
}

impl Bench {
    /// A directory for generated inputs, removed at the end.
    pub fn scratch(&self) -> &Path {
        self.scratch.path()
    }

    /// Runs the release `mlsec` binary with `args`, output discarded, and measures wall time
    /// and peak RSS. Best of `repeat` runs (the first run warms the page cache).
    pub fn time_mlsec(&self, args: &[&str], repeat: usize) -> Result<Measured> {
        let mut best: Option<Measured> = None;
        for _ in 0..repeat.max(1) {
            let measured = run_child(&self.binary, args)?;
            if best.as_ref().is_none_or(|b| measured.time < b.time) {
                best = Some(measured);
            }
        }
        Ok(best.expect("at least one run"))
    }

    /// Times a closure in this process: best of `repeat` runs.
    pub fn time_fn<T>(&self, repeat: usize, mut f: impl FnMut() -> Result<T>) -> Result<Duration> {
        let mut best = Duration::MAX;
        for _ in 0..repeat.max(1) {
            let start = Instant::now();
            std::hint::black_box(f()?);
            best = best.min(start.elapsed());
        }
        Ok(best)
    }

    pub fn row(&mut self, row: Row) {
        eprintln!("  {} {:.3}s", row.workload, row.time.as_secs_f64());
        self.rows.push(row);
    }
}

#[allow(unsafe_code)] // wait4 is the only way to read a child's peak RSS
fn run_child(binary: &Path, args: &[&str]) -> Result<Measured> {
    let start = Instant::now();
    let child = Command::new(binary)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .with_context(|| format!("cannot run {}", binary.display()))?;
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: rusage is plain data, and pid is our own un-reaped child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let time = start.elapsed();
    if rc < 0 {
        bail!("wait4 failed: {}", std::io::Error::last_os_error());
    }
    let exit_code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    Ok(Measured {
        time,
        peak_rss_kib: usage.ru_maxrss as u64,
        exit_code,
    })
}

pub fn run(names: &[&str]) -> Result<()> {
    let all = benchmarks();
    for name in names {
        if !all.iter().any(|(n, _)| n == name) {
            bail!("no benchmark named `{name}`");
        }
    }
    crate::cargo(&["build", "--release", "--package", "mlsec"])?;
    let mut bench = Bench {
        scratch: tempfile::tempdir()?,
        binary: crate::root().join("target/release/mlsec"),
        rows: Vec::new(),
    };
    for (name, benchmark) in all {
        if names.is_empty() || names.contains(&name) {
            eprintln!("bench {name}");
            benchmark(&mut bench).with_context(|| format!("benchmark {name}"))?;
        }
    }
    print_table(&bench.rows);
    Ok(())
}

fn print_table(rows: &[Row]) {
    println!(
        "| workload | size | time | throughput | peak RSS | note |\n|---|---|---|---|---|---|"
    );
    for row in rows {
        let secs = row.time.as_secs_f64();
        let throughput = match row.items {
            Some((n, unit)) => format!("{:.0} {unit}/s", n as f64 / secs),
            None => format!("{:.2} GB/s", row.bytes as f64 / secs / 1e9),
        };
        let rss = row.peak_rss_kib.map_or_else(
            || "-".to_owned(),
            |kib| format!("{:.1} MiB", kib as f64 / 1024.0),
        );
        println!(
            "| {} | {:.1} MB | {:.3} s | {} | {} | {} |",
            row.workload,
            row.bytes as f64 / 1e6,
            secs,
            throughput,
            rss,
            row.note
        );
    }
}
