//! `cargo xtask bench`: benchmarks on generated inputs, one table with throughput and peak
//! RSS. Speed is measured here, never asserted in tests.
//!
//! Each benchmark builds its inputs in a scratch directory and times the release `mlsec`
//! binary as a child process (so peak RSS is the real tool's), or times library calls directly.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

mod adversarial;
mod checkpoint;
mod export_guard;
mod inspect;
mod peers;
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
        ("inspect", inspect::run),
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
    /// The Python peers, installed on first use (`None` until a benchmark asks for them).
    peers: Option<Vec<peers::Peer>>,
    peer_rows: Vec<peers::PeerRow>,
    /// Tables of their own (markdown), printed after the main table.
    sections: Vec<String>,
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

    /// Runs the Python peers (picklescan, modelscan) on `path`, which the release binary
    /// measured as `mine`, and adds a line to the peer table. Installs them on first use;
    /// without them (no network) this says so once and does nothing.
    pub fn compare_peers(&mut self, input: &str, path: &Path, mine: &Measured, repeat: usize) {
        let peers = self.peers.get_or_insert_with(peers::setup);
        if peers.is_empty() {
            return;
        }
        peers::compare(
            peers,
            &mut self.peer_rows,
            input,
            path,
            mine,
            repeat,
            self.scratch.path(),
        );
    }

    /// A table of its own (markdown), printed after the main table.
    pub fn section(&mut self, text: String) {
        self.sections.push(text);
    }

    pub fn row(&mut self, row: Row) {
        eprintln!("  {} {:.3}s", row.workload, row.time.as_secs_f64());
        self.rows.push(row);
    }
}

/// Runs `binary args` with output discarded and returns its wall time and peak RSS.
pub fn run_child(binary: &Path, args: &[&str]) -> Result<Measured> {
    let args: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
    let (status, time, peak_rss_kib) = spawn_measured(binary, &args, |c| {
        c.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        Ok(())
    })
    .with_context(|| format!("cannot run {}", binary.display()))?;
    Ok(Measured {
        time,
        peak_rss_kib,
        exit_code: status.code().unwrap_or(-1),
    })
}

/// The hidden xtask task that runs one child and reports its peak RSS (see
/// [`spawn_measured`]): `xtask __measure REPORT PROGRAM ARGS...`.
pub const MEASURE_TASK: &str = "__measure";

/// Runs `program args` (stdio, directory and environment set by `setup`) and returns its
/// status, wall time and peak RSS in KiB.
///
/// `wait4`'s `ru_maxrss` alone over-reports: at `execve` Linux folds the high-water mark of
/// the *old* address space into the child's, and a `fork`ed or `vfork`ed child's old address
/// space is the parent's: after an in-process library run over a 14 MB pickle, a child that
/// peaks at 77 MiB reported 408 MiB. Resetting our own high-water mark first
/// (`/proc/self/clear_refs`) still leaves our *current* RSS (70 MiB after the library runs)
/// as a floor. So the child is started by a tiny intermediate, this binary freshly exec'd
/// (`xtask __measure`, a few MiB): the grandchild inherits only the intermediate's small
/// address space, and the intermediate reports the grandchild's own `wait4` figures.
pub fn spawn_measured(
    program: &Path,
    args: &[&OsStr],
    setup: impl FnOnce(&mut Command) -> std::io::Result<()>,
) -> std::io::Result<(ExitStatus, Duration, u64)> {
    let Some(xtask) = intermediate() else {
        let mut command = Command::new(program);
        command.args(args);
        setup(&mut command)?;
        return wait_measured(&mut command);
    };
    let report = tempfile::NamedTempFile::new()?;
    let mut command = Command::new(xtask);
    command
        .arg(MEASURE_TASK)
        .arg(report.path())
        .arg(program)
        .args(args);
    setup(&mut command)?;
    let (status, _, _) = wait_measured(&mut command)?;
    let text = std::fs::read_to_string(report.path())?;
    let mut fields = text.split_whitespace().map(str::parse::<u64>);
    match (fields.next(), fields.next()) {
        (Some(Ok(kib)), Some(Ok(nanos))) => Ok((status, Duration::from_nanos(nanos), kib)),
        _ => Err(std::io::Error::other(format!(
            "`xtask {MEASURE_TASK}` did not report ({status}): cannot run {}?",
            program.display()
        ))),
    }
}

/// This binary as the intermediate; not in unit tests, whose binary is the test harness.
fn intermediate() -> Option<PathBuf> {
    if cfg!(test) {
        None
    } else {
        std::env::current_exe().ok()
    }
}

