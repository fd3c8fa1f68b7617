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
use std::io::IsTerminal;
use std::time::Instant;

use anyhow::{Context, Result};
use ternbench_engine::kernels::{Isa, KernelSet, ThreadPool};
use ternbench_engine::{model::exec, sampler::argmax, Exec, KvType, Logits, Model, Session};

use crate::measure::counters::Counters;
use crate::measure::peer::{PeerError, PeerRun, PeerSpec};
use crate::plan::model::{build, ModelPlan};
use crate::plan::scenario::{EngineSpec, ModelSpec, Order, SampleLayers, Scenario, TestSpec};
use crate::records::results::CellKey;
use crate::records::results::{
    now_utc, CellEnergy, CellResult, ComputePeak, ModelRecord, PeerBuild, PhaseEnergy, Record,
    SampleRecord, Sampled,
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

/// Progress on stderr: an `indicatif` bar on a terminal, one line per repetition otherwise.
///
/// The bar counts work, not repetitions: each repetition weighs its cell's estimated seconds
/// (from the plan's calibration, [`crate::plan::estimate`]), so a 20-second FP16 prefill and a
/// 1-second ternary decode move it by what they cost. The ETA is ours, not indicatif's `{eta}`:
/// indicatif's rate is an exponential average over the last ~15 s and reads 0 before the first
/// step (`indicatif` 0.18 `state.rs`, `Estimator`, `ProgressState::eta`), so with repetitions
/// of 5–60 s it swung between updates and showed "0s" at the start. Ours is the work left over
/// the rate measured since this run began (a resumed run's earlier work excluded), before the
/// first repetition the plan's estimate marked `~`, and "done" at the end (never a
/// microsecond count).
#[derive(Debug)]
pub struct Progress {
    quiet: bool,
    tty: bool,
    /// Estimated seconds and planned repetitions per cell (empty: every repetition weighs 1 s).
    weights: BTreeMap<CellKey, (f64, usize)>,
    bar: Option<indicatif::ProgressBar>,
    total_units: u64,
    done_units: u64,
    start_units: u64,
    total_reps: usize,
    done_reps: usize,
    t0: Instant,
}

/// Milliseconds of estimated work: the bar's unit.
fn units(seconds: f64) -> u64 {
    (seconds * 1e3).round().max(1.0) as u64
}

/// A duration for a person: `45s`, `3m 05s`, `1h 02m`; `<1s` below a second.
pub fn fmt_duration(secs: f64) -> String {
    if !secs.is_finite() || secs < 0.0 {
        return "?".into();
    }
    let s = secs.round() as u64;
    if secs < 1.0 {
        "<1s".into()
    } else if s < 60 {
        format!("{s}s")
    } else if s < 3600 {
        format!("{}m {:02}s", s / 60, s % 60)
    } else {
        format!("{}h {:02}m", s / 3600, (s % 3600) / 60)
    }
}

/// The ETA shown: `done` when nothing is left; from the rate measured since `start` when some
/// work was done; else the plan's estimate (`~`), when the units are estimated seconds.
pub fn eta_text(len: u64, pos: u64, start: u64, elapsed_s: f64, estimated: bool) -> String {
    let left = len.saturating_sub(pos);
    if left == 0 {
        return "done".into();
    }
    let done = pos.saturating_sub(start);
    if done > 0 && elapsed_s > 0.0 {
        return fmt_duration(left as f64 * elapsed_s / done as f64);
    }
    if estimated {
        format!("~{} (estimate)", fmt_duration(left as f64 / 1e3))
    } else {
        "?".into()
    }
}

impl Progress {
    /// A display; `weights` maps each cell to its estimated seconds per repetition and
    /// planned repetitions (may be empty).
    pub fn new(quiet: bool, weights: BTreeMap<CellKey, (f64, usize)>) -> Progress {
        Progress {
            quiet,
            tty: std::io::stderr().is_terminal(),
            weights,
            bar: None,
            total_units: 0,
            done_units: 0,
            start_units: 0,
            total_reps: 0,
            done_reps: 0,
            t0: Instant::now(),
        }
    }

    fn weight(&self, key: &CellKey) -> u64 {
        self.weights.get(key).map_or(1000, |w| units(w.0))
    }

    /// Planned timed repetitions of a cell (the plan's, else the scenario's).
    fn planned(&self, key: &CellKey, s: &Scenario) -> usize {
        self.weights.get(key).map_or(s.repetitions, |w| w.1)
    }

    /// Sets the work of the whole run: every cell's warm-ups (`cells`: each cell with the
    /// warm-ups it runs before its first timed repetition) and planned repetitions, the
    /// repetitions already recorded (`prior`) counted as done, so a resumed run starts at the
    /// fraction it had reached.
    pub fn begin(
        &mut self,
        s: &Scenario,
        cells: &[(CellKey, usize)],
        prior: &BTreeMap<CellKey, Vec<SampleRecord>>,
    ) {
        let (mut total, mut done, mut reps, mut done_reps) = (0, 0, 0, 0);
        for (key, warmup) in cells {
            let (key, warmup) = (key.clone(), *warmup);
            let w = self.weight(&key);
            let had = prior.get(&key).map_or(0, |v| v.len());
            let planned = self.planned(&key, s).max(had);
            let finished = had >= s.max_repetitions
                || (had >= s.repetitions
                    && prior
                        .get(&key)
                        .map_or(0.0, |v| v.iter().map(|r| r.seconds()).sum())
                        >= s.min_seconds);
            // A partly measured cell's warm-ups are added as they run (`extend`).
            let warm = if finished || had > 0 { 0 } else { warmup };
            let planned = if finished { had } else { planned };
            total += (warm + planned) as u64 * w;
            done += had as u64 * w;
            reps += planned;
            done_reps += had;
        }
        self.total_units = total.max(1);
        self.done_units = done;
        self.start_units = done;
        self.total_reps = reps;
        self.done_reps = done_reps;
        self.t0 = Instant::now();
        if self.quiet || !self.tty {
            return;
        }
        let start = done;
        let estimated = !self.weights.is_empty();
        let style = indicatif::ProgressStyle::with_template(
            "[{bar:24.cyan/blue}] {percent:>3}% {msg} · ETA {eta_measured}",
        )
        .expect("a valid template")
        .progress_chars("#>-")
        .with_key(
            "eta_measured",
            move |st: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = w.write_str(&eta_text(
                    st.len().unwrap_or(0),
                    st.pos(),
                    start,
                    st.elapsed().as_secs_f64(),
                    estimated,
                ));
            },
        );
        let bar = indicatif::ProgressBar::with_draw_target(
            Some(self.total_units),
            indicatif::ProgressDrawTarget::stderr(),
        )
        .with_style(style)
        .with_position(done);
        bar.enable_steady_tick(std::time::Duration::from_millis(500));
        self.bar = Some(bar);
    }

    /// A status line (not counted).
    pub fn note(&mut self, msg: &str) {
        if self.quiet {
            return;
        }
        match &self.bar {
            Some(b) => b.println(msg),
            None => eprintln!("{msg}"),
        }
    }

    /// A repetition of `key` is starting (`rep`: `warm-up` or `rep N`).
    pub fn start(&mut self, key: &CellKey, rep: &str) {
        if let Some(b) = &self.bar {
            b.set_message(format!("{} {rep}", key.id()));
        }
    }

    /// A repetition of `key` ran beyond the planned work (a warm-up of a resumed cell, or a
    /// repetition added by `min_seconds`): the total grows by its weight.
    pub fn extend(&mut self, key: &CellKey, timed: bool) {
        let w = self.weight(key);
        self.total_units += w;
        if timed {
            self.total_reps += 1;
        }
        if let Some(b) = &self.bar {
            b.set_length(self.total_units);
        }
    }

    /// A warm-up repetition of `key` finished.
    pub fn warmed(&mut self, key: &CellKey) {
        let w = self.weight(key);
        self.done_units = (self.done_units + w).min(self.total_units);
        if let Some(b) = &self.bar {
            b.set_position(self.done_units);
        }
    }

    /// The ETA as shown now.
    fn eta(&self) -> String {
        eta_text(
            self.total_units,
            self.done_units,
            self.start_units,
            self.t0.elapsed().as_secs_f64(),
            !self.weights.is_empty(),
        )
    }

    /// A timed repetition of `key` finished.
    pub fn done(&mut self, key: &CellKey, rep: usize, summary: &str) {
        let w = self.weight(key);
        self.done_units = (self.done_units + w).min(self.total_units);
        self.done_reps += 1;
        if self.quiet {
            return;
        }
        match &self.bar {
            Some(b) => b.set_position(self.done_units),
            None => eprintln!(
                "[{}/{}] {} rep {} {summary} · ETA {}",
                self.done_reps,
                self.total_reps.max(self.done_reps),
                key.id(),
                rep + 1,
                self.eta()
            ),
        }
    }

    /// Ends the display.
    pub fn finish(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
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
    /// The decode kernels' prefetch distances, applied before each repetition (`None`: the
    /// kernels' defaults).
    pub prefetch: Option<&'a crate::measure::prefetch::PrefetchPlan>,
}

/// What the run produced.
#[derive(Debug)]
pub struct RunOutput {
    /// Every model built (last build of each engine).
    pub models: Vec<ModelRecord>,
    /// Every cell's results, in scenario order.
    pub cells: Vec<CellResult>,
}

/// The error a run stops with after Ctrl-C ([`crate::measure::interrupt`]), carrying every
/// cell measured so far (summarised from the repetitions it has) so a caller can print or keep
/// them.
#[derive(Debug)]
pub struct Interrupted {
    /// The cells with at least one timed repetition, and the models built.
    pub partial: RunOutput,
}

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("interrupted (Ctrl-C)")
    }
}

