//! Real-training recordings and attacks injected into them at replay time.
//!
//! A recording (`testdata/poison-monitor/real/<run>/`, made by
//! `scripts/poison-monitor/record_real.py` with PyTorch DDP) holds the v1 records the hook wrote
//! (`worker_<rank>.jsonl`), the cosines between every pair of ranks' local gradients per step
//! (`pairs.txt`) and the gradient size (`meta.json`, `numel`). From the norms and the pair
//! cosines the Gram matrix ⟨gᵢ, gⱼ⟩ of a step is known, and every statistic of the record is a
//! function of it (the sign agreement through the Gaussian orthant law, see below), so one
//! honest recording serves many attacks: the attacker's gradient is replaced by a linear
//! function of itself plus noise, the Gram matrix is updated, and every rank's statistics are
//! recomputed: the attacker's own and the honest ranks' (their mean changed too).
//!
//! To keep the honest fluctuations exactly as recorded, an attacked statistic is the recorded
//! value plus the change the attack makes to the statistic computed from the (rounded) Gram
//! matrix: `x' = x + f(G') − f(G)` (norms: `x' = x · f(G')/f(G)`). The sign agreement has no
//! Gram-matrix formula; its change is the change of `1 − arccos(cos_mean)/π`, the fraction of
//! matching signs of two jointly Gaussian vectors with that correlation (on the recordings the
//! recorded sign agreement is within a few hundredths of it).
//!
//! Two statistics are not functions of the Gram matrix:
//!
//! - `l1_ratio` (‖g‖₁ / (√numel ‖g‖₂)) is unchanged by scaling and sign flips; for the noise
//!   attacks the recorder computed it on the real gradient plus a seeded Gaussian draw of 1× and
//!   3× its norm (`noise.txt`), and the replay takes that value (exact for that draw).
//! - `cos_ref` (cosine to the running mean gradient r, an EMA with β = 0.99 of the all-reduced
//!   gradients of the previous steps): the attacker's value is recomputed exactly for its own
//!   gradient, `cos(c·g + ν, r) = (c·cos(g, r)·‖g‖ + ⟨ν, r⟩/‖r‖)/‖c·g + ν‖`. What is
//!   approximated is r itself: the replay keeps the recorded reference, i.e. it leaves out the
//!   attacker's own poisoned contributions to r since the attack started. Their weight after
//!   k steps is (1 − 0.99ᵏ)/n of r (1.9 % after 10 steps of 4 ranks); they would pull r
//!   towards the poisoned gradient and so make the attacker look slightly less different
//!   (docs/poison-monitor.md gives the measured effect).
//!
//! The hook's `sketch` (a fixed random ±1 linear map of the gradient, `sketch_<rank>.i8`,
//! 8-bit with a scale per record) is linear, so the attacker's is transformed exactly for
//! scaling, flips and drift; for noise ν‖g‖·u (u a random unit vector) its sketch is added as
//! independent Gaussian coordinates of variance ν²‖g‖²/p (each of the p coordinates sums
//! numel/p coordinates of u with random signs). The detector then derives `cos_ref_white` from
//! the attacked sketches itself, the attacker's own contributions to its running mean included.
//!
//! `oracle.txt` holds each rank's cosine to the whole training set's gradient per step; it is
//! not an input of any attack, only of [`oracle_catches_flip`], the reference the bench prints
//! beside the detector's sign-flip results.
//!
//! What a replay does not model: the training's reaction to the poisoned update in later steps
//! (the model the honest ranks see stays the recorded one) and a loss the attacker might fake.
//! It measures what the detector sees of the attacker's own contribution, step by step.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::detector::{Alarm, Config, Detector, Source};
use crate::record::{MAX_SKETCH, MIN_SKETCH, Record, Stat, parse_record};
use crate::sim::{Rng, cosines_from_dots};

/// Why a recording could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Invalid {
        path: PathBuf,
        line: usize,
        message: String,
    },
}

/// One real-training recording.
#[derive(Debug, Clone)]
pub struct Recording {
    pub name: String,
    pub world: usize,
    /// Gradient size (number of parameters).
    pub numel: u64,
    /// Per step (increasing): the records by rank, and the pair cosines (i < j, row-major).
    pub steps: Vec<(Vec<Record>, Vec<f64>)>,
    /// Per step (same order): `l1_ratio` of each rank's gradient with Gaussian noise of
    /// [`NOISE_SIGMAS`] × its norm added, `[rank][sigma]` flattened (`noise.txt`).
    pub noise: Vec<Vec<f64>>,
    /// Per step (same order): each rank's cosine to the whole training set's gradient at the
    /// same weights (`oracle.txt`), for [`oracle_catches_flip`].
    pub oracle: Vec<Vec<f64>>,
}

