//! `ternbench compare`: two runs cell by cell ([`crate::present::compare`]), or two
//! instruction-count files case by case ([`crate::present::compare::counts`]), printed as
//! Markdown or JSON; the exit code is the verdict (0 fine, 1 a gating metric regressed).

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::cli::{CompareArgs, CompareFormat};
use crate::error::usage;
use crate::present::compare::counts::{self, CountMetric};
use crate::present::compare::{compare, load, render, Metric, Options};
use crate::records::icount;

/// Runs `ternbench compare`; returns the exit code (0 or 1; bad input is an error).
pub fn run(a: &CompareArgs) -> Result<i32> {
    if let Some(code) = run_counts(a)? {
        return Ok(code);
    }
    let (base, new) = match (&a.baseline, a.runs.as_slice()) {
        (Some(name), [new]) => (load::load_named(name, &a.baselines_dir)?, new),
        (Some(_), _) => {
            return Err(usage(
                "with --baseline NAME, give only the NEW run (one argument)",
            ))
        }
        (None, [b, new]) => (load::resolve(b, &a.baselines_dir)?, new),
        (None, _) => {
            return Err(usage(
                "give BASELINE and NEW (run folders, run.json files or baseline names), or --baseline NAME and NEW",
            ))
        }
    };
    let new = load::resolve(new, &a.baselines_dir)?;
    let metrics = match &a.metric {
        None => None,
        Some(v) => {
            let mut out = Vec::new();
            for s in v {
                let m = Metric::parse(s).ok_or_else(|| {
                    usage(format!(
                        "--metric {s}: unknown (one of {})",
                        Metric::ALL.map(Metric::name).join(", ")
                    ))
                })?;
                if !out.contains(&m) {
                    out.push(m);
                }
            }
            Some(out)
        }
    };
    let report = compare(
        &base,
        &new,
        &Options {
            metrics,
            threshold_pct: a.threshold,
            ignore: a.ignore.clone(),
            alpha: a.alpha,
        },
    )?;
    match a.output {
        CompareFormat::Md => print!("{}", render::markdown(&report)),
        CompareFormat::Json => println!("{}", serde_json::to_string_pretty(&report)?),
    }
    Ok(report.exit_code)
}

/// Exits with `code` when it is not 0 (after flushing stdout).
pub fn exit_with(code: i32) {
    if code != 0 {
        use std::io::Write;
        let _ = std::io::stdout().flush();
        std::process::exit(code);
    }
}

/// A named baseline's counts file, if it has one.
fn named_counts(name: &str, dir: &Path) -> Option<PathBuf> {
    let f = dir.join(name).join(icount::FILE_NAME);
    (load::valid_name(name) && f.is_file()).then_some(f)
}

/// The counts file an argument names (a file, a folder holding `icount.json`, or a baseline
/// name), if any.
fn arg_counts(arg: &str, dir: &Path) -> Option<PathBuf> {
    let p = Path::new(arg);
    if p.exists() {
        return icount::counts_path(p);
    }
    named_counts(arg, dir)
}

/// Compares two instruction-count files; `None` when neither side is one (two runs).
fn run_counts(a: &CompareArgs) -> Result<Option<i32>> {
    let dir = &a.baselines_dir;
    let (base, new) = match (&a.baseline, a.runs.as_slice()) {
        (Some(name), [new]) => (
            (format!("baseline `{name}`"), named_counts(name, dir)),
            (new.clone(), arg_counts(new, dir)),
        ),
        (None, [b, new]) => (
            (b.clone(), arg_counts(b, dir)),
            (new.clone(), arg_counts(new, dir)),
        ),
        _ => return Ok(None),
    };
    let (bp, np) = match (base.1, new.1) {
        (None, None) => return Ok(None),
        (Some(b), Some(n)) => (b, n),
        (b, _) => {
            let (counts_side, other) = if b.is_some() {
                (&base.0, &new.0)
            } else {
                (&new.0, &base.0)
            };
            return Err(usage(format!(
                "{counts_side} is an instruction-count file (ternbench icount) but {other} is not: compare counts with counts, runs with runs"
            )));
        }
    };
    if !a.ignore.is_empty() {
        return Err(usage(
            "--ignore matches run cells; instruction-count cases match by identifier",
        ));
    }
    let metrics = match &a.metric {
        None => None,
        Some(v) => {
            let mut out = Vec::new();
            for s in v {
                let m = CountMetric::parse(s).ok_or_else(|| {
                    usage(format!(
                        "--metric {s}: not a count (one of {})",
                        CountMetric::ALL.map(CountMetric::name).join(", ")
                    ))
                })?;
                if !out.contains(&m) {
                    out.push(m);
                }
            }
            Some(out)
        }
    };
    let (bf, nf) = (icount::read(&bp)?, icount::read(&np)?);
    let label = |side: &str, p: &Path| {
        if side.starts_with("baseline `") {
            format!("{side} ({})", p.display())
        } else {
            p.display().to_string()
        }
    };
    let report = counts::compare(
        &bf,
        &label(&base.0, &bp),
        &nf,
        &label(&new.0, &np),
        &counts::Options {
            metrics,
            threshold_pct: a.threshold,
        },
    )?;
    match a.output {
        CompareFormat::Md => print!("{}", counts::markdown(&report)),
        CompareFormat::Json => println!("{}", serde_json::to_string_pretty(&report)?),
    }
    Ok(Some(report.exit_code))
}
