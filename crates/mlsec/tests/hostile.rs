//! Hostile inputs against the real binary (issue 9): zip bombs, deep nesting, absurd sizes,
//! truncation at every container boundary, symlink tricks, terminal-forging file names, UDP
//! floods. Every input is generated here, in a temp dir.
//!
//! Each case checks the contract for hostile input: a clear error naming the file (exit 1) or
//! the right finding (exit 2), never a clean result for a broken file, bounded memory (the
//! child's peak RSS), and the rest of a multi-file scan still done (a malicious pickle beside
//! the hostile files must still be reported, exit 2).

use std::collections::BTreeSet;
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use mlsec_formats::dtype::DType;
use mlsec_testkit::{TensorSpec, torch_state_dict_pickle, torch_zip};
use mlsec_testkit::{ZipWriter, npy};
use serde_json::Value;

/// Generous cap on the child's peak RSS: every hostile file here is a few MB at most.
const RSS_CAP_KIB: u64 = 512 * 1024;
/// A run that takes longer than this is killed and fails the test (a hang).
const TIMEOUT: Duration = Duration::from_secs(60);

/// A finished `mlsec` run.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    peak_rss_kib: u64,
    what: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("{}: stdout is not JSON ({e}):\n{}", self.what, self.stdout))
    }

    /// Exit status, bounded memory and no crash.
    fn expect(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "{}: exit {} (expected {code})\nstdout:\n{}\nstderr:\n{}",
            self.what, self.code, self.stdout, self.stderr
        );
        self.bounded()
    }

    fn bounded(&self) -> &Self {
        assert!(
            self.peak_rss_kib < RSS_CAP_KIB,
            "{}: peak RSS {} MiB",
            self.what,
            self.peak_rss_kib / 1024
        );
        assert!(
            !self.stderr.contains("panicked") && !self.stderr.contains("this is a bug"),
            "{}: panic\n{}",
            self.what,
            self.stderr
        );
        self
    }
}

/// Runs the binary with stdout/stderr in files (no pipe to drain while we wait), a watchdog,
/// and the peak RSS from `wait4`.
fn mlsec(args: &[&str], cwd: &Path) -> Run {
    let out = tempfile::tempdir().unwrap();
    let (so, se) = (out.path().join("stdout"), out.path().join("stderr"));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mlsec"));
    cmd.args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&so).unwrap())
        .stderr(std::fs::File::create(&se).unwrap());
    let (status, peak_rss_kib) = spawn_measured(&mut cmd, TIMEOUT).expect("mlsec runs");
    Run {
        code: exit_code(status),
        stdout: String::from_utf8_lossy(&std::fs::read(&so).unwrap()).into_owned(),
        stderr: String::from_utf8_lossy(&std::fs::read(&se).unwrap()).into_owned(),
        peak_rss_kib,
        what: format!("mlsec {}", args.join(" ").escape_debug()),
    }
}

fn exit_code(status: ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .unwrap_or_else(|| 1000 + status.signal().unwrap_or(0))
}

