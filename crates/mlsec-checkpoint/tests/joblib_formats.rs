//! `mlsec checkpoint` on every joblib format joblib 1.6 loads (`testdata/joblib`, made and
//! checked with the real joblib by `scripts/joblib/make_reference.py`): each compressor, plain
//! pickles written through a compressor, and the old formats of joblib < 0.10 (the `.z` zfile
//! and arrays in companion files). Malicious files were checked to run a marker command under
//! `joblib.load` when they were made.

use std::path::{Path, PathBuf};

use mlsec_checkpoint::{Args, Options, run, scan_bytes};
use mlsec_core::{Context, ExitStatus, Policy, Report};
use serde_json::Value;

fn testdata(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/joblib")
        .join(rel)
}

fn expected() -> Value {
    serde_json::from_slice(&std::fs::read(testdata("expected.json")).unwrap()).unwrap()
}

fn scan(paths: Vec<PathBuf>) -> Report {
    run(&Args::new(paths), &Context::silent()).expect("scan starts")
}

fn exit(report: &Report) -> ExitStatus {
    report.exit_status(&Policy::default())
}

fn critical_calls(report: &Report) -> Vec<(String, String)> {
    report
        .findings
        .iter()
        .filter(|f| f.rule.id == "CKPT001")
        .map(|f| (f.location.file.clone(), f.message.clone()))
        .collect()
}

/// Benign dumps of every compressor: exit 0, the arrays read with their statistics, named as
/// joblib dumps of that compressor.
#[test]
fn benign_dumps_of_every_compressor_are_clean_with_tensors() {
    for c in ["zlib", "gzip", "bz2", "lzma", "xz", "lz4"] {
        let path = testdata(&format!("model_{c}.joblib"));
        let report = scan(vec![path.clone()]);
        assert!(report.errors.is_empty(), "{c}: {:?}", report.errors);
        let r = scan_bytes(&std::fs::read(&path).unwrap(), "m", &Options::default());
        assert_eq!(r.format, format!("joblib-{c}"));
        assert_eq!(r.tensors.len(), 13, "{c}");
        // The reference model holds a `types.SimpleNamespace`, which the denylist flags
        // (`types`); nothing else is reported.
        assert!(
            r.findings
                .iter()
                .all(|f| f.message.contains("types.SimpleNamespace")),
            "{c}: {:?}",
            r.findings
        );
        // numpy arrays and a dict of settings: clean, with the arrays' statistics.
        let path = testdata(&format!("clean_{c}.joblib"));
        let report = scan(vec![path.clone()]);
        assert_eq!(
            exit(&report),
            ExitStatus::Clean,
            "{c}: {:?}",
            report.findings
        );
        let files = report.data["files"].as_array().unwrap();
        assert_eq!(files[0]["format"], format!("joblib-{c}"));
        assert_eq!(files[0]["tensors"], 4, "{c}");
    }
    // Plain pickles written through bz2/xz/lz4 are named for what they are.
    for (name, format) in [
        ("plain_bz2.pkl.bz2", "pickle-bz2"),
        ("plain_xz.pkl.xz", "pickle-xz"),
        ("plain_lz4.pkl.lz4", "pickle-lz4"),
    ] {
        let path = testdata(name);
        let r = scan_bytes(&std::fs::read(&path).unwrap(), name, &Options::default());
        assert_eq!(r.format, format, "{name}");
        assert!(
            r.errors.is_empty() && r.findings.is_empty(),
            "{name}: {r:?}"
        );
        assert_eq!(exit(&scan(vec![path])), ExitStatus::Clean, "{name}");
    }
}

