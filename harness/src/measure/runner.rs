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
use crate::measure::peer::{PeerError, PeerRun, PeerSpec};
use crate::plan::model::{build, ModelPlan};
use crate::plan::scenario::{EngineSpec, Order, SampleLayers, Scenario, TestSpec};
use crate::records::results::CellKey;
use crate::records::results::{
    now_utc, CellEnergy, CellResult, ModelRecord, PeerBuild, PhaseEnergy, Record, SampleRecord,
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
    (s.models.len() * s.engines.len() * isas + s.peers.len())
        * s.threads.len()
        * s.tests.len()
        * s.repetitions
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

/// What runs a cell: one of ternbench's engines at a SIMD level, or a peer (an index into the
/// scenario's `peers`).
#[derive(Clone, Copy, PartialEq)]
enum Runs {
    Engine(EngineSpec, Isa),
    Peer(usize),
}

struct Cell {
    runs: Runs,
    key: CellKey,
    test: TestSpec,
    warm_left: usize,
    samples: Vec<SampleRecord>,
    /// Set when a peer failed: the cell stops, the run goes on.
    error: Option<String>,
}

impl Cell {
    fn measured_seconds(&self) -> f64 {
        self.samples.iter().map(|s| s.seconds()).sum()
    }

    fn satisfied(&self, s: &Scenario) -> bool {
        let n = self.samples.len();
        self.error.is_some()
            || n >= s.max_repetitions
            || (n >= s.repetitions && self.measured_seconds() >= s.min_seconds)
    }
}

/// A peer's file, read once per run: what its cells' keys and model record say.
struct PeerFile {
    format: String,
    head: String,
    record: ModelRecord,
}

/// Reads the GGUF a peer runs: its projection and head types, decode bytes (from the file's
/// tensors: what every engine reading this file streams per token), KV bytes per position.
fn peer_file(s: &Scenario, p: &PeerSpec) -> Result<PeerFile, String> {
    use ternbench_engine::load::gguf_model::GgufModel;
    let m = GgufModel::open(&p.model).map_err(|e| e.to_string())?;
    let g = m.config().map_err(|e| e.to_string())?;
    let b = m.decode_bytes().map_err(|e| e.to_string())?;
    let kv = if s.kv_f16 { KvType::F16 } else { KvType::F32 };
    let cfg = &g.cfg;
    let format = b
        .projection_types
        .first()
        .cloned()
        .unwrap_or_else(|| "?".into());
    let record = ModelRecord {
        model: p.model.display().to_string(),
        engine: p.name.clone(),
        format: format.clone(),
        head: b.head_type.clone(),
        layers_built: cfg.layers,
        layers_total: cfg.layers,
        params: cfg.linear_params() + cfg.embedding_params(),
        weight_bytes: b.total(),
        decode_bytes_per_token: b.total(),
        decode_bytes_per_token_full_depth: b.total(),
        kv_bytes_per_position: ternbench_engine::kv_cache::KvCache::bytes_for(
            kv,
            cfg.layers,
            cfg.kv_dim(),
            1,
        ),
        load_seconds: 0.0,
        activation: cfg.act.name().into(),
        peer: None,
    };
    Ok(PeerFile {
        format,
        head: b.head_type,
        record,
    })
}

/// One timed repetition of a peer: one llama-bench invocation (see `measure::peer`), inside an
/// energy window that covers the whole invocation.
fn run_peer_rep(
    p: &PeerSpec,
    s: &Scenario,
    ctx: &mut RunContext<'_>,
    threads: usize,
    test: TestSpec,
) -> Result<(SampleRecord, crate::measure::peer::PeerRep), PeerError> {
    let run = PeerRun {
        test,
        threads,
        pin: s.pin,
        kv_f16: s.kv_f16,
    };
    if let Some(m) = ctx.energy.as_deref_mut() {
        m.start();
    }
    let r = crate::measure::peer::run_once(p, &run);
    let energy = ctx.energy.as_deref_mut().and_then(|m| m.stop());
    let r = r?;
    let rec = SampleRecord {
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
        time_utc: now_utc(),
        n_prompt: test.n_prompt,
        n_gen: test.n_gen,
        n_depth: test.n_depth,
        // llama-bench times a `ppP+tgG` test as one span: it is recorded as decode-less prefill
        // only when there is no decode.
        prefill_seconds: (test.n_gen == 0).then_some(r.timed_seconds),
        decode_step_seconds: Vec::new(),
        decode_seconds: (test.n_gen > 0 && test.n_prompt == 0).then_some(r.timed_seconds),
        peer_window_seconds: Some(r.window_seconds),
        peak_rss_bytes: None,
        counters_prefill: None,
        counters_decode: None,
        energy_prefill: None,
        energy_decode: None,
        peer_window_energy: energy,
        bandwidth_before_gbps: None,
        bandwidth_after_gbps: None,
    };
    Ok((rec, r))
}

/// One timed (or warm-up) repetition.
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
    let mut session = model.session(test.context(), kv)?;
    let prompt = prompt_tokens(test.n_prompt, cfg.vocab);
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
        prefill_seconds: None,
        decode_step_seconds: Vec::with_capacity(test.n_gen),
        decode_seconds: None,
        peer_window_seconds: None,
        peer_window_energy: None,
        peak_rss_bytes: None,
        counters_prefill: None,
        counters_decode: None,
        energy_prefill: None,
        energy_decode: None,
        bandwidth_before_gbps: None,
        bandwidth_after_gbps: None,
    };
    let mut tok = cfg.bos;
    if test.n_depth > 0 {
        tok = fill_depth(model, ex, &mut session, test.n_depth)?;
    }
    if test.n_prompt > 0 {
        if let Some(m) = ctx.energy.as_deref_mut() {
            m.start();
        }
        let c0 = ctx.counters.map(|c| c.read());
        let t0 = Instant::now();
        let logits = model.forward(ex, &mut session, &prompt, Logits::Last)?;
        tok = argmax(&logits);
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
            let t = Instant::now();
            let logits = model.forward(ex, &mut session, &[tok], Logits::Last)?;
            tok = argmax(&logits);
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
    // Peers: each joins the group of the model with the same file (interleaved with ternbench's
    // cells on it), else a group of its own after the models.
    let peer_files: Vec<Result<PeerFile, String>> =
        s.peers.iter().map(|p| peer_file(s, p)).collect();
    let mut peer_models: Vec<Option<ModelRecord>> = vec![None; s.peers.len()];
    let same_file = |a: &str, b: &std::path::Path| {
        let a = std::path::Path::new(a);
        a == b || matches!((a.canonicalize(), b.canonicalize()), (Ok(x), Ok(y)) if x == y)
    };
    let mut groups = s.cells(isas);
    let mut joined = vec![false; s.peers.len()];
    for (i, p) in s.peers.iter().enumerate() {
        joined[i] = groups.iter().any(|(m, _)| same_file(&m.name, &p.model));
        if !joined[i]
            && !groups
                .iter()
                .any(|(m, _)| m.name == p.model.display().to_string())
        {
            groups.push((
                crate::plan::scenario::ModelSpec {
                    name: p.model.display().to_string(),
                    sample_layers: SampleLayers::Full,
                },
                Vec::new(),
            ));
        }
    }
    for (mspec, cells) in groups {
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
                    runs: Runs::Engine(spec, isa),
                    key,
                    test,
                    samples,
                    error: None,
                }
            })
            .collect();
        for (pi, p) in s.peers.iter().enumerate() {
            let here = if joined[pi] {
                same_file(&mspec.name, &p.model)
            } else {
                mspec.name == p.model.display().to_string()
            };
            if !here {
                continue;
            }
            let (format, head, error) = match &peer_files[pi] {
                Ok(f) => (f.format.clone(), f.head.clone(), None),
                Err(e) => (
                    "?".to_string(),
                    "?".to_string(),
                    Some(format!(
                        "{}: cannot read {}: {e}",
                        p.name,
                        p.model.display()
                    )),
                ),
            };
            for &t in &s.threads {
                for test in &s.tests {
                    let key = CellKey {
                        model: mspec.name.clone(),
                        engine: p.name.clone(),
                        format: format.clone(),
                        head: head.clone(),
                        isa: "peer".into(),
                        threads: t,
                        test: test.name(),
                    };
                    // llama-bench warms up inside every invocation.
                    group.push(Cell {
                        warm_left: 0,
                        runs: Runs::Peer(pi),
                        samples: ctx.prior.remove(&key).unwrap_or_default(),
                        key,
                        test: *test,
                        error: error.clone(),
                    });
                }
            }
        }
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
                cells_out.push(summarise(s, c, m.as_ref()));
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
        let mut built: Vec<(EngineSpec, Model, ModelRecord)> = Vec::new();
        let group_engines: Vec<EngineSpec> = s
            .engines
            .iter()
            .filter(|e| {
                group
                    .iter()
                    .any(|c| matches!(c.runs, Runs::Engine(sp, _) if sp == **e))
            })
            .copied()
            .collect();
        for spec in &group_engines {
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
                peer: None,
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
            built.push((*spec, model, rec));
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
                let id = c.key.id();
                let (spec, isa) = match c.runs {
                    Runs::Engine(spec, isa) => (spec, isa),
                    Runs::Peer(pi) => {
                        let rep = c.samples.len();
                        ctx.progress.start(&id, &format!("rep {}", rep + 1));
                        let threads = c.key.threads;
                        let (beside, pool) = (ctx.beside, ctx.pool);
                        let read_bw = || beside.and_then(|b| b.gbps(pool, threads));
                        let before = read_bw();
                        match run_peer_rep(&s.peers[pi], s, ctx, threads, c.test) {
                            Ok((mut rec, r)) => {
                                rec.bandwidth_before_gbps = before;
                                rec.bandwidth_after_gbps = read_bw();
                                rec.key = c.key.clone();
                                rec.rep = rep;
                                if peer_models[pi].is_none() {
                                    if let Ok(f) = &peer_files[pi] {
                                        let p = &s.peers[pi];
                                        let mut m = f.record.clone();
                                        // Load and warm-up of this first invocation.
                                        m.load_seconds =
                                            (r.window_seconds - r.timed_seconds).max(0.0);
                                        m.peer = Some(Box::new(PeerBuild {
                                            bench: p.bench.display().to_string(),
                                            file: p.model.display().to_string(),
                                            build_commit: r.row.build_commit.clone(),
                                            cpu_info: r.row.cpu_info.clone(),
                                            model_type: r.row.model_type.clone(),
                                            reported_model_size: r.row.model_size,
                                            record: crate::measure::peer::build_record(&p.bench),
                                        }));
                                        m.model = c.key.model.clone();
                                        sink.record(&Record::Model(m.clone()))?;
                                        models_out.push(m.clone());
                                        peer_models[pi] = Some(m);
                                    }
                                }
                                sink.record(&Record::Sample(Box::new(rec.clone())))?;
                                let tps = rec.decode_tps().or(rec.prefill_tps()).unwrap_or(0.0);
                                ctx.progress.done(&id, rep, &format!("{tps:.2} t/s"));
                                c.samples.push(rec);
                            }
                            Err(e) => {
                                ctx.progress.note(&format!("  {id}: FAILED: {e}"));
                                c.error = Some(e.to_string());
                            }
                        }
                        if s.cooldown_seconds > 0.0 {
                            std::thread::sleep(std::time::Duration::from_secs_f64(
                                s.cooldown_seconds,
                            ));
                        }
                        continue;
                    }
                };
                let (_, model, _) = built
                    .iter()
                    .find(|(sp, _, _)| *sp == spec)
                    .expect("engine built");
                let ks = KernelSet::get(isa).map_err(|e| anyhow::anyhow!("{e}"))?;
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
            let m = match c.runs {
                Runs::Engine(spec, _) => built
                    .iter()
                    .find(|(sp, _, _)| *sp == spec)
                    .map(|(_, _, r)| r),
                Runs::Peer(pi) => peer_models[pi].as_ref(),
            };
            let mut r = summarise(s, c, m);
            r.error = c.error.clone();
            cells_out.push(r);
        }
    }
    ctx.progress.finish();
    Ok(RunOutput {
        models: models_out,
        cells: cells_out,
    })
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