impl Recording {
    pub fn rank_steps(&self) -> u64 {
        (self.steps.len() * self.world) as u64
    }

    /// The first recorded step number (a resumed job starts later than 0).
    pub fn first_step(&self) -> u64 {
        self.steps.first().map_or(0, |(r, _)| r[0].step)
    }

    /// All records in (step, rank) order, as the detector reads a log.
    pub fn records(&self) -> Vec<Record> {
        self.steps.iter().flat_map(|(r, _)| r.clone()).collect()
    }
}

fn read(path: &Path) -> Result<String, ReplayError> {
    std::fs::read_to_string(path).map_err(|source| ReplayError::Io {
        path: path.to_owned(),
        source,
    })
}

fn invalid(path: &Path, line: usize, message: impl Into<String>) -> ReplayError {
    ReplayError::Invalid {
        path: path.to_owned(),
        line,
        message: message.into(),
    }
}

/// The relative noise norms `noise.txt` holds, in its column order.
pub const NOISE_SIGMAS: [f64; 2] = [1.0, 3.0];

/// Loads one recording directory.
pub fn load(dir: &Path) -> Result<Recording, ReplayError> {
    let meta_path = dir.join("meta.json");
    let meta: serde_json::Value = serde_json::from_str(&read(&meta_path)?)
        .map_err(|e| invalid(&meta_path, 1, e.to_string()))?;
    let world = meta["world"]
        .as_u64()
        .filter(|w| (1..=1024).contains(w))
        .ok_or_else(|| invalid(&meta_path, 1, "no `world` in 1..=1024"))? as usize;
    let numel = meta["numel"]
        .as_u64()
        .filter(|n| *n > 0)
        .ok_or_else(|| invalid(&meta_path, 1, "no positive `numel`"))?;
    let sketch_dim = match &meta["sketch_dim"] {
        serde_json::Value::Null => None,
        v => Some(
            v.as_u64()
                .map(|d| d as usize)
                .filter(|d| (MIN_SKETCH..=MAX_SKETCH).contains(d))
                .ok_or_else(|| {
                    invalid(
                        &meta_path,
                        1,
                        format!("`sketch_dim` not in {MIN_SKETCH}..={MAX_SKETCH}"),
                    )
                })?,
        ),
    };
    let mut by_step: BTreeMap<u64, Vec<Option<Record>>> = BTreeMap::new();
    for rank in 0..world {
        let path = dir.join(format!("worker_{rank}.jsonl"));
        let text = read(&path)?;
        let lines: Vec<(usize, &str)> = text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .collect();
        let mut sketches = match sketch_dim {
            Some(dim) => read_sketches(&dir.join(format!("sketch_{rank}.i8")), dim, lines.len())?,
            None => vec![None; lines.len()],
        }
        .into_iter();
        for (i, line) in lines {
            let mut record =
                parse_record(line.as_bytes()).map_err(|e| invalid(&path, i + 1, e.to_string()))?;
            record.sketch = sketches.next().flatten();
            if record.rank as usize != rank {
                return Err(invalid(&path, i + 1, "record of another rank"));
            }
            let step = record.step;
            by_step.entry(step).or_insert_with(|| vec![None; world])[rank] = Some(record);
        }
    }
    let n_pairs = world * (world - 1) / 2;
    let pairs_path = dir.join("pairs.txt");
    let mut pairs = read_table(&pairs_path, n_pairs, (-1.0, 1.0))?;
    let noise_path = dir.join("noise.txt");
    let mut noise = read_table(&noise_path, world * NOISE_SIGMAS.len(), (0.0, 1.0))?;
    let oracle_path = dir.join("oracle.txt");
    let mut oracle = read_table(&oracle_path, world, (-1.0, 1.0))?;
    let mut steps = Vec::with_capacity(by_step.len());
    let mut noise_by_step = Vec::with_capacity(by_step.len());
    let mut oracle_by_step = Vec::with_capacity(by_step.len());
    for (step, records) in by_step {
        let records: Option<Vec<Record>> = records.into_iter().collect();
        let records = records
            .ok_or_else(|| invalid(dir, 0, format!("step {step} misses a rank's record")))?;
        let row = |table: &mut BTreeMap<u64, Vec<f64>>, path: &Path| {
            table
                .remove(&step)
                .ok_or_else(|| invalid(path, 0, format!("no values for step {step}")))
        };
        steps.push((records, row(&mut pairs, &pairs_path)?));
        noise_by_step.push(row(&mut noise, &noise_path)?);
        oracle_by_step.push(row(&mut oracle, &oracle_path)?);
    }
    let name = dir
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    Ok(Recording {
        name,
        world,
        numel,
        steps,
        noise: noise_by_step,
        oracle: oracle_by_step,
    })
}

