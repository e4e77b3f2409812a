//! Intentionally empty: this crate only declares dependencies, to give third-party crates the
//! same features in every build of the workspace (see its `Cargo.toml`).
