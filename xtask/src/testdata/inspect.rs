//! Fixtures for `mlsec inspect`.
//!
//! `weights/`: one small transformer-like model (an embedding, six numbered blocks of
//! attention/MLP/norm weights, a convolution and a head; deterministic weights of realistic
//! scale) and variants with one defect each:
//!
//! - `clean.safetensors`, `clean.pt` (the same tensors as a `torch.save` zip): no finding.
//! - `nan.safetensors`: a NaN in `blocks.2.attn.weight` [0, 3].
//! - `huge-weight.safetensors`: 40.0 (under the original tool's |w| > 100) at
//!   `blocks.1.mlp.fc1.weight` [5, 7].
//! - `duplicate-filter.safetensors`, `duplicate-filter.pt`: `conv.weight` filter 5 is a copy of
//!   filter 2.
//! - `dead-units.safetensors`: rows 3 and 7 of `blocks.4.mlp.fc1.weight` are zero.
//! - `scaled-block.safetensors`: the weight matrices of block 3 are ×10.
//! - `sharded/`: the clean model in two shards with `model.safetensors.index.json`, a
//!   `config.json` and the same weights as `pytorch_model.bin` (skipped with a warning).
//! - `sharded-missing-shard/`: the same index and first shard, the second shard missing.
//!
//! `models/`: runnable ONNX models for the activations and FGSM checks (`inspect_models`).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Result;
use mlsec_formats::dtype::DType;
use mlsec_formats::safetensors;
use mlsec_testkit::{TensorSpec, f32_bytes, torch_state_dict_pickle, torch_zip};

use super::checkpoint::weights;

/// Named f32 tensors in file order.
type Model = Vec<(String, Vec<u64>, Vec<f32>)>;

fn clean() -> Model {
    let mut m: Model = Vec::new();
    let mut seed = 100;
    let mut add = |m: &mut Model, name: String, shape: &[u64], scale: f32, offset: f32| {
        seed += 1;
        let n = shape.iter().product::<u64>() as usize;
        let v = weights(n, seed, scale).iter().map(|x| x + offset).collect();
        m.push((name, shape.to_vec(), v));
    };
    add(&mut m, "embed.weight".into(), &[50, 16], 0.02, 0.0);
    for i in 0..6 {
        let b = format!("blocks.{i}");
        add(&mut m, format!("{b}.attn.weight"), &[16, 16], 0.05, 0.0);
        add(&mut m, format!("{b}.mlp.fc1.weight"), &[32, 16], 0.05, 0.0);
        add(&mut m, format!("{b}.mlp.fc1.bias"), &[32], 0.01, 0.0);
        add(&mut m, format!("{b}.mlp.fc2.weight"), &[16, 32], 0.05, 0.0);
        add(&mut m, format!("{b}.norm.weight"), &[16], 0.01, 1.0);
    }
    add(&mut m, "conv.weight".into(), &[8, 3, 3, 3], 0.1, 0.0);
    add(&mut m, "head.weight".into(), &[10, 16], 0.05, 0.0);
    m
}

fn tensor<'m>(m: &'m mut Model, name: &str) -> &'m mut Vec<f32> {
    &mut m
        .iter_mut()
        .find(|(n, _, _)| n == name)
        .expect("fixture tensor")
        .2
}

fn st_bytes(m: &[(String, Vec<u64>, Vec<f32>)]) -> Vec<u8> {
    let bytes: Vec<Vec<u8>> = m.iter().map(|(_, _, v)| f32_bytes(v)).collect();
    let tensors: Vec<(String, DType, Vec<u64>, &[u8])> = m
        .iter()
        .zip(&bytes)
        .map(|((n, s, _), b)| (n.clone(), DType::F32, s.clone(), b.as_slice()))
        .collect();
    let meta = BTreeMap::from([("format".to_owned(), "pt".to_owned())]);
    safetensors::write(&tensors, &meta)
}

