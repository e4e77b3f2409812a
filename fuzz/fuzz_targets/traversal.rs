//! The one traversal (`mlsec_formats::walk`) through both of its visitors: the whole checkpoint
//! scan of one in-memory file (`visit_tensors`, the scan `scan_bytes` runs plus a tensor
//! callback: sniffing, every container and format reader, pickle audit, nested payloads, GGUF
//! and chat templates, tensor statistics) and the tensor reader `load::visit` (inspect,
//! export-guard digests, runtime data). Every input ends as findings, errors, tensors, or a
//! clean result of a format that holds none of them; both visitors see the same tensors.
//!
//! Members expand to at most 1 MiB (the scan's default is 4 GiB with a 1000x ratio): inputs
//! are at most a few hundred KiB, so the default would let one input spend its run inflating
//! a legitimate 100 MiB member; the limit checks are the same code either way.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mlsec_checkpoint::scan::Options;
use mlsec_formats::zip::ZipLimits;

fuzz_target!(|data: &[u8]| {
    let opts = Options {
        zip_limits: ZipLimits {
            max_member_size: 1 << 20,
            ..ZipLimits::default()
        },
        ..Options::default()
    };
    let mut seen = 0usize;
    let visited = mlsec_checkpoint::visit_tensors(data, "f", &opts, &mut |v| {
        // (A zero dimension makes the tensor empty whatever the others are.)
        let nbytes = if v.shape.contains(&0) {
            Some(0)
        } else {
            v.shape
                .iter()
                .try_fold(v.dtype.size() as u64, |a, &d| a.checked_mul(d))
        };
        assert_eq!(nbytes, Some(v.bytes.len() as u64));
        seen += 1;
    });
    assert_eq!(seen, visited.tensors.len());
    // A named file whose format is not read is an error, never a silent pass.
    assert!(visited.not_scanned.is_none());
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
