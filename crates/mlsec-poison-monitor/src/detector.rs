//! The streaming detector: records in (any order, duplicates allowed), alarms out. It is the
//! one engine behind `monitor`, `listen`, the simulator's evaluation and the replays.
//!
//! [`Detector::push`] buffers records per run and step; once a step is complete (every
//! expected rank reported, or a later record arrived past the reorder window, or the input
//! ended) `process_step` runs it in three stages:
//!
//! 1. **Bookkeeping and charts** (the math, in this module): which ranks reported and for how
//!    many steps the others have been missing, each rank's window of exact norm bits, and the
//!    CUSUM charts (below); a chart that crosses the threshold becomes a `Signal`.
//! 2. **Rules**: every check of [`crate::rules`] (`CHECKS`), one per rule file, reads the
//!    step's state and returns its alarms with their strengths.
//! 3. **Order and attribution**: the step's alarms strongest first; the run's first attack
//!    alarm is marked as the attribution ([`Alarm::first`]); the ranks that raised attack
//!    alarms are quarantined for the steps that follow.
//!
//! The charts: per step, each rank's statistics are transformed to be near-Gaussian and
//! compared with the other ranks *at the same step*: the residual is the value minus the
//! median of the other non-quarantined ranks, and the z-score divides it by the cross-rank
//! scale of those residuals (an exponentially weighted mean of the in-control squared
//! residuals over the last [`Config::scale_window`] steps, with a floor). Honest ranks run the
//! same model on the same data distribution, so this reference follows everything training
//! does to all ranks alike (loss and norms shrinking, learning-rate warm-up and decay, the
//! spread growing as the loss falls) while one rank departing from the others stands out at
//! once. The winsorised z feeds a two-sided CUSUM per rank and statistic, which keeps slow
//! drifts visible. A rank that alarms is quarantined: it no longer contributes to the others'
//! centre and scale, so colluders cannot drag honest ranks into alarms.
//!
//! With two ranks the cross-section is a difference: both residuals are mirror images and the
//! comparison cannot say which rank moved. The pair is still checked (the alarm fires when the
//! two diverge), and the alarm names the rank whose value moved more against its own recent
//! level, marked as such ([`Shift::paired`]).

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use mlsec_core::Rule;

use crate::record::{N_STATS, Record, Stat};
use crate::rules::{self, CHECKS, Cx, Heartbeat, NonFinite, Replay, Shift};
use crate::whiten::{self, Whitener};

/// Bounds (steps) of the cross-rank scale's memory.
pub const SCALE_STEPS: (f64, f64) = (6.0, 32.0);

/// Where a record came from, for findings: a file index and 1-based line (0 for datagrams).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Source {
    pub file: u32,
    pub line: u32,
}

/// Detector settings; [`Config::default`] is what the command line uses.
#[derive(Debug, Clone)]
pub struct Config {
    /// Steps of each statistic's cross-rank scale estimate before the charts can alarm.
    pub warmup: usize,
    /// CUSUM decision threshold (in cross-rank scale units).
    pub threshold: f64,
    /// CUSUM reference value (half the shift, in sd, the chart is tuned for).
    pub k: f64,
    /// The reference value of the `cos_ref_white` charts. That statistic exists for sign
    /// flips, which move it by a median 1.54 sd per step over the first 10 steps on the
    /// replays of the real recordings, so its chart is tuned to half that: a shard's
    /// persistent offset of about 1 sd accumulates at 0.25 per step instead of the 0.5 of
    /// k = 0.5 (on the recordings it stayed below the threshold).
    pub k_white: f64,
    /// Winsorisation of z-scores.
    pub winsor: f64,
    /// Residuals the cross-rank scale remembers: each step adds one per compared rank, so the
    /// window in steps is this divided by the ranks, within [`SCALE_STEPS`] (a large job adapts
    /// faster to a spread that grows as training converges).
    pub scale_window: f64,
    /// Floor on the cross-rank scale (transformed units): identical ranks do not alarm on float
    /// noise, while a real departure still saturates z.
    pub scale_floor: f64,
    /// A residual enters the scale estimate clipped at this many scales.
    pub scale_clip: f64,
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
    /// Only ranks whose CUSUMs are below this fraction of the threshold feed the scale and
    /// their own offset.
    pub refine_below: f64,
    /// Steps a rank's persistent offset from the others remembers (its own data shard can be
    /// persistently easier or harder); 0 disables the offset.
    pub offset_window: f64,
    /// Prior weight (steps) pulling a young offset estimate towards 0.
    pub offset_prior: f64,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            warmup: crate::calibration::DEFAULT_WARMUP,
            threshold: crate::calibration::DEFAULT_THRESHOLD,
            k: 0.5,
            k_white: 0.75,
            winsor: 4.0,
            scale_window: crate::calibration::DEFAULT_SCALE_WINDOW,
            scale_floor: 1e-4,
            scale_clip: 3.0,
            reorder_window: 16,
            expected_workers: None,
            missing_steps: 3,
            replay_window: 64,
            replay_count: 3,
            history: false,
            refine_below: 0.5,
            offset_window: 100.0,
            offset_prior: 30.0,
        }
    }
}

