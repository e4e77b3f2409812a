//! joblib arrays against real `joblib.dump` files and what numpy held before dumping
//! (`testdata/joblib/expected.json`, made by `scripts/joblib/make_reference.py`).

use std::path::PathBuf;

use mlsec_formats::dtype::element_f64;
use mlsec_formats::joblib::{self, Body, CompanionKind, Failure};
use mlsec_pickle::Event;
use serde_json::Value;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/joblib")
}

fn expected() -> Value {
    serde_json::from_slice(&std::fs::read(dir().join("expected.json")).unwrap()).unwrap()
}

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
fn every_array_matches_what_was_dumped() {
    let exp = expected();
    let want = exp["arrays"].as_array().unwrap();
    for name in exp["files"].as_array().unwrap() {
        let name = name.as_str().unwrap();
        let raw = std::fs::read(dir().join(name)).unwrap();
        let data = match joblib::compression(&raw) {
            Some(c) => {
                assert!(name.contains(c), "{name}: {c}");
                joblib::decompress(&raw, 1 << 20).unwrap()
            }
            None => raw,
        };
        let mut m = mlsec_formats::joblib::machine(&data, 0);
        m.run_all();
        assert!(m.streams.iter().all(|s| s.error.is_none()), "{name}");
        let mut got: Vec<_> = joblib::arrays(&m)
            .into_iter()
            .map(|a| a.unwrap_or_else(|e| panic!("{name}: {e}")))
            .collect();
        got.sort_by(|a, b| a.path.cmp(&b.path));
        let paths: Vec<&str> = got.iter().map(|a| a.path.as_deref().unwrap()).collect();
        let want_paths: Vec<&str> = want.iter().map(|w| w["path"].as_str().unwrap()).collect();
        assert_eq!(paths, want_paths, "{name}");
        for (a, w) in got.iter().zip(want) {
            let ctx = format!("{name}:{}", w["path"]);
            assert_eq!(a.descr, w["dtype"].as_str().unwrap(), "{ctx}");
            let shape: Vec<u64> = w["shape"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_u64().unwrap())
                .collect();
            assert_eq!(a.shape, shape, "{ctx}");
            assert_eq!(a.fortran_order, w["order"] == "F", "{ctx}");
            let bytes = &data[a.data.start as usize..a.data.end as usize];
            match a.body {
                Body::Object => {
                    assert_eq!(w["dtype"], "|O", "{ctx}");
                    // The nested pickle's imports were seen by the machine (numpy
                    // reconstruction of the object array), so the caller can audit them.
                    assert!(bytes.starts_with(b"\x80\x05"), "{ctx}");
                    let imports: Vec<String> = m.imports.iter().map(|i| i.dotted()).collect();
                    assert!(
                        imports.iter().any(|i| i.ends_with("_reconstruct")),
                        "{imports:?}"
                    );
                }
                Body::Raw { dtype, big_endian } => {
                    assert_eq!(big_endian, w["dtype"].as_str().unwrap().starts_with('>'));
                    assert_eq!(a.subclass.as_deref(), Some("numpy.ndarray"), "{ctx}");
                    let vals: Vec<f64> = bytes
                        .chunks_exact(dtype.size())
                        .map(|b| {
                            let mut e = b.to_vec();
                            if big_endian {
                                e.reverse();
                            }
                            element_f64(dtype, &e)
                        })
                        .collect();
                    assert_eq!(vals.len() as u64, a.numel().unwrap(), "{ctx}");
                    let first: Vec<f64> = w["first"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|x| x.as_f64().unwrap())
                        .collect();
                    close(&vals[..first.len()], &first, &ctx);
                    // Row-major, little-endian elements as numpy holds them in C order.
                    let c = a.elements(&m).unwrap();
                    let c_vals: Vec<f64> = c
                        .chunks_exact(dtype.size())
                        .map(|b| element_f64(dtype, b))
                        .collect();
                    let c_first: Vec<f64> = w["c_first"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|x| x.as_f64().unwrap())
                        .collect();
                    close(&c_vals[..c_first.len()], &c_first, &ctx);
                    let sum: f64 = vals.iter().sum();
                    let abs: f64 = vals.iter().map(|v| v.abs()).sum();
                    let want_sum = w["sum"].as_f64().unwrap();
                    assert!((sum - want_sum).abs() <= 1e-9 * abs + 1e-12, "{ctx}: {sum}");
                }
                Body::Unsupported => panic!("{ctx}: unsupported"),
            }
        }
    }
}

