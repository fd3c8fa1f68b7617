//! `ternbench bench`: a llama-bench-style sweep (pp and tg tests per model × engine × threads)
//! through the scenario runner, printed as Markdown, CSV or JSON; no results folder is kept.
//! `--plan` prints the cells, memory and estimated duration instead; Ctrl-C prints the rows
//! measured so far (exit 130). With `--batch` (llama-batched-bench's `-npl`) each test runs at
//! every batch size, with the `ppP+head` ceiling beside them and each row's ratios to batch 1
//! and to that ceiling (ratios of medians with their 95% CI, `records::stats::ratio`).

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
    /// Aggregate tokens/s over the same test at batch 1 (ratio of medians, 95% CI).
    ratio_to_batch1: Option<crate::records::stats::Estimate>,
    /// Aggregate decode tokens/s over the ceiling row's (`ppP+head`) tokens/s (ratio of
    /// medians, 95% CI).
    ratio_to_ceiling: Option<crate::records::stats::Estimate>,
    /// KV cache element type (`f16`, `f32`).
    kv: &'static str,
    sampled_layers: Option<usize>,
    model_layers: Option<usize>,
    /// The FFN activation of the model (`relu2` for 2B4T, `silu` for the 1bitLLM family).
    activation: Option<String>,
    samples_ts: Vec<f64>,
    /// The figure quoted: the median of the repetitions (as `run`, `compare` and `report`).
    median_ts: f64,
    /// The 95% CI of the median from order statistics (`null`: too few repetitions).
    ci95_low_ts: Option<f64>,
    /// Upper end of that CI.
    ci95_high_ts: Option<f64>,
    /// The coverage the CI really has (at least 0.95).
    ci_level: Option<f64>,
    /// Why there is no CI, in words (`null` when there is one).
    ci_note: Option<String>,
    /// Secondary: the mean (llama-bench's `avg_ts`).
    avg_ts: f64,
    /// Secondary: the sample standard deviation (0 for one repetition).
    stddev_ts: f64,
    noisy: bool,
    /// The summary, for the table (not serialised: its fields are above).
    #[serde(skip)]
    summary: Option<crate::records::stats::Summary>,
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
    let counts: Vec<usize> = a.threads.iter().map(|&t| t as usize).collect();
    crate::commands::check_threads(&counts, &a.thread_opts, "-t")?;
    let isa = kernel_set(a.opts.isa)?.isa;
    if !a.opts.weight_format.is_ternary() && a.engine.contains(&EngineArg::Ternary) {
        return Err(usage(format!(
            "--weight-format {}: the ternary engine takes i2, tq1 or tl",
            a.opts.weight_format
        )));
    }
    for m in &a.model {
        crate::plan::model::model_config(m)?;
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
        peers: vec![],
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
                engines: None,
            })
            .collect(),
        engines: a
            .engine
            .iter()
            .map(|e| match e {
                EngineArg::Ternary => EngineSpec {
                    engine: EngineKind::Ternary,
                    format: a.opts.weight_format,
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
            idle_settle_seconds: 0.0,
            idle_check: "off".into(),
            tdp_watts: None,
            idle_watts: None,
        },
    };
    let (ctrs, _) = crate::measure::counters::open_status();
    let max_threads = scenario.threads.iter().copied().max().unwrap_or(1);
    let pool = ThreadPool::new(max_threads, crate::records::machine::pinning(a.pin));
    let plan_ctx = crate::plan::estimate::Context {
        beside: false,
        idle_seconds: 0.0,
    };
    if a.plan {
        let plan = crate::commands::planning::make(&scenario, &[isa], &pool, plan_ctx)?;
        let output = if a.output == OutFormat::Json {
            crate::cli::TextOrJson::Json
        } else {
            crate::cli::TextOrJson::Text
        };
        return crate::commands::planning::print(&plan, output);
    }
    let weights = if a.quiet {
        Default::default()
    } else {
        eprintln!("calibrating the progress estimate (a few seconds)…");
        let plan = crate::commands::planning::make(&scenario, &[isa], &pool, plan_ctx)?;
        eprintln!("{}", crate::commands::planning::headline(&plan));
        crate::commands::planning::weights(&plan)
    };
    let prefetch =
        crate::measure::prefetch::for_scenario(a.opts.prefetch, &scenario, &[isa], &pool)?;
    if !a.quiet {
        for l in prefetch.summary() {
            eprintln!("{l}");
        }
    }
    let mut ctx = crate::measure::runner::RunContext {
        pool: &pool,
        counters: ctrs.as_ref(),
        energy: None,
        prior: Default::default(),
        prior_models: Vec::new(),
        progress: crate::measure::runner::Progress::new(a.quiet, weights),
        beside: None,
        prefetch: Some(&prefetch),
    };
    crate::measure::interrupt::install();
    let (out, interrupted) =
        match crate::measure::runner::run(&scenario, &[isa], &mut ctx, &mut NoSink) {
            Ok(o) => (o, false),
            Err(e) => match e.downcast::<crate::measure::runner::Interrupted>() {
                Ok(i) => (i.partial, true),
                Err(e) => return Err(e),
            },
        };
    if interrupted {
        let reps: usize = out.cells.iter().map(|c| c.repetitions).sum();
        eprintln!(
            "interrupted (Ctrl-C): printing the {} cell(s) measured so far ({reps} timed repetition(s)); cells not reached are left out",
            out.cells.len()
        );
    }
    print_rows(
        &rows(&out, &scenario, batched),
        a.output,
        scenario.max_cv,
        batched,
    )?;
    if interrupted {
        use std::io::Write;
        let _ = std::io::stdout().flush();
        std::process::exit(crate::error::EXIT_INTERRUPTED);
    }
    Ok(())
}

