//! `ternbench cost`: what serving a demand costs per month and per million tokens on a GPU
//! (FP16 baseline, from a dated catalogue or a measured GPU run), on this CPU with the FP16
//! engine, and on this CPU with the ternary engine (both from a results run, or from figures
//! given as flags), like for like: every deployment sized at the largest batch meeting one
//! per-stream latency target (`--slo`), one model size on both sides (or the mismatch said
//! first), and the monthly cost against requests/day with the crossovers.
//!
//! The formulas, catalogues and rendering live in [`crate::present::cost`].
//!
//! This file turns the command line into the model's inputs: every figure gets a label saying
//! where it came from (`given (--flag)`, `default (...)`, `measured (run, cell)`, `ESTIMATE`,
//! `catalogue`), and anything it cannot use is a usage error (exit 2) naming the flag, file
//! or key. To add a deployment kind, build another [`model::Deployment`] here.

use anyhow::{Context, Result};

use crate::cli::{CostArgs, CostFormat};
use crate::error::usage;
use crate::present::cost::catalogue::{CpuPrices, GpuCatalogue, GpuEntry};
use crate::present::cost::model::{
    self, CostResult, Demand, Deployment, Electricity, EnergyFigure, Figure, Pricing, SloReport,
};
use crate::present::cost::size::{self, Side, Verdict};
use crate::present::cost::slo::{self, Candidate, Miss, Slo};
use crate::present::cost::{crossover, from_run, render};

/// Default CPU instance when none is named.
pub const DEFAULT_CPU_INSTANCE: &str = "c7a.xlarge";
/// Default GPU catalogue entry.
pub const DEFAULT_GPU: &str = "a100-80gb";

fn fig(v: Option<f64>, flag: &str, default: f64, why: &str) -> Figure {
    match v {
        Some(x) => Figure::new(x, format!("given ({flag})")),
        None => Figure::new(default, format!("default ({why})")),
    }
}

fn given(v: f64, flag: &str) -> Figure {
    Figure::new(v, format!("given ({flag})"))
}

/// Runs the command.
pub fn run(a: &CostArgs) -> Result<()> {
    let result = build(a).map_err(usage)?;
    let out = match a.output {
        CostFormat::Text => render::text(&result),
        CostFormat::Md => render::markdown(&result),
        CostFormat::Json => render::json(&result),
    };
    if let Some(p) = &a.chart {
        std::fs::write(p, render::svg(&result))
            .with_context(|| format!("--chart {}: writing the SVG", p.display()))?;
    }
    if let Some(dir) = &a.out {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("--out {}: creating the folder", dir.display()))?;
        let write = |name: &str, data: &[u8]| {
            let p = dir.join(name);
            std::fs::write(&p, data).with_context(|| format!("--out: writing {}", p.display()))
        };
        write("cost-per-mtok.svg", render::svg(&result).as_bytes())?;
        if let Some(sw) = &result.sweep {
            let title = render::sweep_title(&result);
            write(
                "monthly-cost.svg",
                crate::present::cost::chart::to_svg(sw, &title)?.as_bytes(),
            )?;
            write(
                "monthly-cost.png",
                &crate::present::cost::chart::to_png(sw, &title)?,
            )?;
        }
    }
    print!("{out}");
    Ok(())
}

/// The demand from the flags.
fn demand(a: &CostArgs) -> Demand {
    Demand {
        requests_per_day: fig(
            a.requests_per_day,
            "--requests-per-day",
            100_000.0,
            "the default of a widely read 2026 online GPU-vs-CPU calculator",
        ),
        prompt_tokens: fig(
            a.prompt_tokens,
            "--prompt-tokens",
            128.0,
            "the ISL of the TensorRT-LLM A100 row",
        ),
        output_tokens: fig(
            a.output_tokens,
            "--output-tokens",
            128.0,
            "the OSL of the TensorRT-LLM A100 row",
        ),
        peak_to_average: fig(
            a.peak_factor,
            "--peak-factor",
            2.0,
            "a ternbench assumption",
        ),
        utilisation: fig(
            a.utilisation,
            "--utilisation",
            0.6,
            "a ternbench assumption",
        ),
    }
}

