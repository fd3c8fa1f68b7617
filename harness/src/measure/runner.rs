//! The scenario runner shared by `ternbench run` and `ternbench bench`.
//!
//! For each model of the scenario it builds every engine (ternary formats and the FP16 twin)
//! once, then runs the model's cells (engine × SIMD level × threads × test): untimed warm-up
//! repetitions, then timed ones, round-robin across cells (`order = "interleaved"`: A B A B, so
//! drift hits every cell alike) or cell by cell, until each cell has its `repetitions` and
//! `min_seconds` (at most `max_repetitions`). Every timed repetition is handed to a sink as it
//! finishes (the results folder appends and flushes it), and a resumed run skips the
//! repetitions its records already hold.
//!
//! One repetition of a test `ppP+tgG`: a fresh KV cache; the prompt's P tokens in one forward
//! pass and the first token chosen (prefill time = time to first token); then G decode steps,
//! each one token forward and the next token chosen (greedy), each step timed. `ppP` is the
//! prefill alone; `tgG` decodes G steps from the beginning-of-sequence token, as llama-bench's
//! tg test does. Counters and energy are read at the phase boundaries, outside the timed spans.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::time::Instant;

use anyhow::{Context, Result};
use ternbench_engine::kernels::{Isa, KernelSet, ThreadPool};
use ternbench_engine::{model::exec, sampler::argmax, Exec, KvType, Logits, Model, Session};

use crate::measure::counters::Counters;
use crate::plan::model::{build, ModelPlan};
use crate::plan::scenario::{EngineSpec, Order, SampleLayers, Scenario, TestSpec};
use crate::records::results::CellKey;
use crate::records::results::{
    now_utc, CellEnergy, CellResult, ComputePeak, ModelRecord, PhaseEnergy, Record, SampleRecord,
    Sampled,
};
use crate::records::stats::{Percentiles, Summary};

/// Energy over one phase: start before it, stop after it.
pub trait PhaseMeter {
    /// Begins a window.
    fn start(&mut self);
    /// Ends the window: its energy, or `None` when it could not be read.
    fn stop(&mut self) -> Option<PhaseEnergy>;
}

/// Where measurements go as they are taken.
pub trait Sink {
    /// Takes one record (a model build or a timed repetition); an error stops the run.
    fn record(&mut self, r: &Record) -> Result<()>;
}

/// Progress display on stderr.
#[derive(Debug)]
pub struct Progress {
    quiet: bool,
    tty: bool,
    total: usize,
    done: usize,
    t0: Instant,
    line_open: bool,
}

impl Progress {
    /// `total` planned timed repetitions.
    pub fn new(quiet: bool, total: usize) -> Progress {
        Progress {
            quiet,
            tty: std::io::stderr().is_terminal(),
            total,
            done: 0,
            t0: Instant::now(),
            line_open: false,
        }
    }

    fn eta(&self) -> String {
        if self.done == 0 {
            return "?".into();
        }
        let per = self.t0.elapsed().as_secs_f64() / self.done as f64;
        let left = per * self.total.saturating_sub(self.done) as f64;
        crate::output::fmt_secs(left)
    }

    /// A status line (not counted).
    pub fn note(&mut self, msg: &str) {
        if self.quiet {
            return;
        }
        self.clear();
        eprintln!("{msg}");
    }

    fn clear(&mut self) {
        if self.line_open {
            eprint!("\r\x1b[K");
            self.line_open = false;
        }
    }

    /// A repetition is starting.
    pub fn start(&mut self, cell: &str, rep: &str) {
        if self.quiet || !self.tty {
            return;
        }
        let pct = 100 * self.done / self.total.max(1);
        let width = 20;
        let filled = width * self.done / self.total.max(1);
        eprint!(
            "\r\x1b[K[{}{}] {pct:>3}% {cell} {rep} · ETA {}",
            "#".repeat(filled),
            "-".repeat(width - filled),
            self.eta()
        );
        let _ = std::io::stderr().flush();
        self.line_open = true;
    }

