use crate::Finding;

/// What a running subcommand may tell the user while it works. Detector crates never print:
/// the `mlsec` binary implements this (live alerts on stdout, status and progress on stderr).
pub trait Events: Sync {
    /// A finding that must be shown now, not only in the final report (e.g. a live alarm).
    fn live_finding(&self, _finding: &Finding) {}
    /// A status line for people (periodic listener summaries, "writing x.safetensors").
    fn status(&self, _line: &str) {}
    /// Progress of a long run: `done` of `total` units.
    fn progress(&self, _done: u64, _total: u64) {}
}

/// Events that go nowhere: for tests and library callers.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoEvents;

impl Events for NoEvents {}

/// What every subcommand's `run` receives besides its own arguments.
pub struct Context<'a> {
    /// `--verbose`: include passing checks and rule docs where the subcommand has them.
    pub verbose: bool,
    /// `--quiet`: no status lines.
    pub quiet: bool,
    /// Where live output goes.
    pub events: &'a dyn Events,
}

impl Context<'_> {
    /// A silent context for tests and library use.
    pub fn silent() -> Context<'static> {
        Context {
            verbose: false,
            quiet: true,
            events: &NoEvents,
        }
    }
}