/// Spawns `command`, kills it after `timeout`, and returns its status and peak RSS (KiB).
///
/// `wait4`'s `ru_maxrss` alone over-reports: at `execve` Linux folds the high-water mark of
/// the old address space (this process's, for a forked or vforked child) into the child's.
/// Writing `5` to `/proc/self/clear_refs` first resets our high-water mark to our current
/// RSS, so the figure is the child's own peak, or our current RSS for a smaller child.
/// Same as `spawn_measured` in `xtask/src/bench/mod.rs`.
#[allow(unsafe_code)] // wait4 is the only way to read a child's peak RSS
fn spawn_measured(command: &mut Command, timeout: Duration) -> std::io::Result<(ExitStatus, u64)> {
    use std::os::unix::process::ExitStatusExt;
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let child = command.spawn()?;
    let pid = child.id() as libc::pid_t;
    let done = Arc::new(AtomicBool::new(false));
    let watchdog = {
        let done = Arc::clone(&done);
        std::thread::spawn(move || {
            let start = Instant::now();
            while !done.load(Ordering::Acquire) {
                if start.elapsed() > timeout {
                    // SAFETY: pid is our child, not yet reaped (done is set only after wait4).
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let mut status = 0;
    // SAFETY: rusage is plain data, and pid is our own un-reaped child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = loop {
        let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if rc >= 0 || std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            break rc;
        }
    };
    done.store(true, Ordering::Release);
    watchdog.join().unwrap();
    if rc < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok((ExitStatus::from_raw(status), usage.ru_maxrss as u64))
}

fn testdata(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata")
        .join(rel)
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, bytes).unwrap();
    path
}

/// A protocol-0 pickle that calls `os.system("id")`: CKPT001 wherever it sits.
const EVIL_PICKLE: &[u8] = b"cos\nsystem\n(S'id'\ntR.";

/// Files named in a JSON report: `(errors, findings by file -> rule ids)`.
fn named(report: &Value) -> (BTreeSet<String>, Vec<(String, String)>) {
    let errors = report["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let msg = e["message"].as_str().unwrap();
            assert!(!msg.trim().is_empty(), "error without a message: {e}");
            e["file"].as_str().unwrap().to_owned()
        })
        .collect();
    let findings = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["location"]["file"].as_str().unwrap().to_owned(),
                f["rule"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    (errors, findings)
}

fn error_message<'a>(report: &'a Value, file: &str) -> Option<&'a str> {
    report["errors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["file"] == file)
        .and_then(|e| e["message"].as_str())
}

/// What a hostile file must produce: an error whose message contains the needle (exit 1),
/// or a finding of the rule (exit 2).
#[derive(Clone, Copy, Debug)]
enum Expect {
    Error(&'static str),
    Finding(&'static str),
    /// Both: the error about the bad part, and the finding it causes (exit 2).
    Both(&'static str, &'static str),
}

/// Scans every hostile file alone (its own verdict), then all of them together with a
/// malicious pickle (still found, exit 2).
fn check_scan(sub: &[&str], dir: &Path, cases: &[(String, Expect)], evil: &str, evil_rule: &str) {
    for (name, expect) in cases {
        let mut args = sub.to_vec();
        args.extend(["--json", name.as_str()]);
        let run = mlsec(&args, dir);
        let report = run.json();
        match expect {
            Expect::Error(needle) => {
                run.expect(1);
                let msg = error_message(&report, name).unwrap_or_else(|| {
                    panic!("{}: no error for {name}:\n{}", run.what, run.stdout)
                });
                assert!(
                    msg.contains(needle),
                    "{}: error for {name} is {msg:?}, expected {needle:?}",
                    run.what
                );
            }
            Expect::Finding(rule) | Expect::Both(rule, _) => {
                run.expect(2);
                if let Expect::Both(_, needle) = expect {
                    let msg = error_message(&report, name).unwrap_or_default();
                    assert!(
                        msg.contains(needle),
                        "{}: error {msg:?} for {name}",
                        run.what
                    );
                }
                let (_, findings) = named(&report);
                assert!(
                    findings.iter().any(|(f, r)| f == name && r == rule),
                    "{}: no {rule} for {name}:\n{}",
                    run.what,
                    run.stdout
                );
            }
        }
    }
    // All together, plus the malicious file.
    let mut args = sub.to_vec();
    args.push("--json");
    args.extend(cases.iter().map(|(n, _)| n.as_str()));
    args.push(evil);
    let run = mlsec(&args, dir);
    run.expect(2);
    let report = run.json();
    let (errors, findings) = named(&report);
    assert!(
        findings.iter().any(|(f, r)| f == evil && r == evil_rule),
        "{}: the malicious neighbour lost its {evil_rule}:\n{}",
        run.what,
        run.stdout
    );
    for (name, expect) in cases {
        let seen = match expect {
            Expect::Error(_) => errors.contains(name),
            Expect::Finding(rule) => findings.iter().any(|(f, r)| f == name && r == rule),
            Expect::Both(rule, _) => {
                errors.contains(name) && findings.iter().any(|(f, r)| f == name && r == rule)
            }
        };
        assert!(
            seen,
            "{}: {name} ({expect:?}) missing in the multi-file scan",
            run.what
        );
    }
}

// ---------------------------------------------------------------- zip helpers

/// Offsets of one zip member's structures.
struct ZipEntry {
    local: usize,
    data: usize,
    data_end: usize,
    central: usize,
}

/// Walks a (small, well-formed, non-zip64) zip: entries and the central directory / EOCD.
fn zip_layout(z: &[u8]) -> (Vec<ZipEntry>, usize, usize) {
    let u16_at = |o: usize| u16::from_le_bytes([z[o], z[o + 1]]) as usize;
    let u32_at = |o: usize| u32::from_le_bytes(z[o..o + 4].try_into().unwrap()) as usize;
    let eocd = (0..=z.len() - 22)
        .rev()
        .find(|&o| z[o..o + 4] == *b"PK\x05\x06")
        .unwrap();
    let (count, cd) = (u16_at(eocd + 10), u32_at(eocd + 16));
    let mut entries = Vec::new();
    let mut c = cd;
    for _ in 0..count {
        assert_eq!(&z[c..c + 4], b"PK\x01\x02");
        let csize = u32_at(c + 20);
        let local = u32_at(c + 42);
        let data = local + 30 + u16_at(local + 26) + u16_at(local + 28);
        entries.push(ZipEntry {
            local,
            data,
            data_end: data + csize,
            central: c,
        });
        c += 46 + u16_at(c + 28) + u16_at(c + 30) + u16_at(c + 32);
    }
    (entries, cd, eocd)
}

fn put_u32(z: &mut [u8], at: usize, v: u32) {
    z[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

fn tensor(name: &str, shape: Vec<u64>, key: &str, numel: u64) -> TensorSpec {
    TensorSpec {
        name: name.into(),
        dtype: DType::F32,
        shape,
        storage_key: key.into(),
        storage_offset: 0,
        storage_numel: numel,
    }
}

fn f32_zeros(n: usize) -> Vec<u8> {
    vec![0u8; n * 4]
}

fn safetensors(header: &str, data: &[u8]) -> Vec<u8> {
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

// ---------------------------------------------------------------- checkpoint

#[test]
fn checkpoint_bombs_and_absurd_sizes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write(dir, "evil.pkl", EVIL_PICKLE);
    let mut cases: Vec<(String, Expect)> = Vec::new();
    let mut add = |name: &str, bytes: &[u8], expect: Expect| {
        write(dir, name, bytes);
        cases.push((name.to_owned(), expect));
    };

    // Zip bombs. High ratio: 16 MiB of zeros deflate to ~16 KB (ratio > 1000).
    let specs = [tensor("w", vec![4 << 20], "0", 4 << 20)];
    let pickle = torch_state_dict_pickle(&specs);
    let mut z = ZipWriter::new();
    z.add("archive/data.pkl", &pickle, false, 64);
    z.add("archive/byteorder", b"little", false, 64);
    z.add("archive/data/0", &f32_zeros(4 << 20), true, 64);
    z.add("archive/version", b"3\n", false, 64);
    add("bomb-ratio.pt", &z.finish(), Expect::Finding("CKPT017"));

    // Huge declared size (4 GiB - 1 in both headers) over a few bytes of deflate.
    let mut z = ZipWriter::new();
    z.add("archive/data.pkl", &pickle, false, 64);
    z.add("archive/data/0", &[0u8; 64], true, 64);
    let mut zb = z.finish();
    let (entries, _, _) = zip_layout(&zb);
    put_u32(&mut zb, entries[1].local + 22, u32::MAX);
    put_u32(&mut zb, entries[1].central + 24, u32::MAX);
    add("bomb-declared.pt", &zb, Expect::Finding("CKPT017"));

    // Lying sizes: declares 64 bytes, inflates to 4 MiB: read no further than declared.
    let mut z = ZipWriter::new();
    z.add("archive/data.pkl", &pickle, false, 64);
    z.add("archive/data/0", &vec![7u8; 4 << 20], true, 64);
    let mut zb = z.finish();
    let (entries, _, _) = zip_layout(&zb);
    put_u32(&mut zb, entries[1].local + 22, 64);
    put_u32(&mut zb, entries[1].central + 24, 64);
    add(
        "bomb-lying-size.pt",
        &zb,
        Expect::Both("CKPT021", "archive/data/0` is corrupt"),
    );

    // A pickle that claims a 2^40-element tensor over a 16-byte storage.
    let big = [tensor("w", vec![1 << 20, 1 << 20], "0", 4)];
    let zb = torch_zip(
        "archive",
        &torch_state_dict_pickle(&big),
        &[("0".into(), f32_zeros(4))],
    );
    add("claims-2e40.pt", &zb, Expect::Finding("CKPT021"));
    // ... and a storage that claims 2^40 elements but holds 16 bytes.
    let big = [tensor("w", vec![4], "0", 1 << 40)];
    let zb = torch_zip(
        "archive",
        &torch_state_dict_pickle(&big),
        &[("0".into(), f32_zeros(4))],
    );
    add("storage-claims-2e40.pt", &zb, Expect::Finding("CKPT021"));
    // A storage shorter than its tensor.
    let short = [tensor("w", vec![1024], "0", 1024)];
    let zb = torch_zip(
        "archive",
        &torch_state_dict_pickle(&short),
        &[("0".into(), f32_zeros(25))],
    );
    add("storage-short.pt", &zb, Expect::Finding("CKPT021"));

    // Deep pickles: 10^5 nested lists (MARK ... LIST), 10^5 EMPTY_LIST+APPEND, each with the
    // malicious call at the bottom: never clean, either the call or a depth error.
    let n = 100_000;
    let mut deep = b"\x80\x02".to_vec();
    deep.extend(std::iter::repeat_n(b'(', n));
    deep.extend_from_slice(b"cos\nsystem\n(S'id'\ntR");
    deep.extend(std::iter::repeat_n(b'l', n));
    deep.push(b'.');
    add("deep-marks.pkl", &deep, Expect::Finding("CKPT001"));
    let mut deep = b"\x80\x02".to_vec();
    deep.extend(std::iter::repeat_n(b']', n));
    deep.extend_from_slice(b"cos\nsystem\n(S'id'\ntR");
    deep.extend(std::iter::repeat_n(b'a', n));
    deep.push(b'.');
    add("deep-lists.pkl", &deep, Expect::Finding("CKPT001"));
    // Safetensors: overlapping offsets, out-of-range offsets, a 100 GB header length.
    add(
        "overlap.safetensors",
        &safetensors(
            r#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}}"#,
            &[0u8; 24],
        ),
        Expect::Finding("CKPT020"),
    );
    add(
        "out-of-range.safetensors",
        &safetensors(
            r#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[268435456],"data_offsets":[16,1073741840]}}"#,
            &[0u8; 16],
        ),
        Expect::Finding("CKPT020"),
    );
    add(
        "offsets-overflow.safetensors",
        &safetensors(
            r#"{"a":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[18446744073709551600,18446744073709551615]}}"#,
            &[0u8; 16],
        ),
        Expect::Finding("CKPT020"),
    );
    let mut st = 100_000_000_000u64.to_le_bytes().to_vec();
    st.extend_from_slice(br#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#);
    add(
        "header-100gb.safetensors",
        &st,
        Expect::Error("header length"),
    );
    let mut st = u64::MAX.to_le_bytes().to_vec();
    st.extend_from_slice(b"{}");
    add(
        "header-u64max.safetensors",
        &st,
        Expect::Error("header length"),
    );

    // .npy with absurd shapes.
    add(
        "shape-2e80.npy",
        &npy(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776, 1099511627776), }",
            &[0u8; 16],
        ),
        Expect::Error("shape overflows"),
    );
    add(
        "shape-2e40.npy",
        &npy(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776,), }",
            &[0u8; 16],
        ),
        Expect::Error("shape and dtype need 4398046511104"),
    );
    add(
        "shape-negative.npy",
        &npy(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (-1, 4), }",
            &[0u8; 16],
        ),
        Expect::Error("negative dimension"),
    );
    let dims = vec!["1"; 20_000].join(", "); // 60 KB, the most a v1 header holds
    add(
        "shape-20k-dims.npy",
        &npy(
            &format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({dims}), }}"),
            &[0u8; 4],
        ),
        Expect::Error("too many dimensions"),
    );

    check_scan(&["checkpoint"], dir, &cases, "evil.pkl", "CKPT001");
}