    /// A timed repetition finished.
    pub fn done(&mut self, cell: &str, rep: usize, summary: &str) {
        self.done += 1;
        if self.quiet {
            return;
        }
        if !self.tty {
            eprintln!(
                "[{}/{}] {cell} rep {} {summary} (ETA {})",
                self.done,
                self.total.max(self.done),
                rep + 1,
                self.eta()
            );
        }
    }

    /// Ends the display.
    pub fn finish(&mut self) {
        self.clear();
    }
}

/// Everything the runner needs besides the scenario.
pub struct RunContext<'a> {
    /// The worker pool (sized for the largest thread count).
    pub pool: &'a ThreadPool,
    /// Counters, when available (opened before the pool, so its threads are counted).
    pub counters: Option<&'a Counters>,
    /// Energy meter, when available.
    pub energy: Option<&'a mut dyn PhaseMeter>,
    /// Timed repetitions already recorded (resume), by cell.
    pub prior: BTreeMap<CellKey, Vec<SampleRecord>>,
    /// Model builds already recorded (resume).
    pub prior_models: Vec<ModelRecord>,
    /// Progress display.
    pub progress: Progress,
    /// Bandwidth read before and after each timed repetition (the paired roofline), when set.
    pub beside: Option<&'a crate::measure::bandwidth::Beside>,
}

/// What the run produced.
#[derive(Debug)]
pub struct RunOutput {
    /// Every model built (last build of each engine).
    pub models: Vec<ModelRecord>,
    /// Every cell's results, in scenario order.
    pub cells: Vec<CellResult>,
}

/// Timed repetitions planned for `s` (for progress and ETA).
pub fn planned_reps(s: &Scenario, isas: usize) -> usize {
    s.models.len() * s.engines.len() * isas * s.threads.len() * s.tests.len() * s.repetitions
}

fn rss() -> (Option<u64>, Option<u64>) {
    let Ok(s) = std::fs::read_to_string("/proc/self/status") else {
        return (None, None);
    };
    let get = |k: &str| {
        s.lines()
            .find(|l| l.starts_with(k))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .map(|kb| kb * 1024)
    };
    (get("VmRSS:"), get("VmHWM:"))
}

/// Resets the peak-RSS mark (Linux `clear_refs` 5); harmless where unsupported.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// For `sample_layers = "auto"`: every layer if all the scenario's engines of this zoo model fit
/// in 80% of the available memory, else as many layers as fit (1 to 4).
fn auto_layers(s: &Scenario, name: &str) -> Option<usize> {
    let cfg = ternbench_engine::zoo::config(name).ok()?;
    let avail = crate::records::machine::mem_available()? as f64 * 0.8;
    let bytes = |layers: usize| -> f64 {
        s.engines
            .iter()
            .map(|e| {
                ternbench_engine::weights::estimate_bytes(&cfg, e.format, s.head, layers) as f64
            })
            .sum()
    };
    if bytes(cfg.layers) <= avail {
        return None;
    }
    let fixed = bytes(0);
    let per = (bytes(1) - fixed).max(1.0);
    let fit = ((avail - fixed) / per).floor().max(1.0) as usize;
    Some(fit.clamp(1, 4).min(cfg.layers))
}

/// The prompt of a test: deterministic token ids spread over the vocabulary.
fn prompt_tokens(n: usize, vocab: usize) -> Vec<u32> {
    (0..n).map(|i| ((i * 7919 + 13) % vocab) as u32).collect()
}

/// Tokens per forward call of the untimed depth fill (bounds its activation buffers).
const DEPTH_CHUNK: usize = 512;