/// The sketches of `records` records from `sketch_<rank>.i8` (see
/// `scripts/poison-monitor/record_real.py`): per record a little-endian f32 scale and `dim`
/// signed bytes, value = scale · byte / 127; a zero scale is a record without a sketch.
fn read_sketches(
    path: &Path,
    dim: usize,
    records: usize,
) -> Result<Vec<Option<Box<[f64]>>>, ReplayError> {
    let bytes = std::fs::read(path).map_err(|source| ReplayError::Io {
        path: path.to_owned(),
        source,
    })?;
    let entry = 4 + dim;
    if bytes.len() != entry * records {
        return Err(invalid(
            path,
            0,
            format!(
                "{} bytes, expected {records} records of {entry}",
                bytes.len()
            ),
        ));
    }
    bytes
        .chunks_exact(entry)
        .enumerate()
        .map(|(i, chunk)| {
            let scale = f32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]) as f64;
            if !scale.is_finite() || scale < 0.0 {
                return Err(invalid(path, i + 1, format!("scale {scale}")));
            }
            Ok((scale > 0.0).then(|| {
                chunk[4..]
                    .iter()
                    .map(|b| scale * f64::from(*b as i8) / 127.0)
                    .collect()
            }))
        })
        .collect()
}

/// A table of the recording: `#` comment lines, then per line a step number and exactly
/// `width` numbers, each clamped to `range`.
fn read_table(
    path: &Path,
    width: usize,
    range: (f64, f64),
) -> Result<BTreeMap<u64, Vec<f64>>, ReplayError> {
    let mut table = BTreeMap::new();
    for (i, line) in read(path)?.lines().enumerate() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let mut fields = line.split_ascii_whitespace();
        let step: u64 = fields
            .next()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| invalid(path, i + 1, "no step"))?;
        let values: Vec<f64> = fields
            .map(|f| f.parse::<f64>().map(|v| v.clamp(range.0, range.1)))
            .collect::<Result<_, _>>()
            .map_err(|e| invalid(path, i + 1, e.to_string()))?;
        if values.len() != width {
            return Err(invalid(
                path,
                i + 1,
                format!("{} values, expected {width}", values.len()),
            ));
        }
        table.insert(step, values);
    }
    Ok(table)
}

/// Every recording under `root` (one directory each), sorted by name.
pub fn load_all(root: &Path) -> Result<Vec<Recording>, ReplayError> {
    let entries = std::fs::read_dir(root).map_err(|source| ReplayError::Io {
        path: root.to_owned(),
        source,
    })?;
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("meta.json").is_file())
        .collect();
    dirs.sort();
    dirs.iter().map(|d| load(d)).collect()
}

/// An attack injected at replay time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ReplayAttack {
    /// The gradient multiplied by a constant (boosting; negative flips it too).
    Scale(f64),
    /// The gradient's sign flipped (scale −1).
    SignFlip,
    /// Gaussian noise added with this norm relative to the gradient's.
    Noise(f64),
    /// The gradient's norm grows by this fraction per step (0.005: 0.5 %/step).
    Drift(f64),
}

impl ReplayAttack {
    pub fn name(self) -> String {
        match self {
            ReplayAttack::Scale(c) => format!("scale ×{c}"),
            ReplayAttack::SignFlip => "sign flip".into(),
            ReplayAttack::Noise(v) => format!("noise (‖n‖ = {v}‖g‖)"),
            ReplayAttack::Drift(r) => format!("drift +{}%/step", r * 100.0),
        }
    }