/// Every malicious dump: exit 2 with CKPT001 naming `posix.system`, located in the file, and
/// the format named for what the file is (`pickle-bz2`, not "joblib bz2 compression").
#[test]
fn malicious_dumps_of_every_compressor_are_reported() {
    let exp = expected();
    let malicious = exp["malicious"].as_array().unwrap();
    assert_eq!(malicious.len(), 9);
    for m in malicious {
        let rel = m["file"].as_str().unwrap();
        let path = testdata(rel);
        let r = scan_bytes(&std::fs::read(&path).unwrap(), rel, &Options::default());
        assert_eq!(r.format, m["format"].as_str().unwrap(), "{rel}");
        assert!(r.errors.is_empty(), "{rel}: {:?}", r.errors);
        let report = scan(vec![path.clone()]);
        assert_eq!(exit(&report), ExitStatus::Findings, "{rel}");
        let calls = critical_calls(&report);
        let callable = m["callable"].as_str().unwrap();
        assert!(
            calls
                .iter()
                .any(|(file, msg)| file == &path.display().to_string() && msg.contains(callable)),
            "{rel}: {calls:?}"
        );
    }
}

/// A malicious dump cut anywhere past its payload still reports the payload (the decoded
/// prefix is audited) together with the truncation error; cut before it, an error, never
/// clean.
#[test]
fn truncated_malicious_dumps_are_never_clean() {
    for c in ["zlib", "gzip", "bz2", "lzma", "xz", "lz4"] {
        let data = std::fs::read(testdata(&format!("malicious/evil_{c}.joblib"))).unwrap();
        for cut in [
            data.len() / 3,
            data.len() / 2,
            data.len() - 9,
            data.len() - 1,
        ] {
            let r = scan_bytes(&data[..cut], "evil", &Options::default());
            assert!(
                !r.errors.is_empty() || r.findings.iter().any(|f| f.rule.id == "CKPT001"),
                "{c} cut {cut}: clean"
            );
            assert!(!r.errors.is_empty(), "{c} cut {cut}: no error");
        }
        // Cut after the whole pickle was decoded (only the checksum/end mark is missing): the
        // payload is reported, and the error too.
        let r = scan_bytes(&data[..data.len() - 1], "evil", &Options::default());
        // (zlib has no trailer past its checksum; the .lzma decoder holds back its last
        // bytes until the stream ends.)
        if !["zlib", "lzma"].contains(&c) {
            assert!(
                r.findings.iter().any(|f| f.rule.id == "CKPT001"),
                "{c}: {:?} {:?}",
                r.findings,
                r.errors
            );
        }
    }
}

/// A bomb: a bz2 stream of 64 MiB of zeros behind a pickle head, scanned with a 1 MiB limit.
#[test]
fn a_compressed_bomb_is_an_error() {
    let mut enc = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::best());
    std::io::Write::write_all(&mut enc, b"\x80\x04\x95").unwrap();
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..64 {
        std::io::Write::write_all(&mut enc, &zeros).unwrap();
    }
    let bomb = enc.finish().unwrap();
    let mut opts = Options::default();
    opts.zip_limits.max_member_size = 1 << 20;
    let r = scan_bytes(&bomb, "bomb.joblib", &opts);
    assert!(
        r.errors.iter().any(|e| e.message.contains("limit")),
        "{:?}",
        r.errors
    );
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

/// joblib 0.9.4 files (companion `.npy`, companion zfiles, an inline zfile): exit 0, every
/// array read (from the companions too), with the values joblib dumped.
#[test]
fn old_joblib_formats_are_read_with_their_companions() {
    for (sub, format, tensors) in [
        ("npy", "joblib", 4),
        ("zfile_companions", "joblib-zfile", 4),
        // Small arrays pickled inline (numpy's own reduce), not joblib arrays: no tensors.
        ("zfile", "joblib-zfile", 0),
    ] {
        let path = testdata(&format!("old/{sub}/model.pkl"));
        let report = scan(vec![path.clone()]);
        assert_eq!(
            exit(&report),
            ExitStatus::Clean,
            "{sub}: {:?} {:?}",
            report.errors,
            report.findings
        );
        let files = report.data["files"].as_array().unwrap();
        assert_eq!(files[0]["format"], format, "{sub}");
        assert_eq!(files[0]["tensors"], tensors, "{sub}");
        // From the bytes alone, the companions cannot be read: an error naming them.
        if sub != "zfile" {
            let r = scan_bytes(&std::fs::read(&path).unwrap(), "m", &Options::default());
            assert!(
                r.errors
                    .iter()
                    .any(|e| e.message.contains("model.pkl_01.npy")),
                "{sub}: {:?}",
                r.errors
            );
        }
    }
    // A directory scan reads each companion once, with its pickle.
    let report = scan(vec![testdata("old/npy")]);
    assert_eq!(report.scanned, 1, "{:?}", report.data);
    assert_eq!(exit(&report), ExitStatus::Clean);
}