/// Every prefix of valid files (each byte, so every container boundary is among them) is an
/// error or a finding, never clean; a directory scan of all of them still reports the
/// malicious pickle beside them.
#[test]
fn checkpoint_truncated_at_every_boundary() {
    truncations(&[
        "checkpoint/clean/model.pt",
        "checkpoint/clean/legacy.pt",
        "checkpoint/clean/model.safetensors",
        "checkpoint/clean/array.npy",
        "checkpoint/clean/arrays.npz",
        "checkpoint/clean/protocol0.pkl",
        "checkpoint/clean/weights-only.h5",
        "checkpoint/clean/model.h5",
        "checkpoint/clean/model.keras",
    ]);
}

/// A legacy tar cut after a member (inside its padding, where the two end-of-archive zero
/// blocks should be, or inside them) still lists as a tar: the missing end marker is an error,
/// and the members are still scanned.
#[test]
fn checkpoint_legacy_tar_truncated_at_every_boundary() {
    truncations(&["checkpoint/clean/legacy-tar.pt"]);
}

/// HDF5 data files (PyTables, pandas, h5py; malicious pickled attributes among them): every
/// prefix is an error or a finding.
#[test]
fn checkpoint_hdf5_data_truncated_at_many_cuts() {
    // ~70 KB of files: every 11th byte keeps the scan inside the watchdog; the reader's own
    // tests (`crates/mlsec-checkpoint/tests/hdf5_data.rs`, mlsec-formats' hdf5 mutations) cut
    // more densely in-process.
    truncations_every(
        11,
        &[
            "hdf5/pytables_malicious_attr.h5",
            "hdf5/pytables_malicious_vlarray.h5",
            "hdf5/pytables_benign_attrs.h5",
            "hdf5/h5py_malicious_attrs.h5",
            "hdf5/h5py_strings.h5",
            "hdf5/plain_data.h5",
            "hdf5/pandas_store.h5",
        ],
    );
}

