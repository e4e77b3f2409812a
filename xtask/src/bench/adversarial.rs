//! `mlsec adversarial`: attack speed on the default (candle) backend, alone and side by side
//! with torchattacks and foolbox.
//!
//! **PGD efficiency** = steps × (one forward+backward over the batch) / PGD attack time, the
//! median of paired measurements taken in alternation. The attack adds only elementwise work
//! per step (sign, projection, clipping) and drops fooled points, so it should approach (or,
//! with points leaving early, exceed) 1. Goal: ≥ 0.95 where few points are fooled (small ε),
//! i.e. where every step is a full batch. Workloads: the shipped digits MLP (64 → 32 → 10, 360
//! test samples) and a synthetic 784 → 512 → 256 → 10 MLP on 512 random inputs labelled by the
//! model itself.
//!
//! **Side by side** (issue 20: attack time ≤ 1.2× the Python libraries'): FGSM, PGD-20
//! and CW (one constant c = 1, 100 Adam steps, no early abort) on `digits_cnn` and
//! `resnet_stem` of `testdata/adversarial/grad/`, 512 samples (the stored 32 tiled), every
//! sample attacked, mlsec's attacks called in this process with `early_stop: false`, and
//! torchattacks 3.5.1 (FGSM, PGD) and foolbox 3.3.4 (CW) run by
//! `scripts/adversarial/bench_torch.py` with the Python that `MLSEC_BENCH_TORCH_PYTHON` names
//! (one with torch, torchattacks, foolbox and onnx), on make_grad_models.py's modules with the
//! weights of the same ONNX files. Both sides use the same number of threads (candle's count,
//! given to `torch.set_num_threads`) and report the best of the same number of calls after a
//! warm-up call. mlsec's FGSM and PGD also return the adversarials' predicted classes (one more
//! forward pass), so torchattacks is timed alone and "with the verdict" (its result's predicted
//! classes too), and mlsec's ratio to both is printed. Without that Python, or when the script fails, one line says the comparison
//! was skipped and why, and mlsec's times are printed alone.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use mlsec_adversarial::attacks::{self, Cw, Goal, Noise, Pgd, Setup};
use mlsec_runtime::ir::{Attr, Graph, Node, TensorData, ValueInfo};
use mlsec_runtime::{Model, OnnxModel};

use super::{Bench, Row};

const STEPS: usize = 20;
/// Paired measurements per budget.
const ROUNDS: usize = 7;

