//! The one traversal (`mlsec_formats::walk`) through both of its visitors: the whole checkpoint
//! scan of one in-memory file (`scan_bytes` and `visit_tensors`: sniffing, every container and
//! format reader, pickle audit, nested payloads, GGUF and chat templates, tensor statistics) and
//! the tensor reader `load::visit` (inspect, export-guard digests, runtime data). Every input
//! ends as findings, errors, tensors, or a clean result of a format that holds none of them;
//! both visitors see the same tensors.
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
    // The tensor reader sees the same tensors, and never reports nothing for nothing.
    let mut loaded = Vec::new();
    let l = mlsec_formats::load::visit(data, opts.zip_limits, &mut |v| {
        loaded.push((v.name.clone(), v.bytes.len()))
    });
    assert_eq!(l.tensors, loaded.len());
    assert!(l.tensors > 0 || !l.problems.is_empty());
    let scanned: Vec<_> = visited
        .tensors
        .iter()
        .map(|t| t.name.clone())
        .collect::<Vec<_>>();
    let names: Vec<_> = loaded.iter().map(|(n, _)| n.clone()).collect();
    assert_eq!(names, scanned);
});