fn truncations(sources: &[&str]) {
    truncations_every(1, sources);
}

/// Every `stride`-th cut of each source (and the last byte), plus a malicious pickle, in one
/// directory scan: each cut must be an error or a finding, never clean.
fn truncations_every(stride: usize, sources: &[&str]) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut names = Vec::new();
    let mut boundaries_seen = 0;
    for src in sources {
        let bytes = std::fs::read(testdata(src)).unwrap();
        let stem = Path::new(src).file_name().unwrap().to_str().unwrap();
        // The zip's structural boundaries, to make sure they are among the cuts.
        if stem == "model.pt" {
            let (entries, cd, eocd) = zip_layout(&bytes);
            for e in &entries {
                for b in [e.local, e.local + 30, e.data, e.data_end, e.central] {
                    assert!(b < bytes.len());
                    boundaries_seen += 1;
                }
            }
            assert!(cd < eocd && eocd + 22 == bytes.len());
            assert!(boundaries_seen > 10);
        }
        let mut cuts: Vec<usize> = (0..bytes.len()).step_by(stride).collect();
        cuts.push(bytes.len() - 1);
        cuts.dedup();
        for cut in cuts {
            // The extension stays: a directory scan picks model files by name and content.
            let name = format!("cut{cut:05}-{stem}");
            write(dir, &format!("cuts/{name}"), &bytes[..cut]);
            names.push(name);
        }
    }
    write(dir, "cuts/evil.pkl", EVIL_PICKLE);
    // One directory scan over all cuts: each must be an error or a finding.
    let run = mlsec(&["checkpoint", "--json", "cuts"], dir);
    run.expect(2);
    let report = run.json();
    let (errors, findings) = named(&report);
    assert!(
        findings
            .iter()
            .any(|(f, r)| f == "evil.pkl" && r == "CKPT001")
    );
    let flagged: BTreeSet<&str> = findings.iter().map(|(f, _)| f.as_str()).collect();
    let clean: Vec<&String> = names
        .iter()
        .filter(|n| !errors.contains(*n) && !flagged.contains(n.as_str()))
        .collect();
    assert!(
        clean.is_empty(),
        "{} truncated files reported clean: {:?}",
        clean.len(),
        &clean[..clean.len().min(40)]
    );
    assert_eq!(
        report["summary"]["scanned"].as_u64(),
        Some(names.len() as u64 + 1)
    );
}

