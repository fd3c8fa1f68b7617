//! `ternbench run [SCENARIO] [--resume DIR]`: the main job.
//!
//! Reads a scenario (default: the embedded `scenarios/quick.toml`), describes the machine,
//! opens counters and energy sources (or records why they are unavailable), measures the read
//! bandwidth at each thread count before and after the sweep and, briefly, before every timed
//! repetition (the roofline's denominator, paired with each repetition), runs every cell
//! through [`crate::measure::runner`], and leaves `results/<run-id>/` with `cells.jsonl`, `run.json`,
//! `cells.csv` and a Markdown `summary.md`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, Result};
use ternbench_engine::kernels::ThreadPool;

use crate::cli::RunArgs;
use crate::error::usage;
use crate::measure::bandwidth;
use crate::measure::counters;
use crate::measure::runner::{self, Progress, RunContext, Sink};
use crate::output::{fmt_opt, Table};
use crate::plan::scenario::{Host, Scenario, EMBEDDED_QUICK};
use crate::records::counters::CounterStatus;
use crate::records::fingerprint::{Fingerprint, Roots};
use crate::records::results::{
    now_utc, CellResult, Record, RunBandwidth, RunDir, RunFile, ScenarioInfo, SCHEMA_VERSION,
};
use ternbench_energy as energy;

/// The results folder as a sink.
struct DirSink<'a>(&'a mut RunDir);

impl Sink for DirSink<'_> {
    fn record(&mut self, r: &Record) -> Result<()> {
        self.0.append(r)
    }
}

/// The host facts scenarios resolve against.
pub fn host() -> Host {
    let logical = crate::records::machine::cores();
    Host {
        logical,
        physical: crate::records::machine::physical_cores().unwrap_or(logical),
    }
}

fn run_id(name: &str) -> String {
    let t = now_utc(); // 2026-11-23T01:02:03Z
    let stamp: String = t
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == 'T')
        .collect();
    let clean: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("{}-{}", stamp.replace('T', "-"), clean)
}