#[test]
fn a_planted_call_in_an_object_array_is_seen() {
    // Replace the object array's nested pickle by one calling os.getcwd (harmless): the
    // machine must run it as the nested stream and record the import.
    let data = std::fs::read(dir().join("model_p5.joblib")).unwrap();
    let mut m = mlsec_formats::joblib::machine(&data, 0);
    m.run_all();
    let obj = joblib::arrays(&m)
        .into_iter()
        .map(Result::unwrap)
        .find(|a| a.body == Body::Object)
        .unwrap();
    let payload = b"\x80\x05\x95\x12\x00\x00\x00\x00\x00\x00\x00\x8c\x02os\x8c\x06getcwd\x93)R.";
    let mut evil = data[..obj.data.start as usize].to_vec();
    evil.extend_from_slice(payload);
    evil.extend_from_slice(&data[obj.data.end as usize..]);
    let mut m = mlsec_formats::joblib::machine(&evil, 0);
    m.run_all();
    assert!(m.streams.iter().all(|s| s.error.is_none()));
    assert!(m.imports.iter().any(|i| i.dotted() == "os.getcwd"));
    assert!(m.events.iter().any(|e| matches!(e, Event::Call { .. })));
    let arrays: Vec<_> = joblib::arrays(&m).into_iter().map(Result::unwrap).collect();
    let obj2 = arrays.iter().find(|a| a.body == Body::Object).unwrap();
    assert_eq!(obj2.data.end - obj2.data.start, payload.len() as u64);
}

#[test]
fn truncated_and_mutated_files_give_errors_not_panics() {
    let data = std::fs::read(dir().join("model_p5.joblib")).unwrap();
    let mut full = mlsec_formats::joblib::machine(&data, 0);
    full.run_all();
    let n = joblib::arrays(&full).len();
    for cut in 0..data.len() {
        let mut m = mlsec_formats::joblib::machine(&data[..cut], 0);
        m.run_all();
        let arrays = joblib::arrays(&m);
        assert!(arrays.len() <= n);
        if arrays.len() < n {
            // Fewer arrays: the stream must have failed, never ended cleanly.
            assert!(
                m.streams.is_empty() || m.streams.iter().any(|s| s.error.is_some()),
                "cut at {cut}"
            );
        }
        for a in arrays.into_iter().flatten() {
            assert!(a.data.end as usize <= cut);
        }
    }
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..5000 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let mut d = data.clone();
        let at = (state % d.len() as u64) as usize;
        d[at] = (state >> 40) as u8;
        let mut m = mlsec_formats::joblib::machine(&d, 0);
        m.run_all();
        for a in joblib::arrays(&m).into_iter().flatten() {
            assert!(a.data.start <= a.data.end && a.data.end as usize <= d.len());
            if let Some(e) = a.elements(&m) {
                assert_eq!(e.len() as u64, a.data.end - a.data.start);
            }
        }
    }
}

#[test]
fn compressed_files_are_bounded_and_unknown_compressors_named() {
    let raw = std::fs::read(dir().join("model_zlib.joblib")).unwrap();
    let full = joblib::decompress(&raw, 1 << 20).unwrap();
    let e = joblib::decompress(&raw, full.len() - 1).unwrap_err();
    assert_eq!(e.kind, Failure::Limit);
    for cut in [1, 10, raw.len() / 2, raw.len() - 1] {
        assert!(
            joblib::decompress(&raw[..cut], 1 << 20).is_err(),
            "cut {cut}"
        );
    }
    let gz = std::fs::read(dir().join("model_gzip.joblib")).unwrap();
    assert_eq!(joblib::decompress(&gz, 1 << 20).unwrap(), full);
    assert!(joblib::decompress(&gz[..5], 1 << 20).is_err());
    let e = joblib::decompress(b"not compressed", 1 << 20).unwrap_err();
    assert_eq!(e.kind, Failure::Unsupported);
    assert_eq!(joblib::compression(b"\x80\x05\x95"), None);
}

const COMPRESSORS: [&str; 6] = ["zlib", "gzip", "bz2", "lzma", "xz", "lz4"];

/// Every compressor joblib 1.6 writes expands to the same pickle stream (the uncompressed
/// dump is protocol 5 as well, but joblib pads arrays by their file offset, so compare the
/// expanded streams with each other).
#[test]
fn every_compressor_expands_to_the_same_stream() {
    let zlib = joblib::decompress(
        &std::fs::read(dir().join("model_zlib.joblib")).unwrap(),
        1 << 20,
    )
    .unwrap();
    for c in COMPRESSORS {
        let raw = std::fs::read(dir().join(format!("model_{c}.joblib"))).unwrap();
        assert_eq!(joblib::compression(&raw), Some(c));
        assert_eq!(joblib::sniff_compression(&raw), Some(c));
        let e = joblib::expand(&raw, 1 << 20);
        assert_eq!(e.error, None, "{c}");
        assert_eq!((e.compression, e.streams), (c, 1), "{c}");
        assert!(e.data == zlib, "{c}");
    }
}

