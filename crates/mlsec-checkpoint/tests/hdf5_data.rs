//! `mlsec checkpoint` on HDF5 data files written by PyTables, pandas and h5py
//! (`testdata/hdf5`, made by `scripts/hdf5/make_pytables.py`): node attributes that PyTables
//! unpickles are audited like any pickle; tables, records and strings are read; data files are
//! not judged as weights.

use std::path::{Path, PathBuf};

use mlsec_checkpoint::{Args, FileResult, Options, run, scan_bytes};
use mlsec_core::{Context, ExitStatus, Finding, Pointer, Policy, Report};
use serde_json::Value;

fn testdata(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/hdf5")
        .join(rel)
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(testdata(name)).unwrap()
}

fn expected() -> Value {
    serde_json::from_slice(&read("expected_data.json")).unwrap()
}

fn scan_file(name: &str) -> (FileResult, Report) {
    let r = scan_bytes(&read(name), name, &Options::default());
    let report = run(&Args::new(vec![testdata(name)]), &Context::silent()).expect("scan starts");
    (r, report)
}

fn exit(report: &Report) -> ExitStatus {
    report.exit_status(&Policy::default())
}

fn pointer(f: &Finding) -> String {
    f.location
        .pointer
        .as_ref()
        .map(Pointer::path)
        .unwrap_or_default()
}

#[test]
fn a_pickled_pytables_attribute_calling_code_is_critical() {
    let exp = expected();
    let want = &exp["files"]["pytables_malicious_attr.h5"];
    let (r, report) = scan_file("pytables_malicious_attr.h5");
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    let at = format!(
        "{}/@{}",
        want["node"].as_str().unwrap(),
        want["attribute"].as_str().unwrap()
    );
    let f: Vec<&Finding> = r
        .findings
        .iter()
        .filter(|f| f.rule.id == "CKPT001")
        .collect();
    assert_eq!(f.len(), 1, "{:?}", r.findings);
    assert_eq!(pointer(f[0]), at);
    assert!(
        f[0].message.contains(want["callable"].as_str().unwrap()),
        "{}",
        f[0].message
    );
    // Every other finding is about the same attribute.
    assert!(
        r.findings.iter().all(|f| pointer(f) == at),
        "{:?}",
        r.findings
    );
    assert_eq!(exit(&report), ExitStatus::Findings);
    // The table's numbers were read all the same.
    assert!(r.tensors.iter().any(|t| t.name == "group/table.count"));
}

#[test]
fn pickles_in_dense_fixed_vlen_and_opaque_attributes_are_found() {
    let exp = expected();
    let want = &exp["files"]["h5py_malicious_attrs.h5"];
    let (r, report) = scan_file("h5py_malicious_attrs.h5");
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    let mut got: Vec<String> = r
        .findings
        .iter()
        .filter(|f| f.rule.id == "CKPT001")
        .map(pointer)
        .collect();
    got.sort();
    got.dedup();
    let node = want["node"].as_str().unwrap();
    let want: Vec<String> = want["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| format!("{node}/@{}", a.as_str().unwrap()))
        .collect();
    assert_eq!(got, want);
    assert_eq!(exit(&report), ExitStatus::Findings);
}

#[test]
fn a_pickled_row_of_a_pytables_object_array_is_critical() {
    let exp = expected();
    let want = &exp["files"]["pytables_malicious_vlarray.h5"];
    let (r, report) = scan_file("pytables_malicious_vlarray.h5");
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    let at = format!(
        "{}[{}]",
        want["node"].as_str().unwrap(),
        want["row"].as_u64().unwrap()
    );
    let f: Vec<&Finding> = r
        .findings
        .iter()
        .filter(|f| f.rule.id == "CKPT001")
        .collect();
    assert_eq!(f.len(), 1, "{:?}", r.findings);
    assert_eq!(pointer(f[0]), at);
    assert!(f[0].message.contains(want["callable"].as_str().unwrap()));
    assert!(
        r.findings.iter().all(|f| pointer(f) == at),
        "{:?}",
        r.findings
    );
    assert_eq!(exit(&report), ExitStatus::Findings);
}

#[test]
fn benign_pickled_attributes_tables_and_strings_are_clean() {
    for name in [
        "pytables_benign_attrs.h5",
        "pandas_store.h5",
        "h5py_strings.h5",
        "plain_data.h5",
    ] {
        let (r, report) = scan_file(name);
        assert!(r.errors.is_empty(), "{name}: {:?}", r.errors);
        assert!(r.findings.is_empty(), "{name}: {:?}", r.findings);
        assert!(!r.tensors.is_empty(), "{name}");
        assert_eq!(exit(&report), ExitStatus::Clean, "{name}");
        // Data files are said to be data, and strings are noted as unchecked.
        assert!(
            report.warnings.iter().any(|w| w.contains("HDF5 data file")),
            "{name}: {:?}",
            report.warnings
        );
    }
    let (r, report) = scan_file("h5py_strings.h5");
    for t in [
        "records.id",
        "records.pos.x",
        "records.w",
        "complex.r",
        "numbers",
    ] {
        assert!(r.tensors.iter().any(|x| x.name == t), "{t}");
    }
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.contains("`/vlen_utf8`") && w.contains("3 variable-length strings")),
        "{:?}",
        report.warnings
    );
}

