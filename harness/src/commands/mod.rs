//! The subcommands, one module each: the command line in, a measurement or a file out.
//!
//! Each module turns its clap arguments ([`crate::cli`]) into a plan ([`crate::plan`]), runs
//! the measuring machinery ([`crate::measure`]), keeps the records ([`crate::records`]) and
//! prints or writes them through [`crate::present`]. Nothing below this folder reads the
//! command line or prints for the user, so a reader starts here and walks downward.
//!
//! To add a subcommand: a variant of [`crate::cli::Command`] with its `Args` struct, a module
//! here with a `run`, and one arm in [`dispatch`].

pub mod bandwidth;
pub mod baseline;
pub mod bench;
pub mod compare;
pub mod cost;
pub mod generate;
pub mod kernels;
pub mod logits;
pub mod peak;
pub mod report;
pub mod run;
pub mod sysinfo;

use anyhow::Result;
use ternbench_engine::Model;

use crate::cli::Command;
use crate::error::usage;

/// Runs one subcommand; `Ok(code)` is the exit code of a command that has a verdict
/// (`compare`: 1 on a regression), 0 for the others.
pub fn dispatch(command: &Command) -> Result<i32> {
    match command {
        Command::Bandwidth(a) => bandwidth::run(a).map(|()| 0),
        Command::Peak(a) => peak::run(a).map(|()| 0),
        Command::Kernels(a) => kernels::run(a).map(|()| 0),
        Command::Generate(a) => generate::run(a).map(|()| 0),
        Command::Logits(a) => logits::run(a).map(|()| 0),
        Command::Bench(a) => bench::run(a).map(|()| 0),
        Command::Run(a) => run::run(a).map(|()| 0),
        Command::Sysinfo(a) => sysinfo::run(a).map(|()| 0),
        Command::Cost(a) => cost::run(a).map(|()| 0),
        Command::Compare(a) => compare::run(a),
        Command::Baseline(a) => baseline::run(a).map(|()| 0),
        Command::Report(a) => report::run(a).map(|()| 0),
    }
}

pub fn parse_tokens(s: &str, vocab: usize) -> Result<Vec<u32>> {
    let toks: Vec<u32> = s
        .split(',')
        .filter(|t| !t.trim().is_empty())
        .map(|t| {
            t.trim()
                .parse::<u32>()
                .map_err(|_| usage(format!("--tokens: `{t}` is not a token id")))
        })
        .collect::<Result<_>>()?;
    if toks.is_empty() {
        return Err(usage("--tokens: give at least one token id"));
    }
    if let Some(&bad) = toks.iter().find(|&&t| t as usize >= vocab) {
        return Err(usage(format!(
            "--tokens: id {bad} is outside the vocabulary (size {vocab})"
        )));
    }
    Ok(toks)
}

pub fn sampled_note(m: &Model) -> String {
    if m.weights.is_sampled() {
        format!(
            " [SAMPLED: {} of {} layers built; per-token figures below are for the built layers, scaled figures are marked]",
            m.weights.layers.len(),
            m.weights.cfg.layers
        )
    } else {
        String::new()
    }
}
