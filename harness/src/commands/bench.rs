//! `ternbench bench`: a llama-bench-style sweep (pp and tg tests per model × engine × threads)
//! through the scenario runner, printed as Markdown, CSV or JSON; no results folder is kept.

use anyhow::Result;
use serde::Serialize;
use ternbench_engine::kernels::{Format, ThreadPool};

use crate::cli::{BenchArgs, EngineArg, OutFormat};
use crate::error::usage;
use crate::output::Table;
use crate::plan::model::kernel_set;

/// One `bench` row.
#[derive(Debug, Serialize)]
pub struct BenchRow {
    model: String,
    engine: String,
    format: String,
    head: String,
    isa: String,
    threads: usize,
    test: String,
    n_prompt: usize,
    n_gen: usize,
    n_depth: usize,
    /// KV cache element type (`f16`, `f32`).
    kv: &'static str,
    sampled_layers: Option<usize>,
    model_layers: Option<usize>,
    /// The FFN activation of the model (`relu2` for 2B4T, `silu` for the 1bitLLM family).
    activation: Option<String>,
    samples_ts: Vec<f64>,
    avg_ts: f64,
    stddev_ts: f64,
    median_ts: f64,
    ci95_low_ts: Option<f64>,
    ci95_high_ts: Option<f64>,
    noisy: bool,
}

/// Records nothing: `bench` prints its rows and keeps no results folder.
struct NoSink;

impl crate::measure::runner::Sink for NoSink {
    fn record(&mut self, _: &crate::records::results::Record) -> Result<()> {
        Ok(())
    }
}

