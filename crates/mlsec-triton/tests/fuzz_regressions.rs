//! Replays every input the `pbtxt` fuzz target (`fuzz/`, see `docs/fuzzing.md`) found
//! crashing, hanging or over-allocating through the same entry point, `check_config`: each
//! must end as findings or errors, without panicking.

use std::path::{Path, PathBuf};

#[test]
fn pbtxt_regressions_end_as_findings_or_errors() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/regressions/pbtxt");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    files.sort();
    assert!(!files.is_empty());
    for path in files {
        let data = std::fs::read(&path).expect("regression input");
        let (findings, errors) = mlsec_triton::check_config("config.pbtxt", &data);
        assert!(
            !findings.is_empty() || !errors.is_empty(),
            "{}: neither a finding nor an error",
            path.display()
        );
    }
}

#[test]
fn a_megabyte_unknown_field_name_is_one_error() {
    // The typo hint compared every unknown name with every field name by full edit distance:
    // 1.3 s and 3 GB of allocations for this 1 MiB config (an OOM under the fuzzer).
    let mut config = b"name: \"m\"\n".to_vec();
    config.extend(std::iter::repeat_n(b'x', 1 << 20));
    config.extend_from_slice(b": 1\n");
    let (_, errors) = mlsec_triton::check_config("config.pbtxt", &config);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0]
            .message
            .starts_with("invalid inference.ModelConfig")
    );
    assert!(errors[0].message.contains("unknown field `xxxx"));
}
