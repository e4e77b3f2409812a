//! The Triton `config.pbtxt` text-format parser, schema validation and every model check, as
//! `mlsec triton` runs them on a config given on its own.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (findings, errors) = mlsec_triton::check_config("config.pbtxt", data);
    let _ = (findings.len(), errors.len());
});
