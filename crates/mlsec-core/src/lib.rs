//! The vocabulary every mlsec subcommand speaks: [`Finding`], [`Rule`], [`Severity`],
//! [`Report`], [`ScanError`], [`Policy`] and the exit contract ([`ExitStatus`]).
//!
//! This crate does no I/O except reading the policy file, and never prints: detector crates
//! build a [`Report`], and the `mlsec` binary renders it and turns it into an exit code with
//! [`Report::exit_status`], the only place where findings become 0/1/2.

mod context;
mod finding;
mod policy;
mod report;
mod rule;
mod severity;

pub use context::{Context, Events, NoEvents};
pub use finding::{Evidence, Finding, Location, Pointer, Span};
pub use policy::{Ignore, POLICY_FILE, Policy, PolicyError};
pub use report::{ExitStatus, Report, ScanError, Table};
pub use rule::{RULE_PREFIXES, Rule, RuleDocs};
pub use severity::Severity;