#[test]
fn checkpoint_symlinks_do_not_leave_the_root() {
    let tmp = tempfile::tempdir().unwrap();
    let outside = tmp.path().join("outside");
    let root = tmp.path().join("root");
    write(&outside, "secret-evil.pkl", EVIL_PICKLE);
    write(&root, "evil.pkl", EVIL_PICKLE);
    let link = |target: &Path, at: &str| std::os::unix::fs::symlink(target, root.join(at)).unwrap();
    link(&outside.join("secret-evil.pkl"), "out-file.pkl");
    link(&outside, "out-dir");
    link(Path::new("."), "self-loop");
    link(Path::new(".."), "parent");
    link(Path::new("loop-b"), "loop-a");
    link(Path::new("loop-a"), "loop-b");
    link(Path::new("nowhere"), "dangling.pkl");
    std::fs::create_dir(root.join("sub")).unwrap();
    std::os::unix::fs::symlink(Path::new(".."), root.join("sub/up")).unwrap();

    let run = mlsec(&["checkpoint", "--json", "root"], tmp.path());
    run.expect(2);
    let report = run.json();
    let (_, findings) = named(&report);
    // The only finding is the in-root pickle: nothing outside the root was read.
    assert_eq!(
        findings,
        vec![("evil.pkl".to_owned(), "CKPT001".to_owned())],
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("secret-evil"), "{}", run.stdout);
}