/// Prefills `n` tokens (untimed, in [`DEPTH_CHUNK`]s) into an empty session: the context a
/// test at depth `n` starts from. Returns the greedy token after them.
fn fill_depth(model: &Model, ex: Exec<'_>, session: &mut Session, n: usize) -> Result<u32> {
    let vocab = model.weights.cfg.vocab;
    // Another sequence than the timed prompt's (an offset into the same generator).
    let toks: Vec<u32> = prompt_tokens(n + 1, vocab)[1..].to_vec();
    let mut tok = 0;
    for (i, chunk) in toks.chunks(DEPTH_CHUNK).enumerate() {
        let last = (i + 1) * DEPTH_CHUNK >= n;
        let want = if last { Logits::Last } else { Logits::None };
        let logits = model.forward(ex, session, chunk, want)?;
        if last {
            tok = argmax(&logits);
        }
    }
    Ok(tok)
}

struct Cell {
    spec: EngineSpec,
    key: CellKey,
    test: TestSpec,
    isa: Isa,
    warm_left: usize,
    samples: Vec<SampleRecord>,
}

impl Cell {
    fn measured_seconds(&self) -> f64 {
        self.samples.iter().map(|s| s.seconds()).sum()
    }

    fn satisfied(&self, s: &Scenario) -> bool {
        let n = self.samples.len();
        n >= s.max_repetitions || (n >= s.repetitions && self.measured_seconds() >= s.min_seconds)
    }
}

/// The prompt of sequence `seq` of a batch: another stretch of the same token generator per
/// sequence, so the sequences differ.
fn seq_prompt(n: usize, vocab: usize, seq: usize) -> Vec<u32> {
    prompt_tokens(n + seq, vocab)[seq..].to_vec()
}

/// One timed (or warm-up) repetition: `test.batch` sequences (one for a single stream), each
/// with its own cache, through one forward pass per phase or step.
fn run_rep(
    model: &Model,
    ks: &'static KernelSet,
    ctx: &mut RunContext<'_>,
    threads: usize,
    test: TestSpec,
    kv: KvType,
) -> Result<SampleRecord> {
    let cfg = &model.weights.cfg;
    let ex = exec(ks, ctx.pool, threads);
    let b = test.batch.max(1);
    let mut sessions: Vec<Session> = (0..b)
        .map(|_| model.session(test.context(), kv))
        .collect::<Result<_, _>>()?;
    let prompts: Vec<Vec<u32>> = (0..b)
        .map(|i| seq_prompt(test.n_prompt, cfg.vocab, i))
        .collect();
    let mut rec = SampleRecord {
        key: CellKey {
            model: String::new(),
            engine: String::new(),
            format: String::new(),
            head: String::new(),
            isa: String::new(),
            threads,
            test: test.name(),
        },
        rep: 0,
        time_utc: String::new(),
        n_prompt: test.n_prompt,
        n_gen: test.n_gen,
        n_depth: test.n_depth,
        batch: b,
        prefill_seconds: None,
        decode_step_seconds: Vec::with_capacity(test.n_gen),
        peak_rss_bytes: None,
        counters_prefill: None,
        counters_decode: None,
        energy_prefill: None,
        energy_decode: None,
        bandwidth_before_gbps: None,
        bandwidth_after_gbps: None,
    };
    let mut toks = vec![cfg.bos; b];
    if test.n_depth > 0 {
        for (s, t) in sessions.iter_mut().zip(toks.iter_mut()) {
            *t = fill_depth(model, ex, s, test.n_depth)?;
        }
    }
    // The next token of each sequence from its row of logits.
    let pick = |logits: &[f32], toks: &mut [u32]| {
        for (t, row) in toks.iter_mut().zip(logits.chunks_exact(cfg.vocab)) {
            *t = argmax(row);
        }
    };
    if test.n_prompt > 0 {
        let lists: Vec<&[u32]> = prompts.iter().map(|p| p.as_slice()).collect();
        let want = if test.head_all {
            Logits::All
        } else {
            Logits::Last
        };
        if let Some(m) = ctx.energy.as_deref_mut() {
            m.start();
        }
        let c0 = ctx.counters.map(|c| c.read());
        let t0 = Instant::now();
        let logits = model.forward_batch(ex, &mut sessions, &lists, want)?;
        // With every position's logits, each sequence's last row picks its next token.
        let per = logits.len() / b;
        for (t, rows) in toks.iter_mut().zip(logits.chunks_exact(per.max(1))) {
            *t = argmax(&rows[rows.len() - cfg.vocab..]);
        }
        rec.prefill_seconds = Some(t0.elapsed().as_secs_f64());
        rec.counters_prefill = ctx.counters.zip(c0).map(|(c, c0)| c.read().since(&c0));
        rec.energy_prefill = ctx.energy.as_deref_mut().and_then(|m| m.stop());
    }
    if test.n_gen > 0 {
        if let Some(m) = ctx.energy.as_deref_mut() {
            m.start();
        }
        let c0 = ctx.counters.map(|c| c.read());
        for _ in 0..test.n_gen {
            let ids: Vec<[u32; 1]> = toks.iter().map(|&t| [t]).collect();
            let lists: Vec<&[u32]> = ids.iter().map(|t| t.as_slice()).collect();
            let t = Instant::now();
            let logits = model.forward_batch(ex, &mut sessions, &lists, Logits::Last)?;
            pick(&logits, &mut toks);
            rec.decode_step_seconds.push(t.elapsed().as_secs_f64());
        }
        rec.counters_decode = ctx.counters.zip(c0).map(|(c, c0)| c.read().since(&c0));
        rec.energy_decode = ctx.energy.as_deref_mut().and_then(|m| m.stop());
    }
    rec.peak_rss_bytes = rss().1;
    rec.time_utc = now_utc();
    Ok(rec)
}

