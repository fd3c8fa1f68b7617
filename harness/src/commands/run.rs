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

use crate::cli::{RunArgs, TextOrJson};
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

/// A resumed run that is already complete: say so and re-measure nothing.
/// A `--label` or `--price-per-hour` given with `--resume` is the one thing
/// that changes (the run's metadata, not its cells), and the message says so.
fn already_complete(path: &std::path::Path, a: &RunArgs) -> Result<Option<String>> {
    let file = path.join("run.json");
    let Ok(text) = std::fs::read_to_string(&file) else {
        return Ok(None);
    };
    let Ok(mut run) = serde_json::from_str::<RunFile>(&text) else {
        return Ok(None);
    };
    if run.status != "complete" {
        return Ok(None);
    }
    let mut changed = Vec::new();
    if let Some(l) = &a.label {
        if run.label.as_deref() != Some(l.as_str()) {
            changed.push(format!("label {:?}", l));
            run.label = Some(l.clone());
        }
    }
    if let Some(p) = a.price_per_hour {
        if run.price_usd_per_hour != Some(p) {
            changed.push(format!("price ${p}/h"));
            run.price_usd_per_hour = Some(p);
        }
    }
    let what = if changed.is_empty() {
        "nothing to resume, nothing changed".to_string()
    } else {
        let json = serde_json::to_string_pretty(&run)?;
        crate::records::results::write_atomic(&file, json.as_bytes())?;
        format!(
            "nothing re-measured; recorded {} (rerun `ternbench report {}` to redraw the report)",
            changed.join(" and "),
            path.display()
        )
    };
    Ok(Some({
        let reps: usize = run.cells.iter().map(|c| c.repetitions).sum();
        format!(
            "{} is already complete ({} cell(s), {reps} timed repetition(s), finished {}): {what}.\nreport:  {}\nrerun it: ternbench run {}",
            path.display(),
            run.cells.len(),
            run.finished_utc.as_deref().unwrap_or("?"),
            path.join("report").join("index.html").display(),
            run.scenario
                .file
                .clone()
                .unwrap_or_else(|| path.join("scenario.toml").display().to_string())
        )
    }))
}

/// The idle baseline's protocol as the scenario sets it.
fn idle_plan(s: &Scenario) -> energy::IdlePlan {
    energy::IdlePlan::new(
        std::time::Duration::from_secs_f64(s.energy.idle_settle_seconds),
        std::time::Duration::from_secs_f64(s.energy.idle_seconds),
        s.energy
            .idle_check
            .parse()
            .unwrap_or(energy::IdleCheck::Flag),
    )
}