/// The rows of a finished (or interrupted) sweep.
fn rows(
    out: &crate::measure::runner::RunOutput,
    scenario: &crate::plan::scenario::Scenario,
    batched: bool,
) -> Vec<BenchRow> {
    use crate::records::results::CellResult;
    // The same cell at batch 1, and the ceiling row of its engine, level and threads.
    let same_engine = |x: &CellResult, c: &CellResult| {
        x.key.model == c.key.model
            && x.key.engine == c.key.engine
            && x.key.format == c.key.format
            && x.key.isa == c.key.isa
            && x.key.threads == c.key.threads
            && x.n_depth == c.n_depth
    };
    fn samples(c: &CellResult) -> &[f64] {
        if c.n_prompt > 0 {
            &c.samples_prefill_tokens_per_s
        } else {
            &c.samples_decode_tokens_per_s
        }
    }
    out.cells
        .iter()
        .map(|c| {
            let head_all = c.key.test.contains("+head");
            let decode = c.n_prompt == 0;
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
                .filter(|_| batched && c.batch > 1)
                .and_then(|one| crate::records::stats::ratio(samples(c), samples(one)));
            let ratio_to_ceiling = out
                .cells
                .iter()
                .find(|x| same_engine(x, c) && x.key.test.contains("+head"))
                .filter(|_| decode)
                .and_then(|ceil| {
                    crate::records::stats::ratio(
                        &c.samples_decode_tokens_per_s,
                        &ceil.samples_prefill_tokens_per_s,
                    )
                });
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
                median_ts: s.as_ref().map_or(f64::NAN, |s| s.median),
                ci95_low_ts: s.as_ref().and_then(|s| s.ci()).map(|c| c.0),
                ci95_high_ts: s.as_ref().and_then(|s| s.ci()).map(|c| c.1),
                ci_level: s
                    .as_ref()
                    .filter(|s| s.ci().is_some())
                    .and_then(|s| s.ci_level),
                ci_note: s.as_ref().and_then(|s| s.no_ci_reason()),
                avg_ts: s.as_ref().map_or(f64::NAN, |s| s.mean),
                stddev_ts: s.as_ref().map_or(f64::NAN, |s| s.stddev),
                noisy: c.noisy,
                summary: s.clone(),
            }
        })
        .collect()
}

