//! The Python peers, run on the checkpoint bench's inputs in the same run: `picklescan` and
//! `modelscan`, pinned, installed with pip into a venv under the target directory (created on
//! first use, reused after), or into the venv `MLSEC_BENCH_VENV` names. Without Python or
//! network the peers are skipped with one line.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::{Measured, spawn_measured};
use crate::target_dir;

/// The pinned peers: PyPI name, version, console script.
const PINNED: [(&str, &str); 2] = [("picklescan", "1.0.5"), ("modelscan", "0.8.8")];

pub struct Peer {
    pub name: &'static str,
    pub version: &'static str,
    exe: PathBuf,
}

/// One input compared across tools.
pub struct PeerRow {
    pub input: String,
    pub mlsec: String,
    pub peers: Vec<String>,
}

/// Installs (or finds) the pinned peers. Empty, after saying why, when they cannot be had.
pub fn setup() -> Vec<Peer> {
    // MLSEC_BENCH_VENV: a venv that already has (or may get) the pinned peers.
    let venv = std::env::var_os("MLSEC_BENCH_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir().join("bench-venv"));
    let bin = venv.join("bin");
    let peers: Vec<Peer> = PINNED
        .iter()
        .map(|&(name, version)| Peer {
            name,
            version,
            exe: bin.join(name),
        })
        .collect();
    let pinned_ok = || {
        let out = Command::new(bin.join("pip"))
            .args(["list", "--format=freeze", "--disable-pip-version-check"])
            .stderr(Stdio::null())
            .output();
        out.is_ok_and(|o| {
            let list = String::from_utf8_lossy(&o.stdout).to_lowercase();
            PINNED
                .iter()
                .all(|(n, v)| list.lines().any(|l| l == format!("{n}=={v}")))
        })
    };
    if pinned_ok() {
        return peers;
    }
    eprintln!("  installing Python peers into {}", venv.display());
    let venv_ok = venv.join("bin/python").exists()
        || Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .is_ok_and(|s| s.success());
    if !venv_ok {
        eprintln!("  peers skipped: cannot create a Python venv (python3 -m venv failed)");
        return Vec::new();
    }
    let specs: Vec<String> = PINNED.iter().map(|(n, v)| format!("{n}=={v}")).collect();
    let installed = Command::new(bin.join("pip"))
        .args([
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--timeout",
            "20",
            "--retries",
            "1",
        ])
        .args(&specs)
        .status()
        .is_ok_and(|s| s.success());
    if !installed || !pinned_ok() {
        eprintln!(
            "  peers skipped: `pip install {}` failed (no network?)",
            specs.join(" ")
        );
        return Vec::new();
    }
    peers
}

/// What a tool said about a file, from its exit status and output.
fn verdict(tool: &str, code: i32, output: &str) -> (String, bool) {
    match (tool, code) {
        ("mlsec", 0) => ("clean".into(), true),
        ("mlsec", 2) => ("malicious".into(), true),
        // picklescan exits 0 even when it could not parse the file.
        ("picklescan", 0) if output.contains("could not parse") => (
            "failed: could not parse the file (yet exit 0, \"0 infected\")".into(),
            false,
        ),
        ("picklescan", 0) | ("modelscan", 0) => ("clean".into(), true),
        ("picklescan", 1) | ("modelscan", 1) => ("malicious".into(), true),
        ("modelscan", 3) => ("failed: nothing scanned (exit 3)".into(), false),
        (_, code) => (format!("failed (exit {code})"), false),
    }
}

fn run_tool(exe: &Path, args: &[&str], scratch: &Path) -> std::io::Result<(Measured, String)> {
    let (out, err) = (
        scratch.join("peer-stdout.txt"),
        scratch.join("peer-stderr.txt"),
    );
    let args: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
    let (status, time, peak_rss_kib) = spawn_measured(exe, &args, |c| {
        c.current_dir(scratch)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out)?)
            .stderr(std::fs::File::create(&err)?);
        Ok(())
    })?;
    let mut output = std::fs::read_to_string(&out).unwrap_or_default();
    output.push_str(&std::fs::read_to_string(&err).unwrap_or_default());
    Ok((
        Measured {
            time,
            peak_rss_kib,
            exit_code: status.code().unwrap_or(-1),
        },
        output,
    ))
}

fn cell(m: &Measured, verdict: &str) -> String {
    format!(
        "{:.3} s, {:.0} MiB, {verdict}",
        m.time.as_secs_f64(),
        m.peak_rss_kib as f64 / 1024.0
    )
}

/// Runs every peer on `path` (best of `repeat`) and adds a row comparing it with mlsec's
/// own best run `mine` on the same file.
pub fn compare(
    peers: &[Peer],
    rows: &mut Vec<PeerRow>,
    input: &str,
    path: &Path,
    mine: &Measured,
    repeat: usize,
    scratch: &Path,
) {
    let (mine_verdict, _) = verdict("mlsec", mine.exit_code, "");
    let mut cells = Vec::new();
    for peer in peers {
        let path_str = path.to_string_lossy();
        let args: Vec<&str> = vec!["-p", &path_str];
        let mut best: Option<(Measured, String)> = None;
        for _ in 0..repeat.max(1) {
            match run_tool(&peer.exe, &args, scratch) {
                Ok(run) => {
                    if best.as_ref().is_none_or(|(b, _)| run.0.time < b.time) {
                        best = Some(run);
                    }
                }
                Err(e) => {
                    eprintln!("  {}: cannot run: {e}", peer.name);
                    break;
                }
            }
        }
        let text = match best {
            None => "failed: cannot run".to_owned(),
            Some((m, output)) => {
                let (v, ok) = verdict(peer.name, m.exit_code, &output);
                if ok {
                    let ratio = m.time.as_secs_f64() / mine.time.as_secs_f64().max(1e-9);
                    format!("{} ({ratio:.1}× mlsec)", cell(&m, &v))
                } else {
                    // A failure is shown as such, not as a speed.
                    v
                }
            }
        };
        eprintln!("  {input}: {} {text}", peer.name);
        cells.push(text);
    }
    rows.push(PeerRow {
        input: input.to_owned(),
        mlsec: cell(mine, &mine_verdict),
        peers: cells,
    });
}

pub fn print_table(peers: &[Peer], rows: &[PeerRow]) {
    if rows.is_empty() {
        return;
    }
    let names: Vec<String> = peers
        .iter()
        .map(|p| format!("{} {}", p.name, p.version))
        .collect();
    println!(
        "\n### Python peers on the same inputs (best run: time, peak RSS, verdict; ratio = peer time / mlsec time)\n"
    );
    println!("| input | mlsec | {} |", names.join(" | "));
    println!("|---|---|{}", "---|".repeat(names.len()));
    for row in rows {
        println!(
            "| {} | {} | {} |",
            row.input,
            row.mlsec,
            row.peers.join(" | ")
        );
    }
}