/// Runs `ternbench run`.
pub fn run(a: &RunArgs) -> Result<()> {
    let host = host();
    if let Some(path) = &a.resume {
        if let Some(msg) = already_complete(path, a)? {
            if a.output == TextOrJson::Json {
                println!(
                    "{}",
                    std::fs::read_to_string(path.join("run.json"))?.trim_end()
                );
            }
            eprintln!("{msg}");
            return Ok(());
        }
    }
    if a.plan {
        let (scenario, _) = load_scenario(a, host)?;
        let isas = scenario.isa_levels().map_err(usage)?;
        check_scenario_threads(a, &scenario, host)?;
        let pool = ThreadPool::new(
            scenario.threads.iter().copied().max().unwrap_or(1),
            crate::records::machine::pinning(scenario.pin),
        );
        let plan =
            crate::commands::planning::make(&scenario, &isas, &pool, plan_context(a, &scenario))?;
        return crate::commands::planning::print(&plan, a.output);
    }
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
            let (s, text) = load_scenario(a, host)?;
            check_scenario_threads(a, &s, host)?;
            // Refused before a results folder is created: levels and models.
            s.isa_levels().map_err(usage)?;
            for m in &s.models {
                crate::plan::model::model_config(&m.name)?;
            }
            let dir = RunDir::create(&a.out, &run_id(&s.name), &text)?;
            (dir, s, text, Vec::new(), None)
        }
    };
    let isas = scenario.isa_levels().map_err(usage)?;
    check_scenario_threads(a, &scenario, host)?;

    // Counters first: threads spawned after opening them (the pool) are counted.
    let (ctrs, counter_status) = counters::open_status();
    let max_threads = scenario.threads.iter().copied().max().unwrap_or(1);
    let pool = ThreadPool::new(max_threads, crate::records::machine::pinning(scenario.pin));
    if !a.quiet {
        eprintln!(
            "ternbench run `{}` → {}",
            scenario.name,
            dir.path().display()
        );
    }
    // The plan's estimate weighs the progress bar (skipped when nothing is shown).
    let weights = if a.quiet {
        Default::default()
    } else {
        eprintln!("calibrating the progress estimate (a few seconds)…");
        let plan =
            crate::commands::planning::make(&scenario, &isas, &pool, plan_context(a, &scenario))?;
        eprintln!("{}", crate::commands::planning::headline(&plan));
        crate::commands::planning::weights(&plan)
    };
    let mut progress = Progress::new(a.quiet, weights);

    // Energy: the scenario's source unless --energy says otherwise.
    let mut choice: energy::EnergyChoice = a
        .energy
        .as_deref()
        .unwrap_or(&scenario.energy.source)
        .parse()
        .map_err(usage)?;
    if let energy::EnergyChoice::Estimate {
        tdp_watts,
        idle_watts,
    } = &mut choice
    {
        *tdp_watts = a.tdp.or(scenario.energy.tdp_watts);
        *idle_watts = scenario.energy.idle_watts;
    }
    let roots = energy::Roots::from_env();
    let estatus = energy::open(&choice, &roots);
    let idle_plan = idle_plan(&scenario);
    let idle: Option<energy::IdleBaseline> = match (&estatus, &prior_run) {
        (energy::EnergyStatus::Available(m), None) if scenario.energy.idle_seconds > 0.0 => {
            progress.note(&format!(
                "idle-power baseline: settling {:.0} s, then measuring {:.0} s (keep the machine \
                 quiet; other load is {})…",
                scenario.energy.idle_settle_seconds,
                scenario.energy.idle_seconds,
                match idle_plan.check {
                    energy::IdleCheck::Refuse => "refused",
                    energy::IdleCheck::Flag => "flagged",
                    energy::IdleCheck::Off => "not checked",
                }
            ));
            let b = energy::idle::measure(m, &roots, &idle_plan)
                .context("measuring the idle-power baseline")?;
            for n in &b.power.notes {
                progress.note(&format!("idle baseline: {n}"));
            }
            Some(b)
        }
        (energy::EnergyStatus::Available(_), Some(r)) => r
            .energy
            .get("idle")
            .and_then(|v| serde_json::from_value(v.clone()).ok()),
        _ => None,
    };
    let prov = estatus.provenance();
    let mut energy_status = serde_json::json!({
        "status": match &estatus {
            energy::EnergyStatus::Available(_) => "measured",
            energy::EnergyStatus::Estimated(_) => "estimated",
            energy::EnergyStatus::Unavailable(_) => "unavailable",
        },
        "source": prov.energy_source,
        "reason": prov.reason,
        "fix": prov.fix,
        "dram_in_total": prov.dram_in_total,
        "caveats": prov.caveats,
        "idle": idle,
        "idle_settle_seconds": scenario.energy.idle_settle_seconds,
        "idle_check": scenario.energy.idle_check,
        "provenance": prov,
    });
    let mut phases =
        crate::measure::energy_phase::Phases::new(&estatus, idle.as_ref().map(|b| b.power.clone()));
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
    // The decode kernels' prefetch distances: a resumed run keeps those it started with.
    let prefetch = match &prior_run {
        Some(r) if !r.prefetch.is_empty() => crate::measure::prefetch::PrefetchPlan {
            choices: r.prefetch.clone(),
        },
        _ => {
            if a.prefetch == crate::measure::prefetch::PrefetchArg::Auto {
                progress.note("calibrating the decode kernels' prefetch distance…");
            }
            crate::measure::prefetch::for_scenario(a.prefetch, &scenario, &isas, &pool)
                .context("choosing the decode kernels' prefetch distance")?
        }
    };
    for l in prefetch.summary() {
        progress.note(&l);
    }
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
        label: a
            .label
            .clone()
            .or_else(|| prior_run.as_ref().and_then(|r| r.label.clone())),
        price_usd_per_hour: a
            .price_per_hour
            .or_else(|| prior_run.as_ref().and_then(|r| r.price_usd_per_hour)),
        bandwidth: bw.clone(),
        prefetch: prefetch.choices.clone(),
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
        prefetch: Some(&prefetch),
    };
    crate::measure::interrupt::install();
    let out = match runner::run(&scenario, &isas, &mut ctx, &mut DirSink(&mut dir)) {
        Ok(o) => o,
        Err(e) if e.downcast_ref::<runner::Interrupted>().is_some() => {
            file.status = "interrupted".into();
            dir.write_summary(&file)?;
            eprintln!(
                "interrupted: every repetition measured so far is in {}; finish with `ternbench run --resume {}`",
                dir.path().join("cells.jsonl").display(),
                dir.path().display()
            );
            std::process::exit(crate::error::EXIT_INTERRUPTED);
        }
        Err(e) => return Err(e),
    };
    let mut progress = ctx.progress;
    // The idle baseline again, after the sweep: drift between the two is flagged.
    if let (energy::EnergyStatus::Available(m), Some(start)) = (&estatus, &idle) {
        progress.note(&format!(
            "idle-power baseline again: settling {:.0} s, then measuring {:.0} s…",
            scenario.energy.idle_settle_seconds, scenario.energy.idle_seconds
        ));
        match energy::idle::measure(m, &roots, &idle_plan) {
            Ok(end) => {
                let drift = energy::idle::drift(&start.power, &end.power);
                if let Some(n) = drift.as_ref().and_then(|d| d.note.clone()) {
                    progress.note(&n);
                }
                energy_status["idle_end"] = serde_json::to_value(&end)?;
                energy_status["idle_drift"] = serde_json::to_value(&drift)?;
            }
            Err(e) => {
                energy_status["idle_end_error"] = serde_json::Value::String(e.to_string());
            }
        }
        file.energy = energy_status.clone();
    }
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
                c.set_bandwidth(b.gbps(), Some(crate::records::machine::llc_bytes().0));
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

    if a.output == TextOrJson::Json {
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

/// The scenario named on the command line, or the embedded quick one.
fn load_scenario(a: &RunArgs, host: Host) -> Result<(Scenario, String)> {
    Ok(match &a.scenario {
        Some(p) => Scenario::load(p, host).map_err(|e| usage(e.to_string()))?,
        None => {
            let mut s = Scenario::parse(EMBEDDED_QUICK, "<embedded scenarios/quick.toml>", host)
                .map_err(|e| usage(e.to_string()))?;
            if s.name.is_empty() {
                s.name = "quick".into();
            }
            (s, EMBEDDED_QUICK.to_string())
        }
    })
}

/// A scenario's thread counts against this machine (`--oversubscribe` lifts the limit).
fn check_scenario_threads(a: &RunArgs, s: &Scenario, host: Host) -> Result<()> {
    let file = s
        .file
        .as_ref()
        .map_or("<embedded scenarios/quick.toml>".to_string(), |f| {
            f.display().to_string()
        });
    crate::commands::check_threads_on(
        &s.threads,
        a.thread_opts.oversubscribe,
        host.logical,
        &format!("{file}: key `threads` has"),
    )
}

/// What the estimate needs to know of this run.
fn plan_context(a: &RunArgs, s: &Scenario) -> crate::plan::estimate::Context {
    let source = a.energy.as_deref().unwrap_or(&s.energy.source);
    let energy_available = source != "none"
        && source != "estimate"
        && matches!(
            source
                .parse::<energy::EnergyChoice>()
                .map(|c| energy::open(&c, &energy::Roots::system())),
            Ok(energy::EnergyStatus::Available(_))
        );
    crate::plan::estimate::Context {
        beside: true,
        idle_seconds: if energy_available {
            s.energy.idle_settle_seconds + s.energy.idle_seconds
        } else {
            0.0
        },
    }
}

fn fmt_summary(s: &Option<crate::records::stats::Summary>) -> String {
    s.as_ref().map_or_else(|| "-".into(), |s| s.show())
}

/// The reasons some figures have no interval, once each (a table shows `(n=5, no CI)`).
fn no_ci_notes(run: &RunFile) -> Vec<String> {
    let mut v: Vec<String> = Vec::new();
    for c in &run.cells {
        for s in [&c.prefill_tokens_per_s, &c.decode_tokens_per_s]
            .into_iter()
            .flatten()
        {
            if let Some(r) = s.no_ci_reason() {
                if !v.contains(&r) {
                    v.push(r);
                }
            }
        }
        if let Some(r) = c.roofline().and_then(|e| e.clipped) {
            let r = format!("roofline {} t{}: {r}", c.key.engine, c.key.threads);
            v.push(r);
        }
    }
    v
}

fn cell_table(run: &RunFile) -> Table {
    let mut t = Table::new(&[
        "model",
        "engine",
        "isa",
        "threads",
        "test",
        "pp t/s median [95% CI]",
        "tg t/s median [95% CI]",
        "TTFT ms",
        "tg p50/p90/p99 ms",
        "roofline",
        "J/token measured",
        "J/token ESTIMATED",
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
        let engine = match c.key.engine.as_str() {
            "ternary" => format!("ternary/{} head {}", c.key.format, c.key.head),
            "fp16" => format!("fp16 head {}", c.key.head),
            // A [[peer]]: the program, the file's projection and head types.
            peer => format!("{peer} {} head {}", c.key.format, c.key.head),
        };
        if let Some(e) = &c.error {
            flags.push(format!("ERROR: {e}"));
        }
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
            c.roofline()
                .map(|r| r.show(0, "%", true))
                .unwrap_or_else(|| "-".into()),
            match &c.energy {
                Some(e) if e.method == "estimated" => "-".into(),
                Some(e) => match e.measured_decode_jpt() {
                    Some(j) => format!("{} ({})", j.show(), e.dram_label()),
                    None => "- (see energy notes)".into(),
                },
                None => "unavailable".into(),
            },
            match c.energy.as_ref().and_then(|e| e.estimated_decode_jpt()) {
                Some(j) => format!("{:.3} ESTIMATED", j.median),
                None => "-".into(),
            },
            flags.join("; "),
        ]);
    }
    t
}

