//! `cargo xtask bench checkpoint`: a 200 MB `torch.save` zip (full statistics and hashes), a
//! 14 MB pickle-heavy vocabulary dict, and a 2 GB safetensors file, generated in the scratch
//! directory. Goals (issue 3): 0.4 s, 0.1 s and 1 GB/s with a warm page cache.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use mlsec_formats::dtype::DType;
use mlsec_testkit::{PickleWriter, TensorSpec, torch_state_dict_pickle, torch_zip};

use super::{Bench, Row};

/// Deterministic weights, written straight as little-endian f32 bytes.
fn weight_bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut s = seed.wrapping_mul(0x9e3779b97f4a7c15) | 1;
    let mut out = Vec::with_capacity(n * 4);
    for _ in 0..n {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        let v = ((s >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.05;
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

/// 50 tensors of 1 Mi f32: 200 MiB of storages in a stored, aligned zip.
pub fn torch_checkpoint(path: &Path) -> Result<u64> {
    let mut specs = Vec::new();
    let mut storages = Vec::new();
    for i in 0..50 {
        specs.push(TensorSpec {
            name: format!("layers.{i}.weight"),
            dtype: DType::F32,
            shape: vec![1024, 1024],
            storage_key: i.to_string(),
            storage_offset: 0,
            storage_numel: 1 << 20,
        });
        storages.push((i.to_string(), weight_bytes(1 << 20, i + 1)));
    }
    let zip = torch_zip("archive", &torch_state_dict_pickle(&specs), &storages);
    std::fs::write(path, &zip)?;
    Ok(zip.len() as u64)
}

/// A protocol-2 `{token: id}` dict of about 14 MB, written the way `pickle.dump` batches it.
pub fn vocab_pickle(path: &Path) -> Result<u64> {
    let mut p = PickleWriter::new();
    p.proto(2).empty_dict().put();
    let n: usize = 560_000;
    for batch in 0..n.div_ceil(1000) {
        p.mark();
        for i in batch * 1000..((batch + 1) * 1000).min(n) {
            p.str(&format!("tok{i:07}")).put().int(i as i64);
        }
        p.setitems();
    }
    p.stop();
    let bytes = p.finish();
    std::fs::write(path, &bytes)?;
    Ok(bytes.len() as u64)
}

/// 512 tensors of 1 Mi f32 (2 GiB), streamed to disk.
pub fn big_safetensors(path: &Path) -> Result<u64> {
    let count = 512u64;
    let per = 4u64 << 20;
    let mut header = serde_json_header(count, per);
    while !header.len().is_multiple_of(8) {
        header.push(' ');
    }
    let mut f = std::io::BufWriter::with_capacity(8 << 20, std::fs::File::create(path)?);
    f.write_all(&(header.len() as u64).to_le_bytes())?;
    f.write_all(header.as_bytes())?;
    let block = weight_bytes(1 << 20, 7);
    for i in 0..count {
        let mut b = block.clone();
        b[..8].copy_from_slice(&i.to_le_bytes());
        f.write_all(&b)?;
    }
    f.flush()?;
    Ok(8 + header.len() as u64 + count * per)
}

fn serde_json_header(count: u64, per: u64) -> String {
    let entries: Vec<String> = (0..count)
        .map(|i| {
            format!(
                "\"t{i}\":{{\"dtype\":\"F32\",\"shape\":[1024,1024],\"data_offsets\":[{},{}]}}",
                i * per,
                (i + 1) * per
            )
        })
        .collect();
    format!("{{{}}}", entries.join(","))
}

fn scan_lib(path: &Path) -> Result<()> {
    let args = mlsec_checkpoint::Args::new(vec![path.to_owned()]);
    let report = mlsec_checkpoint::run(&args, &mlsec_core::Context::silent())?;
    if !report.errors.is_empty() || !report.findings.is_empty() {
        bail!("benchmark input did not scan clean: {:?}", report.errors);
    }
    Ok(())
}

/// A generated input: workload name, file name, generator (returns bytes written), note.
type Input = (
    &'static str,
    &'static str,
    fn(&Path) -> Result<u64>,
    &'static str,
);

pub fn run(bench: &mut Bench) -> Result<()> {
    let dir: PathBuf = bench.scratch().to_owned();
    let inputs: [Input; 3] = [
        (
            "checkpoint: 200 MB torch zip",
            "model.pt",
            torch_checkpoint,
            "goal 0.4 s; stats + SHA-256 of every tensor",
        ),
        (
            "checkpoint: 14 MB vocab pickle",
            "vocab.pkl",
            vocab_pickle,
            "goal 0.1 s; 560k dict items",
        ),
        (
            "checkpoint: 2 GB safetensors",
            "big.safetensors",
            big_safetensors,
            "goal >= 1 GB/s warm",
        ),
    ];
    for (workload, name, make, note) in inputs {
        let path = dir.join(name);
        let bytes = make(&path)?;
        let time = bench.time_fn(3, || scan_lib(&path))?;
        bench.row(Row {
            workload: format!("{workload} (library)"),
            bytes,
            items: None,
            time,
            peak_rss_kib: None,
            note: note.to_owned(),
        });
        // The release binary, when it runs the subcommand (exit 0 = clean).
        let path_str = path.to_string_lossy().into_owned();
        let m = bench.time_mlsec(&["checkpoint", &path_str], 3)?;
        if m.exit_code != 0 {
            bail!("mlsec checkpoint {name}: exit {}", m.exit_code);
        }
        bench.row(Row {
            workload: format!("{workload} (mlsec binary)"),
            bytes,
            items: None,
            time: m.time,
            peak_rss_kib: Some(m.peak_rss_kib),
            note: note.to_owned(),
        });
        // The Python peers on the same file, in the same run.
        bench.compare_peers(workload, &path, &m, 3);
        std::fs::remove_file(&path)?;
    }
    // A malicious pickle, to show each tool's verdict.
    let path = dir.join("evil.pkl");
    let mut p = PickleWriter::new();
    p.proto(2)
        .global("os", "system")
        .str("echo pwned")
        .raw(b"\x85") // TUPLE1
        .reduce()
        .stop();
    std::fs::write(&path, p.finish())?;
    let path_str = path.to_string_lossy().into_owned();
    let m = bench.time_mlsec(&["checkpoint", &path_str], 3)?;
    if m.exit_code != 2 {
        bail!(
            "mlsec checkpoint evil.pkl: exit {} (expected 2)",
            m.exit_code
        );
    }
    bench.compare_peers("checkpoint: malicious pickle (os.system)", &path, &m, 3);
    Ok(())
}
