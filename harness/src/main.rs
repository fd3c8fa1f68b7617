//! The `ternbench` binary: parse the command line, run one command, report errors.
//!
//! Exit codes: 0 success; 1 a failure while measuring; 2 a usage error (bad arguments, or a
//! request this machine cannot honour, such as a SIMD level the CPU lacks).

mod bandwidth;
mod cli;
mod compare;
mod cost;
mod counters;
mod energy;
mod engine_cmd;
mod error;
mod interrupt;
mod kernels_cmd;
mod kernels_report;
mod machine;
mod output;
mod peak;
mod report;
mod results;
mod run_cmd;
mod runner;
mod scenario;
mod stats;
mod synth;
mod sysinfo;
mod timing;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::error::UsageError;

fn main() {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Bandwidth(a) => bandwidth::run(a),
        Command::Peak(a) => peak::run(a),
        Command::Kernels(a) => kernels_cmd::run(a),
        Command::Generate(a) => engine_cmd::run_generate(a),
        Command::Logits(a) => engine_cmd::run_logits(a),
        Command::Bench(a) => engine_cmd::run_bench(a),
        Command::Run(a) => run_cmd::run(a),
        Command::Sysinfo(a) => sysinfo::run(a),
        Command::Cost(a) => cost::run(a),
        Command::Compare(a) => compare::run(a).map(compare::exit_with),
        Command::Baseline(a) => compare::baseline::run(a),
        Command::Report(a) => report::run(a),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        let code = if e.downcast_ref::<UsageError>().is_some() {
            2
        } else {
            1
        };
        std::process::exit(code);
    }
}
