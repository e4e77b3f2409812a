//! The poison-monitor record parser in both its forms: the input as JSONL (one record per line,
//! as `monitor` reads a log), and as one UDP datagram (optional HMAC tag stripped or checked,
//! as `listen` receives it). Parsed records go through the detector.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mlsec_poison_monitor::auth::{self, Key};
use mlsec_poison_monitor::detector::{Config, Detector, Source};
use mlsec_poison_monitor::record::parse_record;

fuzz_target!(|data: &[u8]| {
    let mut detector = Detector::new(Config::default());
    let mut alarms = Vec::new();
    for line in data.split(|b| *b == b'\n') {
        if let Ok(record) = parse_record(line) {
            detector.push(record, Source::default(), &mut alarms);
        }
    }
    let _ = parse_record(auth::strip_tag(data));
    if let Ok(key) = Key::new(b"fuzz-key-0123456789abcdef0123456") {
        if let Ok(json) = key.open(data) {
            let _ = parse_record(json);
        }
    }
    detector.finish(&mut alarms);
});