/// Runs every cell of `s` on SIMD levels `isas`, sending records to `sink`.
pub fn run(
    s: &Scenario,
    isas: &[Isa],
    ctx: &mut RunContext<'_>,
    sink: &mut dyn Sink,
) -> Result<RunOutput> {
    let kv = if s.kv_f16 { KvType::F16 } else { KvType::F32 };
    let mut models_out: Vec<ModelRecord> = Vec::new();
    let mut cells_out = Vec::new();
    let max_threads = s.threads.iter().copied().max().unwrap_or(1);
    // A batched or `ppN+head` test reports its fraction of the compute peaks: measured here,
    // once per level and thread count, before any cell.
    let peaks = if s.tests.iter().any(|t| t.batch > 1 || t.head_all) {
        measure_peaks(s, isas, ctx)
    } else {
        BTreeMap::new()
    };
    for (mspec, cells) in s.cells(isas) {
        let mut group: Vec<Cell> = cells
            .into_iter()
            .map(|(spec, key)| {
                let samples = ctx.prior.remove(&key).unwrap_or_default();
                let test = *s
                    .tests
                    .iter()
                    .find(|t| t.name() == key.test)
                    .expect("cell test from the scenario");
                let isa = *isas
                    .iter()
                    .find(|i| i.name() == key.isa)
                    .expect("cell level from the scenario");
                Cell {
                    warm_left: s.warmup,
                    spec,
                    key,
                    test,
                    isa,
                    samples,
                }
            })
            .collect();
        if group.iter().all(|c| c.satisfied(s)) {
            // Everything of this model was measured before an interruption.
            for c in &group {
                let m = ctx
                    .prior_models
                    .iter()
                    .rev()
                    .find(|m| {
                        m.model == c.key.model
                            && m.engine == c.key.engine
                            && m.format == c.key.format
                    })
                    .cloned();
                cells_out.push(summarise(s, c, m.as_ref(), None));
            }
            for m in ctx.prior_models.iter().filter(|m| m.model == mspec.name) {
                if !models_out.contains(m) {
                    models_out.push(m.clone());
                }
            }
            continue;
        }
        let sample_layers = match mspec.sample_layers {
            SampleLayers::Full => None,
            SampleLayers::Fixed(k) => Some(k),
            SampleLayers::Auto => auto_layers(s, &mspec.name),
        };
        let context = s.tests.iter().map(|t| t.context()).max().unwrap_or(1);
        reset_peak_rss();
        let mut built: Vec<(EngineSpec, Model, ModelRecord, Products)> = Vec::new();
        for spec in &s.engines {
            ctx.progress
                .note(&format!("building {} ({})…", mspec.name, spec.label()));
            let t0 = Instant::now();
            let plan = ModelPlan {
                name: &mspec.name,
                engine: spec.engine.into(),
                format: spec.format,
                head: s.head,
                seed: s.seed,
                sample_layers,
                kv,
                context,
            };
            let model = build(&plan, ctx.pool, max_threads)
                .with_context(|| format!("model `{}` ({})", mspec.name, spec.label()))?;
            let w = &model.weights;
            let rec = ModelRecord {
                model: mspec.name.clone(),
                engine: spec.engine.name().into(),
                format: spec.format.name().into(),
                head: w.head_format().name().into(),
                layers_built: w.layers.len(),
                layers_total: w.cfg.layers,
                params: w.cfg.linear_params() + w.cfg.embedding_params(),
                weight_bytes: w
                    .layers
                    .iter()
                    .flat_map(|l| l.linears())
                    .map(|m| m.weight_bytes() as u64)
                    .sum::<u64>()
                    + w.embed.weight_bytes() as u64
                    + w.head.as_ref().map_or(0, |h| h.weight_bytes() as u64),
                decode_bytes_per_token: w.decode_bytes(),
                decode_bytes_per_token_full_depth: w.decode_bytes_full_depth(),
                kv_bytes_per_position: ternbench_engine::kv_cache::KvCache::bytes_for(
                    kv,
                    w.layers.len(),
                    w.cfg.kv_dim(),
                    1,
                ),
                load_seconds: t0.elapsed().as_secs_f64(),
                activation: w.cfg.act.name().into(),
            };
            sink.record(&Record::Model(rec.clone()))?;
            if w.is_sampled() {
                ctx.progress.note(&format!(
                    "  SAMPLED: {} of {} layers built; figures are for those layers, full-depth figures are labelled ESTIMATE",
                    w.layers.len(),
                    w.cfg.layers
                ));
            }
            models_out.push(rec.clone());
            let products = Products::of(&model);
            built.push((*spec, model, rec, products));
        }
        let mut order: Vec<usize> = (0..group.len()).collect();
        loop {
            let pending: Vec<usize> = order
                .iter()
                .copied()
                .filter(|&i| !group[i].satisfied(s))
                .collect();
            if pending.is_empty() {
                break;
            }
            let batch: Vec<usize> = match s.order {
                Order::Interleaved => pending,
                Order::Sequential => vec![pending[0]],
            };
            for i in batch {
                if crate::measure::interrupt::requested() {
                    ctx.progress.finish();
                    return Err(crate::measure::interrupt::Interrupted.into());
                }
                let c = &mut group[i];
                let (_, model, _, _) = built
                    .iter()
                    .find(|(sp, ..)| *sp == c.spec)
                    .expect("engine built");
                let ks = KernelSet::get(c.isa).map_err(|e| anyhow::anyhow!("{e}"))?;
                let id = c.key.id();
                while c.warm_left > 0 {
                    ctx.progress.start(&id, "warm-up");
                    run_rep(model, ks, ctx, c.key.threads, c.test, kv)?;
                    c.warm_left -= 1;
                }
                let rep = c.samples.len();
                ctx.progress.start(&id, &format!("rep {}", rep + 1));
                let threads = c.key.threads;
                let (beside, pool) = (ctx.beside, ctx.pool);
                let read_bw = || beside.and_then(|b| b.gbps(pool, threads));
                let before = read_bw();
                let mut rec = run_rep(model, ks, ctx, threads, c.test, kv)?;
                rec.bandwidth_before_gbps = before;
                rec.bandwidth_after_gbps = read_bw();
                rec.key = c.key.clone();
                rec.rep = rep;
                sink.record(&Record::Sample(Box::new(rec.clone())))?;
                let mut parts = Vec::new();
                if let Some(p) = rec.prefill_tps() {
                    parts.push(format!("pp {p:.2} t/s"));
                }
                if let Some(d) = rec.decode_tps() {
                    parts.push(format!("tg {d:.2} t/s"));
                }
                ctx.progress.done(&id, rep, &parts.join(", "));
                c.samples.push(rec);
                if s.cooldown_seconds > 0.0 {
                    std::thread::sleep(std::time::Duration::from_secs_f64(s.cooldown_seconds));
                }
            }
            if s.order == Order::Sequential {
                order.retain(|&i| !group[i].satisfied(s));
            }
        }
        for c in &group {
            let b = built.iter().find(|(sp, ..)| *sp == c.spec);
            let peak = b
                .zip(peaks.get(&(c.isa, c.key.threads)))
                .map(|((.., p), &(int8, f32))| p.at(int8, f32));
            cells_out.push(summarise(s, c, b.map(|(_, _, r, _)| r), peak));
        }
    }
    ctx.progress.finish();
    Ok(RunOutput {
        models: models_out,
        cells: cells_out,
    })
}