fn print_rows(rows: &[BenchRow], output: OutFormat, max_cv: f64, batched: bool) -> Result<()> {
    let est = |e: &Option<crate::records::stats::Estimate>| {
        (
            e.as_ref().map(|e| e.value),
            e.as_ref().and_then(|e| e.ci95_low),
            e.as_ref().and_then(|e| e.ci95_high),
        )
    };
    match output {
        OutFormat::Json => println!("{}", serde_json::to_string_pretty(&rows)?),
        OutFormat::Csv => {
            let header = [
                "model",
                "activation",
                "engine",
                "format",
                "head",
                "isa",
                "threads",
                "test",
                "n_prompt",
                "n_gen",
                "n_depth",
                "batch",
                "kv",
                "sampled_layers",
                "model_layers",
                "median_ts",
                "ci95_low_ts",
                "ci95_high_ts",
                "avg_ts",
                "stddev_ts",
                "noisy",
                "median_ts_per_stream",
                "p50_ms",
                "p99_ms",
                "peak_fraction",
                "ratio_to_batch1",
                "ratio_to_batch1_ci95_low",
                "ratio_to_batch1_ci95_high",
                "ratio_to_ceiling",
                "ratio_to_ceiling_ci95_low",
                "ratio_to_ceiling_ci95_high",
            ];
            let opt = |v: Option<f64>| v.map_or_else(String::new, |x| format!("{x:.4}"));
            let lines: Vec<Vec<String>> = rows
                .iter()
                .map(|r| {
                    let (b1, b1_lo, b1_hi) = est(&r.ratio_to_batch1);
                    let (ce, ce_lo, ce_hi) = est(&r.ratio_to_ceiling);
                    vec![
                        r.model.clone(),
                        r.activation.clone().unwrap_or_default(),
                        r.engine.clone(),
                        r.format.clone(),
                        r.head.clone(),
                        r.isa.clone(),
                        r.threads.to_string(),
                        r.test.clone(),
                        r.n_prompt.to_string(),
                        r.n_gen.to_string(),
                        r.n_depth.to_string(),
                        r.batch.to_string(),
                        r.kv.to_string(),
                        r.sampled_layers.map(|v| v.to_string()).unwrap_or_default(),
                        r.model_layers.map(|v| v.to_string()).unwrap_or_default(),
                        format!("{:.4}", r.median_ts),
                        opt(r.ci95_low_ts),
                        opt(r.ci95_high_ts),
                        format!("{:.4}", r.avg_ts),
                        format!("{:.4}", r.stddev_ts),
                        r.noisy.to_string(),
                        opt(r.median_ts_per_stream),
                        opt(r.p50_ms),
                        opt(r.p99_ms),
                        opt(r.peak_fraction),
                        opt(b1),
                        opt(b1_lo),
                        opt(b1_hi),
                        opt(ce),
                        opt(ce_lo),
                        opt(ce_hi),
                    ]
                })
                .collect();
            print!("{}", crate::output::csv(&header, &lines));
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
                "t/s median [95% CI]",
                "mean ± sd",
            ];
            if batched {
                cols.extend([
                    "t/s per stream",
                    "ms/token p50 / p99",
                    "of peak",
                    "÷ batch 1 [95% CI]",
                    "÷ ceiling [95% CI]",
                ]);
            }
            let mut t = Table::new(&cols);
            let mut notes: Vec<String> = Vec::new();
            for r in rows {
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
                    r.ratio_to_batch1
                        .as_ref()
                        .map_or("-".into(), |e| e.show(2, "x", false)),
                    r.ratio_to_ceiling
                        .as_ref()
                        .map_or("-".into(), |e| e.show(2, "", false)),
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
                    format!(
                        "{}{}",
                        r.summary.as_ref().map_or_else(|| "-".into(), |s| s.show()),
                        if r.noisy { " NOISY" } else { "" }
                    ),
                    match r.summary.as_ref() {
                        Some(s) if s.n > 1 => format!(
                            "{} ± {}",
                            crate::records::stats::fmt_num(s.mean),
                            crate::records::stats::fmt_num(s.stddev)
                        ),
                        // One repetition has no spread: no "± 0.00".
                        _ => "-".into(),
                    },
                ];
                if batched {
                    cells.extend(extra);
                }
                t.row(cells);
                if let Some(n) = &r.ci_note {
                    if !notes.contains(n) {
                        notes.push(n.clone());
                    }
                }
            }
            print!("{}", t.markdown());
            if batched {
                println!(
                    "\nt/s: aggregate over the batch's sequences (each its own KV cache and position, one \
                     forward pass per step). ceiling: ppP+head, a prefill computing every position's \
                     logits (decode's compute-bound rate). ÷: ratios of medians with the 95% CI of the \
                     ratio from both cells' repetitions. of peak: multiply-adds of the linear layers \
                     and LM head against this run's int8 (ternary, q8) and f32 FMA (f16) peaks, \
                     attention left out."
                );
            }
            if rows.iter().any(|r| r.noisy) {
                notes.push(format!(
                    "NOISY: the repetitions vary by more than {:.0}% (sd/mean); rerun with more repetitions (-r) on a quieter machine",
                    max_cv * 100.0
                ));
            }
            for n in notes {
                println!("\n{n}");
            }
        }
    }
    Ok(())
}
