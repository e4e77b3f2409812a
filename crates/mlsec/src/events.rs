//! Live output while a subcommand runs: alerts as they fire, status lines, a progress bar.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use mlsec_core::{Events, Finding};

use crate::cli::CommonArgs;
use crate::sanitize;

/// Progress appears only on a terminal, and only once a run has taken this long.
const PROGRESS_AFTER: Duration = Duration::from_millis(700);

pub struct Terminal {
    quiet: bool,
    live_on_stdout: bool,
    progress_allowed: bool,
    start: Instant,
    bar: Mutex<Option<ProgressBar>>,
}

impl Terminal {
    /// `live_on_stdout`: live alerts go to stdout (text output to the terminal or a pipe);
    /// otherwise to stderr so they never corrupt a JSON/SARIF document on stdout.
    pub fn new(common: &CommonArgs, live_on_stdout: bool) -> Terminal {
        Terminal {
            quiet: common.quiet,
            live_on_stdout,
            progress_allowed: !common.quiet
                && !common.no_progress
                && std::io::stderr().is_terminal(),
            start: Instant::now(),
            bar: Mutex::new(None),
        }
    }

    /// Removes the progress bar before the report is printed.
    pub fn finish(&self) {
        if let Ok(mut bar) = self.bar.lock()
            && let Some(bar) = bar.take()
        {
            bar.finish_and_clear();
        }
    }

    fn suspend(&self, f: impl FnOnce()) {
        match self.bar.lock().ok().as_deref().and_then(Option::as_ref) {
            Some(bar) => bar.suspend(f),
            None => f(),
        }
    }
}

impl Events for Terminal {
    fn live_finding(&self, finding: &Finding) {
        let line = format!(
            "{}: {} {} [{}] {}\n",
            sanitize::text(&finding.location.to_string()),
            finding.severity,
            finding.rule.id,
            finding.rule.name,
            sanitize::text(&finding.message)
        );
        self.suspend(|| {
            let _ = if self.live_on_stdout {
                std::io::stdout().lock().write_all(line.as_bytes())
            } else {
                std::io::stderr().lock().write_all(line.as_bytes())
            };
        });
    }

    fn status(&self, line: &str) {
        if self.quiet {
            return;
        }
        let line = format!("mlsec: {}\n", sanitize::text(line));
        self.suspend(|| {
            let _ = std::io::stderr().lock().write_all(line.as_bytes());
        });
    }

    fn progress(&self, done: u64, total: u64) {
        if !self.progress_allowed || self.start.elapsed() < PROGRESS_AFTER {
            return;
        }
        let Ok(mut slot) = self.bar.lock() else {
            return;
        };
        let bar = slot.get_or_insert_with(|| {
            let bar = ProgressBar::new(total);
            if let Ok(style) =
                ProgressStyle::with_template("{spinner} {pos}/{len} [{elapsed}] {wide_bar}")
            {
                bar.set_style(style);
            }
            bar
        });
        bar.set_length(total);
        bar.set_position(done);
    }
}
