//! `mlsec checkpoint` on HDF5 (Keras `.h5`, `save_weights` files) and joblib files written by
//! the reference tools themselves (`testdata/hdf5`, `testdata/joblib`, made by h5py and joblib
//! with `scripts/hdf5` and `scripts/joblib`): their datasets and arrays go through the same
//! tensor statistics as every other container, compared with what h5py and numpy read.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use mlsec_checkpoint::{Args, FileResult, Options, run, scan_bytes, visit_tensors};
use mlsec_core::{Context, ExitStatus, Pointer, Policy, Report, Span};
use mlsec_formats::dtype::element_f64;
use mlsec_formats::hdf5::{self, Layout, Limits};
use mlsec_formats::zip::ZipLimits;
use serde_json::Value;

fn testdata(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata")
        .join(rel)
}

fn read(rel: &str) -> Vec<u8> {
    std::fs::read(testdata(rel)).unwrap()
}

fn expected(dir: &str) -> Value {
    serde_json::from_slice(&read(&format!("{dir}/expected.json"))).unwrap()
}

fn scan(args: Args) -> Report {
    run(&args, &Context::silent()).expect("scan starts")
}

fn exit(report: &Report) -> ExitStatus {
    report.exit_status(&Policy::default())
}

/// A copy of a reference file in a temporary directory, for scans through `run`.
fn copy_to(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// `keras_v108.h5` with its `model_config` attribute renamed: what `save_weights` writes (the
/// Keras 2 weights layout, no model config).
fn weights_only_v108() -> Vec<u8> {
    let mut data = read("hdf5/keras_v108.h5");
    let name = b"model_config\0";
    let at: Vec<usize> = data
        .windows(name.len())
        .enumerate()
        .filter(|(_, w)| w == name)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(at.len(), 1, "one attribute name in the root header");
    data[at[0]..at[0] + 12].copy_from_slice(b"weights_note");
    let root = hdf5::root_group(&data).unwrap();
    assert!(root.attributes.iter().all(|a| a.name != "model_config"));
    data
}

/// A tensor's sum from its statistics against the reference. Single-precision tensors are
/// accumulated in `f32` within 1024-element blocks (`mlsec_formats::stats`), so the bound
/// is float32 rounding of every term, not of the total.
fn close_sum(s: &mlsec_formats::stats::Stats, want: f64, ctx: &str) {
    let got = s.mean * s.count as f64;
    let tol = 1e-9 * want.abs().max(1.0) + 1e-6 * s.count as f64 * s.max_abs;
    assert!((got - want).abs() <= tol, "{ctx}: {got} != {want}");
}

/// Equal up to the last digit serde_json may lose when parsing a float.
fn same(got: &[f64], want: &[f64], ctx: &str) {
    assert_eq!(got.len(), want.len(), "{ctx}");
    for (g, w) in got.iter().zip(want) {
        assert!(
            (g - w).abs() <= 1e-15 * w.abs(),
            "{ctx}: {got:?} != {want:?}"
        );
    }
}

/// Every dataset of the reference file is a tensor named by its h5py path, with the shape,
/// element count and sum h5py read, and the first and last elements bit for bit.
fn assert_matches_h5py(file: &str, data: &[u8], r: &FileResult) {
    let exp = expected("hdf5");
    let want = exp["files"][file]["datasets"].as_array().unwrap();
    let names: Vec<&str> = r.tensors.iter().map(|t| t.name.as_str()).collect();
    let want_names: Vec<&str> = want
        .iter()
        .map(|d| &d["path"].as_str().unwrap()[1..])
        .collect();
    assert_eq!(names, want_names, "{file}");
    let mut elements: Vec<Vec<f64>> = Vec::new();
    visit_tensors(data, file, &Options::default(), &mut |v| {
        let size = v.dtype.size();
        elements.push(
            v.bytes
                .chunks_exact(size)
                .map(|c| element_f64(v.dtype, c))
                .collect(),
        );
    });
    assert_eq!(elements.len(), want.len());
    for ((t, w), values) in r.tensors.iter().zip(want).zip(&elements) {
        let ctx = format!("{file}:{}", t.name);
        let shape: Vec<u64> = w["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap())
            .collect();
        assert_eq!(t.shape, shape, "{ctx}");
        let numel: u64 = shape.iter().product();
        assert_eq!(t.stats.count, numel, "{ctx}");
        assert_eq!((t.stats.nan, t.stats.inf), (0, 0), "{ctx}");
        let sum = w["sum"].as_f64().unwrap();
        close_sum(&t.stats, sum, &ctx);
        let first: Vec<f64> = w["first"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect();
        let last: Vec<f64> = w["last"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect();
        same(&values[..first.len()], &first, &ctx);
        same(&values[values.len() - last.len()..], &last, &ctx);
        if numel > 0 {
            let min = values.iter().copied().fold(f64::INFINITY, f64::min);
            let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            assert_eq!((t.stats.min, t.stats.max), (min, max), "{ctx}");
        }
    }
}

#[test]
fn a_weights_only_h5_is_read_checked_and_clean() {
    let data = weights_only_v108();
    let r = scan_bytes(&data, "weights.h5", &Options::default());
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert!(r.findings.is_empty(), "{:?}", r.findings);
    assert_eq!(r.format, "hdf5");
    assert_eq!(r.tensors.len(), 17);
    assert_matches_h5py("keras_v108.h5", &data, &r);
    // The Keras weights by their h5py names.
    let kernel = r
        .tensors
        .iter()
        .find(|t| t.name == "model_weights/dense/dense/kernel:0")
        .unwrap();
    assert_eq!(kernel.shape, [8, 4]);

    // Through the command: exit 0.
    let dir = tempfile::tempdir().unwrap();
    let path = copy_to(dir.path(), "weights.h5", &data);
    let report = scan(Args::new(vec![path]));
    assert_eq!(exit(&report), ExitStatus::Clean, "{:?}", report.errors);
    assert_eq!(report.tables[0].rows[0][2], "17");
}

#[test]
fn keras_h5_models_have_their_config_and_datasets_checked() {
    let data = read("hdf5/keras_v108.h5");
    let r = scan_bytes(&data, "keras_v108.h5", &Options::default());
    assert_eq!(r.format, "keras-h5");
    assert!(r.errors.is_empty() && r.findings.is_empty(), "{r:?}");
    assert_matches_h5py("keras_v108.h5", &data, &r);

    // Every chunk index, dense link storage, big-endian and f16 datasets.
    let data = read("hdf5/latest.h5");
    let r = scan_bytes(&data, "latest.h5", &Options::default());
    assert!(r.errors.is_empty() && r.findings.is_empty(), "{r:?}");
    assert_eq!(r.tensors.len(), 33);
    assert_matches_h5py("latest.h5", &data, &r);
}

#[test]
fn external_links_and_unsupported_datasets_are_errors_not_skipped() {
    // keras_earliest.h5 links `/external` to `other.h5:/weights`: not followed, an error.
    let data = read("hdf5/keras_earliest.h5");
    let r = scan_bytes(&data, "keras_earliest.h5", &Options::default());
    assert!(r.findings.is_empty(), "{:?}", r.findings);
    let messages: Vec<&str> = r.errors.iter().map(|e| e.message.as_str()).collect();
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert!(
        messages[0].contains("`/external`") && messages[0].contains("other.h5:/weights"),
        "{messages:?}"
    );
    // The datasets are still all read.
    assert_matches_h5py("keras_earliest.h5", &data, &r);
    let dir = tempfile::tempdir().unwrap();
    let path = copy_to(dir.path(), "keras_earliest.h5", &data);
    assert_eq!(exit(&scan(Args::new(vec![path]))), ExitStatus::Error);

    // Each dataset of a type or filter the reader refuses is an error naming it.
    let data = read("hdf5/unsupported.h5");
    let r = scan_bytes(&data, "unsupported.h5", &Options::default());
    let exp = expected("hdf5");
    let want = exp["unsupported"]["unsupported.h5"].as_object().unwrap();
    assert_eq!(r.errors.len(), want.len(), "{:?}", r.errors);
    for (path, what) in want {
        assert!(
            r.errors
                .iter()
                .any(|e| e.message.contains(&format!("`{path}`"))
                    && e.message.contains(what.as_str().unwrap())),
            "{path}: {:?}",
            r.errors
        );
    }
    // A compound dataset is read field by field; a string dataset holds no numbers.
    let names: Vec<&str> = r.tensors.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["compound.a", "compound.b", "ok"]);
}

/// The file offset of a contiguous dataset's elements, and its object header offset.
fn contiguous(data: &[u8], path: &str) -> (usize, u64) {
    let w = hdf5::walk(data, &Limits::default()).unwrap();
    let d = w.datasets.iter().find(|d| d.path == path).unwrap();
    match d.layout {
        Layout::Contiguous {
            address: Some(a), ..
        } => (a as usize, d.offset),
        ref other => panic!("{path}: {other:?}"),
    }
}

/// The one finding of `rule` (asserting there is exactly one).
fn only_finding<'a>(findings: &'a [mlsec_core::Finding], rule: &str) -> &'a mlsec_core::Finding {
    let mut of_rule = findings.iter().filter(|f| f.rule.id == rule);
    let first = of_rule.next();
    assert!(first.is_some() && of_rule.next().is_none(), "{findings:?}");
    first.unwrap()
}

fn span(f: &mlsec_core::Finding) -> u64 {
    match f.location.span {
        Some(Span::Bytes { offset, .. }) => offset,
        ref other => panic!("no byte span: {other:?}"),
    }
}

#[test]
fn planted_values_in_h5_datasets_are_found_and_located() {
    let clean = weights_only_v108();
    let kernel = "/model_weights/dense/dense/kernel:0";
    let (at, header) = contiguous(&clean, kernel);
    let cases: [(&str, f32, &str); 3] = [
        ("nan", f32::NAN, "CKPT030"),
        ("huge", 1.0e6, "CKPT031"),
        // Below the threshold, but ~200 robust deviations from the median.
        ("outlier", 90.0, "CKPT032"),
    ];
    for (what, value, rule) in cases {
        let mut data = clean.clone();
        // Element 5 of the little-endian f32 kernel.
        data[at + 20..at + 24].copy_from_slice(&value.to_le_bytes());
        let r = scan_bytes(&data, "w.h5", &Options::default());
        assert!(r.errors.is_empty(), "{what}: {:?}", r.errors);
        let got: Vec<(&str, Option<String>)> = r
            .findings
            .iter()
            .map(|f| (f.rule.id, f.location.pointer.as_ref().map(Pointer::path)))
            .collect();
        assert_eq!(
            got,
            [(rule, Some("model_weights/dense/dense/kernel:0".to_owned()))],
            "{what}"
        );
        let f = &r.findings[0];
        assert_eq!(
            span(f),
            header,
            "{what}: located at the dataset's object header"
        );
        if rule != "CKPT030" {
            assert_eq!(f.evidence["index"], "5", "{what}");
        }
        // Through the command: exit 2, except for the outlier, which is information.
        let dir = tempfile::tempdir().unwrap();
        let path = copy_to(dir.path(), "w.h5", &data);
        let want = if rule == "CKPT032" {
            ExitStatus::Clean
        } else {
            ExitStatus::Findings
        };
        assert_eq!(exit(&scan(Args::new(vec![path]))), want, "{what}");
    }
    // A big-endian f64 dataset: the NaN is found after the byte swap.
    let bias = "/model_weights/dense_2/dense_2/kernel:0";
    let (at, _) = contiguous(&clean, bias);
    let mut data = clean.clone();
    data[at + 8..at + 16].copy_from_slice(&f64::NAN.to_be_bytes());
    let r = scan_bytes(&data, "w.h5", &Options::default());
    let f = r.findings.iter().find(|f| f.rule.id == "CKPT030").unwrap();
    assert_eq!(f.evidence["nan"], "1");
    assert_eq!(
        f.location.pointer,
        Some(Pointer::Tensor(bias[1..].to_owned()))
    );
}

#[test]
fn truncated_h5_files_are_errors_never_clean() {
    let data = weights_only_v108();
    let dir = tempfile::tempdir().unwrap();
    let path = copy_to(dir.path(), "cut.h5", &data[..data.len() - 100]);
    let report = scan(Args::new(vec![path]));
    assert_eq!(exit(&report), ExitStatus::Error, "{:?}", report.findings);
    assert!(
        report
            .errors
            .iter()
            .any(|e| e.message.contains("truncated")),
        "{:?}",
        report.errors
    );
    // Cuts all through the file (every superblock, header, B-tree, heap and data byte
    // region is hit by some cut): each is an error, never clean.
    let mut cuts: Vec<usize> = (0..data.len()).step_by(41).collect();
    cuts.extend([1, 7, 8, 9, data.len() - 1]);
    for cut in cuts {
        let r = scan_bytes(&data[..cut], "cut.h5", &Options::default());
        assert!(
            !r.errors.is_empty(),
            "cut at {cut}: clean with {} tensors",
            r.tensors.len()
        );
    }
}

#[test]
fn keras_zip_weights_member_is_read() {
    // A `.keras` whose `model.weights.h5` is a real h5py file (deflated and stored).
    let h5 = read("hdf5/latest.h5");
    let config = br#"{"module": "keras", "class_name": "Sequential", "config": {"name": "s", "layers": []}}"#;
    for deflate in [false, true] {
        let mut z = mlsec_testkit::ZipWriter::new();
        z.add("metadata.json", br#"{"keras_version": "3.3.3"}"#, false, 0);
        z.add("config.json", config, true, 0);
        z.add("model.weights.h5", &h5, deflate, 0);
        let keras = z.finish();
        let r = scan_bytes(&keras, "m.keras", &Options::default());
        assert_eq!(r.format, "keras");
        assert!(r.errors.is_empty() && r.findings.is_empty(), "{r:?}");
        assert_eq!(r.tensors.len(), 33);
        let names: Vec<&str> = r.tensors.iter().map(|t| t.name.as_str()).collect();
        assert!(names.contains(&"many/w00"), "{names:?}");
        let loaded = load_all(&keras);
        assert!(loaded.1.is_empty(), "{:?}", loaded.1);
        assert_eq!(loaded.0, scanned_all(&keras));

        // A NaN planted in the member is found (stored member: at its file offset).
        let (at, header) = contiguous(&h5, "/many/w03");
        let mut bad = h5.clone();
        bad[at..at + 4].copy_from_slice(&f32::NAN.to_le_bytes());
        let mut z = mlsec_testkit::ZipWriter::new();
        z.add("metadata.json", br#"{"keras_version": "3.3.3"}"#, false, 0);
        z.add("config.json", config, true, 0);
        z.add("model.weights.h5", &bad, deflate, 0);
        let keras = z.finish();
        let r = scan_bytes(&keras, "m.keras", &Options::default());
        let f = only_finding(&r.findings, "CKPT030");
        assert_eq!(f.location.pointer, Some(Pointer::Tensor("many/w03".into())));
        if !deflate {
            let member = mlsec_formats::zip::ZipArchive::parse(&keras, ZipLimits::default())
                .unwrap()
                .entries
                .into_iter()
                .find(|e| e.name == "model.weights.h5")
                .unwrap();
            assert_eq!(span(f), member.data_offset + header);
        }
    }
}

type Seen = Vec<(String, String, Vec<u64>, Vec<u8>)>;

fn scanned_all(data: &[u8]) -> Seen {
    let mut out: Seen = Vec::new();
    visit_tensors(data, "f", &Options::default(), &mut |v| {
        out.push((
            v.name.clone(),
            format!("{:?}", v.dtype),
            v.shape.clone(),
            v.bytes.to_vec(),
        ))
    });
    out.sort();
    out
}

fn load_all(data: &[u8]) -> (Seen, Vec<String>, String) {
    let mut out: Seen = Vec::new();
    let l = mlsec_formats::load::visit(data, ZipLimits::default(), &mut |v| {
        out.push((
            v.name.clone(),
            format!("{:?}", v.dtype),
            v.shape.clone(),
            v.bytes.to_vec(),
        ))
    });
    assert_eq!(out.len(), l.tensors);
    out.sort();
    (
        out,
        l.problems.into_iter().map(|p| p.message).collect(),
        l.format,
    )
}

/// `load::visit` (used by `inspect`) gives the same tensors as the scanner on every HDF5 and
/// joblib reference file, and reports what it could not read.
#[test]
fn the_shared_loader_reads_the_same_hdf5_and_joblib_tensors() {
    let weights_only = weights_only_v108();
    let files: Vec<(&str, Vec<u8>)> = vec![
        ("hdf5/keras_v108.h5", read("hdf5/keras_v108.h5")),
        ("hdf5/latest.h5", read("hdf5/latest.h5")),
        ("weights-only", weights_only),
        (
            "checkpoint/clean/weights-only.h5",
            read("checkpoint/clean/weights-only.h5"),
        ),
        (
            "checkpoint/clean/model.h5",
            read("checkpoint/clean/model.h5"),
        ),
        (
            "checkpoint/clean/model.keras",
            read("checkpoint/clean/model.keras"),
        ),
        (
            "checkpoint/clean/model.joblib",
            read("checkpoint/clean/model.joblib"),
        ),
    ];
    for (name, data) in &files {
        let r = scan_bytes(data, name, &Options::default());
        assert!(r.errors.is_empty(), "{name}: {:?}", r.errors);
        let (loaded, problems, format) = load_all(data);
        assert!(problems.is_empty(), "{name}: {problems:?}");
        assert!(!loaded.is_empty(), "{name}");
        assert_eq!(format, r.format, "{name}");
        assert_eq!(loaded, scanned_all(data), "{name}");
    }
    for name in [
        "model_p5.joblib",
        "model_p2.joblib",
        "model_zlib.joblib",
        "model_gzip.joblib",
    ] {
        let data = read(&format!("joblib/{name}"));
        let (loaded, problems, format) = load_all(&data);
        assert_eq!(loaded, scanned_all(&data), "{name}");
        assert_eq!(loaded.len(), 13, "{name}");
        // The object array is named, not silently dropped.
        assert_eq!(problems.len(), 1, "{name}: {problems:?}");
        assert!(problems[0].contains("labels"), "{problems:?}");
        assert_eq!(
            format,
            scan_bytes(&data, name, &Options::default()).format,
            "{name}"
        );
    }
    // What cannot be read is a problem, never an empty success.
    let (loaded, problems, _) = load_all(&read("hdf5/keras_earliest.h5"));
    assert_eq!(loaded.len(), 18);
    assert!(
        problems.iter().any(|p| p.contains("external link")),
        "{problems:?}"
    );
    let data = read("hdf5/keras_v108.h5");
    let (_, problems, _) = load_all(&data[..data.len() / 2]);
    assert!(
        problems.iter().any(|p| p.contains("truncated")),
        "{problems:?}"
    );
}

#[test]
fn joblib_arrays_are_tensors_with_the_dumped_values() {
    let exp = expected("joblib");
    let want: Vec<&Value> = exp["arrays"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["dtype"] != "|O")
        .collect();
    for (name, format) in [
        ("model_p5.joblib", "joblib"),
        ("model_p2.joblib", "joblib"),
        ("model_zlib.joblib", "joblib-zlib"),
        ("model_gzip.joblib", "joblib-gzip"),
    ] {
        let data = read(&format!("joblib/{name}"));
        let r = scan_bytes(&data, name, &Options::default());
        assert_eq!(r.format, format);
        assert!(r.errors.is_empty(), "{name}: {:?}", r.errors);
        // `types.SimpleNamespace` is outside the joblib allowlist; no weight finding.
        assert!(
            r.findings.iter().all(|f| f.rule.id < "CKPT030"),
            "{name}: {:?}",
            r.findings
        );
        let mut tensors: Vec<_> = r.tensors.iter().collect();
        tensors.sort_by(|a, b| a.name.cmp(&b.name));
        let names: Vec<&str> = tensors.iter().map(|t| t.name.as_str()).collect();
        let want_names: Vec<&str> = want.iter().map(|w| w["path"].as_str().unwrap()).collect();
        assert_eq!(names, want_names, "{name}");
        for (t, w) in tensors.iter().zip(&want) {
            let ctx = format!("{name}:{}", t.name);
            let shape: Vec<u64> = w["shape"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_u64().unwrap())
                .collect();
            assert_eq!(t.shape, shape, "{ctx}");
            assert_eq!(t.stats.count, shape.iter().product::<u64>(), "{ctx}");
            close_sum(&t.stats, w["sum"].as_f64().unwrap(), &ctx);
        }
        // Fortran-ordered arrays are summarised in C order: same values, same hash as the
        // transposed-back bytes the loader hands out.
        let mut c_first = Vec::new();
        visit_tensors(&data, name, &Options::default(), &mut |v| {
            if v.name == "fortran" {
                c_first = v
                    .bytes
                    .chunks_exact(4)
                    .take(4)
                    .map(|c| element_f64(v.dtype, c))
                    .collect();
            }
        });
        let fw = want.iter().find(|w| w["path"] == "fortran").unwrap();
        let c_want: Vec<f64> = fw["c_first"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect();
        same(&c_first, &c_want, name);
    }
}

#[test]
fn planted_values_in_joblib_arrays_are_found() {
    // `weights` (<f4, 4x3): element 7 set to NaN, in the raw pickle.
    let data = read("joblib/model_p5.joblib");
    let mut m = mlsec_formats::joblib::machine(&data, 0);
    m.run_all();
    let a = mlsec_formats::joblib::arrays(&m)
        .into_iter()
        .flatten()
        .find(|a| a.path.as_deref() == Some("weights"))
        .unwrap();
    let at = a.data.start as usize + 7 * 4;
    let mut bad = data.clone();
    bad[at..at + 4].copy_from_slice(&f32::NAN.to_le_bytes());
    let r = scan_bytes(&bad, "m.joblib", &Options::default());
    let f = only_finding(&r.findings, "CKPT030");
    assert_eq!(f.location.pointer, Some(Pointer::Tensor("weights".into())));
    assert_eq!(span(f), a.data.start);
}

#[test]
fn compressed_joblib_that_cannot_be_expanded_is_an_error() {
    let data = read("joblib/model_zlib.joblib");
    let dir = tempfile::tempdir().unwrap();
    // Cut: the zlib stream ends early.
    let cut = copy_to(dir.path(), "cut.joblib", &data[..data.len() / 2]);
    let report = scan(Args::new(vec![cut]));
    assert_eq!(exit(&report), ExitStatus::Error);
    assert!(
        report.errors[0].message.contains("zlib"),
        "{:?}",
        report.errors
    );
    // Larger than the size limit once expanded: an error, not a partial read.
    let mut opts = Options::default();
    opts.zip_limits.max_member_size = 1000;
    let r = scan_bytes(&data, "m.joblib", &opts);
    assert!(r.tensors.is_empty());
    assert!(r.errors[0].message.contains("limit"), "{:?}", r.errors);
    // A file that merely starts like a zlib header is not taken for joblib in a directory
    // scan (skipped, as any unknown non-model file).
    let sub = dir.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    copy_to(&sub, "notes.txt", b"x\x9cnot really zlib");
    copy_to(&sub, "m.joblib", &data);
    let report = scan(Args::new(vec![sub]));
    assert_eq!(report.scanned, 1);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
}

#[test]
fn h5_weights_convert_to_safetensors_and_fingerprint() {
    let dir = tempfile::tempdir().unwrap();
    let path = copy_to(dir.path(), "weights.h5", &weights_only_v108());
    let mut args = Args::new(vec![path]);
    args.convert_safetensors = true;
    args.write_fingerprint = Some(dir.path().join("fp"));
    let report = scan(args);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let bytes = std::fs::read(dir.path().join("weights.safetensors")).unwrap();
    let st = mlsec_formats::safetensors::parse(&bytes).unwrap();
    assert_eq!(st.tensors.len(), 17);
    let converted = scan_bytes(&bytes, "weights.safetensors", &Options::default());
    let original = scan_bytes(&weights_only_v108(), "weights.h5", &Options::default());
    for t in &original.tensors {
        let c = converted.tensors.iter().find(|c| c.name == t.name).unwrap();
        assert_eq!(
            (c.dtype, &c.shape, &c.stats.sha256),
            (t.dtype, &t.shape, &t.stats.sha256),
            "{}",
            t.name
        );
    }
    // The fingerprint compares: a scaled kernel is a distribution change on that tensor.
    let fp = dir.path().join("fp/weights.fingerprint.json");
    assert!(fp.exists());
    let mut scaled = weights_only_v108();
    let (at, _) = contiguous(&scaled, "/model_weights/dense/dense/kernel:0");
    for i in 0..32 {
        let p = at + 4 * i;
        let v = f32::from_le_bytes(scaled[p..p + 4].try_into().unwrap()) * 10.0;
        scaled[p..p + 4].copy_from_slice(&v.to_le_bytes());
    }
    let path = copy_to(dir.path(), "scaled.h5", &scaled);
    let mut args = Args::new(vec![path]);
    args.reference = Some(fp);
    let report = scan(args);
    let tensors: BTreeSet<String> = report
        .findings
        .iter()
        .filter_map(|f| f.location.pointer.as_ref().map(Pointer::path))
        .collect();
    assert_eq!(
        tensors,
        BTreeSet::from(["model_weights/dense/dense/kernel:0".to_owned()]),
        "{:?}",
        report.findings
    );

    // A file with an unread external link is not converted.
    let path = copy_to(dir.path(), "earliest.h5", &read("hdf5/keras_earliest.h5"));
    let mut args = Args::new(vec![path]);
    args.convert_safetensors = true;
    let report = scan(args);
    assert!(!dir.path().join("earliest.safetensors").exists());
    assert!(
        report
            .errors
            .iter()
            .any(|e| e.message.contains("not converted")),
        "{:?}",
        report.errors
    );
}
