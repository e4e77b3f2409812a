//! `listen`: the detector over UDP datagrams, live.
//!
//! One datagram is one record (optionally HMAC-tagged, see [`crate::auth`]). Oversized,
//! unauthenticated and invalid datagrams are counted and skipped, never fatal. Alarms are
//! reported as they fire (`Events::live_finding`), appended to `--alerts` as flushed JSON lines,
//! and exposed on the optional Prometheus endpoint.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use mlsec_core::{Context, Finding, Report};

use crate::ListenArgs;
use crate::auth::{self, Key};
use crate::calibration;
use crate::detector::{Alarm, Config, Detector, Source};
use crate::findings::Findings;
use crate::record::{MAX_RECORD_BYTES, parse_record};
use crate::rules;

/// The largest datagram accepted: a record plus its tag.
pub const MAX_DATAGRAM: usize = MAX_RECORD_BYTES + auth::TAG_HEX_LEN + 1;
/// Requested socket receive buffer.
const RECV_BUFFER: usize = 8 << 20;
/// Datagrams read per wake-up before the loop looks at timers and signals again.
const BATCH: usize = 256;

/// Counters shared with the metrics endpoint.
#[derive(Debug, Default)]
pub struct Metrics {
    pub datagrams: AtomicU64,
    pub records: AtomicU64,
    pub invalid: AtomicU64,
    pub oversize: AtomicU64,
    pub auth_failed: AtomicU64,
    pub alarms: AtomicU64,
    pub steps: AtomicU64,
    pub alarms_by_rank: Mutex<BTreeMap<u32, u64>>,
}

impl Metrics {
    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut counter = |name: &str, help: &str, v: u64| {
            out.push_str(&format!(
                "# HELP mlsec_poison_{name} {help}\n# TYPE mlsec_poison_{name} counter\nmlsec_poison_{name} {v}\n"
            ));
        };
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        counter(
            "datagrams_total",
            "Datagrams received.",
            get(&self.datagrams),
        );
        counter(
            "records_total",
            "Valid records accepted.",
            get(&self.records),
        );
        counter(
            "invalid_total",
            "Datagrams dropped as invalid records.",
            get(&self.invalid),
        );
        counter(
            "oversize_total",
            "Datagrams dropped as oversized.",
            get(&self.oversize),
        );
        counter(
            "auth_failed_total",
            "Datagrams dropped for a missing or bad HMAC tag.",
            get(&self.auth_failed),
        );
        counter("steps_total", "Steps processed.", get(&self.steps));
        counter("alarms_total", "Alarms raised.", get(&self.alarms));
        out.push_str("# HELP mlsec_poison_rank_alarms_total Alarms raised per rank.\n# TYPE mlsec_poison_rank_alarms_total counter\n");
        if let Ok(map) = self.alarms_by_rank.lock() {
            for (rank, n) in map.iter() {
                out.push_str(&format!(
                    "mlsec_poison_rank_alarms_total{{rank=\"{rank}\"}} {n}\n"
                ));
            }
        }
        out
    }
}

/// Waits for SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).ok();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = async {
                match term.as_mut() {
                    Some(t) => { t.recv().await; }
                    None => std::future::pending::<()>().await,
                }
            } => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

pub fn run(args: &ListenArgs, ctx: &Context) -> anyhow::Result<Report> {
    let socket = std::net::UdpSocket::bind((args.host.as_str(), args.port))
        .with_context(|| format!("cannot bind udp {}:{}", args.host, args.port))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(listen_on(socket, args, ctx, shutdown_signal()))
}

