//! `ternbench generate`, `logits` and `bench`: the engine's commands.
//!
//! A model is a zoo name (synthetic, seeded weights) or a checkpoint path: a Hugging Face
//! directory (`config.json` + safetensors) or a `.gguf` file, loaded by `ternbench_engine::load`
//! into the chosen format. Before building, the weights and KV cache are checked against the
//! memory available; a model too large gets an error offering `--sample-layers K` (build K
//! layers, time them, scale to the full depth), and results from a sampled model say so on every
//! line. `generate --prompt` needs a checkpoint with a `tokenizer.json`, or a GGUF file whose
//! embedded vocabulary is byte-level BPE (2B4T, Llama 3).

use std::io::Write;
use std::time::Instant;

use anyhow::{Context, Result};
use serde::Serialize;
use ternbench_engine::kernels::{Format, Isa, KernelSet, Pinning, ThreadPool};
use ternbench_engine::load::{self, tokenizer::Tokenizer, LoadOptions};
use ternbench_engine::{
    generate, model::exec, synthetic, weights::estimate_bytes, zoo, KvType, Logits, Model,
    ModelConfig, Sampler, SynthOptions,
};

use crate::cli::{BenchArgs, EngineArg, GenerateArgs, LogitsArgs, OutFormat};
use crate::error::usage;
use crate::output::Table;

/// Which engine, in words for output.
fn engine_label(e: EngineArg, fmt: Format) -> String {
    match e {
        EngineArg::Ternary => format!("ternary/{fmt}"),
        EngineArg::Fp16 => "fp16".to_string(),
    }
}

/// Whether a model argument names a checkpoint (a path) rather than a zoo model.
fn is_checkpoint(name: &str) -> bool {
    load::looks_like_path(name)
}

/// The shape of a zoo model or a checkpoint (read from its config, tensors untouched).
fn model_config(name: &str) -> Result<ModelConfig> {
    if is_checkpoint(name) {
        let path = std::path::Path::new(name);
        if !path.exists() {
            return Err(usage(format!("model `{name}`: no such file or directory")));
        }
        return load::load_config(path).with_context(|| format!("reading checkpoint `{name}`"));
    }
    zoo::config(name).map_err(|e| usage(e.to_string()))
}

/// Settings shared by every engine command.
pub struct ModelPlan<'a> {
    /// Zoo name or checkpoint path.
    pub name: &'a str,
    /// ternary or fp16.
    pub engine: EngineArg,
    /// Format of the ternary engine's linear layers.
    pub format: Format,
    /// LM head format.
    pub head: Format,
    /// Synthetic weight seed.
    pub seed: u64,
    /// Build only K layers.
    pub sample_layers: Option<usize>,
    /// KV cache element type.
    pub kv: KvType,
    /// Positions the cache must hold.
    pub context: usize,
}

/// Builds a model after checking it fits: synthetic weights for a zoo name, a loaded checkpoint
/// for a path.
pub fn build(plan: &ModelPlan<'_>, pool: &ThreadPool, threads: usize) -> Result<Model> {
    let checkpoint = is_checkpoint(plan.name);
    let cfg = model_config(plan.name)?;
    if let Some(k) = plan.sample_layers {
        if k == 0 || k > cfg.layers {
            return Err(usage(format!(
                "--sample-layers {k}: must be between 1 and the model's {} layers",
                cfg.layers
            )));
        }
    }
    let linear = match plan.engine {
        EngineArg::Ternary => plan.format,
        EngineArg::Fp16 => Format::F16,
    };
    if plan.engine == EngineArg::Ternary && !linear.is_ternary() {
        return Err(usage(format!(
            "--format {linear}: the ternary engine takes i2, tq1 or tl"
        )));
    }
    let layers = plan.sample_layers.unwrap_or(cfg.layers);
    let weights = estimate_bytes(&cfg, linear, plan.head, layers);
    let kv =
        ternbench_engine::kv_cache::KvCache::bytes_for(plan.kv, layers, cfg.kv_dim(), plan.context);
    // Generation transiently holds one tensor's unpacked ternary values (1 byte per weight) too;
    // a checkpoint's loader also holds one tensor in f32 while it quantises master weights.
    let per_weight_transient = if checkpoint { 5 } else { 2 };
    let transient = (cfg.intermediate * cfg.hidden) as u64 * per_weight_transient * threads as u64;
    let need = weights + kv + transient;
    if let Some(avail) = crate::machine::mem_available() {
        if need > avail {
            let per_layer = (weights - estimate_bytes(&cfg, linear, plan.head, 0)) / layers as u64;
            let fit = (avail
                .saturating_sub(estimate_bytes(&cfg, linear, plan.head, 0) + transient)
                / per_layer.max(1))
            .max(1);
            let files = if checkpoint {
                load::checkpoint_bytes(std::path::Path::new(plan.name))
                    .map(|b| {
                        format!(
                            " (checkpoint files {:.1} GiB, memory-mapped)",
                            b as f64 / (1u64 << 30) as f64
                        )
                    })
                    .unwrap_or_default()
            } else {
                String::new()
            };
            return Err(usage(format!(
                "model `{}`{files} ({} engine, {} layers) needs {:.1} GiB (weights {:.1} GiB, KV cache {:.1} GiB) but {:.1} GiB is available; \
                 use --sample-layers K (K ≤ {} fits) to build K layers, time them and scale to the full depth",
                plan.name,
                engine_label(plan.engine, linear),
                layers,
                need as f64 / (1u64 << 30) as f64,
                weights as f64 / (1u64 << 30) as f64,
                kv as f64 / (1u64 << 30) as f64,
                avail as f64 / (1u64 << 30) as f64,
                fit.min(cfg.layers as u64)
            )));
        }
    }
    let w = if checkpoint {
        let opts = LoadOptions {
            linear,
            head: plan.head,
            sample_layers: plan.sample_layers,
        };
        load::load(std::path::Path::new(plan.name), &opts)
            .with_context(|| format!("loading checkpoint `{}`", plan.name))?
    } else {
        let opts = SynthOptions {
            linear,
            head: plan.head,
            seed: plan.seed,
            sample_layers: plan.sample_layers,
        };
        synthetic(&cfg, &opts, pool, threads)
            .with_context(|| format!("building synthetic `{}`", plan.name))?
    };
    Ok(Model::new(w))
}