/// `xtask __measure REPORT PROGRAM ARGS...`: runs the program with this process's stdio and
/// writes `<peak RSS KiB> <wall nanoseconds>` to REPORT; exits with the program's status.
pub fn measure_main(args: &[String]) -> ! {
    let [report, program, rest @ ..] = args else {
        eprintln!("usage: xtask {MEASURE_TASK} REPORT PROGRAM [ARGS...]");
        std::process::exit(1);
    };
    match wait_measured(Command::new(program).args(rest)) {
        Ok((status, time, kib)) => {
            use std::os::unix::process::ExitStatusExt;
            if let Err(e) = std::fs::write(report, format!("{kib} {}\n", time.as_nanos())) {
                eprintln!("xtask {MEASURE_TASK}: cannot write {report}: {e}");
                std::process::exit(1);
            }
            std::process::exit(
                status
                    .code()
                    .unwrap_or_else(|| 128 + status.signal().unwrap_or(0)),
            );
        }
        Err(e) => {
            eprintln!("xtask {MEASURE_TASK}: cannot run {program}: {e}");
            std::process::exit(1);
        }
    }
}

/// Spawns `command` and waits for it with `wait4`: status, wall time and peak RSS in KiB.
/// Freed heap is given back and this process's high-water mark reset to its current RSS
/// first, so the figure is the child's own peak or this process's current RSS, whichever is
/// larger (the intermediate of [`spawn_measured`] keeps the latter to a few MiB). The copy in
/// `crates/mlsec/tests/hostile.rs` does the same.
#[allow(unsafe_code)] // wait4 is the only way to read a child's peak RSS
pub fn wait_measured(command: &mut Command) -> std::io::Result<(ExitStatus, Duration, u64)> {
    use std::os::unix::process::ExitStatusExt;
    // SAFETY: malloc_trim only releases free memory of glibc's allocator.
    #[cfg(target_env = "gnu")]
    unsafe {
        libc::malloc_trim(0);
    }
    // Best effort: without procfs the figure is an upper bound.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let start = Instant::now();
    let child = command.spawn()?;
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: rusage is plain data, and pid is our own un-reaped child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = loop {
        let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if rc >= 0 || std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            break rc;
        }
    };
    let time = start.elapsed();
    if rc < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok((ExitStatus::from_raw(status), time, usage.ru_maxrss as u64))
}

/// This process's resident set size in KiB (`VmRSS`), the floor of a child's measured peak.
pub fn current_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
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
        binary: crate::target_dir().join("release/mlsec"),
        rows: Vec::new(),
        peers: None,
        peer_rows: Vec::new(),
        sections: Vec::new(),
    };
    for (name, benchmark) in all {
        if names.is_empty() || names.contains(&name) {
            eprintln!("bench {name}");
            benchmark(&mut bench).with_context(|| format!("benchmark {name}"))?;
        }
    }
    print_table(&bench.rows);
    println!(
        "\npeak RSS: the child's own (`wait4` in a freshly exec'd `xtask {MEASURE_TASK}` intermediate; \
         this bench process itself is at {:.0} MiB now)",
        current_rss_kib() as f64 / 1024.0
    );
    peers::print_table(bench.peers.as_deref().unwrap_or_default(), &bench.peer_rows);
    for section in &bench.sections {
        print!("{section}");
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A trivial child reports its own few MiB, not this process's past peak.
    #[test]
    fn peak_rss_is_the_childs_own() {
        let big = vec![1u8; 256 << 20];
        std::hint::black_box(&big);
        drop(big);
        // The floor is this process's current RSS, which other tests running in parallel
        // move: the 256 MiB freed above must not show, whatever they hold.
        let before = current_rss_kib();
        let (status, _, kib) = wait_measured(&mut Command::new("true")).unwrap();
        let floor = before.max(current_rss_kib());
        assert!(status.success());
        assert!(
            kib < floor + 64 * 1024,
            "`true` reported {} MiB over a floor of {} MiB",
            kib / 1024,
            floor / 1024
        );
        // And a child that holds 64 MiB (a shell variable) reports at least that.
        let (status, _, kib) = wait_measured(Command::new("sh").args([
            "-c",
            r#"x=$(head -c 67108864 /dev/zero | tr '\0' x); test ${#x} = 67108864"#,
        ]))
        .unwrap();
        assert!(status.success());
        assert!(kib >= 64 * 1024, "the shell reported {} MiB", kib / 1024);
    }
}
