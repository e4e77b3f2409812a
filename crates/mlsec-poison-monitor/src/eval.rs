//! Calibration and evaluation on simulated streams (used by the benchmark, the calibration
//! and the tests).

use crate::detector::{Alarm, AlarmKind, Config, Detector, Source};
use crate::sim::{Attack, SimConfig, Simulation, simulate};

/// Runs the detector over a simulation's records (in order, as a log would give them).
pub fn detect(sim: &Simulation, config: Config) -> Vec<Alarm> {
    let mut detector = Detector::new(config);
    let mut alarms = Vec::new();
    for record in &sim.records {
        detector.push(record.clone(), Source::default(), &mut alarms);
    }
    detector.finish(&mut alarms);
    alarms
}

fn is_attack_alarm(a: &Alarm) -> bool {
    a.kind.is_attack()
}

/// False alarms on clean streams.
#[derive(Debug, Clone, Default)]
pub struct CleanResult {
    pub runs: usize,
    /// Rank-steps from step 0 (warm-up included: the goal holds from the first step).
    pub rank_steps: u64,
    pub alarms: u64,
}

impl CleanResult {
    pub fn per_10k_rank_steps(&self) -> f64 {
        self.alarms as f64 * 1e4 / self.rank_steps.max(1) as f64
    }
}

/// Clean simulations over `seeds`: every alarm is a false alarm. Rank-steps are counted from
/// step 0.
pub fn clean(
    workers: u32,
    steps: u64,
    seeds: std::ops::Range<u64>,
    config: &Config,
) -> CleanResult {
    let mut out = CleanResult::default();
    for seed in seeds {
        let sim = simulate(&SimConfig {
            workers,
            steps,
            attack: Attack::None,
            attackers: 1,
            attack_start: 0,
            seed,
        });
        let alarms = detect(&sim, config.clone());
        out.runs += 1;
        out.rank_steps += steps * u64::from(workers);
        out.alarms += alarms.len() as u64;
    }
    out
}

/// Measured false-alarm rate per chart per step (from step 0) for each threshold in
/// `thresholds`, on clean streams of `workers` ranks (5 charts each).
pub fn calibrate(
    workers: u32,
    steps: u64,
    seeds: std::ops::Range<u64>,
    thresholds: &[f64],
    warmup: usize,
) -> Vec<(f64, u64, f64)> {
    let sims: Vec<Simulation> = seeds
        .map(|seed| {
            simulate(&SimConfig {
                workers,
                steps,
                attack: Attack::None,
                attackers: 1,
                attack_start: 0,
                seed,
            })
        })
        .collect();
    let chart_steps = sims.len() as f64 * f64::from(workers) * 5.0 * steps as f64;
    thresholds
        .iter()
        .map(|&h| {
            let config = Config {
                threshold: h,
                warmup,
                ..Config::default()
            };
            let n: u64 = sims
                .iter()
                .map(|sim| {
                    detect(sim, config.clone())
                        .iter()
                        .filter(|a| matches!(a.kind, AlarmKind::Shift(_)))
                        .count() as u64
                })
                .sum();
            (h, n, n as f64 / chart_steps)
        })
        .collect()
}

/// One attack scenario over several seeds.
#[derive(Debug, Clone)]
pub struct ScenarioResult {
    pub attack: Attack,
    pub workers: u32,
    pub attackers: u32,
    pub runs: usize,
    /// Detection delays (steps from the attack start to the first alarm) of detected runs.
    pub delays: Vec<u64>,
    /// Runs whose first alarm named an attacker.
    pub attributed: usize,
    /// Runs with an alarm before the attack started.
    pub early_alarms: usize,
}

impl ScenarioResult {
    pub fn median_delay(&self) -> Option<f64> {
        if self.delays.len() * 2 <= self.runs {
            return None; // fewer than half detected: the median is "not detected"
        }
        let mut d: Vec<u64> = self.delays.clone();
        d.resize(self.runs, u64::MAX);
        d.sort_unstable();
        let n = d.len();
        Some(if n % 2 == 1 {
            d[n / 2] as f64
        } else {
            (d[n / 2 - 1] as f64 + d[n / 2] as f64) / 2.0
        })
    }

    pub fn attribution_rate(&self) -> f64 {
        self.attributed as f64 / self.runs.max(1) as f64
    }
}

