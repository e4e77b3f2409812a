//! The HDF5 reader: the walk, every object's attributes, every dataset's elements (numbers,
//! compound fields, variable-length items through the global heap), and the shared loader.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mlsec_formats::hdf5::{self, Element, Limits};

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_dataset_bytes: 64 << 20,
        max_chunk_bytes: 16 << 20,
        max_fill_bytes: 16 << 20,
        ..Limits::default()
    };
    let _ = hdf5::root_group(data);
    let Ok(f) = hdf5::File::open(data) else {
        return;
    };
    let w = f.walk(&limits);
    for (_, at) in &w.objects {
        if let Ok(attrs) = f.attributes(*at) {
            for a in attrs {
                // Raw bytes come from the file: none can be longer than it.
                assert!(a.raw.iter().all(|r| r.len() <= data.len()));
            }
        }
    }
    for d in &w.datasets {
        let Ok(b) = f.read(d, &limits) else {
            continue;
        };
        // An accepted dataset decodes to exactly what its shape and element type need.
        assert_eq!(Some(b.len() as u64), d.nbytes());
        match &d.element {
            Element::Compound { size, fields } => {
                for field in fields {
                    let _ = field.bytes(&b, *size);
                }
            }
            Element::Variable { size, .. } => {
                if let Ok(items) = f.variable(d, &b) {
                    assert_eq!(items.len(), b.len() / size);
                }
            }
            _ => {}
        }
    }
    mlsec_formats::load::hdf5_tensors(data, &limits, &mut |_| {}, &mut |_| {}, &mut |_| {});
});