/// Everything but the printing: flags, files and run → the answer.
pub fn build(a: &CostArgs) -> Result<CostResult, String> {
    let demand = demand(a);
    let electricity = Electricity {
        usd_per_kwh: fig(
            a.usd_per_kwh,
            "--usd-per-kwh",
            0.1199,
            "EIA Electric Power Monthly Table 5.6.A, commercial, Pennsylvania, April 2025",
        ),
        pue: fig(
            a.pue,
            "--pue",
            1.56,
            "Uptime Institute 2024 survey industry average",
        ),
    };
    let (target, slo_source) = match &a.slo {
        Some(t) => (Slo::parse(t)?, "given (--slo)".to_string()),
        None => (Slo::default(), format!("default: {}", slo::DEFAULT_SOURCE)),
    };
    let (lo, hi) = crossover::parse_range(&a.sweep)?;
    let mut assumptions = Vec::new();
    if let Some(p) = &a.preset {
        assumptions.push(format!(
            "--preset {p}: the defaults of a widely read 2026 online GPU-vs-CPU calculator (8B \
             model, 100K requests/day, A100 $2/h, CPU $0.40/h; its throughput scaling was an \
             unpublished estimate, replaced here by the figures below)"
        ));
    }
    let run_path = cpu_run_path(a, &mut assumptions)?;
    let (gpu, gpu_side) = gpu_deployment(a, &demand, &target, &mut assumptions)?;
    let (cpus, cpu_side) = cpu_deployments(a, run_path.as_deref(), &target, &mut assumptions)?;
    let first_line = match size::check(&cpu_side, &gpu_side, a.allow_size_mismatch)? {
        Verdict::Mismatch(line) => Some(line),
        Verdict::Same(line) | Verdict::Unknown(line) => {
            assumptions.push(line);
            None
        }
    };
    assumptions.push(format!(
        "latency target {} [{slo_source}]: each deployment is sized at its largest batch whose \
         streams meet it",
        target.describe()
    ));
    let mut deployments = vec![gpu];
    deployments.extend(cpus);
    let mut r = model::compute(demand, electricity, &deployments, assumptions).map_err(|e| e.0)?;
    r.first_line = first_line;
    r.slo = Some(SloReport {
        target: target.describe(),
        source: slo_source,
    });
    r.sweep = Some(crossover::sweep(&r, lo, hi)?);
    Ok(r)
}

/// Whether any CPU figure was given as a flag.
fn cpu_flags(a: &CostArgs) -> bool {
    [
        a.cpu_ternary_decode_tps,
        a.cpu_ternary_prefill_tps,
        a.cpu_fp16_decode_tps,
        a.cpu_fp16_prefill_tps,
    ]
    .iter()
    .any(Option::is_some)
}

/// The run the CPU figures come from: `--run`, or for `--preset` without CPU figures the newest
/// run in `--results-dir` holding a 7-8B model's batched ternary cells.
fn cpu_run_path(
    a: &CostArgs,
    assumptions: &mut Vec<String>,
) -> Result<Option<std::path::PathBuf>, String> {
    if let Some(r) = &a.run {
        return Ok(Some(r.clone()));
    }
    if a.preset.is_none() || cpu_flags(a) {
        return Ok(None);
    }
    let dir = &a.results_dir;
    match newest_cost_run(dir) {
        Some((path, id)) => {
            assumptions.push(format!(
                "--preset: CPU figures from run {id}, the newest in {} with a 7-8B model's \
                 batched ternary cells",
                dir.display()
            ));
            Ok(Some(path))
        }
        None => Err(format!(
            "--preset calculator-2026 compares an 8B model, and {} holds no run with a 7-8B \
             model's batched ternary cells: run `ternbench run scenarios/cost-8b.toml` (about \
             16 minutes on a 2-core machine; it writes results/<date>-<time>-cost-8b), then \
             `ternbench cost --preset calculator-2026` again; or pass --run, or the \
             --cpu-ternary-decode-tps and --cpu-ternary-prefill-tps figures",
            dir.display()
        )),
    }
}

