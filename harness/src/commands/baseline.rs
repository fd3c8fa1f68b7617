//! `ternbench baseline save NAME RUN [--force]` and `ternbench baseline list`: named baselines
//! kept as copies of a run's `run.json`, `cells.csv` and (for per-repetition latencies)
//! `cells.jsonl` under `results/baselines/NAME/`, or of an instruction-count file
//! (`ternbench icount`) as `results/baselines/NAME/icount.json`. Saving refuses to replace a
//! baseline unless `--force` is given, and refuses a file that is neither a readable run.json
//! nor a counts file.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Serialize;

use crate::cli::{BaselineAction, BaselineArgs};
use crate::error::usage;
use crate::output::Table;
use crate::present::compare::load::{baseline_names, read_run, run_json_path, valid_name};
use crate::records::fingerprint::Fingerprint;
use crate::records::icount;

/// Files copied into a baseline (run.json is required; the others when present).
pub const FILES: &[&str] = &["run.json", "cells.csv", "cells.jsonl"];

/// Runs `ternbench baseline`.
pub fn run(a: &BaselineArgs) -> Result<()> {
    match &a.action {
        BaselineAction::Save {
            name,
            run,
            force,
            dir,
        } => save(name, run, *force, dir),
        BaselineAction::List { dir, output } => list(dir, *output == crate::cli::TextOrJson::Json),
    }
}

fn save(name: &str, run: &Path, force: bool, dir: &Path) -> Result<()> {
    if !valid_name(name) {
        return Err(usage(format!(
            "baseline name `{name}`: use 1-100 letters, digits, `.`, `_` or `-` (not starting with `.`)"
        )));
    }
    if !run.exists() {
        return Err(usage(format!(
            "{}: no such run folder, run.json or icount.json",
            run.display()
        )));
    }
    if let Some(counts) = icount::counts_path(run) {
        return save_counts(name, &counts, force, dir);
    }
    let (json, src_dir) = run_json_path(run);
    let rf = read_run(&json)?;
    let dest = fresh_dest(name, force, dir)?;
    let mut copied = Vec::new();
    for f in FILES {
        let src = if *f == "run.json" {
            Some(json.clone())
        } else {
            src_dir.as_ref().map(|d| d.join(f)).filter(|p| p.is_file())
        };
        if let Some(src) = src {
            std::fs::copy(&src, dest.join(f))
                .with_context(|| format!("copying {} to {}", src.display(), dest.display()))?;
            copied.push(*f);
        }
    }
    println!(
        "saved baseline `{name}`: run {} ({} cells, scenario {}) -> {} [{}]",
        rf.run_id,
        rf.cells.len(),
        rf.scenario.name,
        dest.display(),
        copied.join(", ")
    );
    Ok(())
}

/// `dir/name`, emptied (refused without `force` when it exists) and created.
fn fresh_dest(name: &str, force: bool, dir: &Path) -> Result<PathBuf> {
    let dest = dir.join(name);
    if dest.exists() {
        if !force {
            return Err(usage(format!(
                "baseline `{name}` already exists in {}: pass --force to replace it",
                dir.display()
            )));
        }
        std::fs::remove_dir_all(&dest)
            .with_context(|| format!("removing the old baseline {}", dest.display()))?;
    }
    std::fs::create_dir_all(&dest).with_context(|| format!("creating {}", dest.display()))?;
    Ok(dest)
}

/// Keeps an instruction-count file (`ternbench icount`) as `dir/name/icount.json`.
fn save_counts(name: &str, src: &Path, force: bool, dir: &Path) -> Result<()> {
    let f = icount::read(src)?;
    let dest = fresh_dest(name, force, dir)?;
    let to = dest.join(icount::FILE_NAME);
    std::fs::copy(src, &to)
        .with_context(|| format!("copying {} to {}", src.display(), to.display()))?;
    println!(
        "saved instruction-count baseline `{name}`: {} cases, build {} ({}, {} profile), {} -> {}",
        f.cases.len(),
        f.commit_short(),
        f.build.rustc,
        f.build.profile,
        f.tool.valgrind,
        to.display()
    );
    Ok(())
}

/// One line of `baseline list`.
#[derive(Debug, Serialize)]
struct Entry {
    name: String,
    /// `run` (a run's files) or `icount` (an instruction-count file).
    kind: &'static str,
    run_id: String,
    scenario: String,
    started_utc: String,
    cells: usize,
    git_commit: Option<String>,
    machine: String,
}

fn list(dir: &Path, json: bool) -> Result<()> {
    let mut entries = Vec::new();
    for name in baseline_names(dir) {
        let c = dir.join(&name).join(icount::FILE_NAME);
        if c.is_file() && !dir.join(&name).join("run.json").is_file() {
            match icount::read(&c) {
                Ok(f) => entries.push(Entry {
                    name,
                    kind: "icount",
                    run_id: "-".into(),
                    scenario: format!("instruction counts ({})", f.tool.valgrind),
                    started_utc: f.created_utc.clone(),
                    cells: f.cases.len(),
                    git_commit: f.build.git_commit.clone(),
                    machine: format!(
                        "{}, {}",
                        f.host.cpu_model.as_deref().unwrap_or("unknown CPU"),
                        f.build.rustc
                    ),
                }),
                Err(e) => eprintln!("warning: {name}: {e:#}"),
            }
            continue;
        }
        let p = dir.join(&name).join("run.json");
        match read_run(&p) {
            Ok(r) => {
                let fp = serde_json::from_value::<Fingerprint>(r.machine.clone()).ok();
                entries.push(Entry {
                    name,
                    kind: "run",
                    run_id: r.run_id,
                    scenario: r.scenario.name,
                    started_utc: r.started_utc,
                    cells: r.cells.len(),
                    git_commit: fp.as_ref().and_then(|f| f.git_commit.clone()),
                    machine: fp.map_or_else(|| "unknown".into(), |f| f.summary()),
                });
            }
            Err(e) => eprintln!("warning: {name}: {e:#}"),
        }
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&entries)?);
        return Ok(());
    }
    if entries.is_empty() {
        println!("no baselines in {}", dir.display());
        return Ok(());
    }
    let mut t = Table::new(&[
        "name", "kind", "run", "scenario", "cells", "commit", "started", "machine",
    ]);
    for e in entries {
        t.row(vec![
            e.name,
            e.kind.to_string(),
            e.run_id,
            e.scenario,
            e.cells.to_string(),
            e.git_commit
                .map(|c| c.chars().take(10).collect())
                .unwrap_or_else(|| "-".into()),
            e.started_utc,
            e.machine,
        ]);
    }
    print!("{}", t.render());
    Ok(())
}
