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
pub mod completions;
pub mod cost;
pub mod energy;
pub mod export;
pub mod generate;
pub mod icount;
pub mod kernels;
pub mod logits;
pub mod peak;
pub mod planning;
pub mod report;
pub mod run;
pub mod sysinfo;

use anyhow::Result;
use ternbench_engine::Model;

use crate::cli::{Command, ThreadOpts};
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
        Command::Icount(a) => icount::run(a).map(|()| 0),
        Command::Baseline(a) => baseline::run(a).map(|()| 0),
        Command::Export(a) => export::run(a).map(|()| 0),
        Command::Report(a) => report::run(a).map(|()| 0),
        Command::Energy(a) => energy::run(a).map(|()| 0),
        Command::Completions(a) => completions::completions(a).map(|()| 0),
        Command::Man(a) => completions::man(a).map(|()| 0),
    }
}

/// Refuses thread counts this machine cannot honour: 0, or more than its logical CPUs unless
/// `--oversubscribe` was given (more workers than CPUs time the scheduler, not the kernels).
/// `what` names the flag or scenario key in the message.
pub fn check_threads(counts: &[usize], opts: &ThreadOpts, what: &str) -> Result<()> {
    check_threads_on(
        counts,
        opts.oversubscribe,
        crate::records::machine::cores(),
        what,
    )
}

/// [`check_threads`] against `logical` CPUs.
pub fn check_threads_on(
    counts: &[usize],
    oversubscribe: bool,
    logical: usize,
    what: &str,
) -> Result<()> {
    if counts.contains(&0) {
        return Err(usage(format!("{what} 0: thread counts start at 1")));
    }
    if let Some(&max) = counts.iter().max() {
        if max > logical && !oversubscribe {
            return Err(usage(format!(
                "{what} {max}: this machine has {logical} logical CPU(s); more threads than CPUs \
                 time the scheduler, not the kernels. Use at most {logical}, or pass \
                 --oversubscribe to run it anyway"
            )));
        }
    }
    Ok(())
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

/// Tells a user that a zoo model's weights are random (stderr), so that its output tokens,
/// often one id repeated, are not taken for a broken engine.
pub fn synthetic_note(name: &str) -> Option<String> {
    (!crate::plan::model::is_checkpoint(name)).then(|| {
        format!(
            "note: `{name}` is a synthetic zoo model: its weights are random (seeded), so the \
             tokens it generates are meaningless and often one id repeated; that is expected. \
             It exists to time the real architecture; pass a checkpoint (a Hugging Face folder \
             or a .gguf file) for text"
        )
    })
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

#[cfg(test)]
mod tests {
    use super::check_threads_on;

    #[test]
    fn thread_counts_are_checked_against_the_logical_cpus() {
        assert!(check_threads_on(&[1, 2], false, 2, "-t").is_ok());
        let zero = check_threads_on(&[0], true, 2, "-t").unwrap_err();
        assert!(zero.to_string().contains("start at 1"), "{zero}");
        let over = check_threads_on(&[1, 999], false, 2, "-t").unwrap_err();
        let msg = over.to_string();
        assert!(
            msg.contains("-t 999") && msg.contains("2 logical") && msg.contains("--oversubscribe"),
            "{msg}"
        );
        assert!(over.downcast_ref::<crate::error::UsageError>().is_some());
        assert!(check_threads_on(&[999], true, 2, "-t").is_ok());
    }
}
