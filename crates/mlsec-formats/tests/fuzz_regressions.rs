//! Replays every input the fuzzers (`fuzz/`, see `docs/fuzzing.md`) found crashing, hanging or
//! over-allocating through the same entry points as the fuzz targets: each must end as a result
//! or an error, without panicking.

use std::path::{Path, PathBuf};

use mlsec_formats::torch;
use mlsec_pickle::Machine;

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
    let mut m = mlsec_formats::joblib::machine(data, 0);
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

/// What the `hdf5` fuzz target does: the walk, every object's attributes, every dataset's
/// elements, compound fields and variable-length items, then the shared loader.
fn hdf5_target(data: &[u8]) {
    use mlsec_formats::hdf5::{self, Element, Limits};
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
            assert!(
                attrs
                    .iter()
                    .flat_map(|a| &a.raw)
                    .all(|r| r.len() <= data.len())
            );
        }
    }
    for d in &w.datasets {
        let Ok(b) = f.read(d, &limits) else {
            continue;
        };
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
}

#[test]
fn hdf5_regressions_end_as_a_result_or_an_error() {
    let files = regressions("hdf5");
    assert!(!files.is_empty());
    for (_, data) in &files {
        hdf5_target(data);
    }
    // A global heap object or collection whose size runs past the file: the string dataset
    // that refers to it is an error, never a panic or a huge allocation.
    for name in ["gcol-object-size-wraps", "gcol-collection-size-huge"] {
        let (_, data) = files
            .iter()
            .find(|(p, _)| p.ends_with(name))
            .expect("committed regression");
        let mut problems = Vec::new();
        mlsec_formats::load::hdf5_tensors(
            data,
            &mlsec_formats::hdf5::Limits::default(),
            &mut |_| {},
            &mut |p| problems.push(p.message),
            &mut |_| {},
        );
        assert!(
            problems.iter().any(|p| p.contains("global heap")),
            "{name}: {problems:?}"
        );
    }
}
