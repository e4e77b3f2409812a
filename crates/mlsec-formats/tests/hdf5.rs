//! The HDF5 reader against real files written by libhdf5 (through h5py) and the values h5py
//! read back from them (`testdata/hdf5/expected.json`, made by
//! `scripts/hdf5/make_reference.py`), plus hostile mutations of those files.

use std::path::PathBuf;

use mlsec_formats::dtype::{DType, element_f64};
use mlsec_formats::hdf5::{self, AttrValue, Layout, Limits};
use serde_json::Value;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/hdf5")
}

fn expected() -> Value {
    serde_json::from_slice(&std::fs::read(dir().join("expected.json")).unwrap()).unwrap()
}

fn numpy_name(d: DType) -> &'static str {
    match d {
        DType::F64 => "<f8",
        DType::F32 => "<f4",
        DType::F16 => "<f2",
        DType::I64 => "<i8",
        DType::I32 => "<i4",
        DType::I16 => "<i2",
        DType::I8 => "|i1",
        DType::U64 => "<u8",
        DType::U32 => "<u4",
        DType::U16 => "<u2",
        DType::U8 => "|u1",
        DType::Bool => "|b1",
        other => panic!("unexpected dtype {other}"),
    }
}

fn layout_name(l: &Layout) -> &'static str {
    match l {
        Layout::Compact { .. } => "compact",
        Layout::Contiguous { .. } => "contiguous",
        Layout::Chunked { .. } => "chunked",
    }
}

/// Equal up to the last digit serde_json may lose when parsing a float.
fn close(got: &[f64], want: &[f64], ctx: &str) {
    assert_eq!(got.len(), want.len(), "{ctx}");
    for (g, w) in got.iter().zip(want) {
        assert!(
            (g - w).abs() <= 1e-15 * w.abs(),
            "{ctx}: {got:?} != {want:?}"
        );
    }
}

