//! The zip container reader (every member under the default limits), then the whole checkpoint
//! scanner on the same bytes as one file: format sniffing, zip/torch, legacy torch, tar, npy,
//! safetensors and HDF5 paths, tensor reconstruction and statistics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mlsec_checkpoint::scan::{Options, Scanner};
use mlsec_formats::zip::{ZipArchive, ZipLimits};

fuzz_target!(|data: &[u8]| {
    if let Ok(archive) = ZipArchive::parse(data, ZipLimits::default()) {
        for entry in &archive.entries {
            if let Ok(member) = archive.read(entry) {
                let _ = member.crc_ok;
            }
        }
    }
    let opts = Options::default();
    let mut scanner = Scanner::new(&opts, "f");
    scanner.scan_file(data, true);
    // A file that could not be read is an error entry, never a silent clean result.
    let out = &scanner.out;
    let _ = (out.findings.len(), out.errors.len(), out.tensors.len());
});
