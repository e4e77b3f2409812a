//! `mlsec adversarial`: PGD efficiency on the default (candle) backend.
//!
//! Efficiency = steps × (one forward+backward over the batch) / PGD attack time, the median of
//! paired measurements taken in alternation. The attack
//! adds only elementwise work per step (sign, projection, clipping) and drops fooled points,
//! so it should approach (or, with points leaving early, exceed) 1. Goal: ≥ 0.95 where few
//! points are fooled (small ε), i.e. where every step is a full batch.
//!
//! Workloads: the shipped digits MLP (64 → 32 → 10, 360 test samples) and a synthetic
//! 784 → 512 → 256 → 10 MLP on 512 random inputs labelled by the model itself.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context as _, Result};
use mlsec_adversarial::attacks::{self, Goal, Noise, Pgd, Setup};
use mlsec_runtime::ir::{Attr, Graph, Node, TensorData, ValueInfo};
use mlsec_runtime::{Model, OnnxModel};

use super::{Bench, Row};

const STEPS: usize = 20;
/// Paired measurements per budget.
const ROUNDS: usize = 7;

pub fn run(bench: &mut Bench) -> Result<()> {
    let dir = crate::root().join("testdata/adversarial");
    let model = OnnxModel::load(&dir.join("digits_mlp.onnx")).context("example model")?;
    let data = mlsec_adversarial::data::load(&dir.join("digits_test.npz"), "x", "y")
        .map_err(anyhow::Error::msg)?;
    measure(
        bench,
        "digits MLP",
        &model,
        &data.sample_shape,
        &data.x,
        &data.y,
        &[0.01, 0.1],
    )?;

    let big = synthetic_mlp(&[784, 512, 256, 10])?;
    let n = 512;
    let x: Vec<f32> = (0..n * 784)
        .map(|i| lcg(i as u64 + 7) * 0.5 + 0.5)
        .collect();
    let shape = [784usize];
    let setup = Setup {
        model: &big,
        sample_shape: &shape,
        lo: 0.0,
        hi: 1.0,
        batch_size: n,
    };
    let y = setup.predict(&x)?;
    measure(
        bench,
        "784-512-256-10 MLP",
        &big,
        &shape,
        &x,
        &y,
        &[0.001, 0.05],
    )?;
    Ok(())
}

fn measure(
    bench: &mut Bench,
    name: &str,
    model: &dyn Model,
    shape: &[usize],
    x: &[f32],
    y: &[i64],
    eps: &[f32],
) -> Result<()> {
    let n = y.len();
    let setup = Setup {
        model,
        sample_shape: shape,
        lo: 0.0,
        hi: 1.0,
        batch_size: n,
    };
    let preds = setup.predict(x)?;
    let attacked: Vec<bool> = preds.iter().zip(y).map(|(p, l)| p == l).collect();
    let idx: Vec<usize> = (0..n).filter(|&i| attacked[i]).collect();
    let d = setup.dim();
    let xs: Vec<f32> = idx
        .iter()
        .flat_map(|&i| x[i * d..(i + 1) * d].iter().copied())
        .collect();
    let ys: Vec<i64> = idx.iter().map(|&i| y[i]).collect();
    // Like for like with the attack: STEPS consecutive passes. The two are timed in
    // alternation and the efficiency is the median of the paired ratios, so a slow spell of the
    // (virtual) machine hits both sides of a ratio instead of one.
    let passes = || -> Result<()> {
        for _ in 0..STEPS {
            std::hint::black_box(setup.ce_gradient(&xs, &ys)?);
        }
        Ok(())
    };
    let mut fb_best = Duration::MAX;
    let mut rows = Vec::new();
    for &e in eps {
        let p = Pgd {
            eps: e,
            steps: STEPS,
            alpha: 2.5 * e / STEPS as f32,
            restarts: 1,
            noise: Noise::Seeded(0),
            early_stop: true,
        };
        let mut robust = 0;
        let mut best = Duration::MAX;
        let mut ratios = Vec::with_capacity(ROUNDS);
        for _ in 0..ROUNDS {
            let fb = bench.time_fn(1, passes)?;
            let t = bench.time_fn(1, || {
                let out = attacks::pgd(&setup, x, y, &attacked, y, Goal::Untargeted, &p)?;
                robust = out.robust.iter().filter(|&&r| r).count();
                Ok(())
            })?;
            fb_best = fb_best.min(fb);
            best = best.min(t);
            ratios.push(fb.as_secs_f64() / t.as_secs_f64());
        }
        ratios.sort_by(f64::total_cmp);
        let (lo, median, hi) = (ratios[0], ratios[ROUNDS / 2], ratios[ROUNDS - 1]);
        rows.push(Row {
            workload: format!("{name}: pgd ε={e}, {STEPS} steps"),
            bytes: (xs.len() * 4) as u64,
            items: Some((idx.len() as u64, "samples")),
            time: best,
            peak_rss_kib: None,
            note: format!(
                "efficiency {median:.2} (median of {ROUNDS} paired steps×fwd+bwd / attack, range {lo:.2}-{hi:.2}); robust {:.1}%",
                100.0 * robust as f64 / n as f64
            ),
        });
    }
    bench.row(Row {
        workload: format!("{name}: forward+backward, batch {}", idx.len()),
        bytes: (xs.len() * 4) as u64,
        items: Some((idx.len() as u64, "samples")),
        time: fb_best / STEPS as u32,
        peak_rss_kib: None,
        note: String::new(),
    });
    for row in rows {
        bench.row(row);
    }
    Ok(())
}

/// Uniform in [-1, 1) from an index (deterministic weights and inputs).
fn lcg(i: u64) -> f32 {
    let mut z = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z ^= z >> 31;
    ((z >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
}

fn synthetic_mlp(widths: &[usize]) -> Result<OnnxModel> {
    let mut nodes = Vec::new();
    let mut inits = BTreeMap::new();
    let mut prev = "x".to_owned();
    let mut seed = 1u64;
    for (l, w) in widths.windows(2).enumerate() {
        let (i, o) = (w[0], w[1]);
        let scale = (2.0 / i as f32).sqrt();
        let weights: Vec<f32> = (0..i * o)
            .map(|k| {
                seed += 1;
                lcg(seed * 1_000_003 + k as u64) * scale
            })
            .collect();
        inits.insert(format!("w{l}"), TensorData::f32(vec![i, o], weights));
        inits.insert(format!("b{l}"), TensorData::f32(vec![o], vec![0.0; o]));
        let out = format!("h{l}");
        nodes.push(node(
            "Gemm",
            &[&prev, &format!("w{l}"), &format!("b{l}")],
            &out,
        ));
        prev = out;
        if l + 2 < widths.len() {
            let relu = format!("r{l}");
            nodes.push(node("Relu", &[&prev], &relu));
            prev = relu;
        }
    }
    let graph = Graph {
        name: "bench".into(),
        opset: 17,
        nodes,
        initializers: inits,
        inputs: vec![ValueInfo {
            name: "x".into(),
            dims: None,
        }],
        outputs: vec![prev],
        metadata: BTreeMap::new(),
    };
    Ok(OnnxModel::from_graph(graph, "synthetic".into())?)
}

fn node(op: &str, inputs: &[&str], output: &str) -> Node {
    Node {
        name: output.to_owned(),
        op_type: op.into(),
        domain: String::new(),
        inputs: inputs.iter().map(|s| (*s).to_owned()).collect(),
        outputs: vec![output.into()],
        attrs: BTreeMap::<String, Attr>::new(),
    }
}