impl std::error::Error for Interrupted {}

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
pub fn auto_layers(s: &Scenario, name: &str) -> Option<usize> {
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
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Runs {
    /// A ternbench engine at a SIMD level.
    Engine(EngineSpec, Isa),
    /// The scenario's `peers[i]`.
    Peer(usize),
}

/// One model group of a run: cells that run on one model (file), interleaved with each other.
#[derive(Debug, Clone)]
pub struct Group {
    /// The model.
    pub model: ModelSpec,
    /// Its cells, in scenario order: ternbench's, then the peers'.
    pub cells: Vec<(Runs, CellKey)>,
}

/// Whether model name `a` (as the scenario spells it) and path `b` are the same file.
fn same_file(a: &str, b: &std::path::Path) -> bool {
    let a = std::path::Path::new(a);
    a == b || matches!((a.canonicalize(), b.canonicalize()), (Ok(x), Ok(y)) if x == y)
}

/// The run's cells by model group: each model's ternbench cells ([`Scenario::cells`]), with
/// every peer's cells (threads × tests, SIMD level `peer`) in the group of the model on the
/// same file, so they interleave with ternbench's on it; a peer whose file is not among the
/// models gets a group of its own after them. `peer_files` are the peers' files as read
/// ([`peer_files`]); a file that cannot be read gives cells of type `?` (their error says why).
pub fn layout(s: &Scenario, isas: &[Isa], peer_files: &[Result<PeerFile, String>]) -> Vec<Group> {
    let mut groups: Vec<Group> = s
        .cells(isas)
        .into_iter()
        .map(|(model, cells)| {
            let cells = cells
                .into_iter()
                .map(|(spec, key)| {
                    let isa = *isas
                        .iter()
                        .find(|i| i.name() == key.isa)
                        .expect("cell level from the scenario");
                    (Runs::Engine(spec, isa), key)
                })
                .collect();
            Group { model, cells }
        })
        .collect();
    for (pi, p) in s.peers.iter().enumerate() {
        let file = p.model.display().to_string();
        let at = match groups
            .iter()
            .position(|g| same_file(&g.model.name, &p.model))
        {
            Some(i) => i,
            None => match groups.iter().position(|g| g.model.name == file) {
                Some(i) => i,
                None => {
                    groups.push(Group {
                        model: ModelSpec::named(file),
                        cells: Vec::new(),
                    });
                    groups.len() - 1
                }
            },
        };
        let (format, head) = match peer_files.get(pi) {
            Some(Ok(f)) => (f.format.clone(), f.head.clone()),
            _ => ("?".to_string(), "?".to_string()),
        };
        let model = groups[at].model.name.clone();
        for &t in &s.threads {
            for test in &s.tests {
                let key = CellKey {
                    model: model.clone(),
                    engine: p.name.clone(),
                    format: format.clone(),
                    head: head.clone(),
                    isa: "peer".into(),
                    threads: t,
                    test: test.name(),
                };
                groups[at].cells.push((Runs::Peer(pi), key));
            }
        }
    }
    groups
}

/// Every peer's file of `s`, read ([`PeerFile`]) or why not.
pub fn peer_files(s: &Scenario) -> Vec<Result<PeerFile, String>> {
    s.peers.iter().map(|p| peer_file(s, p)).collect()
}

/// The model record of a cell: its engine's build, or its peer's file.
fn cell_model<'a>(
    c: &Cell,
    built: &'a [(EngineSpec, Model, ModelRecord, Products)],
    peer_models: &'a [Option<ModelRecord>],
) -> Option<&'a ModelRecord> {
    match c.runs {
        Runs::Engine(spec, _) => built
            .iter()
            .find(|(sp, ..)| *sp == spec)
            .map(|(_, _, r, _)| r),
        Runs::Peer(pi) => peer_models[pi].as_ref(),
    }
}