/// Multiply-add products one token costs a built model, by the peak they run at.
#[derive(Debug, Clone, Copy)]
struct Products {
    body: u64,
    body_int8: bool,
    head: u64,
    head_int8: bool,
}

impl Products {
    fn of(model: &Model) -> Products {
        let w = &model.weights;
        let per_layer = w.cfg.linear_params() / w.cfg.layers.max(1) as u64;
        let body_f16 = w
            .layers
            .first()
            .is_some_and(|l| l.q.format() == ternbench_engine::kernels::Format::F16);
        Products {
            body: per_layer * w.layers.len() as u64,
            body_int8: !body_f16,
            head: w.cfg.embedding_params(),
            head_int8: w.head_format() != ternbench_engine::kernels::Format::F16,
        }
    }

    fn at(&self, int8_gops: f64, f32_gops: f64) -> ComputePeak {
        let kind = |int8: bool| if int8 { "int8" } else { "f32" }.to_string();
        ComputePeak {
            int8_gops,
            f32_gops,
            body_products_per_token: self.body,
            body_kind: kind(self.body_int8),
            head_products_per_token: self.head,
            head_kind: kind(self.head_int8),
        }
    }
}

/// The int8 and f32 peaks (fastest timed run, 10^9 products/s) of every level × thread count of
/// the scenario; a level without a probe of a kind is left out.
fn measure_peaks(
    s: &Scenario,
    isas: &[Isa],
    ctx: &mut RunContext<'_>,
) -> BTreeMap<(Isa, usize), (f64, f64)> {
    use crate::measure::peak;
    use ternbench_engine::kernels::probe::{peak_probe, PeakKind};
    let mut out = BTreeMap::new();
    for &isa in isas {
        for &t in &s.threads {
            ctx.progress.note(&format!(
                "measuring the {isa} int8 and f32 peaks, {t} thread(s)…"
            ));
            let one = |kind| {
                peak_probe(isa, kind)
                    .map(|p| peak::measure(ctx.pool, &p, t, peak::TARGET_S, peak::REPS).max_gops)
            };
            if let (Some(i8), Some(f)) = (one(PeakKind::Int8), one(PeakKind::F32)) {
                out.insert((isa, t), (i8, f));
            }
        }
    }
    out
}

