//! The whole checkpoint scan of one in-memory file through the public entry points
//! (`scan_bytes` and `visit_tensors`): sniffing, every container and format reader, pickle
//! audit, nested payloads, GGUF and chat templates, tensor statistics. Every input ends as
//! findings, errors, tensors, or a clean result of a format that holds none of them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mlsec_checkpoint::scan::Options;

fuzz_target!(|data: &[u8]| {
    let opts = Options::default();
    let out = mlsec_checkpoint::scan_bytes(data, "f", &opts);
    // A named file whose format is not read is an error, never a silent pass.
    assert!(out.not_scanned.is_none());
    let mut seen = 0usize;
    let visited = mlsec_checkpoint::visit_tensors(data, "f", &opts, &mut |v| {
        assert_eq!(
            v.shape
                .iter()
                .try_fold(v.dtype.size() as u64, |a, &d| a.checked_mul(d)),
            Some(v.bytes.len() as u64)
        );
        seen += 1;
    });
    assert_eq!(seen, visited.tensors.len());
    assert_eq!(out.findings.len(), visited.findings.len());
    assert_eq!(out.errors.len(), visited.errors.len());
});
