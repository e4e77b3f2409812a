//! Replays every input the `zip_torch` fuzz target (`fuzz/`, see `docs/fuzzing.md`) found
//! crashing, hanging or over-allocating through the same entry point: the whole checkpoint
//! scanner on one in-memory file. Each must end as findings or errors, without panicking.

use std::path::{Path, PathBuf};

use mlsec_checkpoint::scan::{FileResult, Options, Scanner};

fn regression(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/regressions/zip_torch")
        .join(name)
}

fn scan(data: &[u8]) -> FileResult {
    let opts = Options::default();
    let mut scanner = Scanner::new(&opts, "f");
    scanner.scan_file(data, true);
    scanner.out
}

#[test]
fn zip_torch_regressions_end_as_findings_or_errors() {
    let dir = regression("");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    files.sort();
    assert!(!files.is_empty());
    for path in files {
        let data = std::fs::read(&path).expect("regression input");
        let out = scan(&data);
        assert!(
            !out.findings.is_empty() || !out.errors.is_empty() || !out.tensors.is_empty(),
            "{}: neither a finding, an error nor a tensor",
            path.display()
        );
    }
}

#[test]
fn a_zlib_bomb_referenced_64_times_is_one_payload() {
    // 9 KB: `zlib.decompress` of 8 MiB, memoised, handed to `pickle.loads` 64 times. Every
    // call is reported; the payload is inflated and kept once (it was 64 times: 512 MiB).
    let data = std::fs::read(regression("nested-zlib-bomb-memo")).expect("regression input");
    let out = scan(&data);
    let nested: Vec<_> = out
        .findings
        .iter()
        .filter(|f| f.rule.name == "pickle-nested-payload")
        .collect();
    // One finding per cause: the first call, then the 63 others as one grouped finding.
    assert_eq!(nested.len(), 2, "{nested:#?}");
    let again = nested
        .iter()
        .find(|f| f.message.contains("the same payload as an earlier call"))
        .expect("the repeated calls");
    assert_eq!(again.evidence["occurrences"], "63");
}

#[test]
fn traversal_regressions_hand_out_tensors_that_match_their_shape() {
    // What the `traversal` target asserts of every tensor the scan visits: its bytes are
    // exactly what its dtype and shape need (a zero dimension makes it empty).
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/regressions/traversal");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    files.sort();
    assert!(!files.is_empty());
    for path in files {
        let data = std::fs::read(&path).expect("regression input");
        let mut bad = Vec::new();
        let out = mlsec_checkpoint::visit_tensors(&data, "f", &Options::default(), &mut |v| {
            let need = if v.shape.contains(&0) {
                Some(0)
            } else {
                v.shape
                    .iter()
                    .try_fold(v.dtype.size() as u64, |a, &d| a.checked_mul(d))
            };
            if need != Some(v.bytes.len() as u64) {
                bad.push(format!("{} {:?}: {} bytes", v.name, v.shape, v.bytes.len()));
            }
        });
        assert!(bad.is_empty(), "{}: {bad:?}", path.display());
        assert!(
            !out.findings.is_empty() || !out.errors.is_empty(),
            "{}: neither a finding nor an error",
            path.display()
        );
    }
}