#[test]
fn every_dataset_matches_what_h5py_read() {
    let exp = expected();
    let files = exp["files"].as_object().unwrap();
    assert_eq!(files.len(), 3);
    for (name, want) in files {
        let data = std::fs::read(dir().join(name)).unwrap();
        let (got, errors) = hdf5::datasets(&data, &Limits::default()).unwrap();
        assert!(errors.is_empty(), "{name}: {errors:?}");
        let want = want["datasets"].as_array().unwrap();
        let paths: Vec<&str> = got.iter().map(|d| d.info.path.as_str()).collect();
        let want_paths: Vec<&str> = want.iter().map(|d| d["path"].as_str().unwrap()).collect();
        assert_eq!(paths, want_paths, "{name}");
        for (d, w) in got.iter().zip(want) {
            let ctx = format!("{name}{}", d.info.path);
            assert_eq!(numpy_name(d.info.dtype), w["dtype"], "{ctx}");
            let be = w["stored_dtype"].as_str().unwrap().starts_with('>');
            assert_eq!(d.info.big_endian, be, "{ctx}");
            let shape: Vec<u64> = w["shape"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_u64().unwrap())
                .collect();
            assert_eq!(d.info.shape, shape, "{ctx}");
            assert_eq!(layout_name(&d.info.layout), w["layout"], "{ctx}");
            let filters: Vec<&str> = d.info.filters.iter().map(|f| f.name).collect();
            let want_filters: Vec<&str> = w["filters"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| match f.as_str().unwrap() {
                    "gzip" => "deflate",
                    s => s,
                })
                .collect();
            let mut sorted = filters.clone();
            sorted.sort_unstable();
            let mut want_sorted = want_filters.clone();
            want_sorted.sort_unstable();
            assert_eq!(sorted, want_sorted, "{ctx}");
            let es = d.info.dtype.size();
            assert_eq!(
                d.bytes.len() as u64,
                d.info.numel().unwrap() * es as u64,
                "{ctx}"
            );
            let vals: Vec<f64> = d
                .bytes
                .chunks_exact(es)
                .map(|b| element_f64(d.info.dtype, b))
                .collect();
            let first: Vec<f64> = w["first"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect();
            close(&vals[..first.len()], &first, &ctx);
            let last: Vec<f64> = w["last"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect();
            close(&vals[vals.len() - last.len()..], &last, &ctx);
            let sum: f64 = vals.iter().sum();
            let abs: f64 = vals.iter().map(|v| v.abs()).sum();
            let want_sum = w["sum"].as_f64().unwrap();
            assert!(
                (sum - want_sum).abs() <= 1e-9 * abs + 1e-12,
                "{ctx}: sum {sum} != {want_sum}"
            );
        }
    }
}

#[test]
fn the_reference_files_cover_every_storage_kind() {
    let mut layouts = std::collections::BTreeSet::new();
    let mut indexes = std::collections::BTreeSet::new();
    for name in ["keras_earliest.h5", "keras_v108.h5", "latest.h5"] {
        let data = std::fs::read(dir().join(name)).unwrap();
        let w = hdf5::walk(&data, &Limits::default()).unwrap();
        for d in &w.datasets {
            layouts.insert(layout_name(&d.layout));
            if let Layout::Chunked { index, .. } = &d.layout {
                indexes.insert(
                    format!("{index:?}")
                        .split([' ', '{'])
                        .next()
                        .unwrap()
                        .to_owned(),
                );
            }
        }
    }
    assert_eq!(layouts.len(), 3, "{layouts:?}");
    for i in [
        "BTreeV1",
        "BTreeV2",
        "ExtensibleArray",
        "FixedArray",
        "Single",
    ] {
        assert!(indexes.contains(i), "{indexes:?}");
    }
}

#[test]
fn root_attributes_match_in_compact_and_dense_storage() {
    let exp = expected();
    for (name, want) in exp["files"].as_object().unwrap() {
        let data = std::fs::read(dir().join(name)).unwrap();
        let root = hdf5::root_group(&data).unwrap();
        let want = want["root_attributes"].as_object().unwrap();
        let mut names: Vec<&str> = root.attributes.iter().map(|a| a.name.as_str()).collect();
        names.sort_unstable();
        let want_names: Vec<&str> = want.keys().map(String::as_str).collect();
        assert_eq!(names, want_names, "{name}");
        for a in &root.attributes {
            let w = &want[&a.name];
            if w.is_null() {
                continue;
            }
            let AttrValue::Strings(s) = &a.value else {
                panic!("{name}: {} is {:?}", a.name, a.value);
            };
            assert_eq!(s.len(), 1);
            assert_eq!(s[0].len() as u64, w["len"].as_u64().unwrap(), "{}", a.name);
            assert!(s[0].starts_with(w["head"].as_str().unwrap()), "{}", a.name);
        }
    }
}

#[test]
fn dense_links_and_attributes_spanning_several_heap_blocks_are_read() {
    // 150 links and 120 attributes: indirect fractal heap blocks and v2 B-trees with an
    // internal level.
    let data = std::fs::read(dir().join("latest.h5")).unwrap();
    let f = hdf5::File::open(&data).unwrap();
    let w = f.walk(&Limits::default());
    let links: Vec<&str> = w
        .aliases
        .iter()
        .filter(|(_, first)| first == "/contiguous_be")
        .map(|(p, _)| p.as_str())
        .collect();
    let want: Vec<String> = (0..150)
        .map(|i| format!("/many_links/link_{i:03}"))
        .collect();
    assert_eq!(links, want);
    let w2 = hdf5::walk(&data, &Limits::default()).unwrap();
    assert_eq!(w, w2);
    let (_, at) = w.groups.iter().find(|(p, _)| p == "/many_attrs").unwrap();
    let attrs = hdf5::attributes_at(&data, *at).unwrap();
    let mut names: Vec<&str> = attrs.iter().map(|a| a.name.as_str()).collect();
    names.sort_unstable();
    let want: Vec<String> = (0..120)
        .map(|i| format!("attribute_number_{i:03}"))
        .collect();
    assert_eq!(names, want);
    assert!(
        attrs
            .iter()
            .all(|a| a.value == AttrValue::Other("fixed-point"))
    );
}

#[test]
fn dataset_attributes_in_dense_storage_are_read() {
    let data = std::fs::read(dir().join("latest.h5")).unwrap();
    let w = hdf5::walk(&data, &Limits::default()).unwrap();
    let d = w.datasets.iter().find(|d| d.path == "/chunked").unwrap();
    let attrs = hdf5::attributes_at(&data, d.offset).unwrap();
    let mut names: Vec<String> = attrs.iter().map(|a| a.name.clone()).collect();
    names.sort();
    let want: Vec<String> = (0..10).map(|i| format!("a{i}")).collect();
    assert_eq!(names, want);
}

/// Runs every reader entry point; none may panic.
fn exercise(data: &[u8]) -> usize {
    let _ = hdf5::root_group(data);
    let Ok(f) = hdf5::File::open(data) else {
        return 0;
    };
    let w = f.walk(&Limits::default());
    for (_, at) in &w.objects {
        let _ = f.attributes(*at);
    }
    let mut ok = 0;
    for d in &w.datasets {
        let _ = hdf5::attributes_at(data, d.offset);
        if let Ok(b) = f.read(d, &Limits::default()) {
            assert_eq!(b.len() as u64, d.nbytes().unwrap());
            match &d.element {
                hdf5::Element::Compound { size, fields } => {
                    for field in fields {
                        let _ = field.bytes(&b, *size);
                    }
                }
                hdf5::Element::Variable { .. } => {
                    let _ = f.variable(d, &b);
                }
                _ => {}
            }
            ok += 1;
        }
    }
    ok
}

#[test]
fn truncated_files_give_errors_not_panics() {
    for name in ["keras_earliest.h5", "keras_v108.h5", "latest.h5"] {
        let data = std::fs::read(dir().join(name)).unwrap();
        let full = exercise(&data);
        let step = (data.len() / 41).max(1);
        for cut in (0..data.len()).step_by(step) {
            let cut_data = &data[..cut];
            assert!(exercise(cut_data) <= full);
            if cut > 4096 {
                // Something is missing: either the walk or some dataset reports an error.
                let f = hdf5::File::open(cut_data).unwrap();
                let w = f.walk(&Limits::default());
                let failed = !w.errors.is_empty()
                    || w.datasets
                        .iter()
                        .any(|d| f.read(d, &Limits::default()).is_err())
                    || hdf5::root_group(cut_data).is_err();
                let complete = w.datasets.len()
                    == hdf5::walk(&data, &Limits::default())
                        .unwrap()
                        .datasets
                        .len();
                assert!(failed || complete, "{name} cut at {cut}");
            }
        }
    }
}

#[test]
fn byte_mutations_never_panic() {
    for name in [
        "keras_earliest.h5",
        "keras_v108.h5",
        "latest.h5",
        "unsupported.h5",
        "h5py_strings.h5",
        "pytables_benign_attrs.h5",
        "pandas_store.h5",
    ] {
        mutate(&std::fs::read(dir().join(name)).unwrap());
    }
}

#[test]
fn structure_mutations_never_panic() {
    // Every byte of the first 48 after each structure signature, set to boundary values.
    let sigs: [&[u8]; 14] = [
        b"TREE", b"SNOD", b"HEAP", b"FRHP", b"FHIB", b"FHDB", b"BTHD", b"BTIN", b"BTLF", b"FAHD",
        b"FADB", b"OHDR", b"OCHK", b"GCOL",
    ];
    for name in [
        "keras_earliest.h5",
        "latest.h5",
        "h5py_strings.h5",
        "h5py_malicious_attrs.h5",
    ] {
        let data = std::fs::read(dir().join(name)).unwrap();
        let mut starts = Vec::new();
        for sig in sigs {
            let mut at = 0;
            while let Some(p) = data[at..].windows(4).position(|w| w == sig) {
                starts.push(at + p);
                at += p + 4;
            }
        }
        starts.sort_unstable();
        starts.dedup();
        // A sample of the structures keeps the test fast.
        for &s in starts.iter().step_by((starts.len() / 16).max(1)) {
            for i in s + 4..(s + 48).min(data.len()) {
                for v in [0x00, 0xff, 0x80] {
                    let mut m = data.clone();
                    m[i] = v;
                    exercise(&m);
                }
            }
        }
    }
}

fn mutate(data: &[u8]) {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..400 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let mut m = data.to_vec();
        let at = (state % m.len() as u64) as usize;
        m[at] = (state >> 32) as u8;
        exercise(&m);
    }
}

/// Byte offset of the first occurrence of `needle`.
fn find(data: &[u8], needle: &[u8]) -> usize {
    data.windows(needle.len())
        .position(|w| w == needle)
        .unwrap()
}

#[test]
fn an_absurd_dataspace_is_an_error() {
    let data = std::fs::read(dir().join("keras_earliest.h5")).unwrap();
    let f = hdf5::File::open(&data).unwrap();
    let w = f.walk(&Limits::default());
    let d = w
        .datasets
        .iter()
        .find(|d| d.path == "/model_weights/dense_1/dense_1/kernel:0")
        .unwrap();
    // Make the first dimension 2^40: the chunked reader must refuse to allocate it.
    let mut m = data.clone();
    let msgs_at = d.offset as usize + 16;
    let mut p = msgs_at;
    loop {
        let t = u16::from_le_bytes([m[p], m[p + 1]]);
        let size = u16::from_le_bytes([m[p + 2], m[p + 3]]) as usize;
        if t == 1 {
            // Dataspace v1: dims at 8, then the maximum dims when flag bit 0 is set.
            let (rank, flags) = (m[p + 8 + 1] as usize, m[p + 8 + 2]);
            m[p + 8 + 8..p + 8 + 16].copy_from_slice(&(1u64 << 40).to_le_bytes());
            if flags & 1 != 0 {
                let at = p + 8 + 8 + 8 * rank;
                m[at..at + 8].copy_from_slice(&u64::MAX.to_le_bytes());
            }
            break;
        }
        p += 8 + size;
    }
    let f = hdf5::File::open(&m).unwrap();
    let w = f.walk(&Limits::default());
    let d = w
        .datasets
        .iter()
        .find(|d| d.offset == d.offset && d.path.ends_with("dense_1/kernel:0"))
        .unwrap();
    assert_eq!(d.shape[0], 1 << 40);
    let e = f.read(d, &Limits::default()).unwrap_err();
    assert!(
        e.0.contains("fill value take the file past the limit"),
        "{e}"
    );
    let e = f
        .read(
            d,
            &Limits {
                max_fill_bytes: u64::MAX,
                ..Limits::default()
            },
        )
        .unwrap_err();
    assert!(e.0.contains("exceeds the limit"), "{e}");
}

#[test]
fn an_unknown_filter_is_an_error_naming_it() {
    let data = std::fs::read(dir().join("keras_earliest.h5")).unwrap();
    let f = hdf5::File::open(&data).unwrap();
    let w = f.walk(&Limits::default());
    let d = w
        .datasets
        .iter()
        .find(|d| d.path == "/model_weights/dense_1/dense_1/kernel:0")
        .unwrap();
    let mut m = data.clone();
    // Filter pipeline message (type 0x0b): turn deflate (id 1) into id 32015 (zstd).
    let mut p = d.offset as usize + 16;
    loop {
        let t = u16::from_le_bytes([m[p], m[p + 1]]);
        let size = u16::from_le_bytes([m[p + 2], m[p + 3]]) as usize;
        if t == 0x0b {
            let mut q = p + 8 + 8;
            for _ in 0..m[p + 8 + 1] {
                let id = u16::from_le_bytes([m[q], m[q + 1]]);
                let name_len = u16::from_le_bytes([m[q + 2], m[q + 3]]) as usize;
                let nvals = u16::from_le_bytes([m[q + 6], m[q + 7]]) as usize;
                if id == 1 {
                    m[q..q + 2].copy_from_slice(&32015u16.to_le_bytes());
                }
                q += 8 + name_len.div_ceil(8) * 8 + 4 * nvals + if nvals % 2 == 1 { 4 } else { 0 };
            }
            break;
        }
        p += 8 + size;
    }
    let w = hdf5::walk(&m, &Limits::default()).unwrap();
    let e = w
        .errors
        .iter()
        .find(|e| e.path == "/model_weights/dense_1/dense_1/kernel:0")
        .unwrap();
    assert!(
        e.error.0.contains("zstd") && e.error.0.contains("32015"),
        "{e:?}"
    );
    // The other datasets are still listed.
    assert_eq!(
        w.datasets.len() + 1,
        hdf5::walk(&data, &Limits::default())
            .unwrap()
            .datasets
            .len()
    );
}

#[test]
fn a_huge_chunk_is_an_error() {
    let data = std::fs::read(dir().join("keras_earliest.h5")).unwrap();
    let w = hdf5::walk(&data, &Limits::default()).unwrap();
    let d = w
        .datasets
        .iter()
        .find(|d| d.path == "/model_weights/dense_1/dense_1/kernel:0")
        .unwrap();
    let limits = Limits {
        max_chunk_bytes: 64,
        ..Limits::default()
    };
    let e = hdf5::read(&data, d, &limits).unwrap_err();
    assert!(e.0.contains("chunk"), "{e}");
    assert!(hdf5::read(&data, d, &Limits::default()).is_ok());
}

#[test]
fn a_link_back_to_an_ancestor_is_an_error() {
    // In the latest-format file, point the first link of `/small` (a compact link message)
    // at the root group's object header.
    let data = std::fs::read(dir().join("latest.h5")).unwrap();
    let f = hdf5::File::open(&data).unwrap();
    let w = f.walk(&Limits::default());
    let k = w.datasets.iter().find(|d| d.path == "/small/k").unwrap();
    let mut m = data.clone();
    let at = find(&m, &k.offset.to_le_bytes());
    m[at..at + 8].copy_from_slice(&f.root.to_le_bytes());
    let w = hdf5::walk(&m, &Limits::default()).unwrap();
    assert!(
        w.errors
            .iter()
            .any(|e| e.path == "/small/k" && e.error.0.contains("cycles back")),
        "{:?}",
        w.errors
    );
}

#[test]
fn aliases_soft_and_external_links_are_reported() {
    let data = std::fs::read(dir().join("keras_earliest.h5")).unwrap();
    let w = hdf5::walk(&data, &Limits::default()).unwrap();
    assert_eq!(w.aliases.len(), 41);
    assert_eq!(
        w.aliases[0],
        ("/extra/int32".to_owned(), "/alias_int32".to_owned())
    );
    for (i, (path, first)) in w.aliases[1..].iter().enumerate() {
        assert_eq!(path, &format!("/links/l{i:03}"));
        assert_eq!(first, "/extra/uint8");
    }
    let links: Vec<(&str, &str, &str)> = w
        .unfollowed
        .iter()
        .map(|u| (u.path.as_str(), u.kind, u.target.as_str()))
        .collect();
    assert_eq!(
        links,
        [
            ("/external", "external", "other.h5:/weights"),
            ("/soft", "soft", "/extra/int32")
        ]
    );
    assert!(
        w.groups
            .iter()
            .any(|(p, _)| p == "/model_weights/dense/dense")
    );
}

#[test]
fn never_written_datasets_read_as_their_fill_value_within_a_limit() {
    let data = std::fs::read(dir().join("keras_earliest.h5")).unwrap();
    let f = hdf5::File::open(&data).unwrap();
    let w = f.walk(&Limits::default());
    let d = w
        .datasets
        .iter()
        .find(|d| d.path == "/extra/filled")
        .unwrap();
    let b = f.read(d, &Limits::default()).unwrap();
    assert_eq!(b.as_ref(), (-7i16).to_le_bytes().repeat(6));
    let d = w
        .datasets
        .iter()
        .find(|d| d.path == "/extra/unwritten")
        .unwrap();
    assert!(matches!(d.layout, Layout::Contiguous { address: None, .. }));
    let b = f.read(d, &Limits::default()).unwrap();
    assert_eq!(b.as_ref(), [0u8; 16]);
    let small = Limits {
        max_fill_bytes: 4,
        ..Limits::default()
    };
    let e = f.read(d, &small).unwrap_err();
    assert!(e.0.contains("fill value"), "{e}");
}

#[test]
fn unsupported_storage_is_an_error_naming_it() {
    let exp = expected();
    for (name, want) in exp["unsupported"].as_object().unwrap() {
        let data = std::fs::read(dir().join(name)).unwrap();
        let (ok, errors) = hdf5::datasets(&data, &Limits::default()).unwrap();
        let ok: Vec<&str> = ok.iter().map(|d| d.info.path.as_str()).collect();
        // A compound and a fixed-length string dataset are read, as data.
        assert_eq!(ok, ["/compound", "/ok", "/strings"], "{name}");
        let want = want.as_object().unwrap();
        assert_eq!(errors.len(), want.len(), "{errors:?}");
        for e in &errors {
            let needle = want[&e.path].as_str().unwrap();
            assert!(e.error.0.contains(needle), "{}: {}", e.path, e.error);
            assert!(e.offset.is_some());
        }
    }
}

#[test]
fn repeated_reads_of_one_file_are_budgeted() {
    // Datasets sharing (or re-reading) the same bytes cannot multiply the work without
    // bound: a File's reads are charged against a multiple of the file's size.
    let data = std::fs::read(dir().join("keras_earliest.h5")).unwrap();
    let f = hdf5::File::open(&data).unwrap();
    let w = f.walk(&Limits::default());
    let d = w
        .datasets
        .iter()
        .find(|d| d.path == "/model_weights/dense_1/dense_1/kernel:0")
        .unwrap();
    let mut reads = 0u64;
    let e = loop {
        match f.read(d, &Limits::default()) {
            Ok(_) => reads += 1,
            Err(e) => break e,
        }
        assert!(reads < 1_000_000, "never refused");
    };
    assert!(e.0.contains("times the file's size"), "{e}");
    // Every dataset could still be read several times over.
    assert!(reads > 8, "{reads}");
    assert!(
        hdf5::File::open(&data)
            .unwrap()
            .read(d, &Limits::default())
            .is_ok()
    );
}

// PyTables and h5py data files (`scripts/hdf5/make_pytables.py`, `expected_data.json`).

fn expected_data() -> Value {
    serde_json::from_slice(&std::fs::read(dir().join("expected_data.json")).unwrap()).unwrap()
}

/// Every object's attributes, by `path/@name`.
fn all_attributes(data: &[u8]) -> Vec<(String, hdf5::Attribute)> {
    let f = hdf5::File::open(data).unwrap();
    let w = f.walk(&Limits::default());
    assert!(w.errors.is_empty(), "{:?}", w.errors);
    let mut out = Vec::new();
    for (path, at) in &w.objects {
        for a in f.attributes(*at).unwrap() {
            out.push((format!("{}/@{}", path.trim_end_matches('/'), a.name), a));
        }
    }
    out
}

/// A tensor read: name, type, shape, sum of its elements.
type Read = (String, DType, Vec<u64>, f64);

/// Tensors, problems and notes of `load::hdf5_tensors`.
fn data_tensors(data: &[u8]) -> (Vec<Read>, Vec<String>, Vec<String>) {
    let (mut tensors, mut problems, mut notes) = (Vec::new(), Vec::new(), Vec::new());
    mlsec_formats::load::hdf5_tensors(
        data,
        &Limits::default(),
        &mut |v| {
            let sum = v
                .bytes
                .chunks_exact(v.dtype.size())
                .map(|c| element_f64(v.dtype, c))
                .sum();
            tensors.push((v.name, v.dtype, v.shape, sum));
        },
        &mut |p| problems.push(p.message),
        &mut |p| notes.push(p.message),
    );
    (tensors, problems, notes)
}

fn check_tensors(tensors: &[Read], want: &Value, prefix: &str) {
    for (name, w) in want.as_object().unwrap() {
        if name == "strings" {
            continue;
        }
        let full = format!("{prefix}{name}");
        let (_, dtype, shape, sum) = tensors
            .iter()
            .find(|t| t.0 == full)
            .unwrap_or_else(|| panic!("no tensor {full} in {tensors:?}"));
        assert_eq!(numpy_name(*dtype), w["dtype"].as_str().unwrap(), "{full}");
        let want_shape: Vec<u64> = w["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_u64().unwrap())
            .collect();
        assert_eq!(shape, &want_shape, "{full}");
        assert_eq!(*sum, w["sum"].as_f64().unwrap(), "{full}");
    }
}

#[test]
fn compound_and_string_datasets_are_read() {
    let exp = expected_data();
    let want = &exp["files"]["h5py_strings.h5"];
    let data = std::fs::read(dir().join("h5py_strings.h5")).unwrap();
    let (tensors, problems, notes) = data_tensors(&data);
    assert!(problems.is_empty(), "{problems:?}");
    check_tensors(&tensors, &want["tensors"], "");
    // Every string dataset and the string field are notes, not errors and not tensors.
    for path in want["strings"].as_array().unwrap() {
        let path = path.as_str().unwrap();
        assert!(
            notes.iter().any(|n| n.contains(&format!("`{path}`"))),
            "{path}: {notes:?}"
        );
        assert!(tensors.iter().all(|t| t.0 != path[1..]));
    }
    assert!(
        notes
            .iter()
            .any(|n| n.contains("`/records`") && n.contains("`tag` (string)")),
        "{notes:?}"
    );
    // Variable-length strings resolve through the global heap.
    let f = hdf5::File::open(&data).unwrap();
    let w = f.walk(&Limits::default());
    let d = w.datasets.iter().find(|d| d.path == "/vlen_utf8").unwrap();
    let items = f
        .variable(d, &f.read(d, &Limits::default()).unwrap())
        .unwrap();
    assert_eq!(items, [b"alpha".as_slice(), "βeta".as_bytes(), b""]);
    let d = w
        .datasets
        .iter()
        .find(|d| d.path == "/vlen_chunked")
        .unwrap();
    let items = f
        .variable(d, &f.read(d, &Limits::default()).unwrap())
        .unwrap();
    assert_eq!(items, [b"p".as_slice(), b"q", b"r", b"s"]);
    // String attributes, fixed and variable-length, scalar and arrays.
    let root = hdf5::root_group(&data).unwrap();
    for (name, values) in want["root_attributes"].as_object().unwrap() {
        let a = root.attributes.iter().find(|a| &a.name == name).unwrap();
        let want: Vec<&str> = values
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(
            a.value,
            AttrValue::Strings(want.iter().map(|s| s.to_string()).collect())
        );
        let raw: Vec<&[u8]> = a.raw.iter().map(Vec::as_slice).collect();
        let want_raw: Vec<&[u8]> = want.iter().map(|s| s.as_bytes()).collect();
        assert_eq!(raw, want_raw, "{name}");
    }
}

#[test]
fn pytables_tables_are_read_field_by_field() {
    let exp = expected_data();
    for name in ["pytables_benign_attrs.h5", "pytables_malicious_attr.h5"] {
        let data = std::fs::read(dir().join(name)).unwrap();
        let (tensors, problems, notes) = data_tensors(&data);
        assert!(problems.is_empty(), "{name}: {problems:?}");
        check_tensors(
            &tensors,
            &exp["files"]["pytables_benign_attrs.h5"]["tables"]["/group/table"],
            "group/table.",
        );
        assert!(
            notes.iter().any(|n| n.contains("`name` (string)")),
            "{notes:?}"
        );
    }
    let data = std::fs::read(dir().join("pandas_store.h5")).unwrap();
    let (tensors, problems, _) = data_tensors(&data);
    assert!(problems.is_empty(), "{problems:?}");
    let names: Vec<&str> = tensors.iter().map(|t| t.0.as_str()).collect();
    assert!(names.contains(&"table/table.index"), "{names:?}");
    assert!(names.contains(&"fixed/block1_values"), "{names:?}");
}

#[test]
fn pickled_attributes_are_read_as_stored_on_every_object() {
    let exp = expected_data();
    // PyTables: `pickle.dumps(value, 0)` in a scalar fixed-length ASCII string.
    let data = std::fs::read(dir().join("pytables_malicious_attr.h5")).unwrap();
    let attrs = all_attributes(&data);
    let want = &exp["files"]["pytables_malicious_attr.h5"];
    let key = format!(
        "{}/@{}",
        want["node"].as_str().unwrap(),
        want["attribute"].as_str().unwrap()
    );
    let (_, evil) = attrs.iter().find(|(k, _)| *k == key).unwrap();
    assert!(evil.scalar && !evil.utf8);
    assert_eq!(evil.raw.len(), 1);
    assert!(
        evil.raw[0].starts_with(b"cposix\nsystem\n"),
        "{:?}",
        evil.raw
    );
    assert!(evil.raw[0].ends_with(b"."));
    // PyTables' own attributes on the node are there too.
    assert!(attrs.iter().any(|(k, _)| k == "/group/table/@CLASS"));
    assert!(attrs.iter().any(|(k, _)| k == "/@PYTABLES_FORMAT_VERSION"));

    // h5py, dense attribute storage: fixed string, variable-length string, opaque.
    let data = std::fs::read(dir().join("h5py_malicious_attrs.h5")).unwrap();
    let attrs = all_attributes(&data);
    let on_data: Vec<&hdf5::Attribute> = attrs
        .iter()
        .filter(|(k, _)| k.starts_with("/data/@"))
        .map(|(_, a)| a)
        .collect();
    assert_eq!(on_data.len(), 13);
    let get = |n: &str| on_data.iter().find(|a| a.name == n).unwrap();
    let fixed = get("payload");
    let vlen = get("vlen_payload");
    assert_eq!(fixed.raw, vlen.raw);
    assert!(fixed.raw[0].starts_with(b"cposix\nsystem\n"));
    let blob = get("blob");
    assert_eq!(blob.value, AttrValue::Other("opaque"));
    assert_eq!(&blob.raw[0][..2], b"\x80\x02");
}

#[test]
fn new_fixtures_truncated_or_mutated_give_errors_not_panics() {
    for name in [
        "h5py_strings.h5",
        "h5py_malicious_attrs.h5",
        "pytables_malicious_attr.h5",
        "plain_data.h5",
    ] {
        let data = std::fs::read(dir().join(name)).unwrap();
        for cut in (0..data.len()).step_by(7) {
            exercise(&data[..cut]);
        }
        mutate(&data);
    }
}
