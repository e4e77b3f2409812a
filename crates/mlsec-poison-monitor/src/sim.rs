//! A simulator of DDP training statistics, clean or under attack.
//!
//! It simulates actual gradient vectors (dimension [`DIM`]) so the statistics carry the real
//! correlations: a slowly rotating true gradient (AR(1), ρ = 0.95) shared by all ranks,
//! per-rank noise with heavy-tailed (Student-t) batch effects, common-mode spikes in loss and
//! norms, and a slow common change of the noise level (so cosines drift together).
//!
//! It reproduces the non-stationarity of real training from step 0 (measured on the PyTorch
//! recordings in `testdata/poison-monitor/real/`): the true gradient shrinks faster than the
//! noise (time constant [`TAU`] steps), so norms fall, the cosines between ranks fall and the
//! signs agree less; the loss falls towards a floor while its spread across ranks grows ×10
//! or more (a batch-mean loss of mostly well-fitted samples is relatively noisier); the spread
//! of the norms across ranks grows ×2–3. Ranks differ persistently by at most ±2 % in noise
//! level (real shards are drawn from one distribution). Attackers replace their gradient before
//! the all-reduce; the statistics are computed exactly as the PyTorch hook does.

use std::fmt::Write as _;
use std::path::Path;

use crate::record::{N_STATS, Record, Schema, Stat};

/// Gradient dimension of the simulation.
pub const DIM: usize = 256;

/// Time constant (steps) of the fall of loss and signal from a fresh start.
pub const TAU: f64 = 100.0;

/// What the attackers do from `attack_start` on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Attack {
    /// Clean run.
    None,
    /// Gradient scaled ×5 (model-replacement boosting).
    Spike,
    /// Norm grows 0.5 % per step.
    DriftNorm,
    /// Direction turns towards a fixed target, 0.5 % per step.
    DriftDir,
    /// "A Little Is Enough": colluders send mean − z·sd of the honest gradients.
    Alie,
    /// Inner-product manipulation: −0.5 × the honest mean.
    Ipm,
    /// Sign flip of the attacker's own gradient.
    Signflip,
    /// Replays its own gradient from 10 steps earlier.
    Stale,
    /// Sends a zero gradient.
    Zero,
}

impl Attack {
    pub const ALL: [Attack; 9] = [
        Attack::None,
        Attack::Spike,
        Attack::DriftNorm,
        Attack::DriftDir,
        Attack::Alie,
        Attack::Ipm,
        Attack::Signflip,
        Attack::Stale,
        Attack::Zero,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Attack::None => "none",
            Attack::Spike => "spike",
            Attack::DriftNorm => "drift-norm",
            Attack::DriftDir => "drift-dir",
            Attack::Alie => "alie",
            Attack::Ipm => "ipm",
            Attack::Signflip => "signflip",
            Attack::Stale => "stale",
            Attack::Zero => "zero",
        }
    }
}

/// A simulation's parameters.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub workers: u32,
    pub steps: u64,
    pub attack: Attack,
    pub attackers: u32,
    pub attack_start: u64,
    pub seed: u64,
}

/// The simulated records and who attacked.
#[derive(Debug, Clone)]
pub struct Simulation {
    pub config: SimConfig,
    pub attackers: Vec<u32>,
    /// Records in step order, then rank order.
    pub records: Vec<Record>,
}

/// xoshiro256** seeded by splitmix64: small, fast, deterministic everywhere.
#[derive(Debug, Clone)]
pub struct Rng {
    s: [u64; 4],
    spare: Option<f64>,
}