    /// (scale, relative noise norm) `since` steps into the attack.
    fn at(self, since: u64) -> (f64, f64) {
        match self {
            ReplayAttack::Scale(c) => (c, 0.0),
            ReplayAttack::SignFlip => (-1.0, 0.0),
            ReplayAttack::Noise(v) => (1.0, v),
            ReplayAttack::Drift(r) => ((1.0 + r).powf(since as f64), 0.0),
        }
    }
}

/// The per-rank statistics a Gram matrix implies: (‖g‖², cos_mean, cos_loo) per rank, ‖m‖².
fn stats_from_gram(gram: &[Vec<f64>]) -> (Vec<(f64, f64, f64)>, f64) {
    let n = gram.len();
    let nf = n as f64;
    let mm = gram.iter().flatten().sum::<f64>() / (nf * nf);
    let out = (0..n)
        .map(|i| {
            let gg = gram[i][i];
            let gm = gram[i].iter().sum::<f64>() / nf;
            let (cm, cl) = cosines_from_dots(gg, mm, gm, nf);
            (gg, cm, cl)
        })
        .collect();
    (out, mm)
}

/// The fraction of matching signs of two jointly Gaussian vectors with correlation `rho`.
pub fn orthant_agreement(rho: f64) -> f64 {
    1.0 - rho.clamp(-1.0, 1.0).acos() / std::f64::consts::PI
}

/// The oracle's threshold: the one-sided normal quantile of 1 − 10⁻⁴, the false-alarm rate per
/// rank-step the detector is held to.
pub const ORACLE_Z: f64 = 3.719;

/// Whether a test that knows far more than any monitor catches a sign flip of `attacker` from
/// step `start` within `window` steps of this recording; `None` when the window does not fit.
///
/// The oracle knows the direction of the whole training set's gradient at every step
/// (`oracle.txt`), which rank flips, from when, and that the attack is a flip. Its statistic
/// is the rank's gradient projected on that direction, p = ‖g‖·cos(g, ∇L), against the mean of
/// the other ranks' projections at the same step, in units of the cross-rank standard
/// deviation s of the projections pooled over the window (the honest values of all ranks):
/// Z = Σₜ (−pₐ,ₜ − p̄ₜ) / (s·√(window·(1 + 1/(n − 1)))), standard normal for an honest rank
/// with Gaussian projections, and the flip is caught when Z ≤ −[`ORACLE_Z`]. This is the
/// likelihood-ratio test of "pₐ flipped" along the training direction with a known start. A
/// flip it misses moves the rank's projection on the training direction by less than the
/// ranks' own batch-to-batch spread over those steps: whatever the monitor computes from the
/// rank's gradient along that direction, the flip looks like honest noise there. It is a
/// reference, not a bound: a direction along which the noise is smaller sees more (the running
/// mean gradient does on some recordings, and the noise-whitened direction Σ⁻¹∇L had 1.7 to 6
/// times (median 3.4) the separation where measured; docs/poison-monitor.md, Evaluation).
pub fn oracle_catches_flip(
    rec: &Recording,
    attacker: usize,
    start: u64,
    window: u64,
) -> Option<bool> {
    let n = rec.world;
    let first = rec.first_step();
    if n < 2 || attacker >= n || start < first {
        return None;
    }
    let from = (start - first) as usize;
    let to = from + window as usize;
    if window == 0 || to > rec.steps.len() {
        return None;
    }
    let projections = |k: usize| -> Vec<f64> {
        let (records, _) = &rec.steps[k];
        records
            .iter()
            .zip(&rec.oracle[k])
            .map(|(r, cos)| r.value(Stat::GradNorm).unwrap_or(0.0) * cos)
            .collect()
    };
    let nf = n as f64;
    let (mut shift, mut variance) = (0.0, 0.0);
    for k in from..to {
        let p = projections(k);
        let mean = p.iter().sum::<f64>() / nf;
        variance += p.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (nf - 1.0);
        let others = (p.iter().sum::<f64>() - p[attacker]) / (nf - 1.0);
        shift += -p[attacker] - others;
    }
    let s = (variance / window as f64).sqrt();
    if s <= 0.0 {
        return Some(shift < 0.0);
    }
    let z = shift / (s * (window as f64 * (1.0 + 1.0 / (nf - 1.0))).sqrt());
    Some(z <= -ORACLE_Z)
}

/// The recording's records with `attack` by `attacker` from step `start` (a recorded step
/// number) on; `seed` draws the noise.
pub fn inject(
    rec: &Recording,
    attack: ReplayAttack,
    attacker: u32,
    start: u64,
    seed: u64,
) -> Vec<Record> {
    inject_steps(rec, attack, attacker, start, 0..u64::MAX, seed)
}