#[test]
fn hostile_file_names_in_every_output_format() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let names = [
        "esc\x1b[2J\x1b[31mred.pkl",
        "line\nerror: forged.pkl",
        "cr\roverwrite.pkl",
        "bidi\u{202e}lkp.txt.pkl",
        "tab\tbell\x07del\x7f.pkl",
        "gh%0A::error ::x,y:z.pkl",
    ];
    for n in names {
        write(dir, &format!("scan/{n}"), EVIL_PICKLE);
        write(dir, &format!("scan/broken-{n}"), b"\x80\x02cos\nsys");
    }
    let all: Vec<String> = names
        .iter()
        .flat_map(|n| [n.to_string(), format!("broken-{n}")])
        .collect();

    // JSON: parses, and carries every name verbatim.
    let run = mlsec(&["checkpoint", "--json", "scan"], dir);
    run.expect(2);
    let report = run.json();
    let (errors, findings) = named(&report);
    for n in names {
        assert!(
            findings.iter().any(|(f, r)| f == n && r == "CKPT001"),
            "{n:?}: {findings:?}"
        );
        assert!(errors.contains(&format!("broken-{n}")), "{n:?}: {errors:?}");
    }

    // Text: nothing raw reaches the terminal, no forged line.
    for fmt in ["text", "github", "sarif"] {
        let run = mlsec(&["checkpoint", "--format", fmt, "scan"], dir);
        run.expect(2);
        if fmt == "sarif" {
            continue;
        }
        for (stream, s) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
            for bad in ['\x1b', '\r', '\u{202e}', '\x07', '\x7f'] {
                assert!(!s.contains(bad), "{fmt} {stream} has raw {bad:?}:\n{s}");
            }
            assert!(
                !s.lines().any(|l| l.starts_with("error: forged")),
                "{fmt} {stream} has a forged line:\n{s}"
            );
        }
    }
    let text = mlsec(&["checkpoint", "scan"], dir);
    assert!(text.stdout.contains("esc\\u{001b}[2J"), "{}", text.stdout);
    assert!(
        text.stdout.contains("line\\nerror: forged.pkl"),
        "{}",
        text.stdout
    );

    // GitHub: one workflow command per line, data and properties escaped.
    let gh = mlsec(&["checkpoint", "--format", "github", "scan"], dir);
    let commands: Vec<&str> = gh.stdout.lines().filter(|l| l.starts_with("::")).collect();
    for line in gh.stdout.lines().filter(|l| !l.trim().is_empty()) {
        assert!(
            line.starts_with("::") || line.starts_with("mlsec "),
            "github output line is neither a workflow command nor the summary: {line:?}"
        );
    }
    assert_eq!(commands.len(), all.len(), "{}", gh.stdout);
    for line in &commands {
        let props = line[2..].split("::").next().unwrap();
        let (_, props) = props.split_once(' ').unwrap();
        let file = props
            .split(',')
            .find_map(|p| p.strip_prefix("file="))
            .unwrap_or_else(|| panic!("no file= in {line:?}"));
        assert!(!file.contains(':') && !file.contains('\n'), "{line:?}");
    }
    // The newline is escaped (as `\n` text, or `%0A`): never a second command line.
    assert!(
        gh.stdout.contains("file=line\\nerror%3A forged.pkl")
            || gh.stdout.contains("file=line%0Aerror%3A forged.pkl"),
        "{}",
        gh.stdout
    );
    assert!(
        gh.stdout.contains("gh%250A%3A%3Aerror %3A%3Ax%2Cy%3Az.pkl"),
        "{}",
        gh.stdout
    );

    // SARIF: parses, 2.1.0, every finding a result with its file; errors in invocations.
    let sarif = mlsec(&["checkpoint", "--format", "sarif", "scan"], dir);
    let doc: Value = serde_json::from_str(&sarif.stdout).expect("SARIF is JSON");
    assert_eq!(doc["version"], "2.1.0");
    let run0 = &doc["runs"][0];
    let uris: BTreeSet<String> = run0["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            assert_eq!(r["ruleId"], "CKPT001");
            r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(uris.len(), names.len(), "{uris:?}");
    for u in &uris {
        assert!(
            !u.chars().any(char::is_control),
            "raw control character in a SARIF uri: {u:?}"
        );
    }
    let notes = run0["invocations"][0]["toolExecutionNotifications"]
        .as_array()
        .unwrap();
    assert_eq!(notes.len(), names.len(), "{}", sarif.stdout);
}

// ---------------------------------------------------------------- triton

#[test]
fn triton_deep_nesting() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let n = 1_000_000;
    let mut deep = String::with_capacity(6 * n);
    deep.push_str("name: \"deep\"\n");
    for _ in 0..n {
        deep.push_str("a{");
    }
    for _ in 0..n {
        deep.push('}');
    }
    write(dir, "repo/deep/config.pbtxt", deep.as_bytes());
    // Never closed, inside a map value.
    let mut open = String::from("name: \"open\"\nparameters { key: \"k\" value { ");
    for _ in 0..n {
        open.push_str("x {");
    }
    write(dir, "repo/open/config.pbtxt", open.as_bytes());
    write(
        dir,
        "repo/evil/config.pbtxt",
        b"name: \"evil\"\nbackend: \"python\"\nruntime: \"/tmp/evil.so\"\n",
    );
    let cases = vec![
        (
            "repo/deep/config.pbtxt".to_owned(),
            Expect::Error("nesting deeper than"),
        ),
        (
            "repo/open/config.pbtxt".to_owned(),
            Expect::Error("nesting deeper than"),
        ),
    ];
    check_scan(
        &["triton"],
        dir,
        &cases,
        "repo/evil/config.pbtxt",
        "TRTN021",
    );
}

// ---------------------------------------------------------------- onnx

fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn varint_len(v: u64) -> usize {
    let mut b = Vec::new();
    varint(v, &mut b);
    b.len()
}

fn field(tag: u32, bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    varint(u64::from(tag << 3 | 2), &mut out);
    varint(bytes.len() as u64, &mut out);
    out.extend_from_slice(bytes);
    out
}

fn field_varint(tag: u32, v: u64) -> Vec<u8> {
    let mut out = Vec::new();
    varint(u64::from(tag << 3), &mut out);
    varint(v, &mut out);
    out
}