/// Runs `ternbench run`.
pub fn run(a: &RunArgs) -> Result<()> {
    let host = host();
    let (mut dir, scenario, text, prior_records, prior_run) = match &a.resume {
        Some(path) => {
            let (dir, text, records, run) = RunDir::open(path)?;
            let file = path.join("scenario.toml").display().to_string();
            let mut s = Scenario::parse(&text, &file, host).map_err(|e| usage(e.to_string()))?;
            if let Some(r) = &run {
                s.file = r.scenario.file.clone().map(PathBuf::from);
                s.name = r.scenario.name.clone();
            }
            (dir, s, text, records, run)
        }
        None => {
            let (s, text) = match &a.scenario {
                Some(p) => Scenario::load(p, host).map_err(|e| usage(e.to_string()))?,
                None => {
                    let mut s =
                        Scenario::parse(EMBEDDED_QUICK, "<embedded scenarios/quick.toml>", host)
                            .map_err(|e| usage(e.to_string()))?;
                    if s.name.is_empty() {
                        s.name = "quick".into();
                    }
                    (s, EMBEDDED_QUICK.to_string())
                }
            };
            let dir = RunDir::create(&a.out, &run_id(&s.name), &text)?;
            (dir, s, text, Vec::new(), None)
        }
    };
    let isas = scenario.isa_levels().map_err(usage)?;

    // Counters first: threads spawned after opening them (the pool) are counted.
    let (ctrs, counter_status) = counters::open_status();
    let max_threads = scenario.threads.iter().copied().max().unwrap_or(1);
    let pool = ThreadPool::new(max_threads, crate::records::machine::pinning(scenario.pin));
    let mut progress = Progress::new(a.quiet, runner::planned_reps(&scenario, isas.len()));
    progress.note(&format!(
        "ternbench run `{}` → {}",
        scenario.name,
        dir.path().display()
    ));

    // Energy: the scenario's source unless --energy says otherwise.
    let mut choice: energy::EnergyChoice = a
        .energy
        .as_deref()
        .unwrap_or(&scenario.energy.source)
        .parse()
        .map_err(usage)?;
    if let energy::EnergyChoice::Estimate { tdp_watts } = &mut choice {
        *tdp_watts = a.tdp.or(scenario.energy.tdp_watts);
    }
    let estatus = energy::open(&choice, &energy::Roots::system());
    let idle = match (&estatus, &prior_run) {
        (energy::EnergyStatus::Available(m), None) if scenario.energy.idle_seconds > 0.0 => {
            progress.note(&format!(
                "measuring idle power for {:.0} s (keep the machine quiet)…",
                scenario.energy.idle_seconds
            ));
            Some(
                energy::idle_baseline(
                    m,
                    std::time::Duration::from_secs_f64(scenario.energy.idle_seconds),
                )
                .context("measuring the idle-power baseline")?,
            )
        }
        (energy::EnergyStatus::Available(_), Some(r)) => r
            .energy
            .get("idle")
            .and_then(|v| serde_json::from_value(v.clone()).ok()),
        _ => None,
    };
    let prov = estatus.provenance();
    let energy_status = serde_json::json!({
        "status": match &estatus {
            energy::EnergyStatus::Available(_) => "measured",
            energy::EnergyStatus::Estimated(_) => "estimated",
            energy::EnergyStatus::Unavailable(_) => "unavailable",
        },
        "source": prov.energy_source,
        "reason": prov.reason,
        "fix": prov.fix,
        "idle": idle,
        "provenance": prov,
    });
    let mut phases = crate::measure::energy_phase::Phases::new(&estatus, idle.clone());
    progress.note("measuring read bandwidth (roofline denominator)…");
    // The opening reading is also the reference for a short reading before every timed
    // repetition, which pairs each decode rate with its own roofline denominator (the
    // machine's bandwidth drifts within minutes).
    let beside = bandwidth::Beside::new(&pool, &scenario.threads, bandwidth::BESIDE_PASSES);
    let mut bw: Vec<RunBandwidth> = match &prior_run {
        Some(r) if !r.bandwidth.is_empty() => r.bandwidth.clone(),
        _ => bandwidth::medians(beside.start())
            .into_iter()
            .map(|(threads, g)| RunBandwidth {
                threads,
                before_gbps: g,
                after_gbps: None,
            })
            .collect(),
    };
    let machine = match &prior_run {
        Some(r) => r.machine.clone(),
        None => {
            let mut fp = Fingerprint::collect(&Roots::system());
            if let Some(b) = bw.iter().max_by_key(|b| b.threads) {
                fp.read_bandwidth_gbps = Some(b.before_gbps);
                fp.read_bandwidth_threads = Some(b.threads);
            }
            serde_json::to_value(&fp).context("serialising the machine fingerprint")?
        }
    };
    let mut prior_models = Vec::new();
    let mut prior: BTreeMap<_, Vec<_>> = BTreeMap::new();
    for r in prior_records {
        match r {
            Record::Model(m) => prior_models.push(m),
            Record::Sample(s) => prior.entry(s.key.clone()).or_default().push(*s),
        }
    }
    let resumed = prior_run.as_ref().map_or(0, |r| r.resumed + 1);
    let mut file = RunFile {
        schema_version: SCHEMA_VERSION,
        run_id: dir.id(),
        status: "running".into(),
        ternbench_version: env!("CARGO_PKG_VERSION").into(),
        started_utc: prior_run
            .as_ref()
            .map(|r| r.started_utc.clone())
            .unwrap_or_else(now_utc),
        finished_utc: None,
        resumed,
        scenario: ScenarioInfo {
            name: scenario.name.clone(),
            description: scenario.description.clone(),
            file: scenario.file.as_ref().map(|p| p.display().to_string()),
            text,
        },
        machine,
        bandwidth: bw.clone(),
        counters: counter_status.clone(),
        energy: energy_status.clone(),
        models: Vec::new(),
        cells: Vec::new(),
        notes: Vec::new(),
    };
    dir.write_summary(&file)?;

    let mut ctx = RunContext {
        pool: &pool,
        counters: ctrs.as_ref(),
        energy: phases.as_mut().map(|p| p as &mut dyn runner::PhaseMeter),
        prior,
        prior_models,
        progress,
        beside: Some(&beside),
    };
    crate::measure::interrupt::install();
    let out = match runner::run(&scenario, &isas, &mut ctx, &mut DirSink(&mut dir)) {
        Ok(o) => o,
        Err(e)
            if e.downcast_ref::<crate::measure::interrupt::Interrupted>()
                .is_some() =>
        {
            file.status = "interrupted".into();
            dir.write_summary(&file)?;
            eprintln!(
                "interrupted: every repetition measured so far is in {}; finish with `ternbench run --resume {}`",
                dir.path().join("cells.jsonl").display(),
                dir.path().display()
            );
            std::process::exit(130);
        }
        Err(e) => return Err(e),
    };
    let mut progress = ctx.progress;
    progress.note("measuring read bandwidth again…");
    for (b, (_, g)) in bw.iter_mut().zip(bandwidth::medians(&beside.every_method(
        &pool,
        &scenario.threads,
        bandwidth::BESIDE_PASSES,
    ))) {
        b.after_gbps = Some(g);
    }
    // Cells without per-repetition readings (resumed from older results) use the mean of
    // before and after.
    let cells: Vec<CellResult> = out
        .cells
        .into_iter()
        .map(|mut c| {
            if let Some(b) = bw.iter().find(|b| b.threads == c.key.threads) {
                c.set_bandwidth(b.gbps());
            }
            c
        })
        .collect();
    let mut notes = Vec::new();
    if cells.iter().any(|c| c.sampled.is_some()) {
        notes.push("SAMPLED cells built only some layers: their measured figures are for those layers; *_full_depth_estimate fields are ESTIMATES scaled to the full depth.".to_string());
    }
    if let CounterStatus::Unavailable { reason } = &counter_status {
        notes.push(format!("hardware counters unavailable: {reason}"));
    }
    if cells.iter().any(|c| c.noisy) {
        notes.push(format!(
            "cells marked noisy vary by more than max_cv = {:.0}% between repetitions: rerun them on a quieter machine, with more repetitions or min_seconds",
            scenario.max_cv * 100.0
        ));
    }
    file.status = "complete".into();
    file.finished_utc = Some(now_utc());
    file.bandwidth = bw;
    file.models = out.models;
    file.cells = cells;
    file.notes = notes;
    dir.write_summary(&file)?;
    dir.write_file("summary.md", &summary_markdown(&file))?;
    progress.finish();
    // The report: charts, claims beside the measurements, HTML and Markdown, in the run folder.
    let report_dir = dir.path().join("report");
    let loaded = crate::present::report::load::Loaded {
        path: dir.path().join("run.json"),
        run: file.clone(),
        index: 1,
    };
    let claims = crate::present::report::claims::load(None)?;
    let report =
        crate::present::report::build(vec![loaded], Vec::new(), &claims, &Default::default());
    crate::present::report::write(&report, &report_dir)
        .with_context(|| format!("writing the report into {}", report_dir.display()))?;

    if a.json {
        println!("{}", serde_json::to_string_pretty(&file)?);
    } else if !a.quiet {
        print!("{}", summary_text(&file));
        println!(
            "results: {} (cells.jsonl, run.json, cells.csv, summary.md)\nreport:  {}",
            dir.path().display(),
            report_dir.join("index.html").display()
        );
    }
    Ok(())
}