/// [`inject`]'s records of the steps in `steps` only (the same values: the noise is drawn
/// from `start` on, step by step).
fn inject_steps(
    rec: &Recording,
    attack: ReplayAttack,
    attacker: u32,
    start: u64,
    steps: std::ops::Range<u64>,
    seed: u64,
) -> Vec<Record> {
    let n = rec.world;
    let a = attacker as usize;
    let dim = rec.numel as f64;
    let mut rng = Rng::new(seed ^ 0x7265_706c_6179);
    let mut out = Vec::new();
    for ((records, cos), noisy) in rec.steps.iter().zip(&rec.noise) {
        let step = records[0].step;
        if step >= steps.end {
            break;
        }
        if step < start || a >= n {
            if steps.contains(&step) {
                out.extend(records.iter().cloned());
            }
            continue;
        }
        let (c, nu) = attack.at(step - start);
        let norm: Vec<f64> = records
            .iter()
            .map(|r| r.value(Stat::GradNorm).unwrap_or(0.0))
            .collect();
        let mut gram = vec![vec![0.0; n]; n];
        let mut k = 0;
        for i in 0..n {
            gram[i][i] = norm[i] * norm[i];
            for j in i + 1..n {
                let g = norm[i] * norm[j] * cos[k];
                gram[i][j] = g;
                gram[j][i] = g;
                k += 1;
            }
        }
        // g_a' = c·g_a + ν‖g_a‖·u, u a random unit vector: ⟨g_j, u⟩ ≈ ‖g_j‖·N(0, 1)/√dim.
        let mut attacked = gram.clone();
        let eps: Vec<f64> = (0..n).map(|_| rng.normal() / dim.sqrt()).collect();
        for j in 0..n {
            if j == a {
                continue;
            }
            let v = c * gram[a][j] + nu * norm[a] * norm[j] * eps[j];
            attacked[a][j] = v;
            attacked[j][a] = v;
        }
        let self_sq = (c * c + 2.0 * c * nu * eps[a] + nu * nu).max(0.0);
        attacked[a][a] = norm[a] * norm[a] * self_sq;
        // ⟨u, r⟩/‖r‖ for the noise direction u, drawn like eps.
        let eps_ref = rng.normal() / dim.sqrt();
        let (before, mm) = stats_from_gram(&gram);
        let (after, mm2) = stats_from_gram(&attacked);
        for (i, r) in records.iter().enumerate() {
            let mut r = r.clone();
            let ratio = |x: f64, y: f64| if x > 0.0 { (y / x).sqrt() } else { 1.0 };
            let set = |r: &mut Record, s: Stat, f: &dyn Fn(f64) -> f64| {
                if let Some(v) = r.values[s.index()] {
                    r.values[s.index()] = Some(f(v));
                }
            };
            let (gg0, cm0, cl0) = before[i];
            let (gg1, cm1, cl1) = after[i];
            set(&mut r, Stat::GradNorm, &|v| v * ratio(gg0, gg1));
            set(&mut r, Stat::CosMean, &|v| (v + cm1 - cm0).clamp(-1.0, 1.0));
            set(&mut r, Stat::CosLoo, &|v| (v + cl1 - cl0).clamp(-1.0, 1.0));
            set(&mut r, Stat::SignAgree, &|v| {
                (v + orthant_agreement(cm1) - orthant_agreement(cm0)).clamp(0.0, 1.0)
            });
            r.mean_norm = r.mean_norm.map(|v| v * ratio(mm, mm2));
            if i == a {
                // The sketch is linear: c·S g + ν‖g‖·S u, and S u of a random unit vector u
                // has independent coordinates of variance about 1/p (each sums numel/p
                // coordinates of u with random signs).
                if let Some(sketch) = &r.sketch {
                    let sd = nu * norm[a] / (sketch.len() as f64).sqrt();
                    r.sketch = Some(
                        sketch
                            .iter()
                            .map(|x| c * x + if nu > 0.0 { sd * rng.normal() } else { 0.0 })
                            .collect(),
                    );
                }
                let scale = self_sq.sqrt();
                set(&mut r, Stat::CosRef, &|v| {
                    if scale > 0.0 {
                        ((c * v + nu * eps_ref) / scale).clamp(-1.0, 1.0)
                    } else {
                        0.0
                    }
                });
                if nu > 0.0 {
                    let column = NOISE_SIGMAS.iter().position(|s| (*s - nu).abs() < 1e-9);
                    if let Some(k) = column {
                        let v = noisy[a * NOISE_SIGMAS.len() + k];
                        set(&mut r, Stat::L1Ratio, &|_| v);
                    }
                }
            }
            if steps.contains(&step) {
                out.push(r);
            }
        }
    }
    out
}

