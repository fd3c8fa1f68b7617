//! `ternbench cost`: what serving a demand costs per month and per million tokens on a GPU
//! (FP16 baseline, from a dated catalogue), on this CPU with the FP16 engine, and on this CPU
//! with the ternary engine (both from a results run, or from figures given as flags).
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
    self, CostResult, Demand, Deployment, Electricity, EnergyFigure, Figure, Pricing,
};
use crate::present::cost::{from_run, render};

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
    let out = match a.format {
        CostFormat::Text => render::text(&result),
        CostFormat::Md => render::markdown(&result),
        CostFormat::Json => render::json(&result),
    };
    if let Some(p) = &a.chart {
        std::fs::write(p, render::svg(&result))
            .with_context(|| format!("--chart {}: writing the SVG", p.display()))?;
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
            "the 2026 online calculator's default, reference.md §7.3",
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
    let mut assumptions = Vec::new();
    if let Some(p) = &a.preset {
        assumptions.push(format!(
            "--preset {p}: the 2026 online calculator's defaults (reference.md §7.3: 8B model, 100K \
             requests/day, A100 $2/h, CPU $0.40/h; its throughput scaling was an unpublished \
             estimate, replaced here by the figures below)"
        ));
    }
    let mut deployments = vec![gpu_deployment(a, &demand, &mut assumptions)?];
    deployments.extend(cpu_deployments(a, &mut assumptions)?);
    model::compute(demand, electricity, &deployments, assumptions).map_err(|e| e.0)
}

fn gpu_deployment(
    a: &CostArgs,
    demand: &Demand,
    assumptions: &mut Vec<String>,
) -> Result<Deployment, String> {
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
    let decode = match (a.gpu_decode_tps, &e) {
        (Some(v), _) => given(v, "--gpu-decode-tps"),
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
        (None, None, Some(en)) if en.usd_per_hour.is_some() => Pricing::Hourly {
            usd_per_hour: Figure::new(
                en.usd_per_hour.unwrap_or_default(),
                cat(
                    &format!(
                        "{}, {}, {}",
                        en.price_provider.as_deref().unwrap_or("provider unstated"),
                        en.price_region.as_deref().unwrap_or("region unstated"),
                        en.pricing_model.as_deref().unwrap_or("pricing unstated")
                    ),
                    &en.price_as_of,
                    &en.price_source,
                ),
            ),
        },
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
        assumptions.push(format!(
            "GPU figures are for {} ({}); one instance = one GPU, billed per GPU-hour",
            en.model, en.precision
        ));
    } else {
        assumptions
            .push("GPU: custom figures from the --gpu-* flags; one instance = one GPU".into());
    }
    if let Some(b) = a.gpu_batch {
        notes.push(format!("GPU figures at batch {b} (given, --gpu-batch)"));
    }
    Ok(Deployment {
        name: format!("GPU {} ({name})", precision.to_ascii_uppercase()),
        description: e.as_ref().map_or_else(
            || "custom GPU (--gpu custom)".to_string(),
            |e| format!("{}, {} {}", e.gpu, e.model, e.precision),
        ),
        decode_tps: decode,
        prefill_tps: prefill,
        streams_per_instance: Figure::new(1.0, "one GPU, aggregate figures"),
        pricing,
        energy,
        notes,
    })
}

/// Throughput and energy of one CPU engine, from the run and the flags.
struct CpuEngine {
    decode: Option<Figure>,
    prefill: Option<Figure>,
    j_decode: Option<Figure>,
    j_prefill: Option<Figure>,
    notes: Vec<String>,
    from: String,
}

fn cpu_deployments(a: &CostArgs, assumptions: &mut Vec<String>) -> Result<Vec<Deployment>, String> {
    let run = a.run.as_deref().map(from_run::load_run).transpose()?;
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
                Some(from_run::pick(r, m, engine, a.threads)?)
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
            notes: picked.as_ref().map(|p| p.notes.clone()).unwrap_or_default(),
            from: picked
                .as_ref()
                .map(|p| format!("cell {} (threads {})", p.cell, p.threads))
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
    if let Some(m) = &model {
        assumptions.push(format!(
            "CPU model: {m}; the GPU figures are for the catalogue's model: where the two differ, \
             compare the CPU engines with each other, and the GPU only with that caveat"
        ));
    }
    assumptions.push(
        "energy from J/token counts the tokens served only (idle power of provisioned but idle instances is not counted); from watts it counts every instance all month".into(),
    );
    Ok(found
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
                name: format!("CPU {label}"),
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
        .collect())
}