/// Listens on an already bound socket until `shutdown` completes, `--max-steps` is reached.
pub async fn listen_on(
    socket: std::net::UdpSocket,
    args: &ListenArgs,
    ctx: &Context<'_>,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<Report> {
    anyhow::ensure!(
        args.false_alarm_rate > 0.0 && args.false_alarm_rate < 1.0,
        "--false-alarm-rate must be in (0, 1)"
    );
    anyhow::ensure!(
        args.inactivity_timeout > 0.0,
        "--inactivity-timeout must be positive"
    );
    let key = args.key_file.as_deref().map(Key::load).transpose()?;
    socket.set_nonblocking(true)?;
    // A large receive buffer absorbs bursts (best effort: the kernel caps it at rmem_max).
    let _ = socket2::SockRef::from(&socket).set_recv_buffer_size(RECV_BUFFER);
    let local = socket.local_addr()?;
    let socket = tokio::net::UdpSocket::from_std(socket)?;
    let label = format!("udp:{local}");
    let mut alerts = match &args.alerts {
        Some(path) => Some(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("cannot open alerts file {}", path.display()))?,
        ),
        None => None,
    };
    let metrics = Arc::new(Metrics::default());
    if let Some(addr) = &args.metrics {
        let listener = tokio::net::TcpListener::bind(addr.as_str())
            .await
            .with_context(|| format!("cannot bind metrics endpoint {addr}"))?;
        tokio::spawn(serve_metrics(listener, Arc::clone(&metrics)));
        ctx.events
            .status(&format!("metrics on http://{addr}/metrics"));
    }
    let threshold = calibration::threshold_for(args.false_alarm_rate, calibration::STATS_PER_RANK);
    let mut detector = Detector::new(Config {
        warmup: args.warmup.max(1),
        threshold,
        expected_workers: args.expected_workers,
        ..Config::default()
    });
    ctx.events.status(&format!(
        "listening on {label}{} (cusum threshold {threshold:.2})",
        if key.is_some() {
            " with HMAC authentication"
        } else {
            ""
        }
    ));

    let mut state = LoopState {
        label,
        findings: Findings::default(),
        last_seen: HashMap::new(),
        latencies_us: Vec::new(),
        first_datagram: None,
        last_datagram: None,
        invalid_examples: Vec::new(),
    };
    let mut buf = vec![0u8; 65_536];
    let mut alarms = Vec::new();
    let summary_every = Duration::from_secs_f64(args.summary_every.max(0.1));
    let mut summary =
        tokio::time::interval_at(tokio::time::Instant::now() + summary_every, summary_every);
    let timeout = Duration::from_secs_f64(args.inactivity_timeout);
    let mut heartbeat = tokio::time::interval(timeout.min(Duration::from_secs(1)));
    let max_steps = args.max_steps.unwrap_or(u64::MAX);
    let mut reached_max = false;
    tokio::pin!(shutdown);
    while !reached_max {
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            ready = socket.readable() => {
                ready?;
                for _ in 0..BATCH {
                    let n = match socket.try_recv_from(&mut buf) {
                        Ok((n, _)) => n,
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                        // ICMP errors and the like: the socket is still usable.
                        Err(_) => continue,
                    };
                    let received = Instant::now();
                    handle_datagram(&buf[..n], received, key.as_ref(), &mut detector, &metrics, &mut state, &mut alarms);
                    state.first_datagram.get_or_insert(received);
                    state.last_datagram = Some(received);
                    if !alarms.is_empty() {
                        state.report_alarms(&mut alarms, ctx, &mut alerts, &metrics, Some(received));
                    }
                    metrics.steps.store(detector.steps(), Ordering::Relaxed);
                    if detector.steps() >= max_steps {
                        reached_max = true;
                        break;
                    }
                }
            }
            _ = summary.tick() => {
                if !ctx.quiet {
                    ctx.events.status(&summary_line(&state.label, &detector, &metrics));
                }
            }
            _ = heartbeat.tick() => {
                let now = Instant::now();
                for (run, ranks) in detector.known_ranks() {
                    let ages: Vec<(u32, Option<Duration>)> = ranks
                        .iter()
                        .map(|r| {
                            let seen = state.last_seen.get(&run).and_then(|m| m.get(r));
                            (*r, seen.map(|t| now - *t))
                        })
                        .collect();
                    let stale = rules::silent_ranks(&ages, timeout);
                    if !stale.is_empty() {
                        detector.heartbeat_timeout(&run, &stale, &mut alarms);
                    }
                }
                if !alarms.is_empty() {
                    state.report_alarms(&mut alarms, ctx, &mut alerts, &metrics, None);
                }
            }
        }
    }
    if !reached_max {
        detector.finish(&mut alarms);
        state.report_alarms(&mut alarms, ctx, &mut alerts, &metrics, None);
    }
    let line = summary_line(&state.label, &detector, &metrics);
    ctx.events.status(&format!("shutting down: {line}"));
    Ok(state.into_report(&detector, &metrics, threshold))
}

