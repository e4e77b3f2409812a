//! `mlsec poison-monitor`: catch gradient poisoning in distributed training, from logs
//! (`monitor`) and live over UDP (`listen`), with a simulator (`simulate`) that the calibration
//! and the evaluation run on.
//!
//! How a record becomes a finding:
//!
//! ```text
//! monitor: *.jsonl ─┐                        detector::Detector (one engine for every mode)
//!                   ├─ record::parse_record ─▶ per step: bookkeeping + CUSUM charts (math)
//! listen:  UDP ─────┘   (auth: HMAC tag)       ─▶ rules::CHECKS, one check per rule file
//!                                               ─▶ alarms ordered, attributed, ranks quarantined
//!            findings::Findings ◀── Alarm ──────┘   (one finding per run/rank/rule/statistic;
//!                 │                                   the text comes from the rule's file)
//!                 └─▶ Report (monitor: at the end; listen: live events, --alerts, at the end)
//! ```
//!
//! - [`record`]: the record format and its parser (bounded, NaN-aware).
//! - [`detector`]: the streaming engine and the detection math (cross-rank centring and
//!   scale, CUSUM charts, presence and norm-repetition bookkeeping).
//! - [`rules`]: one file per rule: its declaration and docs, what its alarm carries, the check
//!   that decides it at each step and its finding's message and evidence.
//! - `monitor` and [`listen`]: the two front ends over the same detector; [`eval`] and
//!   [`replay`] run it on simulated streams and on real-training recordings with injected
//!   attacks; [`sim`] writes simulated logs; [`calibration`] maps a false-alarm rate to the
//!   CUSUM threshold.
//!
//! See `docs/poison-monitor.md` for the record format, the detection, the calibration, the
//! HMAC wire format and the evaluation table.

pub mod auth;
pub mod calibration;
pub mod detector;
pub mod eval;
mod findings;
mod html;
pub mod listen;
mod monitor;
pub mod record;
pub mod replay;
pub mod rules;
pub mod sim;
pub mod whiten;

use std::path::PathBuf;

use mlsec_core::{Context, Report};

pub use findings::alarm_to_finding;
/// Every rule this subcommand can report.
pub use rules::RULES;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Check training logs (one JSON record per rank per step) for poisoning; exits 2 on alarm.
    Monitor(MonitorArgs),
    /// Receive records over UDP and alarm as they arrive, until interrupted or --max-steps.
    Listen(ListenArgs),
    /// Write simulated clean or attacked logs (`worker_<rank>.jsonl`, `truth.json`).
    Simulate(SimulateArgs),
}

#[derive(Debug, Clone, clap::Args)]
pub struct MonitorArgs {
    /// Directory with `worker_<rank>.jsonl` (or any `*.jsonl`) files.
    #[arg(long, value_name = "DIR")]
    pub log_dir: PathBuf,
    /// Steps of cross-rank scale estimation before the charts can alarm.
    #[arg(long, value_name = "N", default_value_t = calibration::DEFAULT_WARMUP)]
    pub warmup: usize,
    /// Target false alarms per rank-step (calibrated; default 1 per 10 000 rank-steps).
    #[arg(long, value_name = "R", default_value_t = calibration::DEFAULT_FALSE_ALARM_RATE)]
    pub false_alarm_rate: f64,
    /// Write a self-contained HTML page with per-rank charts and alarms.
    #[arg(long, value_name = "FILE.html")]
    pub report: Option<PathBuf>,
}