fn per_token(
    samples: &[SampleRecord],
    get: impl Fn(&SampleRecord) -> Option<(u64, usize)>,
) -> Option<Summary> {
    let v: Option<Vec<f64>> = samples
        .iter()
        .map(|s| {
            get(s)
                .filter(|&(_, n)| n > 0)
                .map(|(x, n)| x as f64 / n as f64)
        })
        .collect();
    v.and_then(|v| Summary::of(&v))
}

fn energy_summary(samples: &[SampleRecord]) -> Option<CellEnergy> {
    let dec: Option<Vec<&PhaseEnergy>> = samples
        .iter()
        .filter(|s| s.n_gen > 0)
        .map(|s| s.energy_decode.as_ref())
        .collect();
    let pre: Option<Vec<&PhaseEnergy>> = samples
        .iter()
        .filter(|s| s.n_prompt > 0)
        .map(|s| s.energy_prefill.as_ref())
        .collect();
    let method = dec
        .as_ref()
        .and_then(|d| d.first())
        .or_else(|| pre.as_ref().and_then(|p| p.first()))?
        .method
        .clone();
    let decode_samples: Vec<&SampleRecord> = samples.iter().filter(|s| s.n_gen > 0).collect();
    let prefill_samples: Vec<&SampleRecord> = samples.iter().filter(|s| s.n_prompt > 0).collect();
    let jpt = |es: &[&PhaseEnergy], ss: &[&SampleRecord], n: fn(&SampleRecord) -> usize| {
        let v: Vec<f64> = es
            .iter()
            .zip(ss)
            .map(|(e, s)| e.cpu_total_joules / n(s) as f64)
            .collect();
        Summary::of(&v)
    };
    Some(CellEnergy {
        method,
        prefill_joules_per_token: pre
            .as_ref()
            .and_then(|p| jpt(p, &prefill_samples, |s| s.n_prompt * s.batch)),
        decode_joules_per_token: dec
            .as_ref()
            .and_then(|d| jpt(d, &decode_samples, |s| s.n_gen * s.batch)),
        decode_net_joules_per_token: dec.as_ref().and_then(|d| {
            let v: Option<Vec<f64>> = d
                .iter()
                .zip(&decode_samples)
                .map(|(e, s)| {
                    e.cpu_total_net_joules
                        .map(|j| j / (s.n_gen * s.batch) as f64)
                })
                .collect();
            v.and_then(|v| Summary::of(&v))
        }),
        decode_watts: dec.as_ref().and_then(|d| {
            let v: Vec<f64> = d
                .iter()
                .filter(|e| e.seconds > 0.0)
                .map(|e| e.cpu_total_joules / e.seconds)
                .collect();
            Summary::of(&v)
        }),
    })
}