pub fn run(bench: &mut Bench) -> Result<()> {
    // As the binary does before it runs a model.
    mlsec_runtime::retain_freed_memory();
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
    side_by_side(bench)
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

/// The models of `testdata/adversarial/grad/` attacked side by side.
const PEER_MODELS: [&str; 2] = ["digits_cnn", "resnet_stem"];
const PEER_SAMPLES: usize = 512;
const PEER_EPS: f32 = 0.1;
const PEER_PGD_STEPS: usize = 20;
const PEER_CW_STEPS: usize = 100;
/// Timed calls per attack after the warm-up (FGSM 4×, CW half as many), as in the script.
const PEER_REPEAT: usize = 5;

/// The attacks of the side-by-side table, each with its number of timed calls.
fn peer_attacks() -> [(String, usize); 3] {
    [
        ("FGSM".to_owned(), 4 * PEER_REPEAT),
        (format!("PGD-{PEER_PGD_STEPS}"), PEER_REPEAT),
        (format!("CW 1x{PEER_CW_STEPS}"), (PEER_REPEAT / 2).max(1)),
    ]
}

/// mlsec's attack times on [`PEER_MODELS`], then the script's on the same models and samples,
/// as one table.
fn side_by_side(bench: &mut Bench) -> Result<()> {
    let threads = mlsec_runtime::threads();
    let dir = crate::root().join("testdata/adversarial/grad");
    let mut mine = Vec::new();
    for name in PEER_MODELS {
        let model = OnnxModel::load(&dir.join(format!("{name}.onnx")))
            .with_context(|| format!("{name}.onnx"))?;
        let data = mlsec_adversarial::data::load(&dir.join(format!("{name}.npz")), "x", "y")
            .map_err(anyhow::Error::msg)?;
        let d: usize = data.sample_shape.iter().product();
        let x: Vec<f32> = data
            .x
            .iter()
            .copied()
            .cycle()
            .take(PEER_SAMPLES * d)
            .collect();
        let y: Vec<i64> = data.y.iter().copied().cycle().take(PEER_SAMPLES).collect();
        let setup = Setup {
            model: &model,
            sample_shape: &data.sample_shape,
            lo: 0.0,
            hi: 1.0,
            batch_size: PEER_SAMPLES,
        };
        // Every sample attacked, as torchattacks and foolbox do.
        let all = vec![true; PEER_SAMPLES];
        let pgd = Pgd {
            eps: PEER_EPS,
            steps: PEER_PGD_STEPS,
            alpha: 2.5 * PEER_EPS / PEER_PGD_STEPS as f32,
            restarts: 1,
            noise: Noise::Seeded(0),
            early_stop: false,
        };
        let cw = Cw {
            steps: PEER_CW_STEPS,
            binary_steps: 1,
            initial_const: 1.0,
            learning_rate: 0.01,
            confidence: 0.0,
            abort_early: false,
        };
        for (i, (attack, repeat)) in peer_attacks().into_iter().enumerate() {
            let time = warm_best(repeat, || {
                match i {
                    0 => drop(attacks::fgsm(
                        &setup,
                        &x,
                        &y,
                        &all,
                        &y,
                        Goal::Untargeted,
                        PEER_EPS,
                    )?),
                    1 => drop(attacks::pgd(
                        &setup,
                        &x,
                        &y,
                        &all,
                        &y,
                        Goal::Untargeted,
                        &pgd,
                    )?),
                    _ => drop(attacks::cw(
                        &setup,
                        &x,
                        &y,
                        &all,
                        &y,
                        Goal::Untargeted,
                        &cw,
                    )?),
                }
                Ok(())
            })?;
            bench.row(Row {
                workload: format!("{name}: {attack}, no early stop"),
                bytes: (x.len() * 4) as u64,
                items: Some((PEER_SAMPLES as u64, "samples")),
                time,
                peak_rss_kib: None,
                note: format!("{threads} thread(s); see the side-by-side table"),
            });
            mine.push((name, attack, time));
        }
    }
    let theirs = torch_times(threads);
    // Timings mean little on a busy machine (torch's OpenMP threads suffer most): say how busy.
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load = load.split_whitespace().next().unwrap_or("?");
    let mut text = format!(
        "\n### Side by side: attack time, {PEER_SAMPLES} samples, every one attacked, {threads} thread(s) on both sides (best of the same number of calls after a warm-up; load average {load})\n\n"
    );
    let peer = match &theirs {
        Ok((versions, _)) => versions.as_str(),
        Err(_) => "torchattacks / foolbox",
    };
    text.push_str(&format!(
        "| model | attack | {peer}: attack | with the verdict | mlsec (with the verdict) | mlsec / peer, with the verdict | mlsec / peer's attack alone |\n|---|---|---|---|---|---|---|\n"
    ));
    for (name, attack, time) in &mine {
        let peer_time = theirs.as_ref().ok().and_then(|(_, t)| {
            t.iter()
                .find(|(m, a, _, _)| m == name && a == attack)
                .map(|&(_, _, alone, with)| (alone, with))
        });
        let mine = time.as_secs_f64();
        let cells = match peer_time {
            Some((alone, with)) => format!(
                "{alone:.4} s | {with:.4} s | {mine:.4} s | {:.2}× | {:.2}×",
                mine / with,
                mine / alone
            ),
            None => format!("- | - | {mine:.4} s | - | -"),
        };
        text.push_str(&format!("| {name} | {attack} | {cells} |\n"));
    }
    if let Err(why) = &theirs {
        eprintln!("  torch comparison skipped: {why}");
        text.push_str(&format!("\ntorch comparison skipped: {why}\n"));
    }
    text.push_str(&format!(
        "\nFGSM ε {PEER_EPS}; PGD ε {PEER_EPS}, α 2.5ε/steps, random start; CW one constant c = 1, Adam step 0.01, confidence 0, no early abort; \
         \"with the verdict\": the adversarials' predicted classes too, which mlsec's attacks return (one more forward pass after FGSM and PGD; \
         foolbox's CW evaluates its result itself, so its two times are one). Python side: scripts/adversarial/bench_torch.py \
         (make_grad_models.py's modules with the weights of the same ONNX files).\n"
    ));
    bench.section(text);
    Ok(())
}

/// Best time of `repeat` calls after one untimed warm-up call.
fn warm_best(repeat: usize, mut f: impl FnMut() -> Result<()>) -> Result<Duration> {
    f()?;
    let mut best = Duration::MAX;
    for _ in 0..repeat.max(1) {
        let start = Instant::now();
        f()?;
        best = best.min(start.elapsed());
    }
    Ok(best)
}

/// One timing of the Python side: model, attack, seconds for the attack alone and with the
/// verdict (the adversarials' predicted classes, as mlsec's attacks return them).
type PeerTime = (String, String, f64, f64);

/// The Python side's versions line and times, or why there are none.
fn torch_times(threads: usize) -> std::result::Result<(String, Vec<PeerTime>), String> {
    let python = std::env::var_os("MLSEC_BENCH_TORCH_PYTHON")
        .map(PathBuf::from)
        .ok_or("MLSEC_BENCH_TORCH_PYTHON is not set (a Python with torch, torchattacks 3.5.1, foolbox 3.3.4 and onnx)")?;
    let script = crate::root().join("scripts/adversarial/bench_torch.py");
    eprintln!("  {} {}", python.display(), script.display());
    let out = Command::new(&python)
        .arg(&script)
        .args(["--models", &PEER_MODELS.join(",")])
        .args(["--samples", &PEER_SAMPLES.to_string()])
        .args(["--threads", &threads.to_string()])
        .args(["--pgd-steps", &PEER_PGD_STEPS.to_string()])
        .args(["--cw-steps", &PEER_CW_STEPS.to_string()])
        .args(["--repeat", &PEER_REPEAT.to_string()])
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
    if !out.status.success() {
        return Err(format!(
            "{} {} failed ({})",
            python.display(),
            script.display(),
            out.status
        ));
    }
    let json: serde_json::Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("the script's output is not JSON: {e}"))?;
    if json["threads"].as_u64() != Some(threads as u64) {
        return Err(format!(
            "torch runs {} threads, mlsec {threads}",
            json["threads"]
        ));
    }
    let v = &json["versions"];
    let versions = format!(
        "torchattacks {} / foolbox {} (torch {})",
        v["torchattacks"].as_str().unwrap_or("?"),
        v["foolbox"].as_str().unwrap_or("?"),
        v["torch"].as_str().unwrap_or("?")
    );
    let times = json["results"]
        .as_array()
        .ok_or("the script's output has no results")?
        .iter()
        .filter_map(|r| {
            Some((
                r["model"].as_str()?.to_owned(),
                r["attack"].as_str()?.to_owned(),
                r["seconds"].as_f64()?,
                r["verdict_seconds"].as_f64()?,
            ))
        })
        .collect();
    Ok((versions, times))
}
