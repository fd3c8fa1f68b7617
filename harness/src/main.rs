//! The `ternbench` binary: parse the command line, run one command, report errors.
//!
//! The house, top to bottom (each room imports only the rooms below it):
//! [`commands`] (one module per subcommand) → [`plan`] (scenario, model) and [`present`]
//! (report, compare, cost) → [`measure`] (runner, bandwidth, peaks, counters, energy windows)
//! → [`records`] (results, statistics, fingerprint); [`cli`], [`deprecated`], [`output`] and
//! [`error`] are leaves every room may use. `docs/architecture.md` draws the data flow.
//!
//! Exit codes (docs/cli.md): 0 success; 1 a regression verdict (`compare`), and nothing else;
//! 2 a usage or input error (bad arguments, an unreadable or invalid file, a request this
//! machine cannot honour) or a failure while measuring or writing, the message saying which;
//! 130 a run or bench interrupted by Ctrl-C (what was measured is kept or printed).

mod cli;
mod commands;
mod deprecated;
mod error;
mod measure;
mod output;
mod plan;
mod present;
mod records;

use clap::Parser;

use crate::cli::Cli;

fn main() {
    // `ternbench … | head`: end quietly when the reader leaves, as other Unix tools do, instead
    // of panicking on a broken pipe.
    #[cfg(target_os = "linux")]
    // SAFETY: restoring the default disposition of SIGPIPE, before any thread is started.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let (args, warnings) = deprecated::rewrite(std::env::args().collect());
    for w in warnings {
        eprintln!("{w}");
    }
    let cli = Cli::parse_from(args);
    match commands::dispatch(&cli.command) {
        Ok(code) => commands::compare::exit_with(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(error::EXIT_ERROR);
        }
    }
}
