//! Benchmarks for this subcommand (owned by its crate's authors).

use anyhow::Result;

use super::Bench;

pub fn run(_bench: &mut Bench) -> Result<()> {
    Ok(())
}