/// The newest run (by start time) under `dir` with a 7-8B model whose ternary cells include a
/// batch above 1: its folder and id.
fn newest_cost_run(dir: &std::path::Path) -> Option<(std::path::PathBuf, String)> {
    let mut best: Option<(String, std::path::PathBuf, String)> = None;
    for e in std::fs::read_dir(dir).ok()?.flatten() {
        let path = e.path();
        let Ok(run) = from_run::load_run(&path) else {
            continue;
        };
        let fits = run.models.iter().any(|m| {
            size::class(m.params as f64) == "7-8B"
                && run
                    .cells
                    .iter()
                    .any(|c| c.key.model == m.model && c.key.engine == "ternary" && c.batch > 1)
        });
        if fits && best.as_ref().is_none_or(|b| run.started_utc > b.0) {
            best = Some((run.started_utc.clone(), path, run.run_id.clone()));
        }
    }
    best.map(|(_, p, id)| (p, id))
}

/// The published load levels of `e` as candidates for the latency target.
fn gpu_points(e: &GpuEntry) -> Option<Vec<Candidate>> {
    let pts = e.latency.as_ref().filter(|p| !p.is_empty())?;
    Some(
        pts.iter()
            .map(|p| Candidate {
                batch: p.concurrency.unwrap_or(0) as usize,
                aggregate_tps: p.output_tokens_per_s,
                per_stream_tps: 1000.0 / p.itl_ms,
                p99_ms: None,
                typical_ms: Some(p.itl_ms),
                label: p.load.clone(),
            })
            .collect(),
    )
}

