//! joblib arrays against real `joblib.dump` files and what numpy held before dumping
//! (`testdata/joblib/expected.json`, made by `scripts/joblib/make_reference.py`).

use std::path::PathBuf;

use mlsec_tensors::dtype::element_f64;
use mlsec_tensors::joblib::{self, Body};
use mlsec_tensors::pickle::{Event, Machine};
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
        let mut m = Machine::new(&data, 0);
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
    let mut m = Machine::new(&data, 0);
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
    let mut m = Machine::new(&evil, 0);
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
    let mut full = Machine::new(&data, 0);
    full.run_all();
    let n = joblib::arrays(&full).len();
    for cut in 0..data.len() {
        let mut m = Machine::new(&data[..cut], 0);
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
        let mut m = Machine::new(&d, 0);
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
    assert!(joblib::decompress(&raw, full.len() - 1).is_err());
    for cut in [1, 10, raw.len() / 2, raw.len() - 1] {
        assert!(
            joblib::decompress(&raw[..cut], 1 << 20).is_err(),
            "cut {cut}"
        );
    }
    let gz = std::fs::read(dir().join("model_gzip.joblib")).unwrap();
    assert_eq!(joblib::decompress(&gz, 1 << 20).unwrap(), full);
    assert!(joblib::decompress(&gz[..5], 1 << 20).is_err());
    let e = joblib::decompress(b"BZh91AY&SY", 1 << 20).unwrap_err();
    assert_eq!(e.compression, "bz2");
    assert!(e.to_string().contains("not supported"), "{e}");
    assert_eq!(joblib::compression(b"\x80\x05\x95"), None);
}