/// Runs the detector over records in order (as `monitor` does after sorting).
pub fn detect(records: Vec<Record>, config: &Config) -> Vec<Alarm> {
    let mut detector = replay_detector(config);
    let mut alarms = Vec::new();
    for record in records {
        detector.push(record, Source::default(), &mut alarms);
    }
    detector.finish(&mut alarms);
    alarms
}

fn replay_detector(config: &Config) -> Detector {
    Detector::new(Config {
        reorder_window: u64::MAX,
        ..config.clone()
    })
}

/// The detector after the recording's steps before `start` (every rank reported each step,
/// so each is processed when its last record arrives), and the alarms so far.
fn prefix(rec: &Recording, start: u64, config: &Config) -> (Detector, Vec<Alarm>) {
    let mut detector = replay_detector(config);
    let mut alarms = Vec::new();
    for record in rec
        .steps
        .iter()
        .take_while(|(r, _)| r[0].step < start)
        .flat_map(|(r, _)| r.iter().cloned())
    {
        detector.push(record, Source::default(), &mut alarms);
    }
    (detector, alarms)
}

/// [`detect`] over `inject(rec, …)` up to step `end` (excluded), continuing a clone of the
/// honest prefix's detector (the records before `start` are the recording's own).
fn detect_attacked(
    rec: &Recording,
    (detector, alarms): &(Detector, Vec<Alarm>),
    attack: ReplayAttack,
    attacker: u32,
    (start, end): (u64, u64),
    seed: u64,
) -> Vec<Alarm> {
    let mut detector = detector.clone();
    let mut alarms = alarms.clone();
    for record in inject_steps(rec, attack, attacker, start, start..end, seed) {
        detector.push(record, Source::default(), &mut alarms);
    }
    detector.finish(&mut alarms);
    alarms
}

fn is_attack_alarm(a: &Alarm) -> bool {
    a.kind.is_attack()
}

/// False alarms on the honest recordings, from their first step.
#[derive(Debug, Clone, Default)]
pub struct HonestResult {
    pub recordings: usize,
    pub rank_steps: u64,
    pub alarms: u64,
    /// (recording, rank, step, statistic) of each false alarm.
    pub examples: Vec<(String, u32, u64, String)>,
}

impl HonestResult {
    pub fn per_10k_rank_steps(&self) -> f64 {
        self.alarms as f64 * 1e4 / self.rank_steps.max(1) as f64
    }
}

pub fn honest(recordings: &[Recording], config: &Config) -> HonestResult {
    let mut out = HonestResult::default();
    for rec in recordings {
        let alarms = detect(rec.records(), config);
        out.recordings += 1;
        out.rank_steps += rec.rank_steps();
        out.alarms += alarms.len() as u64;
        out.examples.extend(
            alarms
                .iter()
                .map(|a| (rec.name.clone(), a.rank, a.step, a.kind.label())),
        );
    }
    out
}

/// One attack over many (recording, attacker, start) trials.
#[derive(Debug, Clone)]
pub struct AttackResult {
    pub attack: ReplayAttack,
    /// Steps within which the goal says the attack must be caught.
    pub target: u64,
    pub trials: usize,
    /// Delay (steps from the attack's start to the first alarm) per trial; `None`: not caught
    /// within the horizon (each attacked future is replayed for the target + 10 steps).
    pub delays: Vec<Option<u64>>,
    /// Trials whose first alarm of the run (the `attribution = true` one) was at or after the
    /// start, within the horizon, and named the attacker. A false alarm earlier in the run
    /// spoils this.
    pub attributed: usize,
    /// Trials whose first attack alarm at or after the start (the strongest of its step) named
    /// the attacker, whatever alarmed before it.
    pub attributed_at_start: usize,
    /// Trials in jobs of 3 or more ranks, and how many of those were attributed.
    pub trials_3plus: usize,
    pub attributed_3plus: usize,
    /// Of those, how many were attributed by the first attack alarm from the start on.
    pub attributed_at_start_3plus: usize,
    /// By the attack's start ([`starts`]: 30 steps in, the middle, near the end): (trials,
    /// caught within the target).
    pub by_start: [(usize, usize); 3],
    /// The same trials by recording.
    pub by_recording: Vec<RecordingTally>,
    /// Of the trials caught within the target: how many the first alarm from the start
    /// raised on each rule statistic (its label).
    pub first_by_stat: BTreeMap<String, usize>,
}