/// Per-cell energy lines: why a figure is missing, each caveat once.
fn cell_energy_lines(run: &RunFile) -> Vec<String> {
    let mut out = Vec::new();
    for c in &run.cells {
        let Some(e) = &c.energy else { continue };
        if let Some(m) = &e.missing {
            out.push(format!("energy {}: {m}", c.key.id()));
        }
    }
    let mut seen: Vec<&str> = Vec::new();
    for n in run
        .cells
        .iter()
        .filter_map(|c| c.energy.as_ref())
        .flat_map(|e| e.notes.iter())
    {
        if !seen.contains(&n.as_str()) {
            seen.push(n);
            out.push(format!("energy window caveat: {n}"));
        }
    }
    out
}

fn energy_line(run: &RunFile) -> String {
    let e = &run.energy;
    let mut s = energy_status_line(run);
    let measured = e.get("status").and_then(|s| s.as_str()) == Some("measured");
    if let Some(d) = e
        .get("dram_in_total")
        .and_then(|d| d.as_bool())
        .filter(|_| measured)
    {
        s.push_str(if d {
            "; DRAM in the total (Σpackage + Σdram)"
        } else {
            "; DRAM OUT: the total is the package alone, without memory energy"
        });
    }
    if let Some(w) = e
        .get("idle")
        .and_then(|i| i.get("cpu_total_watts"))
        .and_then(|w| w.as_f64())
    {
        s.push_str(&format!("; idle baseline {w:.1} W"));
        if e.get("idle").and_then(|i| i.get("quiet")) == Some(&serde_json::Value::Bool(false)) {
            s.push_str(" (NOT QUIET: other load during it)");
        }
    }
    if let Some(n) = e
        .get("idle_drift")
        .and_then(|d| d.get("note"))
        .and_then(|n| n.as_str())
    {
        s.push_str(&format!("; {n}"));
    }
    for c in e
        .get("caveats")
        .and_then(|c| c.as_array())
        .into_iter()
        .flatten()
        .filter_map(|c| c.as_str())
    {
        s.push_str(&format!("; caveat: {c}"));
    }
    s
}