fn fmt_summary(s: &Option<crate::records::stats::Summary>) -> String {
    match s {
        Some(s) => match s.ci95_rel() {
            Some(r) => format!("{:.2} ±{:.1}%", s.median, r * 100.0),
            None => format!("{:.2}", s.median),
        },
        None => "-".into(),
    }
}

fn cell_table(run: &RunFile) -> Table {
    let mut t = Table::new(&[
        "model",
        "engine",
        "isa",
        "threads",
        "test",
        "pp t/s (median ±ci95)",
        "tg t/s (median ±ci95)",
        "TTFT ms",
        "tg p50/p90/p99 ms",
        "roofline",
        "J/token",
        "flags",
    ]);
    for c in &run.cells {
        let mut flags = Vec::new();
        if let Some(sm) = &c.sampled {
            flags.push(format!(
                "SAMPLED {}/{} layers (full-depth ESTIMATE tg {})",
                sm.layers_built,
                sm.layers_total,
                fmt_opt(c.decode_tokens_per_s_full_depth_estimate, 2)
            ));
        }
        if c.noisy {
            let cv = c
                .decode_tokens_per_s
                .as_ref()
                .or(c.prefill_tokens_per_s.as_ref())
                .and_then(|s| s.cv)
                .unwrap_or(f64::NAN);
            flags.push(format!("NOISY (cv {:.1}%)", cv * 100.0));
        }
        let outliers = c
            .decode_tokens_per_s
            .as_ref()
            .map_or(0, |s| s.outliers.len());
        if outliers > 0 {
            flags.push(format!("{outliers} outlier rep(s)"));
        }
        let engine = if c.key.engine == "ternary" {
            format!("ternary/{} head {}", c.key.format, c.key.head)
        } else {
            format!("fp16 head {}", c.key.head)
        };
        t.row(vec![
            c.key.model.clone(),
            engine,
            c.key.isa.clone(),
            c.key.threads.to_string(),
            c.key.test.clone(),
            fmt_summary(&c.prefill_tokens_per_s),
            fmt_summary(&c.decode_tokens_per_s),
            fmt_opt(c.ttft_seconds.as_ref().map(|s| s.median * 1e3), 1),
            c.decode_latency_ms
                .as_ref()
                .map(|p| format!("{:.1}/{:.1}/{:.1}", p.p50, p.p90, p.p99))
                .unwrap_or_else(|| "-".into()),
            c.decode_roofline_fraction
                .map(|r| format!("{:.0}%", r * 100.0))
                .unwrap_or_else(|| "-".into()),
            match &c.energy {
                Some(e) => match e.decode_joules_per_token.as_ref() {
                    Some(j) if e.method == "estimated" => format!("{:.3} (ESTIMATED)", j.median),
                    Some(j) => format!("{:.3}", j.median),
                    None => "-".into(),
                },
                None => "unavailable".into(),
            },
            flags.join("; "),
        ]);
    }
    t
}