struct LoopState {
    label: String,
    findings: Findings,
    last_seen: HashMap<String, HashMap<u32, Instant>>,
    latencies_us: Vec<u64>,
    first_datagram: Option<Instant>,
    last_datagram: Option<Instant>,
    invalid_examples: Vec<String>,
}

fn handle_datagram(
    datagram: &[u8],
    received: Instant,
    key: Option<&Key>,
    detector: &mut Detector,
    metrics: &Metrics,
    state: &mut LoopState,
    alarms: &mut Vec<Alarm>,
) {
    metrics.datagrams.fetch_add(1, Ordering::Relaxed);
    if datagram.len() > MAX_DATAGRAM {
        metrics.oversize.fetch_add(1, Ordering::Relaxed);
        return;
    }
    let json = match key {
        Some(key) => match key.open(datagram) {
            Ok(json) => json,
            Err(_) => {
                metrics.auth_failed.fetch_add(1, Ordering::Relaxed);
                return;
            }
        },
        None => auth::strip_tag(datagram),
    };
    match parse_record(json) {
        Ok(record) => {
            metrics.records.fetch_add(1, Ordering::Relaxed);
            // Bounded: at most 256 runs are tracked for the time-based heartbeat.
            if let Some(ranks) = state.last_seen.get_mut(record.run.as_str()) {
                ranks.insert(record.rank, received);
            } else if state.last_seen.len() < 256 {
                let ranks = HashMap::from([(record.rank, received)]);
                state.last_seen.insert(record.run.clone(), ranks);
            }
            detector.push(record, Source::default(), alarms);
        }
        Err(e) => {
            metrics.invalid.fetch_add(1, Ordering::Relaxed);
            if state.invalid_examples.len() < 5 {
                state.invalid_examples.push(e.to_string());
            }
        }
    }
}

impl LoopState {
    fn report_alarms(
        &mut self,
        alarms: &mut Vec<Alarm>,
        ctx: &Context,
        alerts: &mut Option<std::fs::File>,
        metrics: &Metrics,
        received: Option<Instant>,
    ) {
        for alarm in alarms.drain(..) {
            metrics.alarms.fetch_add(1, Ordering::Relaxed);
            if let Ok(mut map) = self.alarms_by_rank(metrics) {
                *map.entry(alarm.rank).or_default() += 1;
            }
            let label = &self.label;
            let opened = self.findings.add(
                &alarm,
                |_| (label.clone(), None),
                |finding| {
                    if let Some(file) = alerts.as_mut() {
                        let line = alert_json(finding, &alarm);
                        // One write per line on an unbuffered file: flushed as it fires.
                        let _ = file.write_all(line.as_bytes());
                    }
                    ctx.events.live_finding(finding);
                },
            );
            if !opened {
                continue;
            }
            if let Some(t) = received {
                self.latencies_us.push(t.elapsed().as_micros() as u64);
            }
        }
    }