/// Malicious old files: a payload in an inline zfile pickle, and one in a companion `.npy`
/// (an object array numpy unpickles), reported in the file that holds it; in a directory scan,
/// once.
#[test]
fn malicious_old_files_are_reported_where_the_payload_is() {
    let exp = expected();
    for m in exp["old"]["malicious"].as_array().unwrap() {
        let path = testdata(m["file"].as_str().unwrap());
        let located = testdata(m["located"].as_str().unwrap());
        let report = scan(vec![path.clone()]);
        assert_eq!(exit(&report), ExitStatus::Findings, "{path:?}");
        let calls = critical_calls(&report);
        assert!(
            calls
                .iter()
                .any(|(f, msg)| f == &located.display().to_string() && msg.contains("posix.system")),
            "{calls:?}"
        );
        let dir = path.parent().unwrap().to_path_buf();
        let report = scan(vec![dir]);
        assert_eq!(exit(&report), ExitStatus::Findings);
        assert_eq!(critical_calls(&report).len(), calls.len(), "{calls:?}");
    }
}

/// A companion name from the pickle is hostile: `..`, an absolute path or a symlink out of
/// the directory is an error naming it, never a file read; a missing companion likewise.
#[test]
fn companion_paths_that_escape_the_directory_are_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let outside = tmp.path().join("outside.npy");
    std::fs::copy(testdata("old/npy/model.pkl_01.npy"), &outside).unwrap();
    let base = std::fs::read(testdata("old/npy/model.pkl")).unwrap();
    let name = b"model.pkl_01.npy";
    let at = base.windows(name.len()).position(|w| w == name).unwrap();
    // Same length names keep the pickle's SHORT_BINUNICODE lengths right.
    for (evil, what) in [
        (&b"../outside.npyxx"[..], ".."),
        (b"/tmp/outside.npy", "absolute"),
        (b"link_to_out.npyy", "symlink"),
        (b"model.pkl_09.npy", "missing"),
    ] {
        assert_eq!(evil.len(), name.len());
        let dir = tmp
            .path()
            .join(format!("case-{}", what.replace('.', "dot")));
        copy_dir(&testdata("old/npy"), &dir);
        std::os::unix::fs::symlink(&outside, dir.join("link_to_out.npyy")).unwrap();
        let mut data = base.clone();
        data[at..at + name.len()].copy_from_slice(evil);
        std::fs::write(dir.join("model.pkl"), &data).unwrap();
        let report = scan(vec![dir.join("model.pkl")]);
        assert_eq!(exit(&report), ExitStatus::Error, "{what}");
        let evil = std::str::from_utf8(evil).unwrap();
        assert!(
            report.errors.iter().any(|e| e.message.contains(evil)),
            "{what}: {:?}",
            report.errors
        );
    }
}

/// The two traversals (`load::visit`, used by inspect, and the checkpoint scanner) name every
/// joblib format alike and read the same number of arrays.
#[test]
fn both_traversals_agree_on_every_joblib_format() {
    let mut names: Vec<String> = ["zlib", "gzip", "bz2", "lzma", "xz", "lz4"]
        .iter()
        .flat_map(|c| [format!("clean_{c}.joblib"), format!("model_{c}.joblib")])
        .collect();
    names.extend(
        [
            "plain_bz2.pkl.bz2",
            "plain_xz.pkl.xz",
            "plain_lz4.pkl.lz4",
            "old/zfile/model.pkl",
        ]
        .map(String::from),
    );
    for name in names {
        let data = std::fs::read(testdata(&name)).unwrap();
        let r = scan_bytes(&data, &name, &Options::default());
        let l = mlsec_formats::load::visit(&data, Default::default(), &mut |_| {});
        assert_eq!(l.format, r.format, "{name}");
        assert_eq!(l.tensors, r.tensors.len(), "{name}");
    }
}
