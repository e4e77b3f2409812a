//! joblib files: every compressor's expansion (bounded), then the pickle machine, the joblib
//! arrays and the old-format companion wrappers on the expanded bytes and on the raw bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mlsec_formats::joblib;

const LIMIT: usize = 1 << 20;

fn arrays(data: &[u8]) {
    let mut m = mlsec_formats::joblib::machine(data, 0);
    m.run_all();
    for a in joblib::arrays(&m).into_iter().flatten() {
        assert!(a.data.start <= a.data.end && a.data.end as usize <= data.len());
        if let Some(e) = a.elements(&m) {
            assert_eq!(e.len() as u64, a.data.end - a.data.start);
        }
    }
    for c in joblib::companions(&m).into_iter().flatten() {
        let _ = joblib::companion_name(&c.file);
    }
}

fuzz_target!(|data: &[u8]| {
    let _ = joblib::sniff_compression(data);
    let _ = joblib::zfile_header(data);
    let e = joblib::expand(data, LIMIT);
    // Never more than the limit, and an output-limit error only when the limit was reached
    // (an .xz/.lzma dictionary over the memory limit is refused before decoding anything).
    assert!(e.data.len() <= LIMIT);
    if let Some(err) = &e.error {
        if err.kind == joblib::Failure::Limit
            && e.compression != "zfile"
            && !err.message.contains("memory")
        {
            assert_eq!(e.data.len(), LIMIT);
        }
    }
    arrays(&e.data);
    arrays(data);
});
