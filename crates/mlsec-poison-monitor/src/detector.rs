//! The streaming detector: records in (any order, duplicates allowed), alarms out.
//!
//! Per step, each rank's statistics are transformed to be near-Gaussian, centred on the
//! cross-rank median of the non-quarantined ranks, standardised by a robust per-rank warm-up
//! baseline, winsorised, and fed to a two-sided CUSUM. A rank that alarms is quarantined: it no
//! longer contributes to the cross-sectional centre, so colluders cannot drag honest ranks into
//! alarms. Beside the CUSUM charts: exact norm repetition (stale-gradient replay), missing
//! records (heartbeat) and non-finite values.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use crate::record::{N_STATS, Record, Stat};

/// Where a record came from, for findings: a file index and 1-based line (0 for datagrams).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Source {
    pub file: u32,
    pub line: u32,
}

/// Detector settings; [`Config::default`] is what the command line uses.
#[derive(Debug, Clone)]
pub struct Config {
    /// Samples per chart used to build the baseline before it can alarm.
    pub warmup: usize,
    /// CUSUM decision threshold (in baseline standard deviations).
    pub threshold: f64,
    /// CUSUM reference value (half the shift, in sd, the chart is tuned for).
    pub k: f64,
    /// Winsorisation of z-scores.
    pub winsor: f64,
    /// Warm-up samples beyond this many scaled MADs are dropped from the baseline.
    pub outlier_mads: f64,
    /// A step is processed once all expected ranks reported, or once a record this many steps
    /// later arrived.
    pub reorder_window: u64,
    /// Expected number of ranks (else the largest `world` seen, else the ranks seen).
    pub expected_workers: Option<u32>,
    /// Consecutive processed steps a known rank may be missing before the heartbeat alarm.
    pub missing_steps: u32,
    /// Window (steps) and count of exact norm repetitions that make a rank stale.
    pub replay_window: usize,
    pub replay_count: usize,
    /// Keep per-chart history for the HTML report.
    pub history: bool,
    /// In-control samples (CUSUM below this fraction of the threshold) refine the baseline...
    pub refine_below: f64,
    /// ...with at most this effective sample count.
    pub refine_cap: f64,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            warmup: crate::calibration::DEFAULT_WARMUP,
            threshold: crate::calibration::DEFAULT_THRESHOLD,
            k: 0.5,
            winsor: 4.0,
            outlier_mads: 4.0,
            reorder_window: 16,
            expected_workers: None,
            missing_steps: 3,
            replay_window: 64,
            replay_count: 3,
            history: false,
            refine_below: 0.5,
            refine_cap: 1000.0,
        }
    }
}