fn torch_bytes(m: &Model) -> Vec<u8> {
    let specs: Vec<TensorSpec> = m
        .iter()
        .enumerate()
        .map(|(i, (n, s, v))| TensorSpec {
            name: n.clone(),
            dtype: DType::F32,
            shape: s.clone(),
            storage_key: i.to_string(),
            storage_offset: 0,
            storage_numel: v.len() as u64,
        })
        .collect();
    let storages: Vec<(String, Vec<u8>)> = m
        .iter()
        .enumerate()
        .map(|(i, (_, _, v))| (i.to_string(), f32_bytes(v)))
        .collect();
    torch_zip("model", &torch_state_dict_pickle(&specs), &storages)
}

fn write(out: &Path, rel: &str, bytes: &[u8]) -> Result<()> {
    let path = out.join(rel);
    std::fs::create_dir_all(path.parent().expect("parent"))?;
    std::fs::write(path, bytes)?;
    Ok(())
}

/// The clean model in two shards and its index; `with_second` false leaves the second out.
fn sharded(out: &Path, dir: &str, with_second: bool) -> Result<()> {
    let m = clean();
    let split = m
        .iter()
        .position(|(n, _, _)| n.starts_with("blocks.3"))
        .expect("block 3");
    let names = [
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
    ];
    let mut weight_map = serde_json::Map::new();
    for (i, (n, _, _)) in m.iter().enumerate() {
        let shard = names[usize::from(i >= split)];
        weight_map.insert(n.clone(), shard.into());
    }
    let size: usize = m.iter().map(|(_, _, v)| v.len() * 4).sum();
    let index = serde_json::json!({
        "metadata": {"total_size": size},
        "weight_map": weight_map,
    });
    write(
        out,
        &format!("{dir}/model.safetensors.index.json"),
        serde_json::to_string_pretty(&index)?.as_bytes(),
    )?;
    write(
        out,
        &format!("{dir}/config.json"),
        br#"{"architectures": ["TinyBlocks"], "hidden_size": 16, "num_hidden_layers": 6}"#,
    )?;
    write(out, &format!("{dir}/{}", names[0]), &st_bytes(&m[..split]))?;
    if with_second {
        write(out, &format!("{dir}/{}", names[1]), &st_bytes(&m[split..]))?;
        write(out, &format!("{dir}/pytorch_model.bin"), &torch_bytes(&m))?;
    }
    Ok(())
}

fn weights_fixtures(out: &Path) -> Result<()> {
    let m = clean();
    write(out, "clean.safetensors", &st_bytes(&m))?;
    write(out, "clean.pt", &torch_bytes(&m))?;

    let mut nan = clean();
    tensor(&mut nan, "blocks.2.attn.weight")[3] = f32::NAN;
    write(out, "nan.safetensors", &st_bytes(&nan))?;

    let mut huge = clean();
    tensor(&mut huge, "blocks.1.mlp.fc1.weight")[5 * 16 + 7] = 40.0;
    write(out, "huge-weight.safetensors", &st_bytes(&huge))?;

    let mut dup = clean();
    let conv = tensor(&mut dup, "conv.weight");
    let filter = 3 * 3 * 3;
    conv.copy_within(2 * filter..3 * filter, 5 * filter);
    write(out, "duplicate-filter.safetensors", &st_bytes(&dup))?;
    write(out, "duplicate-filter.pt", &torch_bytes(&dup))?;

    let mut dead = clean();
    let fc1 = tensor(&mut dead, "blocks.4.mlp.fc1.weight");
    for row in [3, 7] {
        fc1[row * 16..(row + 1) * 16].fill(0.0);
    }
    write(out, "dead-units.safetensors", &st_bytes(&dead))?;

    let mut scaled = clean();
    for name in ["attn.weight", "mlp.fc1.weight", "mlp.fc2.weight"] {
        for w in tensor(&mut scaled, &format!("blocks.3.{name}")) {
            *w *= 10.0;
        }
    }
    write(out, "scaled-block.safetensors", &st_bytes(&scaled))?;

    sharded(out, "sharded", true)?;
    sharded(out, "sharded-missing-shard", false)
}

pub fn generate(out: &Path) -> Result<()> {
    weights_fixtures(&out.join("weights"))?;
    super::inspect_models::generate(&out.join("models"))
}