fn kernel_set(isa: Option<Isa>) -> Result<&'static KernelSet> {
    match isa {
        None => Ok(KernelSet::best()),
        Some(i) => KernelSet::get(i).map_err(|e| usage(e.to_string())),
    }
}

fn parse_tokens(s: &str, vocab: usize) -> Result<Vec<u32>> {
    let toks: Vec<u32> = s
        .split(',')
        .filter(|t| !t.trim().is_empty())
        .map(|t| {
            t.trim()
                .parse::<u32>()
                .map_err(|_| usage(format!("--tokens: `{t}` is not a token id")))
        })
        .collect::<Result<_>>()?;
    if toks.is_empty() {
        return Err(usage("--tokens: give at least one token id"));
    }
    if let Some(&bad) = toks.iter().find(|&&t| t as usize >= vocab) {
        return Err(usage(format!(
            "--tokens: id {bad} is outside the vocabulary (size {vocab})"
        )));
    }
    Ok(toks)
}

fn sampled_note(m: &Model) -> String {
    if m.weights.is_sampled() {
        format!(
            " [SAMPLED: {} of {} layers built; per-token figures below are for the built layers, scaled figures are marked]",
            m.weights.layers.len(),
            m.weights.cfg.layers
        )
    } else {
        String::new()
    }
}