/// Why an alarm fired.
#[derive(Debug, Clone, PartialEq)]
pub enum AlarmKind {
    /// A CUSUM chart crossed the threshold.
    Shift {
        stat: Stat,
        /// The raw value at the alarm step.
        value: f64,
        /// The winsorised z-score at the alarm step.
        z: f64,
        /// The CUSUM value that crossed the threshold.
        cusum: f64,
        threshold: f64,
        /// `true` when the statistic drifted up (the upper CUSUM fired).
        high: bool,
        baseline_mean: f64,
        baseline_sd: f64,
        /// The cross-rank median (transformed) used as centre at this step.
        centre: f64,
    },
    /// NaN or ±Infinity in the record.
    NonFinite { fields: Vec<&'static str> },
    /// The rank's own gradient norm repeated exactly.
    Replay { repeats: usize, window: usize },
    /// The rank stopped reporting while others did.
    Heartbeat {
        missing_steps: u64,
        last_step: Option<u64>,
    },
}

impl AlarmKind {
    pub fn label(&self) -> String {
        match self {
            AlarmKind::Shift { stat, .. } => stat.name().to_owned(),
            AlarmKind::NonFinite { .. } => "non-finite".into(),
            AlarmKind::Replay { .. } => "replay".into(),
            AlarmKind::Heartbeat { .. } => "heartbeat".into(),
        }
    }
}

/// One alarm: which rank, at which step, why.
#[derive(Debug, Clone, PartialEq)]
pub struct Alarm {
    pub run: String,
    pub rank: u32,
    pub step: u64,
    pub kind: AlarmKind,
    pub source: Option<Source>,
    /// The first attack alarm (not heartbeat) of its run: the attribution.
    pub first: bool,
}

/// One point of a chart's history.
#[derive(Debug, Clone, Copy)]
pub struct Point {
    pub step: u64,
    /// Transformed, centred value.
    pub residual: f64,
    /// Winsorised z (0 during warm-up).
    pub z: f64,
    /// max(S+, S-) after the update.
    pub cusum: f64,
    pub alarm: bool,
}

#[derive(Debug, Default)]
struct Chart {
    warm: Vec<f64>,
    /// Baseline mean and sd: from the warm-up, then refined by in-control samples.
    base: Option<(f64, f64)>,
    /// Effective sample count of the baseline (capped, so it becomes a slow EWMA).
    n: f64,
    pos: f64,
    neg: f64,
    history: Vec<Point>,
}

#[derive(Debug, Default)]
struct RankState {
    charts: [Chart; N_STATS],
    quarantined: bool,
    missing: u64,
    heartbeat_fired: bool,
    last_step: Option<u64>,
    nonfinite_fired: bool,
    norms: VecDeque<u64>,
    repeats: VecDeque<bool>,
    replay_fired: bool,
    records: u64,
}

#[derive(Debug, Default)]
struct RunState {
    pending: BTreeMap<u64, BTreeMap<u32, (Record, Source)>>,
    done: Option<u64>,
    max_seen: u64,
    world: u32,
    ranks: BTreeMap<u32, RankState>,
    first_fired: bool,
    steps: u64,
    /// Warm-up sds of every chart that finished its warm-up, per statistic, and their median:
    /// a rank's sd is never taken below the typical rank's (40 samples of heavy-tailed noise
    /// underestimate the spread often enough to dominate the false alarms).
    warm_sds: [Vec<f64>; N_STATS],
    pooled_sd: [f64; N_STATS],
}

/// Counters for the summary.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counters {
    pub records: u64,
    pub duplicates: u64,
    pub conflicting_duplicates: u64,
    pub late: u64,
    pub steps: u64,
    pub alarms: u64,
}

/// The streaming detector over any number of runs.
#[derive(Debug)]
pub struct Detector {
    config: Config,
    runs: HashMap<String, RunState>,
    pub counters: Counters,
}

fn median(values: &mut [f64]) -> f64 {
    mlsec_util::stats::median(values).unwrap_or(f64::NAN)
}

/// Mean and sd of `samples` after dropping those beyond `mads` scaled MADs of the median.
pub fn robust_baseline(samples: &[f64], mads: f64) -> (f64, f64) {
    let mut sorted = samples.to_vec();
    let med = median(&mut sorted);
    let mut dev: Vec<f64> = samples.iter().map(|x| (x - med).abs()).collect();
    let mad = 1.4826 * median(&mut dev);
    let kept: Vec<f64> = if mad > 0.0 {
        samples
            .iter()
            .copied()
            .filter(|x| (x - med).abs() <= mads * mad)
            .collect()
    } else {
        samples.to_vec()
    };
    let n = kept.len().max(1) as f64;
    let mean = kept.iter().sum::<f64>() / n;
    let var = kept.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    // Identical workers give a zero spread; a floor keeps float noise from alarming while a
    // real shift still saturates the winsorised z.
    (mean, var.sqrt().max(1e-6))
}

