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

/// The weight checks read a `.pt2` archive's parameters and buffers (raw members, never
/// unpickled) and summarise them as they do the ONNX export's initializers.
#[test]
fn pt2_weights_are_summarised_like_the_onnx_initializers() {
    let dir = root().join("testdata/adversarial/pt2");
    let summaries = |path: &Path| {
        let mut r = Report::new();
        let s = mlsec_inspect::weights::check(path, 1, &mut r);
        assert!(r.errors.is_empty(), "{}: {:?}", path.display(), r.errors);
        s
    };
    let a = summaries(&dir.join("mlp.pt2"));
    let b = summaries(&dir.join("mlp.onnx"));
    let names = |s: &[mlsec_inspect::weights::Summary]| {
        s.iter().map(|t| t.name.clone()).collect::<Vec<_>>()
    };
    assert_eq!(
        names(&a),
        ["fc1.bias", "fc1.weight", "fc2.bias", "fc2.weight"]
    );
    for t in &a {
        let o = b
            .iter()
            .find(|o| o.name == t.name)
            .unwrap_or_else(|| panic!("{} in the ONNX export: {:?}", t.name, names(&b)));
        assert_eq!(t.shape, o.shape, "{}", t.name);
        assert_eq!(t.stats.count, o.stats.count, "{}", t.name);
        assert_eq!(t.stats.mean, o.stats.mean, "{}", t.name);
        assert_eq!(t.stats.max, o.stats.max, "{}", t.name);
    }
}