/// Each string once, in first-seen order.
fn dedup(v: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for x in v {
        if !out.contains(&x) {
            out.push(x);
        }
    }
    out
}

/// A cell's energy from its repetitions' windows. `None` only when no repetition had an energy
/// source at all (the run's `energy.reason` says why); a repetition without a figure leaves the
/// others' figures standing and its reason in `missing`.
fn energy_summary(samples: &[SampleRecord]) -> Option<CellEnergy> {
    let dec: Vec<(&SampleRecord, Option<&PhaseEnergy>)> = samples
        .iter()
        .filter(|s| s.n_gen > 0)
        .map(|s| (s, s.energy_decode.as_ref()))
        .collect();
    let pre: Vec<(&SampleRecord, Option<&PhaseEnergy>)> = samples
        .iter()
        .filter(|s| s.n_prompt > 0)
        .map(|s| (s, s.energy_prefill.as_ref()))
        .collect();
    let method = dec
        .iter()
        .chain(&pre)
        .find_map(|(_, e)| e.map(|e| e.method.clone()))?;
    let per_token = |v: &[(&SampleRecord, Option<&PhaseEnergy>)],
                     j: fn(&PhaseEnergy) -> Option<f64>,
                     n: fn(&SampleRecord) -> usize| {
        let xs: Vec<f64> = v
            .iter()
            .filter_map(|(s, e)| Some(j((*e)?)? / n(s) as f64))
            .collect();
        Summary::of(&xs)
    };
    let gen = |s: &SampleRecord| s.n_gen;
    let prompt = |s: &SampleRecord| s.n_prompt;
    let with_figure = dec
        .iter()
        .filter(|(_, e)| e.is_some_and(|e| e.measured().or(e.estimate()).is_some()))
        .count();
    let mut reasons = Vec::new();
    for (phase, v) in [("decode", &dec), ("prefill", &pre)] {
        let lacking: Vec<String> = v
            .iter()
            .filter_map(|(s, e)| match e {
                None => Some(format!("rep {}: no energy window", s.rep)),
                Some(e) if e.measured().or(e.estimate()).is_none() => Some(format!(
                    "rep {}: {}",
                    s.rep,
                    e.missing.as_deref().unwrap_or("no figure")
                )),
                _ => None,
            })
            .collect();
        if !lacking.is_empty() {
            reasons.push(format!(
                "{} of {} {phase} repetitions without a figure ({})",
                lacking.len(),
                v.len(),
                lacking.join("; ")
            ));
        }
    }
    let drams: Vec<bool> = dec
        .iter()
        .chain(&pre)
        .filter_map(|(_, e)| e.and_then(|e| e.dram_measured))
        .collect();
    let dram_in_total = match (drams.iter().any(|&d| d), drams.iter().all(|&d| d)) {
        _ if drams.is_empty() => None,
        (_, true) => Some(true),
        (false, _) => Some(false),
        (true, false) => {
            reasons.push("DRAM was measured in some windows only: left out of the total".into());
            Some(false)
        }
    };
    let notes = dedup(
        dec.iter()
            .chain(&pre)
            .filter_map(|(_, e)| *e)
            .flat_map(|e| e.notes.iter().cloned()),
    );
    // Each decode repetition's J/token (measured, else ESTIMATED, as `method` says), for the
    // interval of an energy ratio; only when every repetition has one, so they pair with speed.
    let samples_decode_joules_per_token: Vec<f64> = {
        let v: Vec<f64> = dec
            .iter()
            .filter_map(|(s, e)| {
                let e = (*e)?;
                Some(e.measured().or(e.estimate())? / s.n_gen as f64)
            })
            .collect();
        if v.len() == dec.len() {
            v
        } else {
            Vec::new()
        }
    };
    Some(CellEnergy {
        samples_decode_joules_per_token,
        method,
        prefill_joules_per_token: per_token(&pre, PhaseEnergy::measured, prompt),
        decode_joules_per_token: per_token(&dec, PhaseEnergy::measured, gen),
        decode_net_joules_per_token: per_token(&dec, |e| e.cpu_total_net_joules, gen),
        decode_watts: {
            let v: Vec<f64> = dec
                .iter()
                .filter_map(|(_, e)| {
                    let e = (*e)?;
                    (e.seconds > 0.0).then_some(e.measured()? / e.seconds)
                })
                .collect();
            Summary::of(&v)
        },
        estimated_prefill_joules_per_token: per_token(&pre, PhaseEnergy::estimate, prompt),
        estimated_decode_joules_per_token: per_token(&dec, PhaseEnergy::estimate, gen),
        estimated_decode_net_joules_per_token: per_token(&dec, |e| e.estimated_net_joules, gen),
        dram_in_total,
        decode_repetitions_with_energy: with_figure,
        decode_repetitions: dec.len(),
        missing: (!reasons.is_empty()).then(|| reasons.join("; ")),
        notes,
    })
}