fn onnx_model(graph: &[u8]) -> Vec<u8> {
    let mut m = field_varint(1, 8); // ir_version
    m.extend(field(8, &field_varint(2, 17))); // opset_import { version: 17 }
    m.extend(field(7, graph));
    m
}

/// `depth` graphs, each an `If` node whose `then_branch` is the next: written prefix by
/// prefix from precomputed lengths, so building is linear in the depth.
fn nested_if_model(depth: usize) -> Vec<u8> {
    let innermost = field(2, b"leaf");
    let op = field(4, b"If");
    let mut attr_head = field(1, b"then_branch");
    attr_head.extend(field_varint(20, 5)); // type: GRAPH
    let mut lens = vec![innermost.len() as u64];
    for _ in 0..depth {
        let g = *lens.last().unwrap();
        let attr = attr_head.len() as u64 + 1 + varint_len(g) as u64 + g;
        let node = op.len() as u64 + 1 + varint_len(attr) as u64 + attr;
        lens.push(1 + varint_len(node) as u64 + node);
    }
    let mut graph = Vec::with_capacity(*lens.last().unwrap() as usize);
    for level in (1..=depth).rev() {
        let g = lens[level - 1];
        let attr = attr_head.len() as u64 + 1 + varint_len(g) as u64 + g;
        let node = op.len() as u64 + 1 + varint_len(attr) as u64 + attr;
        graph.push(0x0a); // GraphProto.node
        varint(node, &mut graph);
        graph.extend_from_slice(&op);
        graph.push(0x2a); // NodeProto.attribute
        varint(attr, &mut graph);
        graph.extend_from_slice(&attr_head);
        graph.push(0x32); // AttributeProto.g
        varint(g, &mut graph);
    }
    graph.extend_from_slice(&innermost);
    assert_eq!(graph.len() as u64, *lens.last().unwrap());
    onnx_model(&graph)
}

fn value_info(name: &str) -> Vec<u8> {
    // ValueInfoProto { name, type { tensor_type { elem_type: FLOAT, shape { dim { dim_value: 1 } } } } }
    let shape = field(2, &field(1, &field_varint(1, 1)));
    let mut tt = field_varint(1, 1);
    tt.extend(shape);
    let mut v = field(1, name.as_bytes());
    v.extend(field(2, &field(1, &tt)));
    v
}

fn node(op: &str, inputs: &[&str], outputs: &[&str], attrs: &[Vec<u8>]) -> Vec<u8> {
    let mut n = Vec::new();
    for i in inputs {
        n.extend(field(1, i.as_bytes()));
    }
    for o in outputs {
        n.extend(field(2, o.as_bytes()));
    }
    n.extend(field(
        3,
        format!("{op}_{}", outputs.first().unwrap_or(&"")).as_bytes(),
    ));
    n.extend(field(4, op.as_bytes()));
    for a in attrs {
        n.extend(field(5, a));
    }
    n
}

fn graph_attr(name: &str, graph: &[u8]) -> Vec<u8> {
    let mut a = field(1, name.as_bytes());
    a.extend(field_varint(20, 5));
    a.extend(field(6, graph));
    a
}

/// Subgraphs named like their parents, whose nodes read and write the parents' names and
/// their own outputs (a cycle through names).
fn self_referencing_model() -> Vec<u8> {
    let mut inner = field(2, b"main");
    inner.extend(field(1, &node("Relu", &["y"], &["y"], &[])));
    inner.extend(field(1, &node("Add", &["x", "y"], &["x"], &[])));
    inner.extend(field(12, &value_info("y")));
    let mut middle = field(2, b"main");
    middle.extend(field(1, &node("Identity", &["y"], &["y"], &[])));
    middle.extend(field(
        1,
        &node(
            "If",
            &["x"],
            &["y"],
            &[
                graph_attr("then_branch", &inner),
                graph_attr("else_branch", &inner),
            ],
        ),
    ));
    middle.extend(field(12, &value_info("y")));
    let mut main = field(2, b"main");
    main.extend(field(
        1,
        &node(
            "If",
            &["x"],
            &["y"],
            &[
                graph_attr("then_branch", &middle),
                graph_attr("else_branch", &middle),
            ],
        ),
    ));
    main.extend(field(
        1,
        &node(
            "Loop",
            &["", "x", "y"],
            &["y"],
            &[graph_attr("body", &middle)],
        ),
    ));
    main.extend(field(11, &value_info("x")));
    main.extend(field(12, &value_info("y")));
    onnx_model(&main)
}