fn gpu_deployment(
    a: &CostArgs,
    demand: &Demand,
    target: &Slo,
    assumptions: &mut Vec<String>,
) -> Result<(Deployment, Side), String> {
    if let Some(dir) = &a.gpu_run {
        return gpu_from_run(a, dir, target, assumptions);
    }
    let preset = a.preset.is_some();
    let name = a.gpu.as_deref().unwrap_or(if preset {
        "a100-80gb-2usd"
    } else {
        DEFAULT_GPU
    });
    let (entry, file): (Option<GpuEntry>, String) = if name == "custom" {
        (None, String::new())
    } else {
        let (cat, file) = GpuCatalogue::load(a.catalogue.as_deref())?;
        (Some(cat.get(name, &file)?.clone()), file)
    };
    let cat = |what: &str, as_of: &Option<String>, src: &Option<String>| {
        format!(
            "catalogue {file} [gpu.{name}]: {what}{}{}",
            src.as_deref().map(|s| format!(", {s}")).unwrap_or_default(),
            as_of
                .as_deref()
                .map(|s| format!(", as of {s}"))
                .unwrap_or_default()
        )
    };
    let e = entry.clone();
    let mut slo_note = None;
    let decode = match (a.gpu_decode_tps, &e) {
        (Some(v), _) => given(v, "--gpu-decode-tps"),
        (None, Some(en)) if gpu_points(en).is_some() => {
            let pts = gpu_points(en).unwrap_or_default();
            let (i, how) = match slo::choose(&pts, target) {
                Ok(ch) => (ch.index, slo::summary(&pts, &ch, target)),
                Err(Miss::NoneMeets(why)) => {
                    let i = slo::fastest_stream(&pts).unwrap_or(0);
                    (
                        i,
                        format!(
                            "MISSES the latency target: {why}; sized at {}",
                            pts[i].label
                        ),
                    )
                }
                Err(Miss::NoFigure(why)) => return Err(format!("--gpu {name}: {why}")),
            };
            slo_note = Some(format!(
                "sized at {}, {:.0} output tok/s ({:.1} ms per token, mean): {how} [{}]",
                pts[i].label,
                pts[i].aggregate_tps,
                pts[i].typical_ms.unwrap_or(f64::NAN),
                en.latency_source.as_deref().unwrap_or("")
            ));
            let io = match (en.isl, en.osl) {
                (Some(i), Some(o)) => format!(" at ISL/OSL {i}/{o}"),
                _ => String::new(),
            };
            Figure::new(
                pts[i].aggregate_tps,
                cat(
                    &format!(
                        "{} end-to-end tok/s, {}{io}, at {} (the fastest published load meeting {})",
                        en.model,
                        en.precision,
                        pts[i].label,
                        target.describe()
                    ),
                    &en.throughput_as_of,
                    &en.latency_source,
                ),
            )
        }
        (None, Some(e)) if e.decode_tokens_per_s.is_some() => {
            let io = match (e.isl, e.osl) {
                (Some(i), Some(o)) => format!(" at ISL/OSL {i}/{o}"),
                _ => String::new(),
            };
            Figure::new(
                e.decode_tokens_per_s.unwrap_or_default(),
                cat(
                    &format!(
                        "{} {} tok/s, {}{io}, batch {}",
                        e.model,
                        e.throughput_kind.as_deref().unwrap_or("decode"),
                        e.precision,
                        e.batch.as_deref().unwrap_or("unstated")
                    ),
                    &e.throughput_as_of,
                    &e.throughput_source,
                ),
            )
        }
        _ => {
            return Err(format!(
                "--gpu {name}: no decode throughput{}: pass --gpu-decode-tps",
                if e.is_some() {
                    format!(" in {file}")
                } else {
                    String::new()
                }
            ))
        }
    };
    if a.gpu_decode_tps.is_some() {
        slo_note = Some("--gpu-decode-tps given: not checked against the latency target".into());
    }
    if slo_note.is_none() && a.gpu_decode_tps.is_none() {
        if let Some(en) = &e {
            slo_note = Some(format!(
                "throughput-bound: {} ({}); no per-stream latency is published for it, so the \
                 latency target {} is not applied to this row",
                en.batch.as_deref().unwrap_or("batch unstated"),
                en.throughput_source.as_deref().unwrap_or("source unstated"),
                target.describe()
            ));
        }
    }
    let end_to_end = a.gpu_decode_tps.is_none()
        && e.as_ref()
            .is_some_and(|e| e.throughput_kind.as_deref() == Some("end-to-end"));
    let prefill = match (a.gpu_prefill_tps, &e) {
        (Some(v), _) => Some(given(v, "--gpu-prefill-tps")),
        (None, Some(en)) if en.prefill_tokens_per_s.is_some() => Some(Figure::new(
            en.prefill_tokens_per_s.unwrap_or_default(),
            cat("prefill tok/s", &en.throughput_as_of, &en.throughput_source),
        )),
        _ if end_to_end || demand.prompt_tokens.value == 0.0 => None,
        _ => {
            return Err(format!(
                "--gpu {name}: no prefill throughput for {} prompt tokens per request: pass --gpu-prefill-tps (or --prompt-tokens 0)",
                demand.prompt_tokens.value
            ))
        }
    };
    let pricing = match (a.gpu_hardware_price, a.gpu_price_hour, &e) {
        (Some(hw), _, _) => Pricing::OnPrem {
            hardware_usd: given(hw, "--gpu-hardware-price"),
            amortisation_months: given(
                a.gpu_amortisation_months.unwrap_or_default(),
                "--gpu-amortisation-months",
            ),
        },
        (None, Some(p), _) => Pricing::Hourly {
            usd_per_hour: given(p, "--gpu-price-hour"),
        },
        (None, None, Some(en)) if en.usd_per_hour.is_some() => {
            let gpus = en.gpus.unwrap_or(1);
            Pricing::Hourly {
                usd_per_hour: Figure::new(
                    en.usd_per_hour.unwrap_or_default() * f64::from(gpus),
                    cat(
                        &format!(
                            "{}{}, {}, {}",
                            en.price_provider.as_deref().unwrap_or("provider unstated"),
                            if gpus > 1 {
                                format!(", × {gpus} GPUs per instance")
                            } else {
                                String::new()
                            },
                            en.price_region.as_deref().unwrap_or("region unstated"),
                            en.pricing_model.as_deref().unwrap_or("pricing unstated")
                        ),
                        &en.price_as_of,
                        &en.price_source,
                    ),
                ),
            }
        }
        _ => {
            return Err(format!(
                "--gpu {name}: no price{}: pass --gpu-price-hour, or --gpu-hardware-price with --gpu-amortisation-months",
                if e.is_some() { format!(" in {file}") } else { String::new() }
            ))
        }
    };
    let energy = match (a.gpu_watts, &e) {
        (Some(w), _) => EnergyFigure::Watts {
            watts: given(w, "--gpu-watts"),
        },
        (None, Some(en)) if en.watts.is_some() => EnergyFigure::Watts {
            watts: Figure::new(
                en.watts.unwrap_or_default(),
                cat("power", &None, &en.power_source),
            ),
        },
        _ => EnergyFigure::None {
            why: format!("no GPU power figure for {name}: pass --gpu-watts"),
        },
    };
    let precision = e
        .as_ref()
        .map_or("fp16".to_string(), |e| e.precision.to_ascii_lowercase());
    let mut notes = Vec::new();
    notes.extend(slo_note);
    if let Some(en) = &e {
        if let Some(n) = &en.notes {
            notes.push(n.clone());
        }
        if let (Some(i), Some(o)) = (en.isl, en.osl) {
            if end_to_end
                && (f64::from(i) != demand.prompt_tokens.value
                    || f64::from(o) != demand.output_tokens.value)
            {
                notes.push(format!(
                    "the end-to-end figure was measured at {i} prompt / {o} output tokens; the demand's {} / {} would change it",
                    demand.prompt_tokens.value, demand.output_tokens.value
                ));
            }
        }
        let gpus = en.gpus.unwrap_or(1);
        assumptions.push(format!(
            "GPU figures are for {} ({}); one instance = {}, billed per GPU-hour",
            en.model,
            en.precision,
            if gpus > 1 {
                format!("{gpus} GPUs")
            } else {
                "one GPU".to_string()
            }
        ));
    } else {
        assumptions
            .push("GPU: custom figures from the --gpu-* flags; one instance = one GPU".into());
    }
    if let Some(b) = a.gpu_batch {
        notes.push(format!("GPU figures at batch {b} (given, --gpu-batch)"));
    }
    let misses = notes
        .iter()
        .any(|n| n.contains("MISSES the latency target"));
    let side = Side {
        model: e
            .as_ref()
            .map_or("figures given as flags (--gpu custom)".into(), |e| {
                e.model.clone()
            }),
        params: e.as_ref().and_then(|e| e.model_params_b).map(|b| b * 1e9),
    };
    Ok((
        Deployment {
            name: format!(
                "GPU {} ({name}){}",
                precision.to_ascii_uppercase(),
                if misses { " MISSES SLO" } else { "" }
            ),
            description: e.as_ref().map_or_else(
                || "custom GPU (--gpu custom)".to_string(),
                |e| format!("{}, {} {}", e.gpu, e.model, e.precision),
            ),
            decode_tps: decode,
            prefill_tps: prefill,
            streams_per_instance: Figure::new(1.0, "one instance, aggregate figures"),
            pricing,
            energy,
            notes,
        },
        side,
    ))
}