impl Rng {
    pub fn new(seed: u64) -> Rng {
        let mut x = seed;
        let mut next = || {
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        Rng {
            s: [next(), next(), next(), next()],
            spare: None,
        }
    }

    pub fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// Uniform in (0, 1).
    pub fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    /// Standard normal (Box–Muller, both values used).
    pub fn normal(&mut self) -> f64 {
        if let Some(z) = self.spare.take() {
            return z;
        }
        let r = (-2.0 * self.uniform().ln()).sqrt();
        let theta = std::f64::consts::TAU * self.uniform();
        self.spare = Some(r * theta.sin());
        r * theta.cos()
    }

    /// Student-t with 4 degrees of freedom: heavier tails than the Gaussian theory assumes.
    pub fn student_t4(&mut self) -> f64 {
        let chi2: f64 = (0..4).map(|_| self.normal().powi(2)).sum();
        self.normal() / (chi2 / 4.0).sqrt()
    }
}

/// cos(g, mean) and cos(g, leave-one-out mean) from ‖g‖², ‖m‖², ⟨g,m⟩ and the world size `n`
/// (m is the mean over all `n` ranks, g included) — the same formula as the PyTorch hook.
pub fn cosines_from_dots(gg: f64, mm: f64, gm: f64, n: f64) -> (f64, f64) {
    let cos = |dot: f64, a: f64, b: f64| {
        if a <= 0.0 || b <= 0.0 {
            0.0
        } else {
            (dot / (a * b).sqrt()).clamp(-1.0, 1.0)
        }
    };
    let cos_mean = cos(gm, gg, mm);
    if n < 2.0 {
        return (cos_mean, cos_mean);
    }
    // m₋ = (n·m − g)/(n − 1)
    let g_mloo = (n * gm - gg) / (n - 1.0);
    let mloo_sq = ((n * n * mm - 2.0 * n * gm + gg) / ((n - 1.0) * (n - 1.0))).max(0.0);
    (cos_mean, cos(g_mloo, gg, mloo_sq))
}

/// Φ⁻¹ by bisection on an erfc approximation (accurate to ~1e-7, enough for ALIE's z).
fn inverse_normal_cdf(p: f64) -> f64 {
    let cdf = |x: f64| {
        // Abramowitz–Stegun 7.1.26 for erf.
        let t = 1.0 / (1.0 + 0.327_591_1 * x.abs() / std::f64::consts::SQRT_2);
        let y = 1.0
            - (((((1.061_405_429 * t - 1.453_152_027) * t) + 1.421_413_741) * t - 0.284_496_736)
                * t
                + 0.254_829_592)
                * t
                * (-(x * x) / 2.0).exp();
        if x >= 0.0 {
            0.5 * (1.0 + y)
        } else {
            0.5 * (1.0 - y)
        }
    };
    let (mut lo, mut hi) = (-10.0, 10.0);
    for _ in 0..100 {
        let mid = 0.5 * (lo + hi);
        if cdf(mid) < p { lo = mid } else { hi = mid }
    }
    0.5 * (lo + hi)
}

/// Rounds to 7 significant digits, as a logger printing `%.7g` would.
fn round7(x: f64) -> f64 {
    if !x.is_finite() || x == 0.0 {
        return x;
    }
    format!("{x:.6e}").parse().unwrap_or(x)
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Runs the simulation.
pub fn simulate(config: &SimConfig) -> Simulation {
    let n = config.workers.max(1) as usize;
    let mut rng = Rng::new(config.seed ^ 0x6d6c_7365_635f_7069);
    // Attackers: a seeded choice of ranks, so attribution is not "always rank 0".
    let mut order: Vec<u32> = (0..n as u32).collect();
    for i in (1..n).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        order.swap(i, j);
    }
    let attackers: Vec<u32> = if config.attack == Attack::None {
        Vec::new()
    } else {
        let mut a: Vec<u32> = order[..(config.attackers as usize).clamp(1, n)].to_vec();
        a.sort_unstable();
        a
    };
    let is_attacker: Vec<bool> = (0..n as u32).map(|r| attackers.contains(&r)).collect();
    let heterogeneity: Vec<f64> = (0..n).map(|_| 1.0 + 0.02 * rng.normal()).collect();
    let loss_offset: Vec<f64> = (0..n).map(|_| 0.002 * rng.normal()).collect();
    let mut target: Vec<f64> = (0..DIM).map(|_| rng.normal()).collect();
    let target_norm = dot(&target, &target).sqrt();
    target.iter_mut().for_each(|x| *x /= target_norm);
    let mut truth: Vec<f64> = (0..DIM).map(|_| rng.normal()).collect();
    let rho: f64 = 0.95;
    let innovation = (1.0 - rho * rho).sqrt();
    let mut spike_left = 0u32;
    let mut spike_factor = 1.0;
    const LAG: usize = 10;
    let mut past: Vec<std::collections::VecDeque<Vec<f64>>> = vec![Default::default(); n];
    let run = format!("sim-{}", config.seed);
    let mut records = Vec::with_capacity(n * config.steps as usize);
    let mut honest = vec![vec![0.0; DIM]; n];
    let mut sent = vec![vec![0.0; DIM]; n];
    for step in 0..config.steps {
        let t = step as f64;
        for x in truth.iter_mut() {
            *x = rho * *x + innovation * rng.normal();
        }
        if spike_left == 0 && rng.uniform() < 0.01 {
            spike_left = 1 + (rng.next_u64() % 3) as u32;
            spike_factor = (0.5 + rng.uniform()).exp();
        }
        let common = if spike_left > 0 {
            spike_left -= 1;
            spike_factor
        } else {
            1.0
        };
        // Progress from a fresh start: 0 at step 0, towards 1 after a few TAU.
        let progress = 1.0 - (-t / TAU).exp();
        let decay = (0.3 + 0.7 * (-t / 3000.0).exp()) * (1.0 - 0.6 * progress);
        let amplitude = decay * common / (DIM as f64).sqrt();
        // Noise relative to the signal grows as the signal shrinks: cosines fall.
        let sigma =
            (0.8 + 1.2 * progress) * (1.0 + 0.15 * (std::f64::consts::TAU * t / 3000.0).sin());
        let loss_curve = (0.25 + 2.05 * (1.0 - progress)) * common.sqrt();
        let loss_spread = 0.012 + 0.14 * progress;
        let batch_spread = 0.05 + 0.08 * progress;
        let lr = 0.025 * (1.0 + (std::f64::consts::PI * t / config.steps.max(1) as f64).cos());
        for (i, g) in honest.iter_mut().enumerate() {
            let batch = (batch_spread * rng.student_t4()).exp();
            let s = sigma * heterogeneity[i];
            for (gx, tx) in g.iter_mut().zip(&truth) {
                *gx = amplitude * batch * (tx + s * rng.normal());
            }
        }
        let attacking = config.attack != Attack::None && step >= config.attack_start;
        let since = step.saturating_sub(config.attack_start) as f64;
        let honest_ranks: Vec<usize> = (0..n).filter(|i| !is_attacker[*i]).collect();
        let honest_mean: Vec<f64> = (0..DIM)
            .map(|d| {
                honest_ranks.iter().map(|i| honest[*i][d]).sum::<f64>()
                    / honest_ranks.len().max(1) as f64
            })
            .collect();
        for i in 0..n {
            let g = &honest[i];
            let out = &mut sent[i];
            out.copy_from_slice(g);
            if is_attacker[i] {
                past[i].push_back(g.clone());
                if past[i].len() > LAG + 1 {
                    past[i].pop_front();
                }
            }
            if !(attacking && is_attacker[i]) {
                continue;
            }
            match config.attack {
                Attack::None => {}
                Attack::Spike => out.iter_mut().for_each(|x| *x *= 5.0),
                Attack::DriftNorm => {
                    let f = 1.005f64.powf(since);
                    out.iter_mut().for_each(|x| *x *= f);
                }
                Attack::DriftDir => {
                    let alpha = (0.005 * since).min(1.0);
                    let norm = dot(g, g).sqrt();
                    for (o, (gx, tx)) in out.iter_mut().zip(g.iter().zip(&target)) {
                        *o = (1.0 - alpha) * gx + alpha * norm * tx;
                    }
                    let new_norm = dot(out, out).sqrt();
                    if new_norm > 0.0 {
                        out.iter_mut().for_each(|x| *x *= norm / new_norm);
                    }
                }
                Attack::Alie => {
                    let f = attackers.len();
                    let s = n / 2 + 1 - f.min(n / 2 + 1);
                    let z = inverse_normal_cdf(((n - s) as f64 / n as f64).clamp(0.5, 0.999));
                    for (d, o) in out.iter_mut().enumerate() {
                        let mu = honest_mean[d];
                        let var = honest_ranks
                            .iter()
                            .map(|k| (honest[*k][d] - mu).powi(2))
                            .sum::<f64>()
                            / honest_ranks.len().max(1) as f64;
                        *o = mu - z * var.sqrt();
                    }
                }
                Attack::Ipm => {
                    for (o, mu) in out.iter_mut().zip(&honest_mean) {
                        *o = -0.5 * mu;
                    }
                }
                Attack::Signflip => out.iter_mut().for_each(|x| *x = -*x),
                Attack::Stale => {
                    if let Some(old) = past[i].front() {
                        out.copy_from_slice(old);
                    }
                }
                Attack::Zero => out.iter_mut().for_each(|x| *x = 0.0),
            }
        }
        let mean: Vec<f64> = (0..DIM)
            .map(|d| sent.iter().map(|g| g[d]).sum::<f64>() / n as f64)
            .collect();
        let mm = dot(&mean, &mean);
        for (i, g) in sent.iter().enumerate() {
            let gg = dot(g, g);
            let gm = dot(g, &mean);
            let (cos_mean, cos_loo) = cosines_from_dots(gg, mm, gm, n as f64);
            let agree = g
                .iter()
                .zip(&mean)
                .filter(|(a, b)| a.signum() == b.signum() && **a != 0.0)
                .count() as f64
                / DIM as f64;
            let loss = loss_curve * (loss_spread * rng.student_t4() + loss_offset[i]).exp();
            let mut values = [None; N_STATS];
            values[Stat::Loss.index()] = Some(round7(loss));
            values[Stat::GradNorm.index()] = Some(round7(gg.sqrt()));
            values[Stat::CosMean.index()] = Some(round7(cos_mean));
            values[Stat::CosLoo.index()] = Some(round7(cos_loo));
            values[Stat::SignAgree.index()] = Some(round7(agree));
            let _ = lr;
            records.push(Record {
                run: run.clone(),
                rank: i as u32,
                step,
                world: Some(n as u32),
                schema: Schema::V1,
                values,
                mean_norm: Some(round7(mm.sqrt())),
                nonfinite: Vec::new(),
                sketch: None,
            });
        }
    }
    Simulation {
        config: config.clone(),
        attackers,
        records,
    }
}

/// The learning rate the simulator reports at `step` (cosine schedule).
pub fn lr_at(step: u64, steps: u64) -> f64 {
    round7(0.025 * (1.0 + (std::f64::consts::PI * step as f64 / steps.max(1) as f64).cos()))
}

/// A record as its v1 JSON line (what the PyTorch hook writes).
pub fn to_json_line(record: &Record, steps: u64) -> String {
    let mut line = String::with_capacity(256);
    let v = |s: Stat| record.value(s).unwrap_or(f64::NAN);
    let _ = write!(
        line,
        r#"{{"v":1,"run":{},"rank":{},"world":{},"step":{},"t":{},"loss":{},"lr":{},"grad_norm":{},"mean_norm":{},"cos_mean":{},"cos_loo":{},"sign_agree":{}}}"#,
        serde_json::Value::String(record.run.clone()),
        record.rank,
        record.world.unwrap_or(0),
        record.step,
        1_716_450_000.0 + 0.5 * record.step as f64,
        num(v(Stat::Loss)),
        lr_at(record.step, steps),
        num(v(Stat::GradNorm)),
        num(record.mean_norm.unwrap_or(f64::NAN)),
        num(v(Stat::CosMean)),
        num(v(Stat::CosLoo)),
        num(v(Stat::SignAgree)),
    );
    line
}

/// A number as Python's `json.dumps` writes it (bare `NaN`/`Infinity` included).
fn num(x: f64) -> String {
    if x.is_nan() {
        "NaN".into()
    } else if x.is_infinite() {
        if x > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        }
    } else {
        format!("{x}")
    }
}

