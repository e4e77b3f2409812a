//! The tar reader (ustar, GNU long names, pax paths).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = mlsec_formats::tar::is_tar(data);
    if let Ok(archive) = mlsec_formats::tar::parse(data) {
        assert!(archive.end as usize <= data.len());
        for e in &archive.entries {
            // Every member's data lies inside the input.
            assert!(
                e.data_offset
                    .checked_add(e.size)
                    .is_some_and(|end| end as usize <= data.len())
            );
            let _ = e.data(data);
        }
    }
});
