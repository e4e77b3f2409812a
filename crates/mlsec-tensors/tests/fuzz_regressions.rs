//! Replays every input the fuzzers (`fuzz/`, see `docs/fuzzing.md`) found crashing, hanging or
//! over-allocating through the same entry points as the fuzz targets: each must end as a result
//! or an error, without panicking.

use std::path::{Path, PathBuf};

use mlsec_tensors::pickle::Machine;
use mlsec_tensors::torch;

/// The committed crashers of one fuzz target, sorted by name.
fn regressions(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/regressions")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).expect("regression input");
            (p, bytes)
        })
        .collect()
}

/// What the `pickle` fuzz target does: every stream, then the tensor walk on each root.
fn pickle_target(data: &[u8]) -> (Machine<'_>, Vec<torch::TensorProblem>) {
    let mut m = Machine::new(data, 0);
    m.run_all();
    let mut problems = Vec::new();
    let roots: Vec<_> = m.streams.iter().filter_map(|s| s.root).collect();
    for root in roots {
        let (_, p) = torch::collect_tensors(&m, root);
        problems.extend(p);
        let _ = torch::collect_persistent_ids(&m, root);
    }
    (m, problems)
}

#[test]
fn pickle_regressions_end_as_a_result_or_an_error() {
    let files = regressions("pickle");
    assert!(!files.is_empty());
    for (path, data) in &files {
        let (m, _) = pickle_target(data);
        for s in &m.streams {
            assert!(s.root.is_some() != s.error.is_some(), "{}", path.display());
        }
    }
}

#[test]
fn a_dag_of_shared_references_stops_the_tensor_walk_with_a_problem() {
    // 60 nested lists of two memo references to the previous one: 2^60 paths in 486 bytes.
    let data = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/regressions/pickle/shared-ref-dag"),
    )
    .expect("regression input");
    let (m, problems) = pickle_target(&data);
    assert!(m.streams[0].root.is_some());
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].message.contains("too many times"),
        "{problems:?}"
    );
}
