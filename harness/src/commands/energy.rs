//! `ternbench energy`: the energy self-check for users on bare metal.
//!
//! Lists every energy source (powercap, perf `power` PMU, RAPL MSRs) and every zone, event
//! and register each found, which count toward `cpu_total` and why, then reads all available
//! sources over the same windows — idle, and a busy loop on every CPU — and reports whether
//! they agree on each domain they share. On a machine without counters (most VMs) it says why
//! each source is unavailable and how to fix it. The work is in
//! [`ternbench_energy::selfcheck`]; this module is the command-line glue.

use std::time::Duration;

use anyhow::Result;
use ternbench_energy::selfcheck::{self, Options, SpinLoad};
use ternbench_energy::Roots;

use crate::cli::EnergyArgs;
use crate::error::usage;

/// Runs `ternbench energy`.
pub fn run(a: &EnergyArgs) -> Result<()> {
    if !(a.seconds.is_finite() && (0.1..=600.0).contains(&a.seconds)) {
        return Err(usage(format!(
            "--seconds {}: give a window between 0.1 and 600 seconds (RAPL counters update \
             about every millisecond; 5 s or more gives figures within a per cent)",
            a.seconds
        )));
    }
    if !(a.tolerance.is_finite() && a.tolerance > 0.0 && a.tolerance <= 100.0) {
        return Err(usage(format!(
            "--tolerance {}: give a percentage above 0 and at most 100",
            a.tolerance
        )));
    }
    let opts = Options {
        window: Duration::from_secs_f64(a.seconds),
        tolerance: a.tolerance / 100.0,
    };
    if a.output != crate::cli::TextOrJson::Json {
        eprintln!(
            "reading every energy source over an idle window and a busy one ({} s each)…",
            a.seconds
        );
    }
    let report = selfcheck::run(&Roots::from_env(), &opts, &mut SpinLoad);
    if a.output == crate::cli::TextOrJson::Json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", selfcheck::render(&report));
    }
    Ok(())
}