/// The compute peaks a cell of ours is set against (`None` for a peer's cell, or where the
/// run measured none).
fn cell_peak(
    c: &Cell,
    built: &[(EngineSpec, Model, ModelRecord, Products)],
    peaks: &BTreeMap<(Isa, usize), (f64, f64)>,
) -> Option<ComputePeak> {
    match c.runs {
        Runs::Engine(spec, isa) => built
            .iter()
            .find(|(sp, ..)| *sp == spec)
            .zip(peaks.get(&(isa, c.key.threads)))
            .map(|((.., p), &(int8, f32))| p.at(int8, f32)),
        Runs::Peer(_) => None,
    }
}

struct Cell {
    /// Timed repetitions the progress display planned for (beyond: it grows).
    planned: usize,
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
pub struct PeerFile {
    /// The projections' GGUF type (`TQ2_0`, `I2_S`, `F16`).
    pub format: String,
    /// The head's (tied embedding's) GGUF type.
    pub head: String,
    /// The model record its cells carry (decode bytes from the file's tensors).
    pub record: ModelRecord,
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
        // llama-bench runs one sequence (batched tests are refused beside peers).
        batch: 1,
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
    if let Some(p) = ctx.prefetch {
        p.apply(ks.isa, threads);
    }
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
    let peer_files = peer_files(s);
    // A resumed run keeps the peers' model records it has.
    let mut peer_models: Vec<Option<ModelRecord>> = s
        .peers
        .iter()
        .map(|p| {
            let file = p.model.display().to_string();
            ctx.prior_models
                .iter()
                .rev()
                .find(|m| m.engine == p.name && m.peer.as_ref().is_some_and(|b| b.file == file))
                .cloned()
        })
        .collect();
    let groups = layout(s, isas, &peer_files);
    let planned: Vec<(CellKey, usize)> = groups
        .iter()
        .flat_map(|g| {
            g.cells.iter().map(|(runs, key)| {
                // llama-bench warms up inside every invocation.
                let warm = match runs {
                    Runs::Engine(..) => s.warmup,
                    Runs::Peer(_) => 0,
                };
                (key.clone(), warm)
            })
        })
        .collect();
    ctx.progress.begin(s, &planned, &ctx.prior);
    for Group {
        model: mspec,
        cells,
    } in groups
    {
        let mut group: Vec<Cell> = cells
            .into_iter()
            .map(|(runs, key)| {
                let samples = ctx.prior.remove(&key).unwrap_or_default();
                let test = *s
                    .tests
                    .iter()
                    .find(|t| t.name() == key.test)
                    .expect("cell test from the scenario");
                let (warm_left, error) = match runs {
                    Runs::Engine(..) => (s.warmup, None),
                    Runs::Peer(pi) => (
                        0,
                        peer_files[pi].as_ref().err().map(|e| {
                            format!(
                                "{}: cannot read {}: {e}",
                                s.peers[pi].name,
                                s.peers[pi].model.display()
                            )
                        }),
                    ),
                };
                Cell {
                    planned: ctx.progress.planned(&key, s).max(samples.len()),
                    warm_left,
                    runs,
                    key,
                    test,
                    samples,
                    error,
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
                    // Every cell measured so far, this model's partly measured ones included.
                    let mut cells = cells_out;
                    for c in group.iter().filter(|c| !c.samples.is_empty()) {
                        cells.push(summarise(
                            s,
                            c,
                            cell_model(c, &built, &peer_models),
                            cell_peak(c, &built, &peaks),
                        ));
                    }
                    return Err(Interrupted {
                        partial: RunOutput {
                            models: models_out,
                            cells,
                        },
                    }
                    .into());
                }
                let c = &mut group[i];
                let (spec, isa) = match c.runs {
                    Runs::Engine(spec, isa) => (spec, isa),
                    Runs::Peer(pi) => {
                        let rep = c.samples.len();
                        if rep >= c.planned {
                            ctx.progress.extend(&c.key, true);
                        }
                        ctx.progress.start(&c.key, &format!("rep {}", rep + 1));
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
                                ctx.progress.done(&c.key, rep, &format!("{tps:.2} t/s"));
                                c.samples.push(rec);
                            }
                            Err(e) => {
                                ctx.progress.note(&format!("  {}: FAILED: {e}", c.key.id()));
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
                let (_, model, _, _) = built
                    .iter()
                    .find(|(sp, ..)| *sp == spec)
                    .expect("engine built");
                let ks = KernelSet::get(isa).map_err(|e| anyhow::anyhow!("{e}"))?;
                let resumed_cell = !c.samples.is_empty();
                while c.warm_left > 0 {
                    if resumed_cell {
                        ctx.progress.extend(&c.key, false);
                    }
                    ctx.progress.start(&c.key, "warm-up");
                    run_rep(model, ks, ctx, c.key.threads, c.test, kv)?;
                    ctx.progress.warmed(&c.key);
                    c.warm_left -= 1;
                }
                let rep = c.samples.len();
                if rep >= c.planned {
                    ctx.progress.extend(&c.key, true);
                }
                ctx.progress.start(&c.key, &format!("rep {}", rep + 1));
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
                ctx.progress.done(&c.key, rep, &parts.join(", "));
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
            cells_out.push(summarise(
                s,
                c,
                cell_model(c, &built, &peer_models),
                cell_peak(c, &built, &peaks),
            ));
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
    // Tokens of a repetition: every sequence's, for a batched test.
    let gen = |s: &SampleRecord| s.n_gen * s.batch.max(1);
    let prompt = |s: &SampleRecord| s.n_prompt * s.batch.max(1);
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
                Some(e.measured().or(e.estimate())? / gen(s) as f64)
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
            batch: 1,
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

    // A batched repetition's energy is shared by every sequence's tokens: 4 steps × 8
    // sequences = 32 tokens for 8 J.
    #[test]
    fn batched_energy_is_per_token_of_every_sequence() {
        let mut s = sample(0, Some(measured(8.0, false)));
        s.batch = 8;
        let e = energy_summary(&[s]).unwrap();
        assert_eq!(e.decode_joules_per_token.as_ref().unwrap().median, 0.25);
        assert_eq!(e.samples_decode_joules_per_token, vec![0.25]);
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

#[cfg(test)]
mod progress_tests {
    use super::{eta_text, fmt_duration};

    #[test]
    fn durations_read_as_a_person_would() {
        assert_eq!(fmt_duration(0.0), "<1s");
        assert_eq!(fmt_duration(0.4), "<1s");
        assert_eq!(fmt_duration(45.2), "45s");
        assert_eq!(fmt_duration(185.0), "3m 05s");
        assert_eq!(fmt_duration(3720.0), "1h 02m");
        assert_eq!(fmt_duration(f64::NAN), "?");
    }

    #[test]
    fn eta_is_done_at_the_end_and_measured_from_this_runs_rate() {
        // Finished: "done", never a zero duration in microseconds.
        assert_eq!(eta_text(1000, 1000, 0, 12.0, true), "done");
        // Nothing measured yet: the plan's estimate, marked.
        assert_eq!(eta_text(90_000, 0, 0, 0.5, true), "~1m 30s (estimate)");
        assert_eq!(eta_text(90, 0, 0, 0.5, false), "?");
        // Half the work in 60 s: 60 s left.
        assert_eq!(eta_text(1000, 500, 0, 60.0, true), "1m 00s");
        // Resumed at 600 of 1000: only this run's work sets the rate (100 units in 10 s).
        assert_eq!(eta_text(1000, 700, 600, 10.0, true), "30s");
    }
}