#[test]
fn onnx_deep_and_self_referencing_graphs() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write(dir, "deep.onnx", &nested_if_model(100_000));
    write(dir, "self-ref.onnx", &self_referencing_model());
    std::fs::copy(
        testdata("export-guard/expg007_custom_domain.onnx"),
        dir.join("evil.onnx"),
    )
    .unwrap();

    // The self-referencing model parses and the walk ends (no loop through the names): the
    // dataflow reaches its end and sees that the `If` whose output `Loop` overwrites never
    // contributes to the output (EXPG017). (Its conditions come straight from the graph input,
    // but a graph with no learned layer has nothing to select against: no EXPG015.)
    let run = mlsec(&["export-guard", "lint", "--json", "self-ref.onnx"], dir);
    run.expect(2);
    let (errors, findings) = named(&run.json());
    assert!(errors.is_empty(), "{errors:?}");
    assert!(
        findings
            .iter()
            .any(|(f, r)| f == "self-ref.onnx" && r == "EXPG017"),
        "{}",
        run.stdout
    );

    let cases = vec![("deep.onnx".to_owned(), Expect::Error("recursion limit"))];
    check_scan(
        &["export-guard", "lint"],
        dir,
        &cases,
        "evil.onnx",
        "EXPG007",
    );
    let run = mlsec(
        &[
            "export-guard",
            "lint",
            "--json",
            "deep.onnx",
            "self-ref.onnx",
            "evil.onnx",
        ],
        dir,
    );
    run.expect(2);
}

// ---------------------------------------------------------------- poison-monitor listen

#[test]
fn listen_survives_a_udp_flood() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let port = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let records: Vec<Vec<String>> = (0..8)
        .map(|r| {
            std::fs::read_to_string(testdata(&format!(
                "poison-monitor/attacked/worker_{r}.jsonl"
            )))
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
        })
        .collect();
    let steps = records[0].len();
    let (so, se) = (dir.join("stdout"), dir.join("stderr"));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mlsec"));
    cmd.args([
        "poison-monitor",
        "listen",
        "--json",
        "--port",
        &port.to_string(),
        "--expected-workers",
        "8",
        "--max-steps",
        &steps.to_string(),
    ])
    .current_dir(dir)
    .env("NO_COLOR", "1")
    .stdin(Stdio::null())
    .stdout(std::fs::File::create(&so).unwrap())
    .stderr(std::fs::File::create(&se).unwrap());

    let sender = std::thread::spawn({
        let se = se.clone();
        move || {
            // Wait until the listener says it is bound.
            let start = Instant::now();
            while !std::fs::read_to_string(&se)
                .unwrap_or_default()
                .contains("listening on")
            {
                assert!(start.elapsed() < TIMEOUT, "listener never bound");
                std::thread::sleep(Duration::from_millis(10));
            }
            let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
            let to = ("127.0.0.1", port);
            let mut garbage: Vec<Vec<u8>> = vec![
                vec![],
                vec![0xff; 1],
                b"{".to_vec(),
                b"\xc3\x28 not utf-8".to_vec(),
                br#"{"v":1,"run":"x","rank":-1,"world":8,"step":0}"#.to_vec(),
                br#"{"v":1,"run":"x","rank":99999999999,"world":8,"step":1e308}"#.to_vec(),
                format!("{{\"v\":1,\"run\":\"{}\"}}", "r".repeat(60_000)).into_bytes(),
                "[".repeat(60_000).into_bytes(),
            ];
            for i in 0..64u8 {
                garbage.push(vec![i.wrapping_mul(37); 65_507]); // oversize
            }
            for g in &garbage {
                let _ = sock.send_to(g, to);
            }
            std::thread::sleep(Duration::from_millis(50));
            for (step, _) in records[0].iter().enumerate() {
                for rank in &records {
                    sock.send_to(rank[step].as_bytes(), to).unwrap();
                }
                // Garbage between steps too, paced so the kernel buffer keeps the valid ones.
                let _ = sock.send_to(&garbage[step % garbage.len()], to);
                std::thread::sleep(Duration::from_millis(2));
            }
        }
    });
    let (status, peak_rss_kib) = spawn_measured(&mut cmd, TIMEOUT).unwrap();
    sender.join().unwrap();
    let run = Run {
        code: exit_code(status),
        stdout: std::fs::read_to_string(&so).unwrap(),
        stderr: std::fs::read_to_string(&se).unwrap(),
        peak_rss_kib,
        what: "mlsec poison-monitor listen".into(),
    };
    // The attack in the valid records is found despite the flood.
    run.expect(2);
    let report = run.json();
    let pm = &report["data"]["poison_monitor"];
    assert!(pm["invalid"].as_u64().unwrap() > 0, "{pm}");
    assert!(pm["oversize"].as_u64().unwrap() > 0, "{pm}");
    assert_eq!(pm["steps"].as_u64(), Some(steps as u64), "{pm}");
    let (_, findings) = named(&report);
    assert!(
        findings.iter().any(|(_, r)| r.starts_with("POIS")),
        "{}",
        run.stdout
    );
}