fn energy_status_line(run: &RunFile) -> String {
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
    // Ternary over FP16, like for like (same model, level, threads, test), decode and prefill,
    // each with the interval of the ratio from both cells' repetitions.
    let mut out = Vec::new();
    for c in run.cells.iter().filter(|c| c.key.engine == "ternary") {
        let Some(f) = run
            .cells
            .iter()
            .find(|f| f.key.engine == "fp16" && f.same_setup(c))
        else {
            continue;
        };
        let mut parts = Vec::new();
        for (what, decode) in [("decode", true), ("prefill", false)] {
            if let Some(r) = c.tps_ratio(f, decode) {
                parts.push(format!("{what} {}", r.show(2, "x", false)));
            }
        }
        if !parts.is_empty() {
            out.push(format!(
                "{} {} t{} {}: ternary/{} ÷ FP16 twin: {}",
                c.key.model,
                c.key.isa,
                c.key.threads,
                c.key.test,
                c.key.format,
                parts.join(", ")
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
    for l in no_ci_notes(run) {
        s.push_str(&format!("  {l}\n"));
    }
    for l in ratio_lines(run) {
        s.push_str(&l);
        s.push('\n');
    }
    s.push_str(&energy_line(run));
    s.push('\n');
    for l in cell_energy_lines(run) {
        s.push_str(&format!("{l}\n"));
    }
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
    for l in no_ci_notes(run) {
        s.push_str(&format!("_{l}_\n\n"));
    }
    for l in ratio_lines(run) {
        s.push_str(&format!("- {l}\n"));
    }
    for l in cell_energy_lines(run) {
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
