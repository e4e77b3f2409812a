//! `mlsec`: the only crate that prints or exits. It parses the command line, runs one
//! subcommand's library, applies the policy, renders the finished report and maps it to the
//! exit contract: 0 clean, 1 the tool could not do its job, 2 a finding at or above fail-on.

#![allow(clippy::print_stdout, clippy::print_stderr, clippy::exit)]

mod cli;
mod events;
mod render;
mod rules;
mod sanitize;

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use clap::Parser;
use mlsec_core::{Context, ExitStatus, Policy, Report, Rule};

use crate::cli::{Cli, Command, CommonArgs, Format};

fn main() -> ExitCode {
    // Keep unwinding so a panic in one subcommand becomes exit 1, never 101 (which CI could
    // misread) and never a silent success.
    std::panic::set_hook(Box::new(|info| {
        eprintln!("mlsec: internal error, this is a bug: {info}");
    }));
    let code = match std::panic::catch_unwind(run) {
        Ok(code) => code,
        Err(_) => ExitStatus::Error.code(),
    };
    ExitCode::from(code)
}

fn run() -> u8 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            // clap would exit 2 on a usage error, which reads as "finding" in CI: map it to 1.
            let _ = err.print();
            return match err.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    ExitStatus::Clean.code()
                }
                _ => ExitStatus::Error.code(),
            };
        }
    };
    match dispatch(cli) {
        Ok(status) => status.code(),
        Err(err) => {
            eprintln!("mlsec: error: {}", sanitize::text(&format!("{err:#}")));
            ExitStatus::Error.code()
        }
    }
}

fn dispatch(cli: Cli) -> Result<ExitStatus> {
    match cli.command {
        Command::Checkpoint { common, args } => {
            scan("checkpoint", &common, mlsec_checkpoint::RULES, |ctx| {
                mlsec_checkpoint::run(&args, ctx)
            })
        }
        Command::Triton { common, args } => scan("triton", &common, mlsec_triton::RULES, |ctx| {
            mlsec_triton::run(&args, ctx)
        }),
        Command::ExportGuard {
            mut common,
            mut args,
        } => {
            cli::export_guard_article_form(&mut common, &mut args)?;
            scan("export-guard", &common, mlsec_export_guard::RULES, |ctx| {
                mlsec_export_guard::run(&args, ctx)
            })
        }
        Command::PoisonMonitor { common, args } => scan(
            "poison-monitor",
            &common,
            mlsec_poison_monitor::RULES,
            |ctx| mlsec_poison_monitor::run(&args, ctx),
        ),
        Command::Adversarial { common, args } => {
            mlsec_runtime::retain_freed_memory();
            scan("adversarial", &common, mlsec_adversarial::RULES, |ctx| {
                mlsec_adversarial::run(&args, ctx)
            })
        }
        Command::Inspect { common, args } => {
            mlsec_runtime::retain_freed_memory();
            scan("inspect", &common, mlsec_inspect::RULES, |ctx| {
                mlsec_inspect::run(&args, ctx)
            })
        }
        Command::Rules { prefix, json } => {
            write_stdout(&rules::table(prefix.as_deref(), json))?;
            Ok(ExitStatus::Clean)
        }
        Command::Explain { rule } => match rules::explain(&rule) {
            Some(text) => {
                write_stdout(&text)?;
                Ok(ExitStatus::Clean)
            }
            None => anyhow::bail!("no rule `{rule}` (see `mlsec rules`)"),
        },
    }
}

/// Runs one scanning subcommand end to end: policy, scan, policy application, rendering.
fn scan(
    subcommand: &'static str,
    common: &CommonArgs,
    rules: &'static [&'static Rule],
    run: impl FnOnce(&Context) -> Result<Report>,
) -> Result<ExitStatus> {
    let format = common.format()?;
    let policy = load_policy(common)?;
    let to_terminal = common.output.is_none() && std::io::stdout().is_terminal();
    let events = events::Terminal::new(common, format == Format::Text && common.output.is_none());
    let ctx = Context {
        verbose: common.verbose,
        quiet: common.quiet,
        events: &events,
    };
    let result = run(&ctx);
    events.finish();
    let mut report = result?;
    policy.apply(&mut report);
    report.sort();
    let status = report.exit_status(&policy);
    let invocation = render::Invocation {
        subcommand,
        rules,
        policy: &policy,
        status,
        color: to_terminal && format == Format::Text && std::env::var_os("NO_COLOR").is_none(),
        quiet: common.quiet,
        verbose: common.verbose,
    };
    let rendered = render::render(&report, format, &invocation);
    match &common.output {
        Some(path) => std::fs::write(path, rendered)
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => write_stdout(&rendered)?,
    }
    Ok(status)
}

fn load_policy(common: &CommonArgs) -> Result<Policy> {
    let all = rules::all();
    let mut policy = match &common.config {
        Some(path) => Policy::load(path, &all)?,
        None => Policy::discover(Path::new("."), &all)?,
    };
    if let Some(fail_on) = common.fail_on {
        policy.fail_on = fail_on;
    }
    Ok(policy)
}

/// Writes to stdout; a closed pipe (`mlsec ... | head`) is not an error and must not change
/// the exit status computed from the report.
fn write_stdout(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(err) if err.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(err).context("cannot write to standard output")
        }
        _ => Ok(()),
    }
}
