//! The `.npy` header reader.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mlsec_formats::npy::{self, NpyBody};

fuzz_target!(|data: &[u8]| {
    if let Ok(npy) = npy::parse(data) {
        assert!(npy.data_offset <= data.len());
        // An accepted array's body is exactly what its shape and dtype need.
        if let NpyBody::Array { dtype, .. } = npy.body {
            let need = npy.numel().and_then(|n| n.checked_mul(dtype.size() as u64));
            assert_eq!(need, Some((data.len() - npy.data_offset) as u64));
        }
    }
});
