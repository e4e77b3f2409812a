//! The one home of the small helpers every mlsec crate needs, so that none of them is written
//! twice (and drifts): `cargo xtask ci` runs `duplicates`-style review against copies.
//!
//! | module | what it owns |
//! |---|---|
//! | [`stats`] | median and median absolute deviation, empty-safe (`None`, never a panic) |
//! | [`hex`] | lowercase hex encoding of digests |
//! | [`base64`] | base64 through `base64ct`, plus the lenient decoding Python's `b64decode` does |
//! | [`gzip`] | the RFC 1952 member header (where the deflate data starts) |
//! | [`tar`] | tar headers (ustar, GNU long names and base-256 sizes, pax `path`), a member list of an archive in memory, and a streaming reader for archives too large to hold |
//! | [`html`] | HTML escaping and the self-contained HTML/SVG report page every `--report` writes |
//! | [`walk`] | directory walking with the one policy for symlinks, hidden files and depth |
//!
//! f16/bf16 conversion is not here: every crate uses the `half` crate directly.
//!
//! What this crate must not do: know a model format, a rule or a subcommand (those live in the
//! reader and subcommand crates), print, or exit. Everything but [`walk`] is free of I/O; the
//! walk is why this is not part of `mlsec-core`, whose contract is "no I/O".

pub mod base64;
pub mod gzip;
pub mod hex;
pub mod html;
pub mod stats;
pub mod tar;
pub mod walk;