/// A compressed file cut anywhere is an error (never a clean, shorter stream), and what was
/// decoded before the cut is a prefix of the real stream; a limit below the expanded size is
/// a `Limit` error with exactly `limit` bytes kept (a bomb never allocates past it).
#[test]
fn truncated_and_oversized_streams_are_errors_with_a_true_prefix() {
    for c in COMPRESSORS {
        let raw = std::fs::read(dir().join(format!("model_{c}.joblib"))).unwrap();
        let full = joblib::decompress(&raw, 1 << 20).unwrap();
        let mut cuts: Vec<usize> = (1..raw.len()).step_by(7).collect();
        cuts.extend([raw.len() - 1, raw.len() - 4, raw.len() / 2]);
        for cut in cuts {
            let e = joblib::expand(&raw[..cut], 1 << 20);
            let err = e
                .error
                .unwrap_or_else(|| panic!("{c}: cut at {cut} is clean"));
            // Cut inside the magic, the file is no longer recognised at all.
            assert!(
                matches!(err.kind, Failure::Truncated | Failure::Invalid)
                    || cut < 6 && err.kind == Failure::Unsupported,
                "{c} cut {cut}: {err}"
            );
            assert!(full.starts_with(&e.data), "{c} cut {cut}: not a prefix");
        }
        for limit in [0, 1, 100, full.len() - 1] {
            let e = joblib::expand(&raw, limit);
            let err = e.error.expect("over the limit");
            assert_eq!(err.kind, Failure::Limit, "{c} {limit}: {err}");
            assert!(err.to_string().contains("limit"), "{err}");
            assert!(e.data == full[..limit], "{c} {limit}");
        }
    }
}

/// A decompression bomb (1 GiB of zeros in a few kB) stops at the limit.
#[test]
fn a_bomb_stops_at_the_limit() {
    // bzip2 of 256 MiB of zeros, built with the same crate joblib files are read with.
    let mut enc = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..256 {
        std::io::Write::write_all(&mut enc, &zeros).unwrap();
    }
    let bomb = enc.finish().unwrap();
    assert!(bomb.len() < 1 << 16, "{}", bomb.len());
    let e = joblib::expand(&bomb, 8 << 20);
    assert_eq!(e.error.unwrap().kind, Failure::Limit);
    assert_eq!(e.data.len(), 8 << 20);
    assert!(e.data.capacity() <= 8 << 20);
}

/// What Python's file objects do with several streams in a row: gzip members and bz2/xz/lz4
/// streams are read one after the other, so a pickle split across two streams is one pickle.
#[test]
fn concatenated_streams_are_read_on() {
    for c in ["gzip", "bz2", "xz", "lzma", "lz4"] {
        let raw = std::fs::read(dir().join(format!("model_{c}.joblib"))).unwrap();
        let one = joblib::decompress(&raw, 1 << 20).unwrap();
        let mut two = raw.clone();
        two.extend_from_slice(&raw);
        let e = joblib::expand(&two, 1 << 20);
        assert_eq!(e.error, None, "{c}");
        assert_eq!(e.streams, 2, "{c}");
        assert!(e.data == [one.clone(), one].concat(), "{c}");
    }
    // Trailing garbage: ignored by Python's bz2 and lzma readers, an error for gzip and lz4.
    for (c, ignored) in [
        ("bz2", true),
        ("xz", true),
        ("lzma", true),
        ("gzip", false),
        ("lz4", false),
    ] {
        let mut raw = std::fs::read(dir().join(format!("model_{c}.joblib"))).unwrap();
        raw.extend_from_slice(b"\xffgarbage after the stream");
        let e = joblib::expand(&raw, 1 << 20);
        assert_eq!(e.error.is_none(), ignored, "{c}: {:?}", e.error);
        assert!(!e.data.is_empty());
    }
}

