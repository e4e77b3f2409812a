//! Fixtures for this subcommand (owned by its crate's authors).

use std::path::Path;

use anyhow::Result;

/// Writes every fixture file under `out`.
pub fn generate(_out: &Path) -> Result<()> {
    Ok(())
}
