//! The pickle machine over every stream of the input, then the torch tensor walk over every
//! stream that parsed (what `mlsec checkpoint` does with a `data.pkl` member).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mlsec_formats::torch;

fuzz_target!(|data: &[u8]| {
    let mut m = mlsec_formats::joblib::machine(data, 0);
    m.run_all();
    // Every stream ends with a root or an error, never neither.
    for stream in &m.streams {
        assert!(stream.root.is_some() != stream.error.is_some());
    }
    let roots: Vec<_> = m.streams.iter().filter_map(|s| s.root).collect();
    for root in roots {
        let (tensors, _problems) = torch::collect_tensors(&m, root);
        for t in &tensors {
            let _ = (t.numel(), t.storage_end(), t.is_contiguous());
        }
        let _ = torch::is_legacy_magic(&m, root);
        let _ = torch::collect_persistent_ids(&m, root);
    }
    for i in 0..m.imports.len() {
        let _ = m.imports[i].dotted();
    }
});