#[test]
fn zfile_headers_are_read_as_python_reads_them() {
    let body = miniz_oxide::deflate::compress_to_vec_zlib(b"\x80\x02K\x01.", 6);
    let file = |header: &[u8]| [header, &body[..]].concat();
    let ok = file(b"ZF0x5                ");
    assert_eq!(ok.len() - body.len(), 21);
    assert_eq!(joblib::zfile_header(&ok), Some((5, 21)));
    assert_eq!(joblib::sniff_compression(&ok), Some("zfile"));
    assert_eq!(joblib::decompress(&ok, 100).unwrap(), b"\x80\x02K\x01.");
    // Python 2 writers of joblib <= 0.8.4: one more space.
    let py2 = file(b"ZF0x5                 ");
    assert_eq!(joblib::decompress(&py2, 100).unwrap(), b"\x80\x02K\x01.");
    // A length that does not match is an error (joblib asserts it).
    let e = joblib::decompress(&file(b"ZF0x6                "), 100).unwrap_err();
    assert!(e.message.contains("declares 6"), "{e}");
    // Not a zfile: text starting with ZF.
    assert_eq!(joblib::sniff_compression(b"ZFS pool status report"), None);
    // A declared length over the limit is refused before inflating.
    let e = joblib::decompress(&file(b"ZF0xffffffffff       "), 100).unwrap_err();
    assert_eq!(e.kind, Failure::Limit);
}

#[test]
fn companion_names_stay_in_the_directory() {
    assert_eq!(
        joblib::companion_name("model.pkl_01.npy"),
        Ok("model.pkl_01.npy")
    );
    for bad in [
        "",
        "..",
        "../x.npy",
        "/etc/x.npy",
        "a/../../x.npy",
        "sub/x.npy",
        "C:x.npy",
        "a\\b.npy",
        "a\0.npy",
    ] {
        assert!(joblib::companion_name(bad).is_err(), "{bad:?}");
    }
    assert_eq!(joblib::companion_of("model.pkl_01.npy"), Some("model.pkl"));
    assert_eq!(
        joblib::companion_of("model.pkl_12.npy.z"),
        Some("model.pkl")
    );
    assert_eq!(joblib::companion_of("model_1.npy"), None);
    assert_eq!(joblib::companion_of("weights.npy"), None);
}

/// joblib 0.9.4's formats (`testdata/joblib/old`): the wrappers name their companions, with the
/// array paths, and a zfile wrapper carries the dtype and shape of its raw companion.
#[test]
fn old_wrappers_name_their_companions() {
    let old = dir().join("old");
    let data = std::fs::read(old.join("npy/model.pkl")).unwrap();
    let mut m = mlsec_formats::joblib::machine(&data, 0);
    m.run_all();
    let mut c: Vec<_> = joblib::companions(&m)
        .into_iter()
        .map(Result::unwrap)
        .collect();
    c.sort_by(|a, b| a.file.cmp(&b.file));
    let got: Vec<(&str, &str)> = c
        .iter()
        .map(|c| (c.path.as_deref().unwrap(), c.file.as_str()))
        .collect();
    assert_eq!(got.len(), 4, "{got:?}");
    assert!(
        got.iter()
            .all(|(_, f)| f.starts_with("model.pkl_0") && f.ends_with(".npy"))
    );
    let paths: std::collections::BTreeSet<&str> = got.iter().map(|g| g.0).collect();
    assert_eq!(paths, ["bias", "fortran", "steps", "weights"].into());
    assert!(c.iter().all(|c| c.kind == CompanionKind::Npy));
    for f in &c {
        assert!(old.join("npy").join(&f.file).is_file());
    }

    let raw = std::fs::read(old.join("zfile_companions/model.pkl")).unwrap();
    assert_eq!(joblib::sniff_compression(&raw), Some("zfile"));
    let data = joblib::decompress(&raw, 1 << 20).unwrap();
    let mut m = mlsec_formats::joblib::machine(&data, 0);
    m.run_all();
    let c: Vec<_> = joblib::companions(&m)
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let w = c
        .iter()
        .find(|c| c.path.as_deref() == Some("weights"))
        .unwrap();
    let CompanionKind::Zfile {
        descr,
        shape,
        fortran_order,
        ..
    } = &w.kind
    else {
        panic!("{w:?}")
    };
    assert_eq!(
        (descr.as_str(), shape.as_slice(), *fortran_order),
        ("<f4", &[4u64, 3][..], false)
    );
    let f = c
        .iter()
        .find(|c| c.path.as_deref() == Some("fortran"))
        .unwrap();
    assert!(matches!(
        f.kind,
        CompanionKind::Zfile {
            fortran_order: true,
            ..
        }
    ));
    let z = std::fs::read(old.join("zfile_companions").join(&w.file)).unwrap();
    assert_eq!(joblib::decompress(&z, 1 << 20).unwrap().len(), 48);
}
