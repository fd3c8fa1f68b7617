//! `--plan` of `run` and `bench`, and the progress weights of a measured run: the scenario's
//! cells, each model's memory and an estimated duration ([`crate::plan::estimate`]), from a
//! short calibration ([`crate::measure::calibrate`]); nothing of the scenario is measured.

use std::collections::BTreeMap;

use anyhow::Result;
use ternbench_engine::kernels::{Format, Isa, ThreadPool};

use crate::cli::TextOrJson;
use crate::measure::runner::{auto_layers, fmt_duration};
use crate::output::Table;
use crate::plan::estimate::{self, linear_format, Context, Plan};
use crate::plan::model::model_config;
use crate::plan::scenario::Scenario;
use crate::records::results::CellKey;

/// Calibrates and estimates `s` on `isas`.
pub fn make(s: &Scenario, isas: &[Isa], pool: &ThreadPool, ctx: Context) -> Result<Plan> {
    let mut configs = BTreeMap::new();
    for m in &s.models {
        let cfg = model_config(&m.name)?;
        let auto = match m.sample_layers {
            crate::plan::scenario::SampleLayers::Auto => auto_layers(s, &m.name),
            _ => None,
        };
        let layers = estimate::layers_for(m.sample_layers, &cfg, auto);
        configs.insert(m.name.clone(), (cfg, layers));
    }
    let mut combos: Vec<(Format, Isa)> = Vec::new();
    let mut builds: Vec<Format> = Vec::new();
    for e in &s.engines {
        let f = linear_format(e.engine, e.format);
        if !builds.contains(&f) {
            builds.push(f);
        }
        for &isa in isas {
            for g in [f, s.head] {
                if !combos.contains(&(g, isa)) {
                    combos.push((g, isa));
                }
            }
        }
    }
    let rates = crate::measure::calibrate::calibrate(pool, &combos, &s.threads, &builds)?;
    Ok(estimate::estimate(
        s,
        isas,
        &configs,
        &rates,
        ctx,
        crate::records::machine::mem_available(),
    ))
}

/// The one line `run` and `bench` print before measuring.
pub fn headline(p: &Plan) -> String {
    format!(
        "estimated duration: {} (ESTIMATE: roofline model calibrated on this machine in {:.1} s; `--plan` lists every cell)",
        fmt_duration(p.total_seconds),
        p.rates.calibration_s
    )
}

/// The progress display's weights: estimated seconds and planned repetitions per cell.
pub fn weights(p: &Plan) -> BTreeMap<CellKey, (f64, usize)> {
    p.cells
        .iter()
        .map(|c| (c.key.clone(), (c.rep_wall_seconds, c.repetitions)))
        .collect()
}

fn gib(b: u64) -> String {
    format!("{:.2}", b as f64 / (1u64 << 30) as f64)
}

/// Prints the plan (text or JSON) on stdout.
pub fn print(p: &Plan, output: TextOrJson) -> Result<()> {
    if output == TextOrJson::Json {
        println!("{}", serde_json::to_string_pretty(p)?);
        return Ok(());
    }
    let cells = p.cells.len();
    let reps: usize = p.cells.iter().map(|c| c.repetitions).sum();
    println!(
        "plan for `{}`: {cells} cell(s), {} model build(s), SIMD level(s) {}; {reps} timed repetition(s)\n",
        p.scenario,
        p.models.len(),
        p.isas.join(", ")
    );
    let mut t = Table::new(&[
        "model",
        "engine",
        "layers",
        "weights GiB",
        "KV cache GiB",
        "needs GiB",
        "build (est.)",
    ]);
    for m in &p.models {
        t.row(vec![
            m.model.clone(),
            m.engine.clone(),
            if m.layers_built < m.layers_total {
                format!("{}/{} SAMPLED", m.layers_built, m.layers_total)
            } else {
                m.layers_total.to_string()
            },
            gib(m.weight_bytes),
            gib(m.kv_bytes),
            gib(m.weight_bytes + m.kv_bytes),
            fmt_duration(m.build_seconds),
        ]);
    }
    print!("{}", t.render());
    // Engines of one model are built and held together while its cells run.
    let mut per_model: BTreeMap<&str, u64> = BTreeMap::new();
    for m in &p.models {
        *per_model.entry(&m.model).or_default() += m.weight_bytes + m.kv_bytes;
    }
    let peak = per_model.values().copied().max().unwrap_or(0);
    match p.mem_available_bytes {
        Some(a) => println!(
            "memory: at most {} GiB at once (one model's engines together); {} GiB available now{}\n",
            gib(peak),
            gib(a),
            if peak > a {
                " — TOO MUCH: use sample_layers (docs/models.md)"
            } else {
                ""
            }
        ),
        None => println!("memory: at most {} GiB at once\n", gib(peak)),
    }
    let mut t = Table::new(&[
        "model",
        "engine",
        "isa",
        "threads",
        "test",
        "warm-up + reps",
        "per rep (est.)",
        "cell (est.)",
    ]);
    for c in &p.cells {
        let engine = if c.key.engine == "ternary" {
            format!("ternary/{}", c.key.format)
        } else {
            c.key.engine.clone()
        };
        t.row(vec![
            c.key.model.clone(),
            engine,
            c.key.isa.clone(),
            c.key.threads.to_string(),
            c.key.test.clone(),
            format!("{} + {}", c.warmup, c.repetitions),
            fmt_duration(c.rep_wall_seconds),
            fmt_duration(c.seconds),
        ]);
    }
    print!("{}", t.render());
    println!(
        "\nestimated duration: {} ({})",
        fmt_duration(p.total_seconds),
        p.method
    );
    Ok(())
}
