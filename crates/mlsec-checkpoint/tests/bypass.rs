//! Scanner-bypass techniques (`cargo xtask testdata bypass`): every one of them runs
//! `os.system` under a real loader (checked by `scripts/bypass/verify.py`, see
//! `scripts/bypass/VERIFIED.txt`), so each must give a finding that names `os.system`.

use std::path::{Path, PathBuf};

use mlsec_checkpoint::{Args, FileResult, Options, run, scan_bytes};
use mlsec_core::{Context, ExitStatus, Pointer, Policy, Severity};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/bypass")
}

fn scan(rel: &str) -> FileResult {
    let data = std::fs::read(fixtures().join(rel)).expect("fixture exists");
    scan_bytes(&data, rel, &Options::default())
}

/// The finding that names `os.system` as the callable (call or computed import).
fn names_os_system(r: &FileResult) -> bool {
    r.findings.iter().any(|f| {
        f.rule.id == "CKPT001"
            && f.severity == Severity::Critical
            && f.evidence.get("callable").map(String::as_str) == Some("os.system")
    })
}

fn rules(r: &FileResult) -> Vec<&str> {
    r.findings.iter().map(|f| f.rule.id).collect()
}

#[test]
fn frame_differentials_name_the_payload_and_the_anomaly() {
    for (rel, loader) in [
        ("frame-straddle.pkl", "pickle.load(stream) / torch.load"),
        ("frame-straddle.pt", "pickle.load(stream) / torch.load"),
        (
            "frame-straddle-object.npy",
            "pickle.load(stream) / torch.load",
        ),
        ("frame-nested.pkl", "pickle.load(stream) / torch.load"),
        ("frame-overlong.joblib", "pickle._Unpickler / joblib.load"),
    ] {
        let r = scan(rel);
        assert!(names_os_system(&r), "{rel}: {:#?}", r.findings);
        assert!(rules(&r).contains(&"CKPT008"), "{rel}: {:?}", rules(&r));
        // The call is only seen by the loader that runs it, and the finding says which.
        let call = r
            .findings
            .iter()
            .find(|f| f.evidence.get("callable").map(String::as_str) == Some("os.system"))
            .unwrap();
        assert_eq!(call.evidence["read_as"], loader, "{rel}");
    }
    // The C unpickler stops at the overlong FRAME: that reading is an error, and still exit 2.
    let r = scan("frame-overlong.joblib");
    assert!(
        r.errors.iter().any(|e| e.message.contains("truncated")),
        "{:?}",
        r.errors
    );
}

#[test]
fn every_spelling_of_the_object_dtype_is_unpickled() {
    for rel in [
        "object-O8.npy",
        "object-le.npy",
        "object-be-O8.npy",
        "object-native.npy",
        "object-bare-O8.npy",
        "object-name.npy",
        "object-escaped.npy",
        "object-structured.npy",
        "object-subarray.npy",
        "object-member.npz",
    ] {
        let r = scan(rel);
        assert!(
            names_os_system(&r),
            "{rel}: {:#?} {:#?}",
            r.findings,
            r.errors
        );
        assert!(r.errors.is_empty(), "{rel}: {:?}", r.errors);
    }
}

#[test]
fn a_truncated_protocol_0_pickle_is_still_read() {
    let r = scan("truncated-proto0.pkl");
    assert_eq!(r.format, "pickle");
    assert!(names_os_system(&r), "{:#?}", r.findings);
}

#[test]
fn planted_attributes_resolve_the_computed_import() {
    let r = scan("planted-attributes.pkl");
    assert!(names_os_system(&r), "{:#?}", r.findings);
    let dynamic = r.findings.iter().find(|f| f.rule.id == "CKPT003").unwrap();
    assert_eq!(dynamic.evidence["module"], "os");
    assert_eq!(dynamic.evidence["name"], "system");
}

#[test]
fn an_unreadable_member_named_like_a_pickle_is_an_error_naming_it() {
    let r = scan("garbage-member.pt");
    assert!(r.findings.is_empty(), "{:#?}", r.findings);
    assert!(
        r.errors
            .iter()
            .any(|e| e.message.contains("`archive/extra.pkl`")),
        "{:?}",
        r.errors
    );
}

/// The `os.system` finding's archive member, if there is one.
fn payload_member(r: &FileResult) -> Option<String> {
    r.findings.iter().find_map(|f| {
        let named = f.rule.id == "CKPT001"
            && f.evidence.get("callable").map(String::as_str) == Some("os.system");
        match (&f.location.pointer, named) {
            (Some(Pointer::Member(m)), true) => Some(m.clone()),
            _ => None,
        }
    })
}

fn exit_code(rel: &str) -> ExitStatus {
    let args = Args::new(vec![fixtures().join(rel)]);
    let report = run(&args, &Context::silent()).expect("scan starts");
    report.exit_status(&Policy::default())
}

