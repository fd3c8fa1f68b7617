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
    /// Sequences run together (1: a single stream); token rates are aggregate over them.
    batch: usize,
    /// Median decode tokens/s of each sequence (`null` for a prefill).
    median_ts_per_stream: Option<f64>,
    /// Per-token decode latency (one step) percentiles, ms.
    p50_ms: Option<f64>,
    /// As `p50_ms`, 99th percentile.
    p99_ms: Option<f64>,
    /// Fraction of the int8/f32 compute peaks the median reached (batched sweeps only).
    peak_fraction: Option<f64>,
    /// Median aggregate tokens/s over the same test at batch 1.
    ratio_to_batch1: Option<f64>,
    /// Median aggregate decode tokens/s over the ceiling row's (`ppP+head`) tokens/s.
    ratio_to_ceiling: Option<f64>,
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
    let mut batches: Vec<usize> = a.batch.iter().map(|&b| b as usize).collect();
    batches.dedup();
    let batched = batches.iter().any(|&b| b > 1);
    let mut tests = Vec::new();
    for &n_depth in &depths {
        for &batch in &batches {
            if a.n_prompt > 0 {
                tests.push(TestSpec {
                    n_depth,
                    batch,
                    ..TestSpec::new(a.n_prompt, 0)
                });
            }
            if a.n_gen > 0 {
                tests.push(TestSpec {
                    n_depth,
                    batch,
                    ..TestSpec::new(0, a.n_gen)
                });
            }
        }
        if batched && a.n_prompt > 0 {
            // The compute-bound ceiling of decode: a prefill computing every position's logits.
            tests.push(TestSpec {
                n_depth,
                head_all: true,
                ..TestSpec::new(a.n_prompt, 0)
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
    // The same cell at batch 1, and the ceiling row of its engine, level and threads.
    let same_engine = |x: &crate::records::results::CellResult,
                       c: &crate::records::results::CellResult| {
        x.key.model == c.key.model
            && x.key.engine == c.key.engine
            && x.key.format == c.key.format
            && x.key.isa == c.key.isa
            && x.key.threads == c.key.threads
            && x.n_depth == c.n_depth
    };
    let median = |c: &crate::records::results::CellResult| {
        if c.n_prompt > 0 {
            c.prefill_tokens_per_s.as_ref().map(|s| s.median)
        } else {
            c.decode_tokens_per_s.as_ref().map(|s| s.median)
        }
    };
    let rows: Vec<BenchRow> = out
        .cells
        .iter()
        .map(|c| {
            let head_all = c.key.test.contains("+head");
            let ratio_to_batch1 = out
                .cells
                .iter()
                .find(|x| {
                    same_engine(x, c)
                        && x.batch == 1
                        && x.n_prompt == c.n_prompt
                        && x.n_gen == c.n_gen
                        && x.key.test.contains("+head") == head_all
                })
                .and_then(median)
                .zip(median(c))
                .filter(|_| batched)
                .map(|(one, this)| this / one);
            let ratio_to_ceiling = out
                .cells
                .iter()
                .find(|x| same_engine(x, c) && x.key.test.contains("+head"))
                .and_then(median)
                .zip(c.decode_tokens_per_s.as_ref().map(|s| s.median))
                .map(|(ceil, this)| this / ceil);
            let decode = c.n_prompt == 0;
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
                batch: c.batch,
                median_ts_per_stream: c
                    .decode_tokens_per_s_per_stream
                    .as_ref()
                    .map(|s| s.median)
                    .filter(|_| decode),
                p50_ms: c.decode_latency_ms.as_ref().map(|p| p.p50),
                p99_ms: c.decode_latency_ms.as_ref().map(|p| p.p99),
                peak_fraction: if decode {
                    c.decode_peak_fraction
                } else {
                    c.prefill_peak_fraction
                },
                ratio_to_batch1,
                ratio_to_ceiling,
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
            let opt = |v: Option<f64>| v.map(|x| format!("{x:.4}")).unwrap_or_default();
            println!("model,activation,engine,format,head,isa,threads,test,n_prompt,n_gen,n_depth,batch,kv,sampled_layers,model_layers,avg_ts,stddev_ts,median_ts,noisy,median_ts_per_stream,p50_ms,p99_ms,peak_fraction,ratio_to_batch1,ratio_to_ceiling");
            for r in &rows {
                println!(
                    "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{:.4},{:.4},{:.4},{},{},{},{},{},{},{}",
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
                    r.batch,
                    r.kv,
                    r.sampled_layers.map(|v| v.to_string()).unwrap_or_default(),
                    r.model_layers.map(|v| v.to_string()).unwrap_or_default(),
                    r.avg_ts,
                    r.stddev_ts,
                    r.median_ts,
                    r.noisy,
                    opt(r.median_ts_per_stream),
                    opt(r.p50_ms),
                    opt(r.p99_ms),
                    opt(r.peak_fraction),
                    opt(r.ratio_to_batch1),
                    opt(r.ratio_to_ceiling),
                );
            }
        }
        OutFormat::Md => {
            let mut cols = vec![
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
            ];
            if batched {
                cols.extend([
                    "t/s per stream",
                    "ms/token p50 / p99",
                    "of peak",
                    "÷ batch 1",
                    "÷ ceiling",
                ]);
            }
            let mut t = Table::new(&cols);
            for r in &rows {
                let model = match (r.sampled_layers, r.model_layers) {
                    (Some(k), Some(n)) => format!("{} (SAMPLED {k}/{n} layers)", r.model),
                    _ => r.model.clone(),
                };
                let opt = |v: Option<f64>, f: &dyn Fn(f64) -> String| v.map_or("-".into(), f);
                let extra = [
                    opt(r.median_ts_per_stream, &|x| format!("{x:.2}")),
                    match (r.p50_ms, r.p99_ms) {
                        (Some(a), Some(b)) if r.n_prompt == 0 => format!("{a:.1} / {b:.1}"),
                        _ => "-".into(),
                    },
                    opt(r.peak_fraction, &|x| format!("{:.0}%", x * 100.0)),
                    opt(r.ratio_to_batch1, &|x| format!("{x:.2}x")),
                    opt(r.ratio_to_ceiling, &|x| format!("{x:.2}")),
                ];
                let mut cells = vec![
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
                ];
                if batched {
                    cells.extend(extra);
                }
                t.row(cells);
            }
            print!("{}", t.markdown());
            if batched {
                println!(
                    "\nt/s: aggregate over the batch's sequences (each its own KV cache and position, one \
                     forward pass per step). ceiling: ppP+head, a prefill computing every position's \
                     logits (decode's compute-bound rate). of peak: multiply-adds of the linear layers \
                     and LM head against this run's int8 (ternary, q8) and f32 FMA (f16) peaks, \
                     attention left out."
                );
            }
        }
    }
    Ok(())
}