/// The GPU row from a results folder written by scripts/gpu/decode_bench.py.
fn gpu_from_run(
    a: &CostArgs,
    dir: &std::path::Path,
    target: &Slo,
    assumptions: &mut Vec<String>,
) -> Result<(Deployment, Side), String> {
    let run = from_run::load_run(dir).map_err(|e| e.replace("--run", "--gpu-run"))?;
    let mut models: Vec<&str> = run
        .cells
        .iter()
        .filter(|c| c.key.engine == "gpu-fp16")
        .map(|c| c.key.model.as_str())
        .collect();
    models.sort();
    models.dedup();
    let model = match models.as_slice() {
        [m] => m.to_string(),
        [] => {
            return Err(format!(
                "--gpu-run {}: run {} has no gpu-fp16 cells (is it a run of scripts/gpu/decode_bench.py?)",
                dir.display(),
                run.run_id
            ))
        }
        _ => {
            return Err(format!(
                "--gpu-run {}: run {} has several models ({}); keep one per GPU run",
                dir.display(),
                run.run_id,
                models.join(", ")
            ))
        }
    };
    let picked = from_run::pick(&run, &model, "gpu-fp16", None, target)
        .map_err(|e| format!("--gpu-run {}: {e}", dir.display()))?;
    let gpu_name = run
        .machine
        .get("gpu_name")
        .and_then(|v| v.as_str())
        .unwrap_or("GPU (name not recorded)")
        .to_string();
    let pricing = match (a.gpu_hardware_price, a.gpu_price_hour, &a.gpu) {
        (Some(hw), _, _) => Pricing::OnPrem {
            hardware_usd: given(hw, "--gpu-hardware-price"),
            amortisation_months: given(
                a.gpu_amortisation_months.unwrap_or_default(),
                "--gpu-amortisation-months",
            ),
        },
        (None, Some(p), _) => Pricing::Hourly {
            usd_per_hour: given(p, "--gpu-price-hour"),
        },
        (None, None, Some(name)) => {
            let (cat, file) = GpuCatalogue::load(a.catalogue.as_deref())?;
            let en = cat.get(name, &file)?;
            let p = en.usd_per_hour.ok_or_else(|| {
                format!("--gpu {name}: no price in {file}: pass --gpu-price-hour")
            })?;
            Pricing::Hourly {
                usd_per_hour: Figure::new(
                    p,
                    format!(
                        "catalogue {file} [gpu.{name}]: {}, as of {}, {} (price only; throughput measured)",
                        en.price_provider.as_deref().unwrap_or("provider unstated"),
                        en.price_as_of.as_deref().unwrap_or("undated"),
                        en.price_source.as_deref().unwrap_or("source unstated")
                    ),
                ),
            }
        }
        (None, None, None) => {
            return Err(format!(
                "--gpu-run {}: the run measures throughput, not price: pass --gpu-price-hour, or --gpu <catalogue entry> for its price",
                dir.display()
            ))
        }
    };
    let energy = match (a.gpu_watts, &picked.decode_j_per_token) {
        (Some(w), _) => EnergyFigure::Watts {
            watts: given(w, "--gpu-watts"),
        },
        (None, Some(d)) => EnergyFigure::JoulesPerToken {
            decode: d.clone(),
            prefill: picked.prefill_j_per_token.clone(),
        },
        (None, None) => EnergyFigure::None {
            why: format!(
                "{}; pass --gpu-watts",
                from_run::energy_unavailable_reason(&run)
            ),
        },
    };
    let params = run
        .models
        .iter()
        .find(|m| m.model == model)
        .map(|m| m.params as f64);
    assumptions.push(format!(
        "GPU figures measured: run {} on {gpu_name} (status {}, started {}); one instance = one GPU",
        run.run_id, run.status, run.started_utc
    ));
    let mut notes = vec![picked.slo_summary.clone()];
    notes.extend(picked.notes.clone());
    if picked.prefill_tps.is_none() && a.prompt_tokens.is_none_or(|p| p > 0.0) {
        return Err(format!(
            "--gpu-run {}: no prefill cell for {model}: pass --gpu-prefill-tps or --prompt-tokens 0",
            dir.display()
        ));
    }
    Ok((
        Deployment {
            name: format!(
                "GPU FP16 (measured){}",
                if picked.misses_slo { " MISSES SLO" } else { "" }
            ),
            description: format!("{gpu_name}, {model} fp16, {} (threads n/a)", picked.cell),
            decode_tps: picked.decode_tps,
            prefill_tps: a
                .gpu_prefill_tps
                .map(|v| given(v, "--gpu-prefill-tps"))
                .or(picked.prefill_tps),
            streams_per_instance: Figure::new(1.0, "one GPU, aggregate figures"),
            pricing,
            energy,
            notes,
        },
        Side { model, params },
    ))
}

