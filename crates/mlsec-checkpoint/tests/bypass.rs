//! Scanner-bypass techniques (`cargo xtask testdata bypass`): every one of them runs
//! `os.system` under a real loader (checked by `scripts/bypass/verify.py`, see
//! `scripts/bypass/VERIFIED.txt`), so each must give a finding that names `os.system`.

use std::path::{Path, PathBuf};

use mlsec_checkpoint::{FileResult, Options, scan_bytes};
use mlsec_core::Severity;

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