/// `ternbench generate`.
pub fn run_generate(a: &GenerateArgs) -> Result<()> {
    let checkpoint = is_checkpoint(&a.model);
    if a.prompt.is_some() && !checkpoint {
        return Err(usage(
            "--prompt needs a tokenizer, which synthetic models do not have; pass --tokens 1,2,3",
        ));
    }
    let cfg = model_config(&a.model)?;
    // A checkpoint's tokenizer (tokenizer.json, or a GGUF's embedded vocabulary) encodes
    // --prompt and, when there is one, decodes the output.
    let tokenizer = if checkpoint {
        match Tokenizer::for_checkpoint(std::path::Path::new(&a.model)) {
            Ok(t) => Some(t),
            Err(e) if a.prompt.is_some() => return Err(usage(e.to_string())),
            Err(_) => None,
        }
    } else {
        None
    };
    let threads = a.threads.max(1);
    let pool = ThreadPool::new(threads, Pinning::None);
    let ks = kernel_set(a.opts.isa)?;
    let prompt = match (&a.prompt, &tokenizer) {
        (Some(text), Some(t)) => {
            let ids = t.encode(text)?;
            if ids.is_empty() {
                return Err(usage("--prompt: the text encodes to no tokens"));
            }
            if let Some(&bad) = ids.iter().find(|&&i| i as usize >= cfg.vocab) {
                return Err(usage(format!(
                    "--prompt: the tokenizer produced id {bad}, outside the model's vocabulary ({}); is the tokenizer this model's?",
                    cfg.vocab
                )));
            }
            ids
        }
        _ => {
            let tokens_arg = a.tokens.as_deref().ok_or_else(|| {
                usage("give --tokens 1,2,3 (or --prompt TEXT for a checkpoint with a tokenizer)")
            })?;
            parse_tokens(tokens_arg, cfg.vocab)?
        }
    };
    let plan = ModelPlan {
        name: &a.model,
        engine: a.engine,
        format: a.opts.format,
        head: a.opts.head,
        seed: a.opts.seed,
        sample_layers: a.sample_layers,
        kv: KvType::F32,
        context: 0,
    };
    let context = prompt.len() + a.max_tokens;
    if context > cfg.max_positions {
        return Err(usage(format!(
            "prompt ({}) + --max-tokens ({}) exceeds the model's context of {} positions",
            prompt.len(),
            a.max_tokens,
            cfg.max_positions
        )));
    }
    let t0 = Instant::now();
    let model = build(&ModelPlan { context, ..plan }, &pool, threads)?;
    let load_s = t0.elapsed().as_secs_f64();
    let fmt = model.weights.linear_format();
    eprintln!(
        "model {} ({}, head {}, {} threads, {}) built in {load_s:.2} s{}",
        a.model,
        engine_label(a.engine, fmt),
        model.weights.head_format(),
        threads,
        ks.isa,
        sampled_note(&model)
    );
    let mut session = model.session(context, KvType::F32)?;
    let mut sampler = if a.temperature > 0.0 {
        Sampler::new(a.temperature, a.top_k, a.top_p, a.opts.seed)
    } else {
        Sampler::greedy()
    };
    let mut out = std::io::stdout().lock();
    // With a tokenizer, print the text as it grows (decoding everything so far, so multi-token
    // characters come out whole); without one, the ids.
    let (mut generated, mut printed) = (Vec::new(), 0usize);
    let st = generate(
        &model,
        exec(ks, &pool, threads),
        &mut session,
        &prompt,
        a.max_tokens,
        &mut sampler,
        true,
        |t| {
            match &tokenizer {
                Some(tok) => {
                    generated.push(t);
                    if let Ok(text) = tok.decode(&generated) {
                        if let Some(new) = text.get(printed..) {
                            let _ = write!(out, "{new}");
                            printed = text.len();
                        }
                    }
                }
                None => {
                    let _ = write!(out, "{t} ");
                }
            }
            let _ = out.flush();
        },
    )?;
    drop(out);
    println!();
    let scale = model.weights.cfg.layers as f64 / model.weights.layers.len() as f64;
    eprintln!(
        "prefill: {} tokens in {:.3} s = {:.2} tokens/s; decode: {} tokens, {:.2} tokens/s; time to first token {:.3} s",
        st.prompt_tokens,
        st.prefill_s,
        st.prefill_tps(),
        st.decode_step_s.len(),
        st.decode_tps(),
        st.ttft_s()
    );
    if model.weights.is_sampled() {
        eprintln!(
            "SAMPLED ESTIMATE for all {} layers (whole decode step scaled by {scale:.2}, the LM head and embedding share scaled too, so the estimate errs slow): decode ≈ {:.3} tokens/s",
            model.weights.cfg.layers,
            1.0 / (st.decode_s() / st.decode_step_s.len().max(1) as f64 * scale)
        );
    }
    Ok(())
}

/// `ternbench logits`.
pub fn run_logits(a: &LogitsArgs) -> Result<()> {
    let threads = a.threads.max(1);
    let pool = ThreadPool::new(threads, Pinning::None);
    let ks = kernel_set(a.opts.isa)?;
    let cfg = model_config(&a.model)?;
    let tokens = parse_tokens(&a.tokens, cfg.vocab)?;
    let plan = ModelPlan {
        name: &a.model,
        engine: a.engine,
        format: a.opts.format,
        head: a.opts.head,
        seed: a.opts.seed,
        sample_layers: None,
        kv: KvType::F32,
        context: tokens.len(),
    };
    let model = build(&plan, &pool, threads)?;
    let mut s = model.session(tokens.len(), KvType::F32)?;
    let logits = model.forward(exec(ks, &pool, threads), &mut s, &tokens, Logits::All)?;
    #[derive(Serialize)]
    struct Out<'a> {
        tokens: &'a [u32],
        logits: Vec<&'a [f32]>,
    }
    let out = Out {
        tokens: &tokens,
        logits: logits.chunks(cfg.vocab).collect(),
    };
    if a.json {
        println!("{}", serde_json::to_string(&out)?);
    } else {
        for (p, row) in out.logits.iter().enumerate() {
            let best = ternbench_engine::sampler::argmax(row);
            println!(
                "position {p} (token {}): argmax {best} ({:.4})",
                tokens[p], row[best as usize]
            );
        }
    }
    Ok(())
}

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

impl crate::runner::Sink for NoSink {
    fn record(&mut self, _: &crate::results::Record) -> Result<()> {
        Ok(())
    }
}

/// `ternbench bench`: a llama-bench-style sweep through the scenario runner (pp and tg as
/// separate tests, one warm-up, repetitions interleaved across engines and thread counts).
pub fn run_bench(a: &BenchArgs) -> Result<()> {
    use crate::scenario::{
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
    let (ctrs, _) = crate::counters::open_status();
    let max_threads = scenario.threads.iter().copied().max().unwrap_or(1);
    let pool = ThreadPool::new(max_threads, crate::machine::pinning(a.pin));
    let mut ctx = crate::runner::RunContext {
        pool: &pool,
        counters: ctrs.as_ref(),
        energy: None,
        prior: Default::default(),
        prior_models: Vec::new(),
        progress: crate::runner::Progress::new(
            a.quiet_progress,
            crate::runner::planned_reps(&scenario, 1),
        ),
        beside: None,
    };
    let out = crate::runner::run(&scenario, &[isa], &mut ctx, &mut NoSink)?;
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