/// Writes `worker_<rank>.jsonl` per rank and `truth.json` (attack, attackers, start) into `out`.
pub fn write_logs(sim: &Simulation, out: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(out)?;
    let mut files: Vec<String> = vec![String::new(); sim.config.workers.max(1) as usize];
    for record in &sim.records {
        let file = &mut files[record.rank as usize];
        file.push_str(&to_json_line(record, sim.config.steps));
        file.push('\n');
    }
    for (rank, text) in files.iter().enumerate() {
        std::fs::write(out.join(format!("worker_{rank}.jsonl")), text)?;
    }
    let truth = serde_json::json!({
        "attack": sim.config.attack.name(),
        "attackers": sim.attackers,
        "attack_start": sim.config.attack_start,
        "workers": sim.config.workers,
        "steps": sim.config.steps,
        "seed": sim.config.seed,
    });
    std::fs::write(
        out.join("truth.json"),
        serde_json::to_string_pretty(&truth).unwrap_or_default() + "\n",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosines_from_dots_match_direct_computation() {
        let g = [1.0, -2.0, 0.5];
        let others = [[0.5, -1.0, 1.0], [2.0, 0.0, -0.5], [1.0, -1.5, 0.0]];
        let n = 4.0;
        let mut m = g;
        for o in &others {
            for d in 0..3 {
                m[d] += o[d];
            }
        }
        m.iter_mut().for_each(|x| *x /= n);
        let loo: Vec<f64> = (0..3)
            .map(|d| others.iter().map(|o| o[d]).sum::<f64>() / 3.0)
            .collect();
        let direct = |a: &[f64], b: &[f64]| dot(a, b) / (dot(a, a) * dot(b, b)).sqrt();
        let (cm, cl) = cosines_from_dots(dot(&g, &g), dot(&m, &m), dot(&g, &m), n);
        assert!((cm - direct(&g, &m)).abs() < 1e-12);
        assert!((cl - direct(&g, &loo)).abs() < 1e-12);
        assert_eq!(cosines_from_dots(0.0, 1.0, 0.0, 4.0), (0.0, 0.0));
    }

    #[test]
    fn simulation_is_deterministic_and_plausible() {
        let config = SimConfig {
            workers: 4,
            steps: 20,
            attack: Attack::None,
            attackers: 1,
            attack_start: 10,
            seed: 7,
        };
        let a = simulate(&config);
        let b = simulate(&config);
        assert_eq!(a.records, b.records);
        assert_eq!(a.records.len(), 80);
        let cos: Vec<f64> = a
            .records
            .iter()
            .map(|r| r.value(Stat::CosLoo).unwrap())
            .collect();
        let mean = cos.iter().sum::<f64>() / cos.len() as f64;
        assert!((0.2..0.7).contains(&mean), "{mean}");
        let line = to_json_line(&a.records[0], 20);
        assert_eq!(
            crate::record::parse_record(line.as_bytes()).unwrap(),
            a.records[0]
        );
        assert!((inverse_normal_cdf(0.625) - 0.3186).abs() < 1e-3);
    }
}