    fn alarms_by_rank<'m>(
        &self,
        metrics: &'m Metrics,
    ) -> Result<std::sync::MutexGuard<'m, BTreeMap<u32, u64>>, ()> {
        metrics.alarms_by_rank.lock().map_err(|_| ())
    }

    fn into_report(self, detector: &Detector, metrics: &Metrics, threshold: f64) -> Report {
        let mut report = Report::new();
        report.findings = self.findings.findings;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        report.scanned = get(&metrics.records);
        let dropped = get(&metrics.invalid) + get(&metrics.oversize) + get(&metrics.auth_failed);
        if dropped > 0 {
            report.warnings.push(format!(
                "{dropped} datagrams dropped: {} invalid, {} oversized, {} failed authentication{}",
                get(&metrics.invalid),
                get(&metrics.oversize),
                get(&metrics.auth_failed),
                if self.invalid_examples.is_empty() {
                    String::new()
                } else {
                    format!(" (e.g. {})", self.invalid_examples.join("; "))
                }
            ));
        }
        let c = &detector.counters;
        if c.late > 0 || c.duplicates > 0 {
            report.warnings.push(format!(
                "{} late and {} duplicate records ignored",
                c.late, c.duplicates
            ));
        }
        let mut lat = self.latencies_us.clone();
        lat.sort_unstable();
        let pct = |p: f64| {
            lat.get(((lat.len() as f64 - 1.0) * p).round() as usize)
                .copied()
        };
        let active = match (self.first_datagram, self.last_datagram) {
            (Some(a), Some(b)) => (b - a).as_secs_f64(),
            _ => 0.0,
        };
        report.data.insert(
            "poison_monitor".into(),
            serde_json::json!({
                "listen": self.label,
                "datagrams": get(&metrics.datagrams),
                "records": get(&metrics.records),
                "invalid": get(&metrics.invalid),
                "oversize": get(&metrics.oversize),
                "auth_failed": get(&metrics.auth_failed),
                "duplicates": c.duplicates,
                "late": c.late,
                "steps": c.steps,
                "alarms": c.alarms,
                "threshold": threshold,
                "active_seconds": active,
                "alert_latency_us": {
                    "count": lat.len(),
                    "median": pct(0.5),
                    "p99": pct(0.99),
                    "max": lat.last(),
                },
            }),
        );
        report
    }
}

fn alert_json(finding: &Finding, alarm: &Alarm) -> String {
    let time = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let evidence: serde_json::Map<String, serde_json::Value> = finding
        .evidence
        .iter()
        .map(|(k, v)| ((*k).to_owned(), evidence_value(k, v)))
        .collect();
    let mut line = serde_json::json!({
        "time": time,
        "rule": finding.rule.id,
        "name": finding.rule.name,
        "severity": finding.severity.to_string(),
        "run": alarm.run,
        "rank": alarm.rank,
        "step": alarm.step,
        "message": finding.message,
        "evidence": evidence,
    })
    .to_string();
    line.push('\n');
    line
}

/// Evidence values are strings in a finding; in an alert line the flags are JSON booleans.
fn evidence_value(key: &str, value: &str) -> serde_json::Value {
    match (key, value) {
        ("attribution", "true") => serde_json::Value::Bool(true),
        ("attribution", "false") => serde_json::Value::Bool(false),
        _ => serde_json::Value::String(value.to_owned()),
    }
}

fn summary_line(label: &str, detector: &Detector, m: &Metrics) -> String {
    let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let c = &detector.counters;
    format!(
        "{label}: {} records, {} steps, {} alarms; dropped {} invalid, {} oversized, {} unauthenticated; {} late, {} duplicates",
        get(&m.records),
        c.steps,
        c.alarms,
        get(&m.invalid),
        get(&m.oversize),
        get(&m.auth_failed),
        c.late,
        c.duplicates
    )
}

async fn serve_metrics(listener: tokio::net::TcpListener, metrics: Arc<Metrics>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            continue;
        };
        let metrics = Arc::clone(&metrics);
        tokio::spawn(async move {
            let mut request = [0u8; 4096];
            let read =
                tokio::time::timeout(Duration::from_secs(2), stream.read(&mut request)).await;
            let Ok(Ok(n)) = read else { return };
            let head = String::from_utf8_lossy(&request[..n]);
            let (status, body) = if head.starts_with("GET /metrics") || head.starts_with("GET / ") {
                ("200 OK", metrics.render())
            } else {
                ("404 Not Found", "not found\n".to_owned())
            };
            let response = format!(
                "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes()).await;
            let _ = stream.shutdown().await;
        });
    }
}