#[derive(Debug, Clone, clap::Args)]
pub struct ListenArgs {
    /// Address to bind. Loopback by default: binding elsewhere is an explicit choice.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// UDP port.
    #[arg(long, default_value_t = 5454)]
    pub port: u16,
    /// Number of ranks to expect (else the records' `world`).
    #[arg(long, value_name = "N")]
    pub expected_workers: Option<u32>,
    /// Seconds without a record from a rank, while others report, before the heartbeat alarm.
    #[arg(long, value_name = "SECONDS", default_value_t = 30.0)]
    pub inactivity_timeout: f64,
    /// Append every alert as one JSON line (flushed as it fires).
    #[arg(long, value_name = "FILE.jsonl")]
    pub alerts: Option<PathBuf>,
    /// Require an HMAC-SHA256 tag keyed by this file's contents on every datagram.
    #[arg(long, value_name = "K")]
    pub key_file: Option<PathBuf>,
    /// Stop after this many steps were processed.
    #[arg(long, value_name = "N")]
    pub max_steps: Option<u64>,
    /// Serve Prometheus metrics (text format) on this address, e.g. 127.0.0.1:9464.
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<String>,
    /// Steps of cross-rank scale estimation before the charts can alarm.
    #[arg(long, value_name = "N", default_value_t = calibration::DEFAULT_WARMUP)]
    pub warmup: usize,
    /// Target false alarms per rank-step (calibrated; default 1 per 10 000 rank-steps).
    #[arg(long, value_name = "R", default_value_t = calibration::DEFAULT_FALSE_ALARM_RATE)]
    pub false_alarm_rate: f64,
    /// Seconds between status summaries.
    #[arg(long, value_name = "SECONDS", default_value_t = 10.0)]
    pub summary_every: f64,
}

#[derive(Debug, Clone, clap::Args)]
pub struct SimulateArgs {
    /// Number of ranks.
    #[arg(long, default_value_t = 4)]
    pub workers: u32,
    /// Number of steps.
    #[arg(long, default_value_t = 100)]
    pub steps: u64,
    /// What the attackers do.
    #[arg(long, value_enum, default_value = "none")]
    pub attack: sim::Attack,
    /// Number of attacking ranks.
    #[arg(long, default_value_t = 1)]
    pub attackers: u32,
    /// First attacked step.
    #[arg(long, value_name = "S", default_value_t = 60)]
    pub attack_start: u64,
    /// Random seed.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub seed: u64,
    /// Output directory (created; `monitor --log-dir DIR` reads it).
    #[arg(long, value_name = "DIR", default_value = "gradient_logs")]
    pub out: PathBuf,
}

pub fn run(args: &Args, ctx: &Context) -> anyhow::Result<Report> {
    match &args.command {
        Command::Monitor(a) => monitor::run(a, ctx),
        Command::Listen(a) => listen::run(a, ctx),
        Command::Simulate(a) => simulate(a),
    }
}

fn simulate(args: &SimulateArgs) -> anyhow::Result<Report> {
    anyhow::ensure!(
        (1..=1024).contains(&args.workers),
        "--workers must be between 1 and 1024"
    );
    anyhow::ensure!(
        args.steps <= 10_000_000,
        "--steps must be at most 10 000 000"
    );
    anyhow::ensure!(
        args.attackers >= 1 && args.attackers < args.workers.max(2),
        "--attackers must be at least 1 and fewer than --workers"
    );
    let sim = sim::simulate(&sim::SimConfig {
        workers: args.workers,
        steps: args.steps,
        attack: args.attack,
        attackers: args.attackers,
        attack_start: args.attack_start,
        seed: args.seed,
    });
    sim::write_logs(&sim, &args.out)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", args.out.display()))?;
    let mut report = Report::new();
    report.scanned = sim.records.len() as u64;
    report.data.insert(
        "simulation".into(),
        serde_json::json!({
            "out": args.out.display().to_string(),
            "workers": args.workers,
            "steps": args.steps,
            "attack": args.attack.name(),
            "attackers": sim.attackers,
            "attack_start": args.attack_start,
            "seed": args.seed,
        }),
    );
    let attack = if sim.attackers.is_empty() {
        args.attack.name().to_owned()
    } else {
        format!(
            "{} by ranks {:?} from step {}",
            args.attack.name(),
            sim.attackers,
            args.attack_start
        )
    };
    let out = args.out.display().to_string();
    report.tables.push(mlsec_core::Table {
        title: "Simulated training logs".into(),
        columns: vec!["".into(), "".into()],
        rows: vec![
            vec!["written to".into(), format!("{out}/")],
            vec![
                "records".into(),
                format!(
                    "{} ({} workers × {} steps)",
                    sim.records.len(),
                    args.workers,
                    args.steps
                ),
            ],
            vec!["attack".into(), attack],
            vec![
                "check them with".into(),
                format!("mlsec poison-monitor monitor --log-dir {out}"),
            ],
        ],
    });
    Ok(report)
}