/// One recording's trials of an attack.
#[derive(Debug, Clone, Default)]
pub struct RecordingTally {
    pub name: String,
    pub world: usize,
    pub trials: usize,
    /// Caught within the target.
    pub caught: usize,
    /// Sign flips only: the trials [`oracle_catches_flip`] catches within the target, and how
    /// many of those the detector caught within the target.
    pub oracle: Option<(usize, usize)>,
}

impl AttackResult {
    pub fn caught_within_target(&self) -> usize {
        self.delays
            .iter()
            .filter(|d| d.is_some_and(|d| d <= self.target))
            .count()
    }

    pub fn median_delay(&self) -> Option<u64> {
        let mut d: Vec<u64> = self.delays.iter().map(|d| d.unwrap_or(u64::MAX)).collect();
        d.sort_unstable();
        d.get(d.len() / 2).copied().filter(|d| *d != u64::MAX)
    }

    /// The longest delay; `None` when some trial was not caught at all.
    pub fn max_delay(&self) -> Option<u64> {
        self.delays
            .iter()
            .map(|d| d.unwrap_or(u64::MAX))
            .max()
            .filter(|d| *d != u64::MAX)
    }

    pub fn attribution_rate(&self) -> f64 {
        self.attributed as f64 / self.trials.max(1) as f64
    }

    pub fn attribution_rate_at_start(&self) -> f64 {
        self.attributed_at_start as f64 / self.trials.max(1) as f64
    }

    pub fn attribution_rate_at_start_3plus(&self) -> f64 {
        self.attributed_at_start_3plus as f64 / self.trials_3plus.max(1) as f64
    }

    pub fn attribution_rate_3plus(&self) -> f64 {
        self.attributed_3plus as f64 / self.trials_3plus.max(1) as f64
    }
}

/// Attack starts for a recording: 30 steps in, the middle and 100 steps before the end.
pub fn starts(rec: &Recording, horizon: u64) -> Vec<u64> {
    let first = rec.first_step();
    let len = rec.steps.len() as u64;
    let mut s = vec![
        first + 30,
        first + len / 2,
        first + len.saturating_sub(horizon),
    ];
    s.retain(|x| *x + horizon <= first + len && *x >= first);
    s.sort_unstable();
    s.dedup();
    s
}

/// Every rank of the recording attacks in turn (at most 8, spread over the ranks), from each
/// of [`starts`]; each attacked future is replayed for the target + 10 steps (the horizon).
pub fn evaluate(
    recordings: &[Recording],
    attack: ReplayAttack,
    target: u64,
    config: &Config,
) -> AttackResult {
    let mut out = AttackResult {
        attack,
        target,
        trials: 0,
        delays: Vec::new(),
        attributed: 0,
        attributed_at_start: 0,
        trials_3plus: 0,
        attributed_3plus: 0,
        attributed_at_start_3plus: 0,
        by_start: [(0, 0); 3],
        by_recording: Vec::new(),
        first_by_stat: BTreeMap::new(),
    };
    let horizon = target.max(10) + 10;
    for (ri, rec) in recordings.iter().enumerate() {
        let n = rec.world as u32;
        let stride = n.div_ceil(8).max(1);
        let mut tally = RecordingTally {
            name: rec.name.clone(),
            world: rec.world,
            oracle: (attack == ReplayAttack::SignFlip).then_some((0, 0)),
            ..RecordingTally::default()
        };
        for start in starts(rec, horizon) {
            let honest = prefix(rec, start, config);
            for attacker in (0..n).step_by(stride as usize) {
                // 0: 30 steps in, 1: the middle, 2: near the end (as `starts` defines them).
                let k = if start == rec.first_step() + 30 {
                    0
                } else if start == rec.first_step() + rec.steps.len() as u64 / 2 {
                    1
                } else {
                    2
                };
                let seed = (ri as u64) << 32 | u64::from(attacker) << 16 | start;
                let window = (start, start + horizon);
                let alarms = detect_attacked(rec, &honest, attack, attacker, window, seed);
                out.trials += 1;
                let first = alarms
                    .iter()
                    .find(|a| is_attack_alarm(a) && a.step >= start);
                let delay = first.map(|a| a.step - start);
                out.delays.push(delay);
                let caught = delay.is_some_and(|d| d <= target);
                if let (true, Some(a)) = (caught, first) {
                    *out.first_by_stat.entry(a.kind.label()).or_default() += 1;
                }
                let phase = &mut out.by_start[k];
                phase.0 += 1;
                phase.1 += usize::from(caught);
                tally.trials += 1;
                tally.caught += usize::from(caught);
                if let Some((catchable, both)) = &mut tally.oracle
                    && oracle_catches_flip(rec, attacker as usize, start, target) == Some(true)
                {
                    *catchable += 1;
                    *both += usize::from(caught);
                }
                let attributed = alarms
                    .iter()
                    .find(|a| a.first)
                    .is_some_and(|a| a.step >= start && a.rank == attacker);
                out.attributed += usize::from(attributed);
                let at_start = first.is_some_and(|a| a.rank == attacker);
                out.attributed_at_start += usize::from(at_start);
                if n >= 3 {
                    out.trials_3plus += 1;
                    out.attributed_3plus += usize::from(attributed);
                    out.attributed_at_start_3plus += usize::from(at_start);
                }
            }
        }
        out.by_recording.push(tally);
    }
    out
}

