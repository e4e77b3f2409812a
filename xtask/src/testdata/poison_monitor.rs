//! Fixtures for `mlsec poison-monitor`, all from the crate's simulator with fixed seeds:
//!
//! - `clean/`: 4 workers × 150 steps, no attack (seed 11): no alarm expected.
//! - `attacked/`: 8 workers × 150 steps, "A Little Is Enough" by 2 colluders from step 60
//!   (seed 12); `truth.json` names the attackers.
//! - `legacy7/`: the original tool's 7-field records, 4 workers × 150 steps, rank given in
//!   `truth.json` scales its gradient ×5 from step 60 (seed 13).
//! - `malformed/`: 4 workers × 80 clean steps (seed 14) with hostile lines: garbage, truncated
//!   JSON, a missing field, a line over the 16 KiB limit, a duplicate, a reordered pair, and
//!   rank 2 reporting `NaN` at step 70. `expect.txt` lists `FILE LINE substring` per invalid line.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Result;
use mlsec_poison_monitor::record::Stat;
use mlsec_poison_monitor::sim::{self, Attack, SimConfig};

fn config(workers: u32, steps: u64, attack: Attack, attackers: u32, seed: u64) -> SimConfig {
    SimConfig {
        workers,
        steps,
        attack,
        attackers,
        attack_start: 60,
        seed,
    }
}

/// Writes every fixture file under `out`.
pub fn generate(out: &Path) -> Result<()> {
    let clean = sim::simulate(&config(4, 150, Attack::None, 1, 11));
    sim::write_logs(&clean, &out.join("clean"))?;

    let attacked = sim::simulate(&config(8, 150, Attack::Alie, 2, 12));
    sim::write_logs(&attacked, &out.join("attacked"))?;

    // 7-field records: the simulator's norm as global_l2, derived L∞/mean/std.
    let legacy = sim::simulate(&config(4, 150, Attack::Spike, 1, 13));
    let dir = out.join("legacy7");
    std::fs::create_dir_all(&dir)?;
    let mut files = vec![String::new(); 4];
    for r in &legacy.records {
        let l2 = r.value(Stat::GradNorm).unwrap_or(0.0);
        let cos = r.value(Stat::CosMean).unwrap_or(0.0);
        let params = 1_000_000u64;
        let std = l2 / (params as f64).sqrt();
        let _ = writeln!(
            files[r.rank as usize],
            r#"{{"rank":{},"step":{},"global_l2":{l2},"global_linf":{},"mean":{},"std":{std},"parameter_count":{params}}}"#,
            r.rank,
            r.step,
            l2 * 0.02 * (1.0 + 0.1 * cos),
            std * 0.01 * cos,
        );
    }
    for (rank, text) in files.iter().enumerate() {
        std::fs::write(dir.join(format!("worker_{rank}.jsonl")), text)?;
    }
    let truth = serde_json_like(&legacy.attackers, "spike", 60);
    std::fs::write(dir.join("truth.json"), truth)?;

    // Hostile lines in an otherwise clean log.
    let base = sim::simulate(&config(4, 80, Attack::None, 1, 14));
    let dir = out.join("malformed");
    std::fs::create_dir_all(&dir)?;
    let mut lines: Vec<Vec<String>> = vec![Vec::new(); 4];
    for r in &base.records {
        let mut line = sim::to_json_line(r, 80);
        if r.rank == 2 && r.step == 70 {
            let value = format!("{}", r.value(Stat::GradNorm).unwrap_or(0.0));
            line = line.replace(&format!("\"grad_norm\":{value}"), "\"grad_norm\":NaN");
        }
        lines[r.rank as usize].push(line);
    }
    let mut expect = String::new();
    // worker_0: garbage, truncated, missing field, oversized (inserted after step 10).
    let hostile = [
        ("this is not json".to_owned(), "invalid JSON"),
        (
            r#"{"v":1,"rank":0,"step":5,"grad_norm":0.5,"#.to_owned(),
            "invalid JSON",
        ),
        (
            r#"{"v":1,"rank":0,"step":200,"grad_norm":0.5}"#.to_owned(),
            "missing required field",
        ),
        (
            format!(r#"{{"v":1,"pad":"{}"}}"#, "x".repeat(17_000)),
            "over the 16384-byte limit",
        ),
    ];
    for (i, (line, _)) in hostile.iter().enumerate() {
        lines[0].insert(11 + i, line.clone());
    }
    for (i, (_, why)) in hostile.iter().enumerate() {
        let _ = writeln!(expect, "worker_0.jsonl {} {why}", 12 + i);
    }
    // worker_1: a duplicate of step 20 and steps 30/31 swapped.
    let dup = lines[1][20].clone();
    lines[1].insert(21, dup);
    lines[1].swap(31, 32);
    for (rank, file) in lines.iter().enumerate() {
        std::fs::write(
            dir.join(format!("worker_{rank}.jsonl")),
            file.join("\n") + "\n",
        )?;
    }
    std::fs::write(dir.join("expect.txt"), expect)?;
    Ok(())
}

fn serde_json_like(attackers: &[u32], attack: &str, start: u64) -> String {
    let ranks: Vec<String> = attackers.iter().map(u32::to_string).collect();
    format!(
        "{{\n  \"attack\": \"{attack}\",\n  \"attackers\": [{}],\n  \"attack_start\": {start}\n}}\n",
        ranks.join(", ")
    )
}
