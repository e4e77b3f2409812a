//! `cargo xtask bench inspect`: the `weights` check on a generated 500 M-parameter Hugging
//! Face-style folder (4 safetensors shards, an index and a config), in f32 (2 GB) and bf16
//! (1 GB). Goal (issue 8): weight statistics at >= 1 GB/s with a warm page cache.
//!
//! Shape of the model: a vocabulary of 45 000 × 1024 embeddings, 36 blocks of attention
//! (4 × 1024²) and MLP (2 × 1024 × 4096) weights with norms, tied head: 500.4 M parameters.

use std::io::Write;
use std::path::Path;

use anyhow::{Result, bail};

use super::{Bench, Row};

const HIDDEN: u64 = 1024;
const FFN: u64 = 4096;
const LAYERS: u64 = 36;
const VOCAB: u64 = 45_000;
const SHARDS: usize = 4;

/// The model's tensors in order: name and shape.
fn tensors() -> Vec<(String, Vec<u64>)> {
    let mut t = vec![("model.embed_tokens.weight".to_owned(), vec![VOCAB, HIDDEN])];
    for i in 0..LAYERS {
        let p = format!("model.layers.{i}");
        for proj in ["q_proj", "k_proj", "v_proj", "o_proj"] {
            t.push((format!("{p}.self_attn.{proj}.weight"), vec![HIDDEN, HIDDEN]));
        }
        t.push((format!("{p}.mlp.up_proj.weight"), vec![FFN, HIDDEN]));
        t.push((format!("{p}.mlp.down_proj.weight"), vec![HIDDEN, FFN]));
        t.push((format!("{p}.input_layernorm.weight"), vec![HIDDEN]));
        t.push((format!("{p}.post_attention_layernorm.weight"), vec![HIDDEN]));
    }
    t.push(("model.norm.weight".to_owned(), vec![HIDDEN]));
    t
}

/// Deterministic weights of a trained model's scale (xorshift, roughly uniform ±0.05), `n`
/// elements of `size` bytes (4: f32, 2: bf16).
fn fill(buf: &mut Vec<u8>, n: u64, seed: u64, size: usize) {
    buf.clear();
    let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    for _ in 0..n {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        let v = ((s >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.1;
        let bits = v.to_bits();
        if size == 4 {
            buf.extend_from_slice(&bits.to_le_bytes());
        } else {
            buf.extend_from_slice(&((bits >> 16) as u16).to_le_bytes());
        }
    }
}

/// Writes the folder; returns the bytes of weights written.
fn folder(dir: &Path, dtype: &str, size: usize) -> Result<u64> {
    std::fs::create_dir_all(dir)?;
    let all = tensors();
    let total: u64 = all.iter().map(|(_, s)| s.iter().product::<u64>()).sum();
    let per_shard = total.div_ceil(SHARDS as u64);
    let mut shards: Vec<Vec<(String, Vec<u64>)>> = vec![Vec::new(); SHARDS];
    let mut acc = 0;
    for t in all {
        let n: u64 = t.1.iter().product();
        shards[((acc / per_shard) as usize).min(SHARDS - 1)].push(t);
        acc += n;
    }
    let mut weight_map = serde_json::Map::new();
    let mut written = 0;
    let mut buf = Vec::new();
    for (k, shard) in shards.iter().enumerate() {
        let name = format!("model-{:05}-of-{SHARDS:05}.safetensors", k + 1);
        let mut header = serde_json::Map::new();
        let mut offset = 0u64;
        for (t, shape) in shard {
            let bytes = shape.iter().product::<u64>() * size as u64;
            header.insert(
                t.clone(),
                serde_json::json!({"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + bytes]}),
            );
            offset += bytes;
            weight_map.insert(t.clone(), name.clone().into());
        }
        let mut h = serde_json::to_string(&header)?;
        while !h.len().is_multiple_of(8) {
            h.push(' ');
        }
        let mut f =
            std::io::BufWriter::with_capacity(8 << 20, std::fs::File::create(dir.join(&name))?);
        f.write_all(&(h.len() as u64).to_le_bytes())?;
        f.write_all(h.as_bytes())?;
        for (i, (_, shape)) in shard.iter().enumerate() {
            let n: u64 = shape.iter().product();
            fill(&mut buf, n, (k * 1000 + i) as u64 + 1, size);
            f.write_all(&buf)?;
        }
        f.flush()?;
        written += offset;
    }
    let index = serde_json::json!({"metadata": {"total_size": written}, "weight_map": weight_map});
    std::fs::write(
        dir.join("model.safetensors.index.json"),
        serde_json::to_vec_pretty(&index)?,
    )?;
    std::fs::write(
        dir.join("config.json"),
        format!(
            r#"{{"hidden_size": {HIDDEN}, "intermediate_size": {FFN}, "num_hidden_layers": {LAYERS}, "vocab_size": {VOCAB}, "tie_word_embeddings": true}}"#
        ),
    )?;
    Ok(written)
}

pub fn run(bench: &mut Bench) -> Result<()> {
    let params: u64 = tensors()
        .iter()
        .map(|(_, s)| s.iter().product::<u64>())
        .sum();
    for (dtype, size) in [("F32", 4), ("BF16", 2)] {
        let dir = bench.scratch().join(format!("hf-{dtype}"));
        let bytes = folder(&dir, dtype, size)?;
        let dir_str = dir.to_string_lossy().into_owned();
        let m = bench.time_mlsec(&["inspect", "--model", &dir_str, "--checks", "weights"], 3)?;
        if m.exit_code != 0 {
            bail!("mlsec inspect on the {dtype} folder: exit {}", m.exit_code);
        }
        bench.row(Row {
            workload: format!(
                "inspect weights: {:.0} M params, {SHARDS} {dtype} shards",
                params as f64 / 1e6
            ),
            bytes,
            items: None,
            time: m.time,
            peak_rss_kib: Some(m.peak_rss_kib),
            note: "goal >= 1 GB/s warm; stats, rows, spectral norms".to_owned(),
        });
        std::fs::remove_dir_all(&dir)?;
    }
    Ok(())
}
