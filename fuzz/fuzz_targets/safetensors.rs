//! The safetensors header reader.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = mlsec_formats::safetensors::sniff(data);
    if let Ok(st) = mlsec_formats::safetensors::parse(data) {
        // Every accepted tensor lies inside the file and matches its dtype and shape.
        for t in &st.tensors {
            assert!(t.begin <= t.end);
            assert!(st.data_start + t.end <= data.len() as u64);
            let need = t
                .shape
                .iter()
                .try_fold(t.dtype.size() as u64, |a, &d| a.checked_mul(d));
            assert_eq!(need, Some(t.end - t.begin));
        }
    }
});
