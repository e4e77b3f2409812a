//! `mlsec export-guard` on a generated 1 GiB model: lint (decode, every check, structural
//! fingerprint, weights hash over every byte) and record (lint plus SHA-256 of every artifact),
//! with the weights in an external data file (as `torch.onnx.export` writes big models) and
//! inline in `raw_data`. Goal: >= 1 GB/s.

use std::io::Write as _;
use std::path::Path;

use anyhow::{Result, bail};
use mlsec_core::Context;
use mlsec_onnx::prost::Message;
use mlsec_onnx::proto::tensor_proto::{DataLocation, DataType};
use mlsec_onnx::proto::{
    GraphProto, ModelProto, NodeProto, OperatorSetIdProto, StringStringEntryProto, TensorProto,
    ValueInfoProto,
};

use super::{Bench, Row};

/// 64 layers of 2048 x 2048 fp32 = 1 GiB of weights.
const LAYERS: usize = 64;
const WIDTH: i64 = 2048;

fn layer_bytes() -> usize {
    (WIDTH * WIDTH * 4) as usize
}

/// A chain of MatMuls; `external` puts every weight in `model.onnx.data`.
fn build(dir: &Path, external: bool) -> Result<u64> {
    std::fs::create_dir_all(dir)?;
    let mut nodes = Vec::new();
    let mut inits = Vec::new();
    let mut data = if external {
        Some(std::io::BufWriter::new(std::fs::File::create(
            dir.join("model.onnx.data"),
        )?))
    } else {
        None
    };
    for i in 0..LAYERS {
        let input = if i == 0 {
            "x".to_owned()
        } else {
            format!("h{i}")
        };
        let output = if i + 1 == LAYERS {
            "y".to_owned()
        } else {
            format!("h{}", i + 1)
        };
        nodes.push(NodeProto {
            op_type: Some("MatMul".into()),
            input: vec![input, format!("w{i}")],
            output: vec![output],
            ..Default::default()
        });
        // Distinct, cheap content per layer.
        let block: Vec<u8> = (0..layer_bytes())
            .map(|k| (k as u32 ^ i as u32) as u8)
            .collect();
        let mut t = TensorProto {
            name: Some(format!("w{i}")),
            dims: vec![WIDTH, WIDTH],
            data_type: Some(DataType::Float as i32),
            ..Default::default()
        };
        match &mut data {
            Some(w) => {
                w.write_all(&block)?;
                t.data_location = Some(DataLocation::External as i32);
                t.external_data = [
                    ("location", "model.onnx.data".to_owned()),
                    ("offset", (i * layer_bytes()).to_string()),
                    ("length", layer_bytes().to_string()),
                ]
                .into_iter()
                .map(|(k, v)| StringStringEntryProto {
                    key: Some(k.into()),
                    value: Some(v),
                })
                .collect();
            }
            None => t.raw_data = Some(block.into()),
        }
        inits.push(t);
    }
    if let Some(mut w) = data {
        w.flush()?;
    }
    let vi = |name: &str| ValueInfoProto {
        name: Some(name.into()),
        ..Default::default()
    };
    let model = ModelProto {
        ir_version: Some(8),
        opset_import: vec![OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(17),
        }],
        graph: Some(GraphProto {
            name: Some("bench".into()),
            node: nodes,
            initializer: inits,
            input: vec![vi("x")],
            output: vec![vi("y")],
            ..Default::default()
        }),
        ..Default::default()
    };
    std::fs::write(dir.join("model.onnx"), model.encode_to_vec())?;
    let mut total = std::fs::metadata(dir.join("model.onnx"))?.len();
    if external {
        total += std::fs::metadata(dir.join("model.onnx.data"))?.len();
    }
    Ok(total)
}

/// CPU seconds (user + system) this process has used so far, from `/proc/self/stat`; `None`
/// off Linux. Shown beside wall time because a loaded machine stretches wall time only.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// "CPU x s per run" for the runs between two readings.
fn cpu_note(before: Option<f64>, runs: u32) -> String {
    match (before, cpu_seconds()) {
        (Some(a), Some(b)) => format!("CPU {:.2} s per run", (b - a) / f64::from(runs)),
        _ => String::new(),
    }
}

pub fn run(bench: &mut Bench) -> Result<()> {
    let ctx = Context::silent();
    for (label, external) in [("external data", true), ("inline raw_data", false)] {
        let dir = bench.scratch().join(if external { "ext" } else { "raw" });
        let bytes = build(&dir, external)?;
        let model = dir.join("model.onnx");
        let lint_args = mlsec_export_guard::Args {
            command: Some(mlsec_export_guard::Command::Lint {
                models: vec![model.clone()],
            }),
            model: None,
            onnx: None,
            export_command: None,
            attestation: None,
            sign_key: None,
        };
        let mut findings = 0;
        let cpu = cpu_seconds();
        let time = bench.time_fn(3, || {
            let report = mlsec_export_guard::run(&lint_args, &ctx)?;
            if !report.errors.is_empty() {
                bail!("lint failed: {}", report.errors[0]);
            }
            findings = report.findings.len();
            Ok(())
        })?;
        bench.row(Row {
            workload: format!("export-guard lint: 1 GiB model, {label} (library, best of 3)"),
            bytes,
            items: None,
            time,
            peak_rss_kib: None,
            note: format!(
                "{findings} findings; fingerprint + weights hash over every byte; {}; goal >= 1 GB/s",
                cpu_note(cpu, 3)
            ),
        });
        let record_args = mlsec_export_guard::Args {
            command: Some(mlsec_export_guard::Command::Record {
                stage: "onnx".into(),
                artifacts: vec![model.clone()],
                from: None,
                command: None,
                attestation: dir.join("stage.json"),
                sign_key: None,
            }),
            ..lint_args
        };
        let cpu = cpu_seconds();
        let time = bench.time_fn(3, || {
            let report = mlsec_export_guard::run(&record_args, &ctx)?;
            if !report.errors.is_empty() {
                bail!("record failed: {}", report.errors[0]);
            }
            Ok(())
        })?;
        bench.row(Row {
            workload: format!("export-guard record: lint + SHA-256 of every artifact, {label} (library, best of 3)"),
            bytes,
            items: None,
            time,
            peak_rss_kib: None,
            note: format!("{}; goal >= 1 GB/s", cpu_note(cpu, 3)),
        });
        let model_arg = model.display().to_string();
        match bench.time_mlsec(&["export-guard", "lint", &model_arg], 2) {
            Ok(m) if m.exit_code == 0 || m.exit_code == 2 => bench.row(Row {
                workload: format!(
                    "mlsec export-guard lint: 1 GiB model, {label} (release binary, best of 2)"
                ),
                bytes,
                items: None,
                time: m.time,
                peak_rss_kib: Some(m.peak_rss_kib),
                note: format!("exit {}", m.exit_code),
            }),
            Ok(m) => eprintln!("  binary run exited {}: skipped", m.exit_code),
            Err(e) => eprintln!("  binary not available: {e:#}"),
        }
        std::fs::remove_dir_all(&dir)?;
    }
    Ok(())
}
