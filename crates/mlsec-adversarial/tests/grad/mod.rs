//! The models of `testdata/adversarial/grad/` (`scripts/adversarial/make_grad_models.py`) and
//! the PyTorch references stored beside them, for the tests that compare attacks with
//! torchattacks and foolbox.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mlsec_adversarial::attacks::Setup;
use mlsec_adversarial::data::Values;
use mlsec_runtime::OnnxModel;
use mlsec_runtime::data::{Array, arrays};

/// A digits CNN, a max-pool branch meeting a linear skip, 2×2 pooling on a 7×7 map, a
/// ResNet-style stem with a 3×3/2 pool, batch norm and a residual block.
pub const MODELS: [&str; 4] = ["digits_cnn", "pool_skip", "odd_pool", "resnet_stem"];

pub fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/adversarial/grad")
}

/// One model with its samples and the stored arrays `keys` (besides `x` and `y`).
pub struct Case {
    pub model: OnnxModel,
    pub arrays: BTreeMap<String, Array>,
    pub x: Vec<f32>,
    pub y: Vec<i64>,
}

impl Case {
    pub fn load(name: &str, keys: &[&str]) -> Case {
        let model = OnnxModel::load(&dir().join(format!("{name}.onnx"))).unwrap();
        let bytes = std::fs::read(dir().join(format!("{name}.npz"))).unwrap();
        let mut wanted = vec!["x", "y"];
        wanted.extend_from_slice(keys);
        let arrays = arrays(&bytes, &wanted).unwrap();
        let x = floats(&arrays["x"].values);
        let Values::Int(y) = arrays["y"].values.clone() else {
            panic!("labels are ints")
        };
        Case {
            model,
            arrays,
            x,
            y,
        }
    }

    /// Inputs in [0, 1], the 32 stored samples in one batch, as the references ran.
    pub fn setup(&self) -> Setup<'_> {
        Setup {
            model: &self.model,
            sample_shape: &self.arrays["x"].shape[1..],
            lo: 0.0,
            hi: 1.0,
            batch_size: 32,
        }
    }

    pub fn floats(&self, key: &str) -> Vec<f32> {
        floats(&self.arrays[key].values)
    }
}

fn floats(v: &Values) -> Vec<f32> {
    match v {
        Values::Float(v) => v.clone(),
        Values::Int(_) => panic!("expected floats"),
    }
}
