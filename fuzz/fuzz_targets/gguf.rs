//! The GGUF reader, then the chat-template lexer on every template-like string it accepted.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mlsec_formats::gguf::{self, Value};

fuzz_target!(|data: &[u8]| {
    let Ok(g) = gguf::parse(data) else { return };
    assert!(g.alignment.is_power_of_two());
    for t in &g.tensors {
        // A tensor whose data range is handed out lies inside the file.
        if let Some(r) = g.data_range(t, data.len() as u64) {
            assert!(r.start <= r.end && r.end <= data.len());
        }
    }
    for kv in &g.metadata {
        assert!(kv.value_offset as usize <= data.len());
        if let Value::String(s) = &kv.value {
            for site in mlsec_checkpoint::chat_template::check(s) {
                assert!(site.offset <= s.len());
            }
        }
    }
    // Template text straight from the input too (the lexer sees far more shapes this way).
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = mlsec_checkpoint::chat_template::check(text);
    }
});