impl Detector {
    pub fn new(config: Config) -> Detector {
        Detector {
            config,
            runs: HashMap::new(),
            counters: Counters::default(),
        }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Ranks of a run that alarmed (quarantined).
    pub fn quarantined(&self, run: &str) -> Vec<u32> {
        self.runs.get(run).map_or_else(Vec::new, |r| {
            r.ranks
                .iter()
                .filter(|(_, s)| s.quarantined)
                .map(|(k, _)| *k)
                .collect()
        })
    }

    /// The run names seen, sorted.
    pub fn runs(&self) -> Vec<String> {
        let mut runs: Vec<String> = self.runs.keys().cloned().collect();
        runs.sort();
        runs
    }

    /// Records seen per rank of a run.
    pub fn rank_records(&self, run: &str) -> BTreeMap<u32, u64> {
        self.runs.get(run).map_or_else(BTreeMap::new, |r| {
            r.ranks.iter().map(|(k, s)| (*k, s.records)).collect()
        })
    }

    /// The history of one chart (only with `Config::history`).
    pub fn history(&self, run: &str, rank: u32, stat: Stat) -> &[Point] {
        self.runs
            .get(run)
            .and_then(|r| r.ranks.get(&rank))
            .map_or(&[], |s| &s.charts[stat.index()].history)
    }

    /// The stats that have any history in a run.
    pub fn charted_stats(&self, run: &str) -> Vec<Stat> {
        let Some(r) = self.runs.get(run) else {
            return Vec::new();
        };
        Stat::ALL
            .into_iter()
            .filter(|s| {
                r.ranks
                    .values()
                    .any(|rank| !rank.charts[s.index()].history.is_empty())
            })
            .collect()
    }

    /// Feeds one record; alarms of the steps this completes are appended to `out`.
    pub fn push(&mut self, record: Record, source: Source, out: &mut Vec<Alarm>) {
        self.counters.records += 1;
        let config = &self.config;
        let run = self.runs.entry(record.run.clone()).or_default();
        if run.done.is_some_and(|d| record.step <= d) {
            self.counters.late += 1;
            return;
        }
        if let Some(world) = record.world {
            run.world = run.world.max(world);
        }
        run.max_seen = run.max_seen.max(record.step);
        let slot = run.pending.entry(record.step).or_default();
        if let Some((existing, _)) = slot.get(&record.rank) {
            self.counters.duplicates += 1;
            if existing != &record {
                self.counters.conflicting_duplicates += 1;
            }
            return;
        }
        let run_name = record.run.clone();
        slot.insert(record.rank, (record, source));
        let _ = config;
        self.drain(&run_name, false, out);
    }

    /// Processes every pending step (end of input).
    pub fn finish(&mut self, out: &mut Vec<Alarm>) {
        for run in self.runs() {
            self.drain(&run, true, out);
        }
    }

    /// Time-based heartbeat (listener): ranks of `run` whose last record is older than the
    /// timeout while others are alive.
    pub fn heartbeat_timeout(&mut self, run: &str, stale: &[u32], out: &mut Vec<Alarm>) {
        let Some(state) = self.runs.get_mut(run) else {
            return;
        };
        for rank in stale {
            if let Some(rs) = state.ranks.get_mut(rank)
                && !rs.heartbeat_fired
            {
                rs.heartbeat_fired = true;
                self.counters.alarms += 1;
                out.push(Alarm {
                    run: run.to_owned(),
                    rank: *rank,
                    step: rs.last_step.unwrap_or(0),
                    kind: AlarmKind::Heartbeat {
                        missing_steps: rs.missing,
                        last_step: rs.last_step,
                    },
                    source: None,
                    first: false,
                });
            }
        }
    }

    fn expected(&self, run: &RunState) -> usize {
        let seen = run.ranks.keys().next_back().map_or(0, |r| r + 1);
        self.config
            .expected_workers
            .unwrap_or(0)
            .max(run.world)
            .max(seen)
            .max(run.ranks.len() as u32) as usize
    }

    fn drain(&mut self, run_name: &str, all: bool, out: &mut Vec<Alarm>) {
        loop {
            let Some(run) = self.runs.get(run_name) else {
                return;
            };
            let Some((&step, recs)) = run.pending.first_key_value() else {
                return;
            };
            // Without a world size the first step cannot know when it is complete: it waits
            // for the reorder window (or the end of input); later steps use the ranks seen.
            let world_known =
                self.config.expected_workers.is_some() || run.world > 0 || run.done.is_some();
            let ready = all
                || (world_known && recs.len() >= self.expected(run).max(1))
                || run.max_seen.saturating_sub(step) >= self.config.reorder_window;
            if !ready {
                return;
            }
            let run = self.runs.get_mut(run_name).expect("run exists");
            let recs = run.pending.pop_first().expect("pending step").1;
            run.done = Some(step);
            self.process_step(run_name, step, recs, out);
        }
    }

    fn process_step(
        &mut self,
        run_name: &str,
        step: u64,
        recs: BTreeMap<u32, (Record, Source)>,
        out: &mut Vec<Alarm>,
    ) {
        let config = &self.config;
        let expected = {
            let run = &self.runs[run_name];
            self.expected(run) as u32
        };
        let run = self.runs.get_mut(run_name).expect("run exists");
        run.steps += 1;
        self.counters.steps += 1;
        for rank in recs.keys() {
            run.ranks.entry(*rank).or_default();
        }
        // Ranks the world size promises but that never reported count as known.
        for rank in 0..expected.min(crate::record::MAX_RANK as u32 + 1) {
            run.ranks.entry(rank).or_default();
        }
        let mut alarms: Vec<(f64, Alarm)> = Vec::new();
        let mk = |rank: u32, kind: AlarmKind, source: Option<Source>| Alarm {
            run: run_name.to_owned(),
            rank,
            step,
            kind,
            source,
            first: false,
        };

        // Heartbeat: known ranks missing while others report.
        if !recs.is_empty() {
            for (rank, rs) in run.ranks.iter_mut() {
                if recs.contains_key(rank) {
                    rs.missing = 0;
                    rs.heartbeat_fired = false;
                    rs.last_step = Some(step);
                    rs.records += 1;
                } else {
                    rs.missing += 1;
                    if rs.missing >= u64::from(config.missing_steps) && !rs.heartbeat_fired {
                        rs.heartbeat_fired = true;
                        let kind = AlarmKind::Heartbeat {
                            missing_steps: rs.missing,
                            last_step: rs.last_step,
                        };
                        alarms.push((-1.0, mk(*rank, kind, None)));
                    }
                }
            }
        }

        // Non-finite values.
        for (rank, (rec, source)) in &recs {
            let rs = run.ranks.get_mut(rank).expect("rank registered");
            if !rec.nonfinite.is_empty() && !rs.nonfinite_fired {
                rs.nonfinite_fired = true;
                let kind = AlarmKind::NonFinite {
                    fields: rec.nonfinite.clone(),
                };
                alarms.push((f64::INFINITY, mk(*rank, kind, Some(*source))));
            }
        }

        // Replay: exact repetition of the rank's own norm within the window, more than the
        // other ranks' repetition (rounded logs repeat by chance, for everyone alike).
        let mut repeat_counts: BTreeMap<u32, usize> = BTreeMap::new();
        for (rank, (rec, _)) in &recs {
            let rs = run.ranks.get_mut(rank).expect("rank registered");
            if let Some(bits) = rec.norm_bits() {
                let hit = rs.norms.contains(&bits);
                rs.norms.push_back(bits);
                rs.repeats.push_back(hit);
                while rs.norms.len() > config.replay_window {
                    rs.norms.pop_front();
                }
                while rs.repeats.len() > config.replay_window {
                    rs.repeats.pop_front();
                }
            }
            repeat_counts.insert(*rank, rs.repeats.iter().filter(|h| **h).count());
        }
        for (rank, count) in &repeat_counts {
            let mut others: Vec<f64> = repeat_counts
                .iter()
                .filter(|(r, _)| *r != rank)
                .map(|(_, c)| *c as f64)
                .collect();
            let typical = if others.is_empty() {
                0.0
            } else {
                median(&mut others)
            };
            let rs = run.ranks.get_mut(rank).expect("rank registered");
            if *count >= config.replay_count
                && *count as f64 >= typical + config.replay_count as f64
                && !rs.replay_fired
            {
                rs.replay_fired = true;
                let kind = AlarmKind::Replay {
                    repeats: *count,
                    window: config.replay_window,
                };
                alarms.push((f64::MAX, mk(*rank, kind, Some(recs[rank].1))));
            }
        }

        // CUSUM charts.
        for stat in Stat::ALL {
            let values: Vec<(u32, f64)> = recs
                .iter()
                .filter_map(|(rank, (rec, _))| {
                    rec.value(stat)
                        .and_then(|x| stat.transform(x))
                        .map(|t| (*rank, t))
                })
                .collect();
            if values.len() < 2 {
                continue;
            }
            let mut centre_set: Vec<f64> = values
                .iter()
                .filter(|(rank, _)| !run.ranks[rank].quarantined)
                .map(|(_, t)| *t)
                .collect();
            if centre_set.len() < 2 {
                centre_set = values.iter().map(|(_, t)| *t).collect();
            }
            let centre = median(&mut centre_set);
            for (rank, t) in &values {
                let residual = t - centre;
                let rs = run.ranks.get_mut(rank).expect("rank registered");
                let chart = &mut rs.charts[stat.index()];
                let Some((mean, own_sd)) = chart.base else {
                    chart.warm.push(residual);
                    if chart.warm.len() >= config.warmup.max(2) {
                        let base = robust_baseline(&chart.warm, config.outlier_mads);
                        chart.base = Some(base);
                        chart.n = chart.warm.len() as f64;
                        chart.warm = Vec::new();
                        let sds = &mut run.warm_sds[stat.index()];
                        sds.push(base.1);
                        run.pooled_sd[stat.index()] = median(&mut sds.clone());
                    }
                    if config.history {
                        chart.history.push(Point {
                            step,
                            residual,
                            z: 0.0,
                            cusum: 0.0,
                            alarm: false,
                        });
                    }
                    continue;
                };
                let sd = own_sd.max(run.pooled_sd[stat.index()]);
                let z = ((residual - mean) / sd).clamp(-config.winsor, config.winsor);
                chart.pos = (chart.pos + z - config.k).max(0.0);
                chart.neg = (chart.neg - z - config.k).max(0.0);
                let cusum = chart.pos.max(chart.neg);
                let alarm = cusum > config.threshold;
                // Refine the baseline mean with in-control samples only (both CUSUMs low): 40
                // warm-up samples of heavy-tailed noise leave a mean error of ~0.2 sd, which a
                // k = 0.5 CUSUM turns into false alarms; an attack never feeds the baseline.
                if cusum < config.refine_below * config.threshold && z.abs() < 3.0 {
                    chart.n = (chart.n + 1.0).min(config.refine_cap);
                    // Only the mean: a variance from truncated in-control samples would shrink.
                    chart.base = Some((mean + (residual - mean) / chart.n, own_sd));
                }
                if config.history {
                    chart.history.push(Point {
                        step,
                        residual,
                        z,
                        cusum,
                        alarm,
                    });
                }
                if alarm {
                    let high = chart.pos >= chart.neg;
                    chart.pos = 0.0;
                    chart.neg = 0.0;
                    let kind = AlarmKind::Shift {
                        stat,
                        value: recs[rank].0.value(stat).unwrap_or(f64::NAN),
                        z,
                        cusum,
                        threshold: config.threshold,
                        high,
                        baseline_mean: mean,
                        baseline_sd: sd,
                        centre,
                    };
                    alarms.push((
                        cusum / config.threshold,
                        mk(*rank, kind, Some(recs[rank].1)),
                    ));
                }
            }
        }

        // Strongest first within the step, so the attribution names the clearest deviation.
        alarms.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.rank.cmp(&b.1.rank)));
        let mut quarantine = BTreeSet::new();
        for (_, mut alarm) in alarms {
            if !matches!(alarm.kind, AlarmKind::Heartbeat { .. }) {
                quarantine.insert(alarm.rank);
                if !run.first_fired {
                    run.first_fired = true;
                    alarm.first = true;
                }
            }
            self.counters.alarms += 1;
            out.push(alarm);
        }
        for rank in quarantine {
            if let Some(rs) = run.ranks.get_mut(&rank) {
                rs.quarantined = true;
            }
        }
    }

    /// Steps processed so far over all runs.
    pub fn steps(&self) -> u64 {
        self.counters.steps
    }

    /// Ranks of each run, for the listener's time-based heartbeat.
    pub fn known_ranks(&self) -> Vec<(String, Vec<u32>)> {
        let mut out: Vec<(String, Vec<u32>)> = self
            .runs
            .iter()
            .map(|(k, r)| (k.clone(), r.ranks.keys().copied().collect()))
            .collect();
        out.sort();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn robust_baseline_drops_warmup_outliers() {
        let mut samples: Vec<f64> = (0..40).map(|i| f64::from(i % 5) * 0.1).collect();
        samples.push(100.0);
        let (mean, sd) = robust_baseline(&samples, 4.0);
        assert!((mean - 0.2).abs() < 1e-9, "{mean}");
        assert!(sd < 0.2, "{sd}");
        let (mean, sd) = robust_baseline(&[1.0; 10], 4.0);
        assert_eq!((mean, sd), (1.0, 1e-6));
    }
}
