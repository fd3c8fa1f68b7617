//! `ternbench report RUN [RUN ...] [-o DIR]`: results folders in, a self-contained report out
//! ([`crate::present::report`]).

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::cli::ReportArgs;
use crate::error::usage;
use crate::present::report::charts::Figure;
use crate::present::report::load::{self, Loaded};
use crate::present::report::{build, check_settings, claims, cpus, write};

fn default_out(runs: &[Loaded]) -> PathBuf {
    let first = runs
        .first()
        .map(|r| r.run.run_id.clone())
        .unwrap_or_else(|| "report".into());
    if runs.len() > 1 {
        Path::new("reports").join(format!("compare-{first}"))
    } else {
        Path::new("reports").join(first)
    }
}

/// Runs `ternbench report`.
pub fn run(a: &ReportArgs) -> Result<()> {
    let (paths, skipped) = load::expand(&a.runs).map_err(|e| usage(format!("{e:#}")))?;
    for s in &skipped {
        eprintln!("left out: {s}");
    }
    let runs = paths
        .iter()
        .enumerate()
        .map(|(i, p)| load::load(p, i + 1))
        .collect::<Result<Vec<_>>>()
        .map_err(|e| usage(format!("{e:#}")))?;
    let mismatches = check_settings(&runs, a.allow_mismatch)?;
    let claim_list = claims::load(a.claims.as_deref())?;
    let prices = cpus::parse_prices(&a.price, &runs)?;
    let out = a.out.clone().unwrap_or_else(|| default_out(&runs));
    let report = build(runs, mismatches, &claim_list, &prices);
    let written = write(&report, &out)?;
    let charts = written
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
        .count();
    let omitted = report
        .all_figures()
        .filter(|f| matches!(f, Figure::Omitted(..)))
        .count();
    println!(
        "report: {} ({} run(s), {charts} chart(s), {omitted} left out with a reason; open index.html)",
        out.join("index.html").display(),
        report.runs.len()
    );
    if !report.mismatches.is_empty() {
        println!(
            "warning: {} scenario setting(s) differ between the runs; flagged in the report",
            report.mismatches.len()
        );
    }
    Ok(())
}