/// The injected attacks and the goal (steps) each is measured against: abrupt ones within 10,
/// the slow drift within 100. Noise is Gaussian with a norm of 1× and 3× the gradient's.
pub const GOALS: &[(ReplayAttack, u64)] = &[
    (ReplayAttack::Scale(5.0), 10),
    (ReplayAttack::Scale(-5.0), 10),
    (ReplayAttack::SignFlip, 10),
    (ReplayAttack::Noise(1.0), 10),
    (ReplayAttack::Noise(3.0), 10),
    (ReplayAttack::Drift(0.005), 100),
];

/// Where the committed recordings are.
pub fn committed_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/poison-monitor/real")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A recording of `steps` steps whose ranks' cosines to the training direction are
    /// `cos(step, rank)`, every gradient of norm 1.
    fn recording(world: usize, steps: u64, cos: impl Fn(u64, usize) -> f64) -> Recording {
        let line = |step: u64, rank: usize| {
            format!(
                r#"{{"v":1,"run":"r","rank":{rank},"world":{world},"step":{step},"loss":1.0,"grad_norm":1.0,"mean_norm":0.5,"cos_mean":0.5,"cos_loo":0.2,"sign_agree":0.6}}"#
            )
        };
        let steps_vec = (0..steps)
            .map(|s| {
                let records = (0..world)
                    .map(|r| parse_record(line(s, r).as_bytes()).unwrap())
                    .collect();
                (records, vec![0.0; world * (world - 1) / 2])
            })
            .collect();
        Recording {
            name: "r".into(),
            world,
            numel: 100,
            steps: steps_vec,
            noise: vec![vec![0.5; world * NOISE_SIGMAS.len()]; steps as usize],
            oracle: (0..steps)
                .map(|s| (0..world).map(|r| cos(s, r)).collect())
                .collect(),
        }
    }

    #[test]
    fn the_oracle_catches_a_flip_against_a_shared_direction_only() {
        // Ranks agree with the training direction (0.3 ± 0.1): a flip moves the attacker's
        // projection by 0.6, six spreads, every step.
        let jitter = |s: u64, r: usize| 0.1 * (((s * 7 + r as u64 * 3) % 5) as f64 - 2.0) / 1.4;
        let shared = recording(4, 40, |s, r| 0.3 + jitter(s, r));
        assert_eq!(oracle_catches_flip(&shared, 1, 10, 10), Some(true));
        // No shared direction (the projections are symmetric about 0): a flip is an honest draw.
        let noise = recording(4, 40, jitter);
        assert_eq!(oracle_catches_flip(&noise, 1, 10, 10), Some(false));
        // The window must fit in the recording, the attacker be a rank.
        assert_eq!(oracle_catches_flip(&shared, 1, 35, 10), None);
        assert_eq!(oracle_catches_flip(&shared, 4, 10, 10), None);
    }
}