/// Why an alarm fired: one variant per rule, carrying what its rule's file defines.
#[derive(Debug, Clone, PartialEq)]
pub enum AlarmKind {
    /// A CUSUM chart crossed the threshold ([`rules::GRADIENT_STATISTIC_SHIFT`]).
    Shift(Shift),
    /// NaN or ±Infinity in the record ([`rules::NON_FINITE_STATISTIC`]).
    NonFinite(NonFinite),
    /// The rank's own gradient norm repeated exactly ([`rules::STALE_GRADIENT_REPLAY`]).
    Replay(Replay),
    /// The rank stopped reporting while others did ([`rules::RANK_HEARTBEAT_LOST`]).
    Heartbeat(Heartbeat),
}

impl AlarmKind {
    /// The rule statistic the alarm is about: the statistic's name for a shift, else the
    /// rule's short name. One finding is kept per (run, rank, label).
    pub fn label(&self) -> String {
        match self {
            AlarmKind::Shift(shift) => shift.stat.name().to_owned(),
            AlarmKind::NonFinite(_) => "non-finite".into(),
            AlarmKind::Replay(_) => "replay".into(),
            AlarmKind::Heartbeat(_) => "heartbeat".into(),
        }
    }

    /// The rule that decided the alarm.
    pub fn rule(&self) -> &'static Rule {
        match self {
            AlarmKind::Shift(_) => &rules::GRADIENT_STATISTIC_SHIFT,
            AlarmKind::NonFinite(_) => &rules::NON_FINITE_STATISTIC,
            AlarmKind::Replay(_) => &rules::STALE_GRADIENT_REPLAY,
            AlarmKind::Heartbeat(_) => &rules::RANK_HEARTBEAT_LOST,
        }
    }

    /// An alarm about the rank's gradients (every rule but the heartbeat): it can be the
    /// run's attribution and it quarantines the rank.
    pub fn is_attack(&self) -> bool {
        !matches!(self, AlarmKind::Heartbeat(_))
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

impl Alarm {
    /// An alarm of `run` at `step`; whether it is the run's attribution is the engine's call.
    pub(crate) fn new(
        run: &str,
        step: u64,
        rank: u32,
        kind: AlarmKind,
        source: Option<Source>,
    ) -> Alarm {
        Alarm {
            run: run.to_owned(),
            rank,
            step,
            kind,
            source,
            first: false,
        }
    }
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

#[derive(Debug, Default, Clone)]
struct Chart {
    pos: f64,
    neg: f64,
    /// The rank's own recent level of the transformed value (EWMA), for naming one rank of a
    /// diverging pair.
    level: Option<f64>,
    /// Discounted sum and count of the in-control residuals: the rank's persistent offset is
    /// `offset_sum / (offset_n + prior)`.
    offset_sum: f64,
    offset_n: f64,
    history: Vec<Point>,
}

impl Chart {
    fn offset(&self, prior: f64) -> f64 {
        self.offset_sum / (self.offset_n + prior)
    }

    /// Below `refine_below` of the threshold: the chart's rank may feed the statistic's
    /// scale and its own offset.
    fn in_control(&self, config: &Config) -> bool {
        self.pos.max(self.neg) < config.refine_below * config.threshold
    }
}

/// The cross-rank scale of one statistic in one run.
#[derive(Debug, Default, Clone, Copy)]
struct Scale {
    /// EWMA of the in-control squared residuals.
    var: f64,
    /// Steps that fed it.
    steps: u64,
}

/// What the detector keeps about one rank of a run; the rules read it and set their own
/// "already fired" flag.
#[derive(Debug, Default, Clone)]
pub(crate) struct RankState {
    charts: [Chart; N_STATS],
    /// Alarmed: no longer part of the others' centre and scale.
    quarantined: bool,
    /// Consecutive processed steps without a record (0: reported at the last one).
    pub missing: u64,
    pub last_step: Option<u64>,
    /// Exact norm bits of the last `replay_window` records, and whether each repeated one
    /// before it.
    norms: VecDeque<u64>,
    repeats: VecDeque<bool>,
    /// How many of `repeats` are hits (updated at each step the rank reports).
    pub repeats_in_window: usize,
    records: u64,
    pub heartbeat_fired: bool,
    pub nonfinite_fired: bool,
    pub replay_fired: bool,
}

#[derive(Debug, Default, Clone)]
struct RunState {
    pending: BTreeMap<u64, BTreeMap<u32, (Record, Source)>>,
    done: Option<u64>,
    max_seen: u64,
    world: u32,
    ranks: BTreeMap<u32, RankState>,
    first_fired: bool,
    steps: u64,
    scales: [Scale; N_STATS],
    white: Whitener,
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

/// The streaming detector over any number of runs. A clone continues independently (the
/// replays fork one honest prefix into many attacked futures).
#[derive(Debug, Clone)]
pub struct Detector {
    config: Config,
    runs: HashMap<String, RunState>,
    pub counters: Counters,
    /// The charts that crossed at the step being processed (kept between steps).
    signals: Vec<Signal>,
    /// The rules' buffer (`Cx::scratch`).
    scratch: Vec<f64>,
}

/// A CUSUM chart that crossed the threshold at this step; the chart has restarted. The shift
/// rule turns signals into alarms.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Signal {
    pub rank: u32,
    pub stat: Stat,
    /// The raw value.
    pub value: f64,
    /// The unwinsorised z-score.
    pub z: f64,
    /// The CUSUM value that crossed.
    pub cusum: f64,
    /// The median of the other compared ranks (transformed).
    pub centre: f64,
    /// The cross-rank scale (transformed units).
    pub scale: f64,
    /// Ranks the value was compared with.
    pub compared: u32,
    /// How far the value moved against the rank's own recent level, in scales.
    pub departure: f64,
    /// The upper chart was the larger when it crossed.
    pub high: bool,
    /// Only two ranks were compared.
    pub paired: bool,
    /// Both charts of the compared pair crossed at this step (mirror images): every chart of
    /// the statistic has restarted.
    pub both_of_pair: bool,
}

fn median(values: &mut [f64]) -> f64 {
    mlsec_util::stats::median(values).unwrap_or(f64::NAN)
}

impl Detector {
    pub fn new(config: Config) -> Detector {
        Detector {
            config,
            runs: HashMap::new(),
            counters: Counters::default(),
            signals: Vec::new(),
            scratch: Vec::new(),
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
        if let Some(state) = self.runs.get_mut(run) {
            self.counters.alarms += rules::timed_out(run, &mut state.ranks, stale, out);
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

    /// The engine, once per processed step of a run: the bookkeeping and the charts (the
    /// math, here), then every rule's check ([`CHECKS`]), then the step's alarms strongest
    /// first, the run's first attack alarm marked as its attribution, and the ranks that raised
    /// attack alarms quarantined for the steps that follow.
    fn process_step(
        &mut self,
        run_name: &str,
        step: u64,
        mut recs: BTreeMap<u32, (Record, Source)>,
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
        track_presence(run, step, &recs);
        track_norms(run, config, &recs);
        whiten_sketches(run, config, &mut recs);
        self.signals.clear();
        update_charts(run, config, step, &recs, &mut self.signals);

        let mut alarms: Vec<(f64, Alarm)> = Vec::new();
        let mut cx = Cx {
            config,
            run: run_name,
            step,
            records: &recs,
            ranks: &mut run.ranks,
            signals: &self.signals,
            scratch: &mut self.scratch,
        };
        for (_, check) in CHECKS {
            check(&mut cx, &mut alarms);
        }

        // Strongest first within the step, so the attribution names the clearest deviation.
        alarms.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.rank.cmp(&b.1.rank)));
        let mut quarantine = BTreeSet::new();
        for (_, mut alarm) in alarms {
            if alarm.kind.is_attack() {
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

/// Presence: who reported at this step (a step always has a record; the guard keeps a rank's
/// count unchanged if one ever had none).
fn track_presence(run: &mut RunState, step: u64, recs: &BTreeMap<u32, (Record, Source)>) {
    if recs.is_empty() {
        return;
    }
    for (rank, rs) in run.ranks.iter_mut() {
        if recs.contains_key(rank) {
            rs.missing = 0;
            rs.last_step = Some(step);
            rs.records += 1;
        } else {
            rs.missing += 1;
        }
    }
}

/// Norm repetition: each reporting rank's window of exact norm bits and how many of its
/// records repeated a norm already in the window.
fn track_norms(run: &mut RunState, config: &Config, recs: &BTreeMap<u32, (Record, Source)>) {
    for (rank, (rec, _)) in recs {
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
        rs.repeats_in_window = rs.repeats.iter().filter(|h| **h).count();
    }
}

/// Sets each rank's `cos_ref_white` from the step's sketches ([`crate::whiten`]). Only ranks
/// in control (not quarantined, every chart below `refine_below` of the threshold, the rule
/// the cross-rank scales use) teach the whitener their noise.
fn whiten_sketches(
    run: &mut RunState,
    config: &Config,
    recs: &mut BTreeMap<u32, (Record, Source)>,
) {
    let inputs: Vec<whiten::Input> =
        recs.iter()
            .map(|(rank, (rec, _))| whiten::Input {
                rank: *rank,
                sketch: rec.sketch.as_deref(),
                trusted: run.ranks.get(rank).is_none_or(|r| {
                    !r.quarantined && r.charts.iter().all(|c| c.in_control(config))
                }),
            })
            .collect();
    let values = run.white.step(&inputs);
    for (rank, value) in values {
        if let Some((rec, _)) = recs.get_mut(&rank) {
            rec.values[Stat::CosRefWhite.index()] = Some(value);
        }
    }
}

/// The CUSUM charts on the cross-sectional z-scores, one per rank and statistic; the charts
/// that crossed the threshold are appended to `signals` (in statistic then rank order) and
/// restart.
fn update_charts(
    run: &mut RunState,
    config: &Config,
    step: u64,
    recs: &BTreeMap<u32, (Record, Source)>,
    signals: &mut Vec<Signal>,
) {
    // CUSUM charts on the cross-sectional z-scores.
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
        let mut active: Vec<(u32, f64)> = values
            .iter()
            .filter(|(rank, _)| !run.ranks[rank].quarantined)
            .copied()
            .collect();
        if active.len() < 2 {
            active = values.clone();
        }
        let paired = active.len() == 2;
        // Residual of each rank against the median of the *other* active ranks.
        let mut residuals: Vec<(u32, f64, f64, u32)> = Vec::with_capacity(values.len());
        for (rank, t) in &values {
            let mut others: Vec<f64> = active
                .iter()
                .filter(|(r, _)| r != rank)
                .map(|(_, x)| *x)
                .collect();
            if others.is_empty() {
                continue;
            }
            let centre = median(&mut others);
            let offset = run.ranks[rank].charts[stat.index()].offset(config.offset_prior);
            residuals.push((*rank, t - centre - offset, centre, others.len() as u32));
        }
        // The scale: in-control residuals of the active ranks at this step join the EWMA
        // before the z-scores are taken, so a spread that grows with training is followed
        // without lag; each is clipped, and ranks already drifting (CUSUM past
        // `refine_below` of the threshold) stay out, so an attacker cannot inflate it.
        let scale_state = &mut run.scales[stat.index()];
        let fresh: Vec<f64> = residuals
            .iter()
            .filter(|(rank, ..)| {
                let rs = &run.ranks[rank];
                let chart = &rs.charts[stat.index()];
                !rs.quarantined && chart.in_control(config)
            })
            .map(|(_, r, ..)| r * r)
            .collect();
        if !fresh.is_empty() {
            let reference = if scale_state.steps > 0 {
                scale_state.var
            } else {
                // First step: the median squared residual (0.455 is the median of χ²₁).
                median(&mut fresh.clone()) / 0.455
            };
            let cap = config.scale_clip * config.scale_clip * reference;
            let mean = fresh.iter().map(|x| x.min(cap)).sum::<f64>() / fresh.len() as f64;
            scale_state.steps += 1;
            let window =
                (config.scale_window / active.len() as f64).clamp(SCALE_STEPS.0, SCALE_STEPS.1);
            let w = 1.0 / (scale_state.steps as f64).min(window);
            scale_state.var += w * (mean - scale_state.var);
        }
        let scale = scale_state.var.sqrt().max(config.scale_floor);
        let armed = scale_state.steps >= config.warmup.max(1) as u64;
        let first = signals.len();
        // Persistent offsets learn from in-control residuals within 3 scales only, slowly.
        if config.offset_window > 0.0 {
            let keep = 1.0 - 1.0 / config.offset_window.max(1.0);
            for (rank, residual, ..) in &residuals {
                let rs = run.ranks.get_mut(rank).expect("rank registered");
                let chart = &mut rs.charts[stat.index()];
                if !rs.quarantined
                    && chart.in_control(config)
                    && residual.abs() < config.scale_clip * scale
                {
                    let raw = residual + chart.offset(config.offset_prior);
                    chart.offset_sum = keep * chart.offset_sum + raw;
                    chart.offset_n = keep * chart.offset_n + 1.0;
                }
            }
        }
        for (rank, residual, centre, compared) in residuals {
            let t = values
                .iter()
                .find(|(r, _)| *r == rank)
                .map_or(0.0, |(_, t)| *t);
            let rs = run.ranks.get_mut(&rank).expect("rank registered");
            let chart = &mut rs.charts[stat.index()];
            let departure = chart.level.map_or(0.0, |l| (t - l).abs() / scale);
            chart.level = Some(match chart.level {
                Some(l) => l + (t - l) / config.scale_window.max(1.0),
                None => t,
            });
            if !armed {
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
            }
            let raw_z = residual / scale;
            let z = raw_z.clamp(-config.winsor, config.winsor);
            let k = if stat == Stat::CosRefWhite {
                config.k_white
            } else {
                config.k
            };
            chart.pos = (chart.pos + z - k).max(0.0);
            chart.neg = (chart.neg - z - k).max(0.0);
            let cusum = chart.pos.max(chart.neg);
            let alarm = cusum > config.threshold;
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
                signals.push(Signal {
                    rank,
                    stat,
                    value: recs[&rank].0.value(stat).unwrap_or(f64::NAN),
                    z: raw_z,
                    cusum,
                    centre,
                    scale,
                    compared,
                    departure,
                    high: chart.pos >= chart.neg,
                    paired,
                    both_of_pair: false,
                });
            }
        }
        // A chart restarts after it crossed. When both charts of a compared pair crossed
        // (mirror images), every chart of the statistic restarts.
        let fired = &mut signals[first..];
        if paired && fired.len() == 2 {
            for s in fired.iter_mut() {
                s.both_of_pair = true;
            }
            for rs in run.ranks.values_mut() {
                let chart = &mut rs.charts[stat.index()];
                chart.pos = 0.0;
                chart.neg = 0.0;
            }
        }
        for s in fired.iter() {
            let rs = run.ranks.get_mut(&s.rank).expect("rank registered");
            let chart = &mut rs.charts[stat.index()];
            chart.pos = 0.0;
            chart.neg = 0.0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), 2.5);
    }
}