/// Zips that torch's reader and Python's zipfile read differently (`bypass_zip.rs`; which
/// member each real loader reads is in `MANIFEST.tsv` and checked by `verify.py`): every
/// reading is scanned, so the payload is found in the member the loader runs, and the
/// structure that makes the readers disagree is a finding of its own.
#[test]
fn zip_reader_differentials_scan_what_every_loader_reads() {
    for (rel, member, anomaly) in [
        // torch reads the first of two glued zips, numpy the second.
        ("zip-concat.pt", "archive/data.pkl", "CKPT018"),
        ("zip-concat.npz", "arr_0.npy", "CKPT018"),
        // torch follows the ZIP64 locator, numpy takes the record before it.
        ("zip64-locator.pt", "archive/data.pkl", "CKPT018"),
        ("zip64-locator.npz", "arr_0.npy", "CKPT018"),
        // numpy reads past the entry count torch trusts.
        ("zip-count-short.npz", "arr_1.npy", "CKPT018"),
        // Only torch opens these: zipfile stops at a cut-short end signature; neither checks
        // the comment length (a strict reader refuses the file).
        ("zip-tail-signature.pt", "archive/data.pkl", "CKPT018"),
        ("zip-comment-overrun.pt", "archive/data.pkl", "CKPT018"),
        // numpy refuses it; torch's reading is scanned all the same.
        ("zip-bad-utf8-name.npz", "arr_0.npy", "CKPT018"),
        ("zip-duplicate.pt", "archive/data.pkl", "CKPT012"),
        ("zip-duplicate.npz", "arr_0.npy", "CKPT012"),
        // zipfile decodes both names to `é.npy`; torch keeps the raw bytes (0x82).
        ("zip-cp437-name.npz", "\u{fffd}.npy", "CKPT012"),
        // zipfile cuts `arr_0.npy\0x` at the NUL: a second `arr_0.npy`.
        ("zip-nul-name.npz", "arr_0.npy\0x", "CKPT012"),
        ("zip-local-name.pt", "archive/data.pkl", "CKPT011"),
        ("zip-local-name.npz", "arr_0.npy", "CKPT011"),
        ("zip-method-mismatch.pt", "archive/data.pkl", "CKPT011"),
        ("zip-backslash.npz", "dir\\arr_0.npy", "CKPT013"),
    ] {
        let r = scan(rel);
        assert!(names_os_system(&r), "{rel}: {:#?}", r.findings);
        assert_eq!(payload_member(&r).as_deref(), Some(member), "{rel}");
        assert!(rules(&r).contains(&anomaly), "{rel}: {:?}", rules(&r));
        assert_eq!(exit_code(rel), ExitStatus::Findings, "{rel}");
    }
}

#[test]
fn the_differential_finding_names_what_only_one_reader_sees() {
    let r = scan("zip-count-short.npz");
    let d = r.findings.iter().find(|f| f.rule.id == "CKPT018").unwrap();
    assert_eq!(d.evidence["zipfile_only"], "arr_1.npy");
    assert!(!d.evidence.contains_key("torch_only"));
    let r = scan("zip-concat.pt");
    let d = r.findings.iter().find(|f| f.rule.id == "CKPT018").unwrap();
    assert_eq!(
        d.evidence["torch_only"],
        "archive/data.pkl, archive/version"
    );
    assert_eq!(
        d.evidence["zipfile_only"],
        "archive/data.pkl, archive/version"
    );
    let r = scan("zip-tail-signature.pt");
    let d = r.findings.iter().find(|f| f.rule.id == "CKPT018").unwrap();
    assert!(d.message.contains("only torch.load"), "{}", d.message);
}

/// Archives both readers read alike: the payload is found, and no differential is reported.
#[test]
fn zips_both_readers_agree_on_have_no_differential() {
    for rel in ["zip64.pt", "zip-data-descriptor.pt"] {
        let r = scan(rel);
        assert!(names_os_system(&r), "{rel}: {:#?}", r.findings);
        assert_eq!(payload_member(&r).as_deref(), Some("archive/data.pkl"));
        assert_eq!(rules(&r), ["CKPT001"], "{rel}");
        assert!(r.errors.is_empty(), "{rel}: {:?}", r.errors);
    }
    // A pickle in front of a zip is what torch.load reads (no local header at byte 0).
    let r = scan("zip-prepended-pickle.pt");
    assert_eq!(r.format, "pickle+zip");
    assert!(names_os_system(&r), "{:#?}", r.findings);
    assert_eq!(payload_member(&r), None);
}

/// Both torch and zipfile take the last end record, a fake one in the real one's comment:
/// the payload listed by the real one is read by neither and not reported, and zipfile cannot
/// open the archive at all (its directory is not right before that record).
#[test]
fn a_fake_end_record_in_the_comment_is_what_torch_reads() {
    let r = scan("zip-fake-eocd-comment.pt");
    assert!(!names_os_system(&r), "{:#?}", r.findings);
    let d = r.findings.iter().find(|f| f.rule.id == "CKPT018").unwrap();
    assert!(d.message.contains("only torch.load"), "{}", d.message);
    assert_eq!(exit_code("zip-fake-eocd-comment.pt"), ExitStatus::Findings);
}
