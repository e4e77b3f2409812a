//! `inspect` runs torch.export archives (`.pt2`) natively: sniffed by content, the FGSM probe
//! and the activation checks give what they give on the ONNX export of the same weights
//! (`scripts/adversarial/make_pt2_models.py`).

use std::path::{Path, PathBuf};

use mlsec_core::{Context, Report};
use mlsec_inspect::runnable::{self, RunOptions};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn check(path: &Path) -> Report {
    let opts = RunOptions {
        data: Some(root().join("testdata/adversarial/digits_test.npz")),
        samples: 64,
        ..RunOptions::default()
    };
    let mut report = Report::new();
    let file = path.file_name().unwrap().to_string_lossy().into_owned();
    runnable::check(path, &file, &opts, &mut report, &Context::silent());
    report
}

#[test]
fn pt2_runs_like_its_onnx_export() {
    for name in ["cnn", "transformer"] {
        let dir = root().join("testdata/adversarial/pt2");
        let pt2 = dir.join(format!("{name}.pt2"));
        assert!(runnable::is_runnable(&pt2), "{name}.pt2 is runnable");
        let a = check(&pt2);
        let b = check(&dir.join(format!("{name}.onnx")));
        assert!(a.errors.is_empty(), "{name}.pt2: {:?}", a.errors);
        assert!(b.errors.is_empty(), "{name}.onnx: {:?}", b.errors);
        let (fa, fb) = (&a.data["fgsm"], &b.data["fgsm"]);
        assert!(fa["n"].as_u64().unwrap() > 0, "{fa}");
        assert_eq!(fa["n"], fb["n"]);
        assert_eq!(fa["flipped"], fb["flipped"], "{fa} vs {fb}");
        assert!(a.data.contains_key("activations"), "{:?}", a.data.keys());
        let rules = |r: &Report| {
            let mut v: Vec<_> = r.findings.iter().map(|f| f.rule.id).collect();
            v.sort_unstable();
            v
        };
        assert_eq!(rules(&a), rules(&b), "{name}: the same findings");
    }
}
