//! `ternbench compare`: two runs cell by cell ([`crate::present::compare`]), printed as
//! Markdown or JSON; the exit code is the verdict (0 fine, 1 a gating metric regressed).

use anyhow::Result;

use crate::cli::{CompareArgs, CompareFormat};
use crate::error::usage;
use crate::present::compare::{compare, load, render, Metric, Options};

/// Runs `ternbench compare`; returns the exit code (0 or 1; bad input is an error).
pub fn run(a: &CompareArgs) -> Result<i32> {
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
    match a.format {
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