fn summarise(s: &Scenario, c: &Cell, model: Option<&ModelRecord>) -> CellResult {
    let pp: Vec<f64> = c.samples.iter().filter_map(|r| r.prefill_tps()).collect();
    let tg: Vec<f64> = c.samples.iter().filter_map(|r| r.decode_tps()).collect();
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
    let weight_bytes = model.map(|m| m.decode_bytes_per_token);
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
    let paired: Option<(Vec<f64>, f64)> = bytes.and_then(|b| {
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
            (ratios, crate::measure::timing::median(&bws))
        })
    });
    CellResult {
        key: c.key.clone(),
        n_prompt: c.test.n_prompt,
        n_gen: c.test.n_gen,
        n_depth: c.test.n_depth,
        sampled,
        repetitions: c.samples.len(),
        load_seconds: model.map(|m| m.load_seconds),
        decode_bytes_per_token: weight_bytes,
        decode_kv_bytes_per_token: kv_bytes,
        // Paired here; otherwise set by the caller from the run's start and end readings
        // (`set_bandwidth`).
        decode_roofline_fraction: paired
            .as_ref()
            .map(|p| crate::measure::timing::median(&p.0)),
        decode_roofline: paired.as_ref().and_then(|p| {
            // The roofline bounds the cell only when its bytes exceed the cache.
            let (llc, _) = crate::records::machine::llc_bytes();
            let streamed = bytes.is_none_or(|b| llc == 0 || b > llc);
            crate::records::stats::roofline_fraction(&p.0, streamed)
        }),
        bandwidth_gbps: paired.as_ref().map(|p| p.1),
        roofline_paired: paired.is_some(),
        samples_decode_roofline_fraction: paired.map(|p| p.0).unwrap_or_default(),
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
            r.counters_decode.map(|x| (x.instructions, r.n_gen))
        }),
        decode_cycles_per_token: per_token(&c.samples, |r| {
            r.counters_decode.map(|x| (x.cycles, r.n_gen))
        }),
        decode_cache_misses_per_token: per_token(&c.samples, |r| {
            r.counters_decode.map(|x| (x.cache_misses, r.n_gen))
        }),
        prefill_instructions_per_token: per_token(&c.samples, |r| {
            r.counters_prefill.map(|x| (x.instructions, r.n_prompt))
        }),
        energy: energy_summary(&c.samples),
        samples_prefill_tokens_per_s: pp,
        samples_decode_tokens_per_s: tg,
        error: c.error.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(rep: usize, decode: Option<PhaseEnergy>) -> SampleRecord {
        SampleRecord {
            key: CellKey {
                model: "m".into(),
                engine: "ternary".into(),
                format: "tl2".into(),
                head: "f16".into(),
                isa: "avx2".into(),
                threads: 1,
                test: "tg4".into(),
            },
            rep,
            time_utc: String::new(),
            n_prompt: 0,
            n_gen: 4,
            n_depth: 0,
            prefill_seconds: None,
            decode_step_seconds: vec![0.1; 4],
            decode_seconds: None,
            peer_window_seconds: None,
            peer_window_energy: None,
            peak_rss_bytes: None,
            counters_prefill: None,
            counters_decode: None,
            energy_prefill: None,
            energy_decode: decode,
            bandwidth_before_gbps: None,
            bandwidth_after_gbps: None,
        }
    }

    fn measured(j: f64, dram: bool) -> PhaseEnergy {
        let mut p = PhaseEnergy::missing("measured", 2.0, "x");
        p.missing = None;
        p.cpu_total_joules = Some(j);
        p.dram_measured = Some(dram);
        p.notes = vec!["window of 0.400 s is under 1 s".into()];
        p
    }

    // Defect 3: one repetition without a figure used to null the whole cell silently.
    #[test]
    fn a_repetition_without_energy_keeps_the_others_and_says_why() {
        let samples = vec![
            sample(0, Some(measured(4.0, false))),
            sample(
                1,
                Some(PhaseEnergy::missing(
                    "measured",
                    0.0,
                    "the energy counters could not be read: reading x: permission denied",
                )),
            ),
            sample(2, Some(measured(8.0, false))),
        ];
        let e = energy_summary(&samples).unwrap();
        assert_eq!(e.method, "measured");
        assert_eq!(e.decode_joules_per_token.as_ref().unwrap().n, 2);
        assert_eq!(e.decode_joules_per_token.as_ref().unwrap().median, 1.5);
        assert_eq!(
            (e.decode_repetitions_with_energy, e.decode_repetitions),
            (2, 3)
        );
        let why = e.missing.as_deref().unwrap();
        assert!(
            why.contains("1 of 3 decode repetitions") && why.contains("permission denied"),
            "{why}"
        );
        assert_eq!(e.notes.len(), 1, "each caveat once: {:?}", e.notes);
        assert_eq!(e.dram_in_total, Some(false));
        assert_eq!(e.dram_label(), "DRAM out");
        assert_eq!(e.estimated_decode_joules_per_token, None);
        // No energy source at all: `null`, the run's reason covers it.
        assert_eq!(energy_summary(&[sample(0, None)]), None);
    }

    // Defect 10: an estimate never lands in the measured fields.
    #[test]
    fn estimated_figures_have_fields_of_their_own() {
        let mut p = PhaseEnergy::missing("estimated", 2.0, "x");
        p.missing = None;
        p.estimated_joules = Some(2.0);
        p.estimated_net_joules = Some(1.0);
        let e = energy_summary(&[sample(0, Some(p))]).unwrap();
        assert_eq!(e.decode_joules_per_token, None);
        assert_eq!(e.decode_watts, None);
        assert_eq!(
            e.estimated_decode_joules_per_token.as_ref().unwrap().median,
            0.5
        );
        assert_eq!(
            e.decode_jpt().map(|(s, est)| (s.median, est)),
            Some((0.5, true))
        );
        assert_eq!(e.measured_decode_jpt(), None);
    }
}