fn energy_line(run: &RunFile) -> String {
    let e = &run.energy;
    match e.get("status").and_then(|s| s.as_str()) {
        Some("unavailable") | None => format!(
            "energy: unavailable — {}{}",
            e.get("reason")
                .and_then(|r| r.as_str())
                .unwrap_or("no reason recorded"),
            e.get("fix")
                .and_then(|r| r.as_str())
                .map(|f| format!(" (fix: {f})"))
                .unwrap_or_default()
        ),
        Some(other) => format!(
            "energy: {other} via {}",
            e.get("source").and_then(|s| s.as_str()).unwrap_or("?")
        ),
    }
}

fn ratio_lines(run: &RunFile) -> Vec<String> {
    // Ternary over FP16 decode speed, like for like (same model, level, threads, test).
    let mut out = Vec::new();
    for c in run.cells.iter().filter(|c| c.key.engine == "ternary") {
        let f = run.cells.iter().find(|f| {
            f.key.engine == "fp16"
                && f.key.model == c.key.model
                && f.key.isa == c.key.isa
                && f.key.threads == c.key.threads
                && f.key.test == c.key.test
        });
        if let (Some(f), Some(t), Some(b)) = (
            f,
            c.decode_tokens_per_s.as_ref(),
            f.and_then(|f| f.decode_tokens_per_s.as_ref()),
        ) {
            let _ = f;
            out.push(format!(
                "{} {} t{} {}: ternary/{} decode is {:.2}x the FP16 twin's (medians {:.2} vs {:.2} t/s)",
                c.key.model,
                c.key.isa,
                c.key.threads,
                c.key.test,
                c.key.format,
                t.median / b.median,
                t.median,
                b.median
            ));
        }
    }
    out
}

/// The terminal summary.
pub fn summary_text(run: &RunFile) -> String {
    let mut s = String::new();
    s.push_str(&format!(
        "\n{} — {}\n",
        run.scenario.name,
        run.machine
            .get("summary")
            .and_then(|v| v.as_str())
            .or_else(|| run.machine.get("cpu_model").and_then(|v| v.as_str()))
            .unwrap_or("unknown machine")
    ));
    s.push_str(&cell_table(run).render());
    for l in ratio_lines(run) {
        s.push_str(&l);
        s.push('\n');
    }
    s.push_str(&energy_line(run));
    s.push('\n');
    for n in &run.notes {
        s.push_str(&format!("note: {n}\n"));
    }
    s
}

/// `summary.md`: the run at a glance, for CI pages and pull requests.
pub fn summary_markdown(run: &RunFile) -> String {
    let mut s = format!(
        "# ternbench run `{}`\n\n{}\n\n- run id: `{}` ({} → {})\n- machine: {}\n- bandwidth (GB/s, before → after): {}\n- {}\n- counters: {}\n\n",
        run.scenario.name,
        run.scenario.description,
        run.run_id,
        run.started_utc,
        run.finished_utc.as_deref().unwrap_or("running"),
        run.machine
            .get("summary")
            .and_then(|v| v.as_str())
            .or_else(|| run.machine.get("cpu_model").and_then(|v| v.as_str()))
            .unwrap_or("unknown"),
        run.bandwidth
            .iter()
            .map(|b| format!(
                "{} thr {:.1} → {}",
                b.threads,
                b.before_gbps,
                b.after_gbps.map_or("-".into(), |a| format!("{a:.1}"))
            ))
            .collect::<Vec<_>>()
            .join("; "),
        energy_line(run),
        match &run.counters {
            CounterStatus::Available { events } => events.join(", "),
            CounterStatus::Unavailable { reason } => format!("unavailable — {reason}"),
        }
    );
    s.push_str(&cell_table(run).markdown());
    s.push('\n');
    for l in ratio_lines(run) {
        s.push_str(&format!("- {l}\n"));
    }
    for n in &run.notes {
        s.push_str(&format!("\n> {n}\n"));
    }
    s.push_str("\n<details><summary>scenario</summary>\n\n```toml\n");
    s.push_str(&run.scenario.text);
    s.push_str("\n```\n</details>\n");
    s
}