#[test]
fn data_arrays_are_not_judged_as_weights_but_keras_weights_are() {
    // NaN, infinity and 3e6 in a plain data file: summarised, no weight finding.
    let (r, _) = scan_file("plain_data.h5");
    let m = r.tensors.iter().find(|t| t.name == "measurements").unwrap();
    assert_eq!((m.stats.nan, m.stats.inf), (1, 1));
    assert!(r.findings.is_empty(), "{:?}", r.findings);
    // The same file with a Keras root attribute is a weights file: judged.
    let mut data = read("plain_data.h5");
    let name = b"measurements";
    assert!(data.windows(name.len()).any(|w| w == name));
    let keras = mlsec_formats::hdf5::write_file(
        false,
        &[("keras_version", "2.15.0", false)],
        &[(
            "w",
            mlsec_formats::dtype::DType::F64,
            &[2],
            &[f64::NAN.to_le_bytes(), 1.0f64.to_le_bytes()].concat(),
        )],
    );
    let r = scan_bytes(&keras, "w.h5", &Options::default());
    assert!(
        r.findings.iter().any(|f| f.rule.id == "CKPT030"),
        "{:?}",
        r.findings
    );
    // And without it, the same dataset is data.
    let plain = mlsec_formats::hdf5::write_file(
        false,
        &[],
        &[(
            "w",
            mlsec_formats::dtype::DType::F64,
            &[2],
            &[f64::NAN.to_le_bytes(), 1.0f64.to_le_bytes()].concat(),
        )],
    );
    let r = scan_bytes(&plain, "w.h5", &Options::default());
    assert!(r.findings.is_empty(), "{:?}", r.findings);
    data.clear();
}

/// Every third prefix here; `crates/mlsec/tests/hostile.rs` cuts at every byte through the
/// command.
#[test]
fn truncated_data_files_are_never_clean() {
    for name in [
        "pytables_malicious_attr.h5",
        "pytables_malicious_vlarray.h5",
        "pytables_benign_attrs.h5",
        "h5py_malicious_attrs.h5",
        "h5py_strings.h5",
        "plain_data.h5",
        "pandas_store.h5",
    ] {
        let data = read(name);
        for cut in (0..data.len()).step_by(3) {
            let r = scan_bytes(&data[..cut], name, &Options::default());
            assert!(
                !r.errors.is_empty() || !r.findings.is_empty(),
                "{name} cut at {cut} is clean"
            );
        }
    }
}

/// Old files (HDF5 1.6 era, layout message version 1) as PyTables ships them in its own test
/// data (`testdata/hdf5/legacy/SOURCES.md`): read, with the values h5py reads (sum 135, 0..=9).
#[test]
fn layout_message_version_1_datasets_are_read() {
    for name in ["legacy/smpl_f64le.h5", "legacy/smpl_i32be.h5"] {
        let r = scan_bytes(&read(name), name, &Options::default());
        assert!(r.errors.is_empty(), "{name}: {:?}", r.errors);
        let t = r
            .tensors
            .iter()
            .find(|t| t.name == "TestArray")
            .unwrap_or_else(|| panic!("{name}: {:?}", r.tensors));
        assert_eq!(t.shape, [6, 5], "{name}");
        assert_eq!(t.stats.mean * t.stats.count as f64, 135.0, "{name}");
        assert_eq!((t.stats.min, t.stats.max), (0.0, 9.0), "{name}");
    }
}
