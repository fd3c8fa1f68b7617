//! The `ternbench` binary: parse the command line, run one command, report errors.
//!
//! The house, top to bottom (each room imports only the rooms below it):
//! [`commands`] (one module per subcommand) → [`plan`] (scenario, model) and [`present`]
//! (report, compare, cost) → [`measure`] (runner, bandwidth, peaks, counters, energy windows)
//! → [`records`] (results, statistics, fingerprint); [`cli`], [`output`] and [`error`] are
//! leaves every room may use. `docs/architecture.md` draws the data flow.
//!
//! Exit codes: 0 success; 1 a failure while measuring; 2 a usage error (bad arguments, or a
//! request this machine cannot honour, such as a SIMD level the CPU lacks).

mod cli;
mod commands;
mod error;
mod measure;
mod output;
mod plan;
mod present;
mod records;

use clap::Parser;

use crate::cli::Cli;
use crate::error::UsageError;

fn main() {
    let cli = Cli::parse();
    match commands::dispatch(&cli.command) {
        Ok(code) => commands::compare::exit_with(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            let code = if e.downcast_ref::<UsageError>().is_some() {
                2
            } else {
                1
            };
            std::process::exit(code);
        }
    }
}