/// Runs one attack over `seeds`.
#[allow(clippy::too_many_arguments)]
pub fn scenario(
    attack: Attack,
    workers: u32,
    attackers: u32,
    steps: u64,
    attack_start: u64,
    seeds: std::ops::Range<u64>,
    config: &Config,
) -> ScenarioResult {
    let mut out = ScenarioResult {
        attack,
        workers,
        attackers,
        runs: 0,
        delays: Vec::new(),
        attributed: 0,
        early_alarms: 0,
    };
    for seed in seeds {
        let sim = simulate(&SimConfig {
            workers,
            steps,
            attack,
            attackers,
            attack_start,
            seed,
        });
        let alarms = detect(&sim, config.clone());
        out.runs += 1;
        if alarms
            .iter()
            .any(|a| is_attack_alarm(a) && a.step < attack_start)
        {
            out.early_alarms += 1;
        }
        if let Some(first) = alarms
            .iter()
            .find(|a| is_attack_alarm(a) && a.step >= attack_start)
        {
            out.delays.push(first.step - attack_start);
        }
        if let Some(first) = alarms.iter().find(|a| a.first)
            && first.step >= attack_start
            && sim.attackers.contains(&first.rank)
        {
            out.attributed += 1;
        }
    }
    out
}

/// What the loopback listener measurement found.
#[derive(Debug, Clone)]
pub struct Throughput {
    /// Records offered per second by the sender (`None`: as fast as it can).
    pub offered_rate: Option<f64>,
    pub sent: u64,
    pub received: u64,
    /// Seconds between the first and the last datagram the listener handled.
    pub seconds: f64,
    pub alarms: u64,
    /// Alert latency (datagram received → alert written), microseconds: median, p99, max.
    pub latency_us: (u64, u64, u64),
}

impl Throughput {
    pub fn records_per_second(&self) -> f64 {
        self.received as f64 / self.seconds.max(1e-9)
    }
}

/// Sends `steps` steps of an 8-worker stream (one spike attacker from step 100) to a listener
/// on 127.0.0.1, paced at `rate` records/s (or unpaced), and measures what it kept up with.
/// Bounded: the listener is stopped 0.5 s after the last datagram.
pub fn listener_throughput(steps: u64, rate: Option<f64>) -> anyhow::Result<Throughput> {
    use std::time::{Duration, Instant};
    let sim = simulate(&SimConfig {
        workers: 8,
        steps,
        attack: Attack::Spike,
        attackers: 1,
        attack_start: 100,
        seed: 99,
    });
    let datagrams: Vec<Vec<u8>> = sim
        .records
        .iter()
        .map(|r| crate::sim::to_json_line(r, steps).into_bytes())
        .collect();
    let socket = std::net::UdpSocket::bind("127.0.0.1:0")?;
    let addr = socket.local_addr()?;
    let args = crate::ListenArgs {
        host: "127.0.0.1".into(),
        port: addr.port(),
        expected_workers: Some(8),
        inactivity_timeout: 3600.0,
        alerts: None,
        key_file: None,
        max_steps: None,
        metrics: None,
        warmup: crate::calibration::DEFAULT_WARMUP,
        false_alarm_rate: crate::calibration::DEFAULT_FALSE_ALARM_RATE,
        summary_every: 3600.0,
    };
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let report = std::thread::scope(|scope| -> anyhow::Result<mlsec_core::Report> {
        let listener = scope.spawn(|| -> anyhow::Result<mlsec_core::Report> {
            let ctx = mlsec_core::Context::silent();
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(crate::listen::listen_on(socket, &args, &ctx, async {
                let _ = stop_rx.await;
            }))
        });
        let sender = std::net::UdpSocket::bind("127.0.0.1:0")?;
        std::thread::sleep(Duration::from_millis(50));
        let start = Instant::now();
        for (i, d) in datagrams.iter().enumerate() {
            let _ = sender.send_to(d, addr);
            if let Some(rate) = rate
                && i % 64 == 63
            {
                let due = Duration::from_secs_f64((i + 1) as f64 / rate);
                if let Some(wait) = due.checked_sub(start.elapsed()) {
                    std::thread::sleep(wait);
                }
            }
        }
        std::thread::sleep(Duration::from_millis(500));
        let _ = stop_tx.send(());
        listener
            .join()
            .map_err(|_| anyhow::anyhow!("listener thread panicked"))?
    })?;
    let data = &report.data["poison_monitor"];
    let get = |k: &str| data[k].as_u64().unwrap_or(0);
    let lat = |k: &str| data["alert_latency_us"][k].as_u64().unwrap_or(0);
    Ok(Throughput {
        offered_rate: rate,
        sent: datagrams.len() as u64,
        received: get("records"),
        seconds: data["active_seconds"].as_f64().unwrap_or(0.0),
        alarms: get("alarms"),
        latency_us: (lat("median"), lat("p99"), lat("max")),
    })
}