/// Throughput and energy of one CPU engine, from the run and the flags.
struct CpuEngine {
    decode: Option<Figure>,
    prefill: Option<Figure>,
    j_decode: Option<Figure>,
    j_prefill: Option<Figure>,
    notes: Vec<String>,
    misses: bool,
    from: String,
}

fn cpu_deployments(
    a: &CostArgs,
    run_path: Option<&std::path::Path>,
    target: &Slo,
    assumptions: &mut Vec<String>,
) -> Result<(Vec<Deployment>, Side), String> {
    let run = run_path.map(from_run::load_run).transpose()?;
    let model = match (&a.model, &run) {
        (Some(m), _) => Some(m.clone()),
        (None, Some(r)) => {
            let mut ms: Vec<String> = r.cells.iter().map(|c| c.key.model.clone()).collect();
            ms.sort();
            ms.dedup();
            match ms.len() {
                1 => ms.pop(),
                0 => return Err(format!("--run: run {} has no cells", r.run_id)),
                _ => {
                    return Err(format!(
                        "--run: run {} has several models ({}): choose one with --model",
                        r.run_id,
                        ms.join(", ")
                    ))
                }
            }
        }
        (None, None) => None,
    };
    let engines = [
        (
            "ternary",
            a.cpu_ternary_decode_tps,
            a.cpu_ternary_prefill_tps,
            a.cpu_ternary_j_per_token,
        ),
        (
            "fp16",
            a.cpu_fp16_decode_tps,
            a.cpu_fp16_prefill_tps,
            a.cpu_fp16_j_per_token,
        ),
    ];
    let mut found = Vec::new();
    for (engine, dec, pre, j) in engines {
        let picked = match (&run, &model) {
            (Some(r), Some(m)) if dec.is_none() || pre.is_none() => {
                Some(from_run::pick(r, m, engine, a.threads, target)?)
            }
            _ => None,
        };
        let mut e = CpuEngine {
            decode: dec
                .map(|v| given(v, &format!("--cpu-{engine}-decode-tps")))
                .or_else(|| picked.as_ref().map(|p| p.decode_tps.clone())),
            prefill: pre
                .map(|v| given(v, &format!("--cpu-{engine}-prefill-tps")))
                .or_else(|| picked.as_ref().and_then(|p| p.prefill_tps.clone())),
            j_decode: j
                .map(|v| given(v, &format!("--cpu-{engine}-j-per-token")))
                .or_else(|| picked.as_ref().and_then(|p| p.decode_j_per_token.clone())),
            j_prefill: if j.is_some() {
                None
            } else {
                picked.as_ref().and_then(|p| p.prefill_j_per_token.clone())
            },
            notes: picked
                .as_ref()
                .map(|p| {
                    std::iter::once(p.slo_summary.clone())
                        .chain(p.notes.iter().cloned())
                        .collect()
                })
                .unwrap_or_else(|| {
                    vec!["figures given as flags: not checked against the latency target".into()]
                }),
            misses: picked.as_ref().is_some_and(|p| p.misses_slo),
            from: picked
                .as_ref()
                .map(|p| format!("cell {} (threads {}, batch {})", p.cell, p.threads, p.batch))
                .unwrap_or_else(|| "figures given as flags".into()),
        };
        if e.decode.is_none() {
            if engine == "ternary" || run.is_some() {
                return Err(format!(
                    "no CPU {engine} throughput: pass --run results/<id> (with --model) or --cpu-{engine}-decode-tps and --cpu-{engine}-prefill-tps"
                ));
            }
            assumptions.push(format!(
                "CPU {engine}: left out (no --run and no --cpu-{engine}-decode-tps)"
            ));
            continue;
        }
        if e.prefill.is_none() && a.prompt_tokens.is_none_or(|p| p > 0.0) {
            return Err(format!(
                "no CPU {engine} prefill throughput{}: pass --cpu-{engine}-prefill-tps (or --prompt-tokens 0)",
                run.as_ref()
                    .map(|r| format!(" in run {} for {}", r.run_id, model.as_deref().unwrap_or("?")))
                    .unwrap_or_default()
            ));
        }
        if j.is_some() {
            e.notes.push(
                "prompt tokens' energy not counted: --cpu-*-j-per-token is per generated token"
                    .into(),
            );
        }
        found.push((engine, e));
    }

    // Pricing, shared by both engines (the same machine).
    let pricing = if let Some(hw) = a.cpu_hardware_price {
        Pricing::OnPrem {
            hardware_usd: given(hw, "--cpu-hardware-price"),
            amortisation_months: given(
                a.cpu_amortisation_months.unwrap_or_default(),
                "--cpu-amortisation-months",
            ),
        }
    } else if let Some(p) = a.cpu_price_hour {
        Pricing::Hourly {
            usd_per_hour: given(p, "--cpu-price-hour"),
        }
    } else {
        let (prices, file) = CpuPrices::load(a.cpu_prices.as_deref())?;
        let preset = a.preset.is_some();
        let name = a.cpu_instance.as_deref().unwrap_or(if preset {
            "calculator-default"
        } else {
            DEFAULT_CPU_INSTANCE
        });
        let p = prices.get(name, &file)?;
        let how = if a.cpu_instance.is_some() {
            "given (--cpu-instance)"
        } else if preset {
            "--preset calculator-2026"
        } else {
            "default instance"
        };
        assumptions.push(format!(
            "CPU instance {name}: {}, {} vCPU / {} cores ({how})",
            p.cpu, p.vcpus, p.cores
        ));
        Pricing::Hourly {
            usd_per_hour: Figure::new(
                p.usd_per_hour,
                format!(
                    "{file} [{name}]: {}, {}, {}, as of {}, {}",
                    p.provider, p.region, p.pricing_model, p.as_of, p.source
                ),
            ),
        }
    };
    let streams = fig(
        a.cpu_streams_per_instance,
        "--cpu-streams-per-instance",
        1.0,
        "one copy of the measured configuration per instance",
    );
    let no_energy_why = match &run {
        Some(r) => format!(
            "{}; pass --cpu-watts or --cpu-<engine>-j-per-token",
            from_run::energy_unavailable_reason(r)
        ),
        None => "no --run with energy, no --cpu-<engine>-j-per-token and no --cpu-watts".into(),
    };
    if let Some(r) = &run {
        assumptions.push(format!(
            "CPU figures from run {} (status {}, started {}): one stream = the measured cell's configuration",
            r.run_id, r.status, r.started_utc
        ));
    }
    assumptions.push(
        "energy from J/token counts the tokens served only (idle power of provisioned but idle instances is not counted); from watts it counts every instance all month".into(),
    );
    let side = Side {
        model: model
            .clone()
            .unwrap_or_else(|| "figures given as flags".into()),
        params: model.as_deref().and_then(|m| {
            run.as_ref()
                .and_then(|r| r.models.iter().find(|x| x.model == m))
                .map(|x| x.params as f64)
                .or_else(|| {
                    ternbench_engine::zoo::config(m)
                        .ok()
                        .map(|c| (c.linear_params() + c.embedding_params()) as f64)
                })
        }),
    };
    let rows = found
        .into_iter()
        .map(|(engine, e)| {
            let energy = match (e.j_decode, a.cpu_watts) {
                (Some(d), _) => EnergyFigure::JoulesPerToken {
                    decode: d,
                    prefill: e.j_prefill,
                },
                (None, Some(w)) => EnergyFigure::Watts {
                    watts: given(w, "--cpu-watts"),
                },
                (None, None) => EnergyFigure::None {
                    why: no_energy_why.clone(),
                },
            };
            let label = if engine == "fp16" { "FP16" } else { "ternary" };
            Deployment {
                name: format!("CPU {label}{}", if e.misses { " MISSES SLO" } else { "" }),
                description: format!(
                    "CPU, {engine} engine{}; {}",
                    model
                        .as_deref()
                        .map(|m| format!(", {m}"))
                        .unwrap_or_default(),
                    e.from
                ),
                decode_tps: e.decode.unwrap_or_else(|| Figure::new(f64::NAN, "none")),
                prefill_tps: e.prefill,
                streams_per_instance: streams.clone(),
                pricing: pricing.clone(),
                energy,
                notes: e.notes,
            }
        })
        .collect();
    Ok((rows, side))
}