/// `ternbench bench`: a llama-bench-style sweep through the scenario runner (pp and tg as
/// separate tests, one warm-up, repetitions interleaved across engines and thread counts).
pub fn run(a: &BenchArgs) -> Result<()> {
    use crate::plan::scenario::{
        EnergySpec, EngineKind, EngineSpec, IsaSel, ModelSpec, Order, SampleLayers, Scenario,
        TestSpec,
    };
    if a.repetitions == 0 {
        return Err(usage("-r: at least one repetition"));
    }
    if a.n_prompt == 0 && a.n_gen == 0 {
        return Err(usage("-p and -n are both 0: nothing to measure"));
    }
    if a.threads.contains(&0) {
        return Err(usage("-t: thread counts start at 1"));
    }
    let isa = kernel_set(a.opts.isa)?.isa;
    if !a.opts.format.is_ternary() && a.engine.contains(&EngineArg::Ternary) {
        return Err(usage(format!(
            "--format {}: the ternary engine takes i2, tq1 or tl",
            a.opts.format
        )));
    }
    let mut depths = a.n_depth.clone();
    depths.dedup();
    let mut tests = Vec::new();
    for &n_depth in &depths {
        if a.n_prompt > 0 {
            tests.push(TestSpec {
                n_depth,
                ..TestSpec::new(a.n_prompt, 0)
            });
        }
        if a.n_gen > 0 {
            tests.push(TestSpec {
                n_depth,
                ..TestSpec::new(0, a.n_gen)
            });
        }
    }
    let mut threads: Vec<usize> = a.threads.iter().map(|&t| t as usize).collect();
    threads.dedup();
    let scenario = Scenario {
        name: "bench".into(),
        description: String::new(),
        file: None,
        models: a
            .model
            .iter()
            .map(|m| ModelSpec {
                name: m.clone(),
                sample_layers: a
                    .sample_layers
                    .map_or(SampleLayers::Full, SampleLayers::Fixed),
            })
            .collect(),
        engines: a
            .engine
            .iter()
            .map(|e| match e {
                EngineArg::Ternary => EngineSpec {
                    engine: EngineKind::Ternary,
                    format: a.opts.format,
                },
                EngineArg::Fp16 => EngineSpec {
                    engine: EngineKind::Fp16,
                    format: Format::F16,
                },
            })
            .collect(),
        head: a.opts.head,
        threads,
        isa: IsaSel::List(vec![isa]),
        tests,
        repetitions: a.repetitions,
        warmup: 1,
        min_seconds: 0.0,
        max_repetitions: a.repetitions,
        cooldown_seconds: 0.0,
        pin: a.pin,
        order: Order::Interleaved,
        seed: a.opts.seed,
        kv_f16: a.kv == crate::cli::KvArg::F16,
        max_cv: 0.05,
        energy: EnergySpec {
            source: "none".into(),
            idle_seconds: 0.0,
            tdp_watts: None,
        },
    };
    let (ctrs, _) = crate::measure::counters::open_status();
    let max_threads = scenario.threads.iter().copied().max().unwrap_or(1);
    let pool = ThreadPool::new(max_threads, crate::records::machine::pinning(a.pin));
    let mut ctx = crate::measure::runner::RunContext {
        pool: &pool,
        counters: ctrs.as_ref(),
        energy: None,
        prior: Default::default(),
        prior_models: Vec::new(),
        progress: crate::measure::runner::Progress::new(
            a.quiet_progress,
            crate::measure::runner::planned_reps(&scenario, 1),
        ),
        beside: None,
    };
    let out = crate::measure::runner::run(&scenario, &[isa], &mut ctx, &mut NoSink)?;
    let rows: Vec<BenchRow> = out
        .cells
        .iter()
        .map(|c| {
            let (s, samples) = if c.n_prompt > 0 {
                (&c.prefill_tokens_per_s, &c.samples_prefill_tokens_per_s)
            } else {
                (&c.decode_tokens_per_s, &c.samples_decode_tokens_per_s)
            };
            BenchRow {
                model: c.key.model.clone(),
                engine: c.key.engine.clone(),
                format: c.key.format.clone(),
                head: c.key.head.clone(),
                isa: c.key.isa.clone(),
                threads: c.key.threads,
                test: c.key.test.clone(),
                n_prompt: c.n_prompt,
                n_gen: c.n_gen,
                n_depth: c.n_depth,
                kv: if scenario.kv_f16 { "f16" } else { "f32" },
                sampled_layers: c.sampled.as_ref().map(|x| x.layers_built),
                model_layers: out
                    .models
                    .iter()
                    .find(|m| m.model == c.key.model)
                    .map(|m| m.layers_total),
                activation: out
                    .models
                    .iter()
                    .find(|m| m.model == c.key.model)
                    .map(|m| m.activation.clone()),
                samples_ts: samples.clone(),
                avg_ts: s.as_ref().map_or(f64::NAN, |s| s.mean),
                stddev_ts: s.as_ref().map_or(f64::NAN, |s| s.stddev),
                median_ts: s.as_ref().map_or(f64::NAN, |s| s.median),
                ci95_low_ts: s.as_ref().and_then(|s| s.ci95_low),
                ci95_high_ts: s.as_ref().and_then(|s| s.ci95_high),
                noisy: c.noisy,
            }
        })
        .collect();
    match a.output {
        OutFormat::Json => println!("{}", serde_json::to_string_pretty(&rows)?),
        OutFormat::Csv => {
            println!("model,activation,engine,format,head,isa,threads,test,n_prompt,n_gen,n_depth,kv,sampled_layers,model_layers,avg_ts,stddev_ts,median_ts,noisy");
            for r in &rows {
                println!(
                    "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{:.4},{:.4},{:.4},{}",
                    r.model,
                    r.activation.as_deref().unwrap_or(""),
                    r.engine,
                    r.format,
                    r.head,
                    r.isa,
                    r.threads,
                    r.test,
                    r.n_prompt,
                    r.n_gen,
                    r.n_depth,
                    r.kv,
                    r.sampled_layers.map(|v| v.to_string()).unwrap_or_default(),
                    r.model_layers.map(|v| v.to_string()).unwrap_or_default(),
                    r.avg_ts,
                    r.stddev_ts,
                    r.median_ts,
                    r.noisy
                );
            }
        }
        OutFormat::Md => {
            let mut t = Table::new(&[
                "model",
                "ffn act",
                "engine",
                "format",
                "head",
                "isa",
                "threads",
                "test",
                "t/s",
                "median t/s",
            ]);
            for r in &rows {
                let model = match (r.sampled_layers, r.model_layers) {
                    (Some(k), Some(n)) => format!("{} (SAMPLED {k}/{n} layers)", r.model),
                    _ => r.model.clone(),
                };
                t.row(vec![
                    model,
                    r.activation.clone().unwrap_or_else(|| "-".into()),
                    r.engine.clone(),
                    r.format.clone(),
                    r.head.clone(),
                    r.isa.clone(),
                    r.threads.to_string(),
                    r.test.clone(),
                    format!("{:.2} ± {:.2}", r.avg_ts, r.stddev_ts),
                    format!(
                        "{:.2}{}",
                        r.median_ts,
                        if r.noisy { " (noisy)" } else { "" }
                    ),
                ]);
            }
            print!("{}", t.markdown());
        }
    }
    Ok(())
}
