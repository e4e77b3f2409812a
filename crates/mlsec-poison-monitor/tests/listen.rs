//! The UDP listener on loopback: bounded runs (`--max-steps` plus a timeout), hostile
//! datagrams, HMAC.

use std::net::UdpSocket;
use std::sync::Mutex;
use std::time::Duration;

use mlsec_core::{Context, Events, Finding, Report};
use mlsec_poison_monitor::ListenArgs;
use mlsec_poison_monitor::auth::Key;
use mlsec_poison_monitor::listen::{Metrics, listen_on};
use mlsec_poison_monitor::sim::{self, Attack, SimConfig};

#[derive(Default)]
struct Collect {
    live: Mutex<Vec<String>>,
    status: Mutex<Vec<String>>,
}

impl Events for Collect {
    fn live_finding(&self, f: &Finding) {
        self.live
            .lock()
            .unwrap()
            .push(format!("{} {}", f.rule.id, f.location));
    }
    fn status(&self, line: &str) {
        self.status.lock().unwrap().push(line.to_owned());
    }
}

fn args(max_steps: u64) -> ListenArgs {
    ListenArgs {
        host: "127.0.0.1".into(),
        port: 0,
        expected_workers: Some(4),
        inactivity_timeout: 30.0,
        alerts: None,
        key_file: None,
        max_steps: Some(max_steps),
        metrics: None,
        warmup: 40,
        false_alarm_rate: 1e-4,
        summary_every: 0.2,
    }
}

/// Runs the listener on a loopback socket while `send` sends to it; bounded by 30 s.
fn listen_while(
    args: ListenArgs,
    send: impl FnOnce(&UdpSocket, std::net::SocketAddr) + Send,
) -> (Report, Collect) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = socket.local_addr().unwrap();
    let events = Collect::default();
    let report = std::thread::scope(|scope| {
        let listener = scope.spawn(|| {
            let ctx = Context {
                verbose: false,
                quiet: false,
                events: &events,
            };
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(listen_on(socket, &args, &ctx, async {
                tokio::time::sleep(Duration::from_secs(30)).await
            }))
        });
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        send(&sender, addr);
        listener.join().unwrap().unwrap()
    });
    (report, events)
}

fn attacked() -> sim::Simulation {
    sim::simulate(&SimConfig {
        workers: 4,
        steps: 100,
        attack: Attack::Spike,
        attackers: 1,
        attack_start: 60,
        seed: 21,
    })
}

/// Sends with a pause every 8 datagrams: loopback UDP drops what the receiver's buffer cannot
/// hold, and a debug-build listener on a loaded machine lost 14 of 400 records at one pause
/// per 32.
fn send_paced(socket: &UdpSocket, addr: std::net::SocketAddr, datagrams: &[Vec<u8>]) {
    for (i, d) in datagrams.iter().enumerate() {
        socket.send_to(d, addr).unwrap();
        if i % 8 == 7 {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

#[test]
fn survives_hostile_datagrams_alarms_live_and_honours_max_steps() {
    let sim = attacked();
    let dir = tempfile::tempdir().unwrap();
    let alerts = dir.path().join("alerts.jsonl");
    let mut a = args(100);
    a.alerts = Some(alerts.clone());
    let mut datagrams: Vec<Vec<u8>> = vec![
        b"garbage".to_vec(),
        vec![b'{'; 30_000],
        br#"{"v":1,"rank":0}"#.to_vec(),
        vec![0xff, 0x00, 0x13],
        Vec::new(),
    ];
    datagrams.extend(
        sim.records
            .iter()
            .map(|r| sim::to_json_line(r, 100).into_bytes()),
    );
    // Beyond --max-steps: must not be needed to finish.
    let (report, events) = listen_while(a, |s, addr| send_paced(s, addr, &datagrams));
    let data = &report.data["poison_monitor"];
    assert_eq!(data["invalid"], 4, "{data}");
    assert_eq!(data["oversize"], 1, "{data}");
    assert_eq!(data["steps"], 100, "{data}");
    assert_eq!(data["records"], 400, "{data}");
    let attacker = sim.attackers[0];
    let first = report
        .findings
        .iter()
        .find(|f| f.evidence["attribution"] == "true")
        .expect("attributed alarm");
    assert_eq!(first.rule.id, "POIS001");
    assert!(first.location.file.starts_with("udp:127.0.0.1:"));
    assert!(
        matches!(first.location.pointer, Some(mlsec_core::Pointer::Rank { rank, .. }) if rank == attacker)
    );
    let live = events.live.lock().unwrap();
    assert_eq!(live.len(), report.findings.len());
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&alerts)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), report.findings.len());
    assert_eq!(lines[0]["rank"], attacker);
    assert_eq!(lines[0]["rule"], "POIS001");
    // The attribution flag is a JSON boolean in the alert line, not the string "true".
    assert_eq!(
        lines[0]["evidence"]["attribution"],
        serde_json::Value::Bool(true)
    );
    assert!(
        lines[1..]
            .iter()
            .all(|l| l["evidence"]["attribution"] == serde_json::Value::Bool(false)),
        "{lines:?}"
    );
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.contains("5 datagrams dropped")),
        "{:?}",
        report.warnings
    );
    assert!(
        events
            .status
            .lock()
            .unwrap()
            .iter()
            .any(|s| s.starts_with("shutting down"))
    );
    assert!(data["alert_latency_us"]["count"].as_u64().unwrap() >= 1);
}

#[test]
fn hmac_accepts_tagged_and_drops_the_rest() {
    let sim = attacked();
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("key");
    std::fs::write(&key_file, "a shared secret of enough bytes\n").unwrap();
    let key = Key::load(&key_file).unwrap();
    let wrong = Key::new(b"some other secret key").unwrap();
    let mut a = args(70);
    a.key_file = Some(key_file);
    let mut datagrams = Vec::new();
    for r in &sim.records {
        let json = sim::to_json_line(r, 100).into_bytes();
        if r.step == 3 {
            datagrams.push(json.clone()); // untagged
            datagrams.push(wrong.seal(&json)); // wrong key
        }
        datagrams.push(key.seal(&json));
    }
    let (report, _) = listen_while(a, |s, addr| send_paced(s, addr, &datagrams));
    let data = &report.data["poison_monitor"];
    assert_eq!(data["auth_failed"], 8, "{data}");
    assert_eq!(data["invalid"], 0, "{data}");
    assert_eq!(data["steps"], 70, "{data}");
    assert!(report.findings.iter().any(|f| f.rule.id == "POIS001"));
}

#[test]
fn metrics_text_names_counters_and_ranks() {
    let m = Metrics::default();
    m.records.store(12, std::sync::atomic::Ordering::Relaxed);
    m.alarms_by_rank.lock().unwrap().insert(3, 2);
    let text = m.render();
    assert!(text.contains("mlsec_poison_records_total 12\n"));
    assert!(text.contains("mlsec_poison_rank_alarms_total{rank=\"3\"} 2\n"));
    assert!(text.contains("# TYPE mlsec_poison_oversize_total counter"));
}