fn summarise(
    s: &Scenario,
    c: &Cell,
    model: Option<&ModelRecord>,
    peak: Option<ComputePeak>,
) -> CellResult {
    let pp: Vec<f64> = c.samples.iter().filter_map(|r| r.prefill_tps()).collect();
    let tg: Vec<f64> = c.samples.iter().filter_map(|r| r.decode_tps()).collect();
    let batch = c.test.batch.max(1);
    let tg_stream: Vec<f64> = tg.iter().map(|t| t / batch as f64).collect();
    let ttft: Vec<f64> = c.samples.iter().filter_map(|r| r.prefill_seconds).collect();
    let steps_ms: Vec<f64> = c
        .samples
        .iter()
        .flat_map(|r| r.decode_step_seconds.iter().map(|x| x * 1e3))
        .collect();
    let pp_s = Summary::of(&pp);
    let tg_s = Summary::of(&tg);
    let sampled = model
        .filter(|m| m.layers_built < m.layers_total)
        .map(|m| Sampled {
            layers_built: m.layers_built,
            layers_total: m.layers_total,
        });
    let scale = sampled
        .as_ref()
        .map(|x| x.layers_built as f64 / x.layers_total as f64);
    // A step reads the weights once for its `batch` tokens.
    let weight_bytes = model.map(|m| m.decode_bytes_per_token / batch as u64);
    let kv_bytes = model.map(|m| {
        crate::records::results::kv_bytes_per_step(
            m.kv_bytes_per_position,
            c.test.n_depth + c.test.n_prompt,
            c.test.n_gen,
        )
    });
    let bytes = crate::records::results::decode_read_bytes(weight_bytes, kv_bytes);
    let headline = tg_s.as_ref().or(pp_s.as_ref());
    // The paired roofline: every repetition's decode rate against the bandwidth read around it
    // (`SampleRecord::paired_bandwidth_gbps`), when every repetition has such a reading.
    let paired: Option<(f64, f64)> = bytes.and_then(|b| {
        let pairs: Vec<(f64, f64)> = c
            .samples
            .iter()
            .filter_map(|r| Some((r.decode_tps()?, r.paired_bandwidth_gbps()?)))
            .collect();
        let complete = !pairs.is_empty()
            && pairs.len()
                == c.samples
                    .iter()
                    .filter(|r| r.decode_tps().is_some())
                    .count();
        complete.then(|| {
            let ratios: Vec<f64> = pairs
                .iter()
                .map(|(t, g)| t * b as f64 / (g * 1e9))
                .collect();
            let bws: Vec<f64> = pairs.iter().map(|p| p.1).collect();
            (
                crate::measure::timing::median(&ratios),
                crate::measure::timing::median(&bws),
            )
        })
    });
    // Products per token at the peaks: one LM head per decode token, one per prompt (every
    // token's with `ppN+head`).
    let decode_peak_fraction = peak
        .as_ref()
        .zip(tg_s.as_ref())
        .map(|(p, t)| t.median * p.seconds(1.0, 1.0));
    let prefill_peak_fraction = peak.as_ref().zip(pp_s.as_ref()).map(|(p, t)| {
        let head = if c.test.head_all {
            1.0
        } else {
            1.0 / c.test.n_prompt.max(1) as f64
        };
        t.median * p.seconds(1.0, head)
    });
    CellResult {
        key: c.key.clone(),
        n_prompt: c.test.n_prompt,
        n_gen: c.test.n_gen,
        n_depth: c.test.n_depth,
        batch,
        decode_tokens_per_s_per_stream: Summary::of(&tg_stream),
        decode_peak_fraction,
        prefill_peak_fraction,
        compute_peak: peak,
        sampled,
        repetitions: c.samples.len(),
        load_seconds: model.map(|m| m.load_seconds),
        decode_bytes_per_token: weight_bytes,
        decode_kv_bytes_per_token: kv_bytes,
        // Paired here; otherwise set by the caller from the run's start and end readings
        // (`set_bandwidth`).
        decode_roofline_fraction: paired.map(|p| p.0),
        bandwidth_gbps: paired.map(|p| p.1),
        roofline_paired: paired.is_some(),
        decode_tokens_per_s_full_depth_estimate: scale
            .zip(tg_s.as_ref())
            .map(|(k, t)| t.median * k),
        prefill_tokens_per_s_full_depth_estimate: scale
            .zip(pp_s.as_ref())
            .map(|(k, t)| t.median * k),
        noisy: headline.is_some_and(|h| h.is_noisy(s.max_cv)),
        prefill_tokens_per_s: pp_s,
        decode_tokens_per_s: tg_s,
        ttft_seconds: Summary::of(&ttft),
        decode_latency_ms: Percentiles::of(&steps_ms),
        peak_rss_bytes: c.samples.iter().filter_map(|r| r.peak_rss_bytes).max(),
        decode_instructions_per_token: per_token(&c.samples, |r| {
            r.counters_decode
                .map(|x| (x.instructions, r.n_gen * r.batch))
        }),
        decode_cycles_per_token: per_token(&c.samples, |r| {
            r.counters_decode.map(|x| (x.cycles, r.n_gen * r.batch))
        }),
        decode_cache_misses_per_token: per_token(&c.samples, |r| {
            r.counters_decode
                .map(|x| (x.cache_misses, r.n_gen * r.batch))
        }),
        prefill_instructions_per_token: per_token(&c.samples, |r| {
            r.counters_prefill
                .map(|x| (x.instructions, r.n_prompt * r.batch))
        }),
        energy: energy_summary(&c.samples),
        samples_prefill_tokens_per_s: pp,
        samples_decode_tokens_per_s: tg,
    }
}
