//! Scenarios: the TOML files under `scenarios/` that say what `ternbench run` measures.
//!
//! [`Scenario::parse`] reads and checks a scenario; every error names the file, line and column,
//! the key, and what is allowed there. [`Scenario::cells`] expands it into the cells the runner
//! measures (models × engines/formats × SIMD levels × threads × tests). The schema is documented
//! in `docs/scenarios.md`; `scenarios/quick.toml` is a commented example.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use ternbench_kernels::{Format, Isa, KernelSet};
use toml::{Spanned, Value};

use crate::cli::EngineArg;
use crate::measure::peer::PeerSpec;
use crate::records::results::CellKey;

/// The scenario the README's main job runs when no file is given (`scenarios/quick.toml`).
pub const EMBEDDED_QUICK: &str = include_str!("../../../scenarios/quick.toml");

/// A scenario error: where, which key, and what is allowed.
#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioError {
    /// The file (or `<embedded quick.toml>`).
    pub file: String,
    /// 1-based line and column, when known.
    pub pos: Option<(usize, usize)>,
    /// The key (`threads`, `models[2]`, `energy.source`).
    pub key: String,
    /// What is wrong and what is allowed.
    pub msg: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.pos {
            Some((l, c)) => write!(f, "{}:{l}:{c}: ", self.file)?,
            None => write!(f, "{}: ", self.file)?,
        }
        if self.key.is_empty() {
            write!(f, "{}", self.msg)
        } else {
            write!(f, "key `{}`: {}", self.key, self.msg)
        }
    }
}

impl std::error::Error for ScenarioError {}

/// How many layers of a model to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SampleLayers {
    /// Every layer.
    Full,
    /// K layers, timed and scaled to the full depth (results marked sampled).
    Fixed(usize),
    /// Every layer if the model fits in memory, else as many as fit (at most 4).
    Auto,
}

/// One model of the scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelSpec {
    /// Zoo name, checkpoint directory or GGUF file.
    pub name: String,
    /// Layers to build.
    pub sample_layers: SampleLayers,
    /// Which of the scenario's engines run on this model (`None`: every one). A model table's
    /// `engines = ["ternary"]`, e.g. to leave the FP16 twin off files whose weights another
    /// file of the run already gives it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engines: Option<Vec<EngineKind>>,
}

impl ModelSpec {
    /// A model every engine runs, built in full.
    pub fn named(name: impl Into<String>) -> ModelSpec {
        ModelSpec {
            name: name.into(),
            sample_layers: SampleLayers::Full,
            engines: None,
        }
    }

    /// Whether `engine` runs on this model.
    pub fn runs(&self, engine: EngineKind) -> bool {
        self.engines.as_ref().is_none_or(|e| e.contains(&engine))
    }
}

/// An engine with its linear-layer format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineSpec {
    /// `ternary` or `fp16`.
    pub engine: EngineKind,
    /// Linear-layer format (`f16` for the FP16 twin).
    pub format: Format,
}

/// Serializable engine kind (mirrors the CLI's [`EngineArg`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineKind {
    /// BitNet b1.58 ternary engine.
    Ternary,
    /// The FP16 twin.
    Fp16,
}

impl From<EngineKind> for EngineArg {
    fn from(e: EngineKind) -> EngineArg {
        match e {
            EngineKind::Ternary => EngineArg::Ternary,
            EngineKind::Fp16 => EngineArg::Fp16,
        }
    }
}

impl EngineKind {
    /// `ternary` or `fp16`, as in scenarios and results.
    pub fn name(self) -> &'static str {
        match self {
            EngineKind::Ternary => "ternary",
            EngineKind::Fp16 => "fp16",
        }
    }
}

impl EngineSpec {
    /// `ternary/i2` or `fp16`.
    pub fn label(&self) -> String {
        match self.engine {
            EngineKind::Ternary => format!("ternary/{}", self.format),
            EngineKind::Fp16 => "fp16".into(),
        }
    }
}

/// Which SIMD levels to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IsaSel {
    /// The widest level this CPU runs.
    Best,
    /// These levels (each checked against this CPU).
    List(Vec<Isa>),
}

/// One test: prefill of `n_prompt` tokens, decode of `n_gen`, or a request (prefill then decode),
/// each from a cache already holding `n_depth` tokens (llama-bench's depth, `-d`), for `batch`
/// sequences at once (llama.cpp's `llama-batched-bench`: each sequence its own cache and
/// position, one forward pass over all of them per step).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestSpec {
    /// Prompt tokens (0: no prefill; decode starts from the cache as the depth left it).
    pub n_prompt: usize,
    /// Generated tokens (0: prefill only).
    pub n_gen: usize,
    /// Tokens in the cache before the test: prefilled, untimed, at the start of every
    /// repetition (0: an empty cache).
    #[serde(default)]
    pub n_depth: usize,
    /// Sequences run together (1: a single stream). A prefill runs their `batch` prompts in one
    /// pass, a decode step one token of each.
    #[serde(default = "one")]
    pub batch: usize,
    /// The prefill computes every position's logits (the LM head on every prompt token, as a
    /// decode step does for its token): `ppN+head`, the compute-bound ceiling of decode.
    #[serde(default)]
    pub head_all: bool,
}

fn one() -> usize {
    1
}

impl TestSpec {
    /// Prefill of `n_prompt` tokens and decode of `n_gen` from an empty cache, one sequence.
    pub fn new(n_prompt: usize, n_gen: usize) -> TestSpec {
        TestSpec {
            n_prompt,
            n_gen,
            n_depth: 0,
            batch: 1,
            head_all: false,
        }
    }

    /// llama-bench style name: `pp128`, `tg64`, `pp128+tg64`, `pp128+head`, then ` @ d512`
    /// at a depth and ` @ b8` for 8 sequences at once.
    pub fn name(&self) -> String {
        let mut name = match (self.n_prompt, self.n_gen) {
            (p, 0) if self.head_all => format!("pp{p}+head"),
            (p, 0) => format!("pp{p}"),
            (0, g) => format!("tg{g}"),
            (p, g) => format!("pp{p}+tg{g}"),
        };
        if self.n_depth > 0 {
            name += &format!(" @ d{}", self.n_depth);
        }
        if self.batch > 1 {
            name += &format!(" @ b{}", self.batch);
        }
        name
    }

    /// Cache positions a repetition needs per sequence (depth, prompt, generated tokens and
    /// one spare).
    pub fn context(&self) -> usize {
        self.n_depth + self.n_prompt + self.n_gen + 1
    }

    /// `ppN`, `tgN`, `ppN+tgN` or `ppN+head`, optionally followed by `@ dN` (depth) and/or
    /// `@ bN` (sequences at once), each at most once (spaces optional: `tg64@b8`).
    pub(crate) fn parse(s: &str) -> Option<TestSpec> {
        let num = |p: &str, pre: &str| {
            p.trim()
                .strip_prefix(pre)?
                .parse::<usize>()
                .ok()
                .filter(|&n| n > 0)
        };
        let mut parts = s.split('@');
        let base = parts.next()?.trim();
        let (mut n_depth, mut batch) = (None, None);
        for p in parts {
            if let Some(d) = num(p, "d") {
                n_depth.replace(d).is_none().then_some(())?;
            } else if let Some(b) = num(p, "b") {
                batch.replace(b).is_none().then_some(())?;
            } else {
                return None;
            }
        }
        let mut head_all = false;
        let (n_prompt, n_gen) = if let Some((a, b)) = base.split_once('+') {
            if b.trim() == "head" {
                head_all = true;
                (num(a, "pp")?, 0)
            } else {
                (num(a, "pp")?, num(b, "tg")?)
            }
        } else if let Some(p) = num(base, "pp") {
            (p, 0)
        } else {
            (0, num(base, "tg")?)
        };
        Some(TestSpec {
            n_prompt,
            n_gen,
            n_depth: n_depth.unwrap_or(0),
            batch: batch.unwrap_or(1),
            head_all,
        })
    }
}

/// In which order repetitions of the cells run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Order {
    /// Round-robin: one repetition of every cell of a model, then the next (A B A B), so drift
    /// hits every cell alike.
    Interleaved,
    /// All repetitions of a cell, then the next cell.
    Sequential,
}

/// Energy settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnergySpec {
    /// `auto`, `powercap`, `perf`, `msr`, `none` or `estimate`.
    pub source: String,
    /// Seconds of idle-power baseline before the sweep, and again after it (0: none).
    pub idle_seconds: f64,
    /// Seconds of doing nothing before each baseline (the model load or a build may just have
    /// heated the package).
    pub idle_settle_seconds: f64,
    /// What to do when `/proc/stat` shows other load during the baseline: `flag`, `refuse`
    /// (measure again, then stop the run) or `off`.
    pub idle_check: String,
    /// Package power at full load (W), for `estimate` only.
    pub tdp_watts: Option<f64>,
    /// Idle power of the CPUs used (W), for `estimate` only (default: a fraction of
    /// `tdp_watts`).
    pub idle_watts: Option<f64>,
}

/// A checked scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// Name (default: the file stem).
    pub name: String,
    /// Free text.
    pub description: String,
    /// The file it came from (`None`: embedded).
    pub file: Option<PathBuf>,
    /// Models.
    pub models: Vec<ModelSpec>,
    /// Engines × formats.
    pub engines: Vec<EngineSpec>,
    /// LM head format (`f16` tied, or `q8`).
    pub head: Format,
    /// Thread counts.
    pub threads: Vec<usize>,
    /// SIMD levels.
    pub isa: IsaSel,
    /// Tests.
    pub tests: Vec<TestSpec>,
    /// Timed repetitions per cell (at least).
    pub repetitions: usize,
    /// Untimed repetitions per cell before its first timed one.
    pub warmup: usize,
    /// Keep repeating a cell until its timed repetitions add up to this many seconds.
    pub min_seconds: f64,
    /// Never more timed repetitions than this per cell.
    pub max_repetitions: usize,
    /// Seconds of rest after each repetition.
    pub cooldown_seconds: f64,
    /// Pin worker i to core i.
    pub pin: bool,
    /// Repetition order.
    pub order: Order,
    /// Seed of synthetic weights.
    pub seed: u64,
    /// KV cache element type: `f16` (the default, as llama-bench) or `f32`.
    pub kv_f16: bool,
    /// A cell whose decode (else prefill) tokens/s CV exceeds this is marked noisy.
    pub max_cv: f64,
    /// Energy settings.
    pub energy: EnergySpec,
    /// External engines (`[[peer]]`): llama.cpp-family `llama-bench` binaries on GGUF files,
    /// interleaved with the cells of the model with the same file (see `measure::peer`).
    pub peers: Vec<PeerSpec>,
}

/// Where a key's value sits in the text.
struct Src<'a> {
    file: &'a str,
    text: &'a str,
}

impl Src<'_> {
    fn pos(&self, span: Range<usize>) -> (usize, usize) {
        let upto = &self.text[..span.start.min(self.text.len())];
        let line = upto.matches('\n').count() + 1;
        let col = upto.rfind('\n').map_or(upto.len(), |i| upto.len() - i - 1) + 1;
        (line, col)
    }

    fn err(&self, span: Option<Range<usize>>, key: &str, msg: impl Into<String>) -> ScenarioError {
        ScenarioError {
            file: self.file.to_string(),
            pos: span.map(|s| self.pos(s)),
            key: key.to_string(),
            msg: msg.into(),
        }
    }
}

/// The raw file: every key optional except `models`; values kept as TOML values with their
/// spans so errors point at them.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    name: Option<Spanned<String>>,
    description: Option<Spanned<String>>,
    models: Option<Spanned<Vec<Spanned<Value>>>>,
    engines: Option<Spanned<Vec<Spanned<String>>>>,
    formats: Option<Spanned<Vec<Spanned<String>>>>,
    head: Option<Spanned<String>>,
    threads: Option<Spanned<Value>>,
    isa: Option<Spanned<Value>>,
    tests: Option<Spanned<Vec<Spanned<String>>>>,
    batch: Option<Spanned<Value>>,
    repetitions: Option<Spanned<i64>>,
    warmup: Option<Spanned<i64>>,
    min_seconds: Option<Spanned<f64>>,
    max_repetitions: Option<Spanned<i64>>,
    cooldown_seconds: Option<Spanned<f64>>,
    pin: Option<bool>,
    order: Option<Spanned<String>>,
    seed: Option<Spanned<i64>>,
    kv: Option<Spanned<String>>,
    max_cv: Option<Spanned<f64>>,
    energy: Option<RawEnergy>,
    peer: Option<Vec<RawPeer>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPeer {
    name: Spanned<String>,
    bench: Spanned<String>,
    model: Spanned<String>,
    args: Option<Vec<String>>,
    timeout_seconds: Option<Spanned<f64>>,
}

/// Where peer builds and their model files live: `TERNBENCH_PEERS`, else
/// `~/.cache/ternbench/peers` (the scripts/peers default).
pub fn peers_root() -> PathBuf {
    match std::env::var_os("TERNBENCH_PEERS") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_default()
            .join(".cache/ternbench/peers"),
    }
}

/// A path from a scenario with `${TERNBENCH_PEERS}` (or `$TERNBENCH_PEERS`) and a leading `~/`
/// expanded, so shipped scenarios name peer builds wherever the user keeps them.
pub fn expand_path(s: &str) -> String {
    let root = peers_root().display().to_string();
    let s = s
        .replace("${TERNBENCH_PEERS}", &root)
        .replace("$TERNBENCH_PEERS", &root);
    match (s.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest).display().to_string(),
        _ => s,
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEnergy {
    source: Option<Spanned<String>>,
    idle_seconds: Option<Spanned<f64>>,
    idle_settle_seconds: Option<Spanned<f64>>,
    idle_check: Option<Spanned<String>>,
    tdp_watts: Option<Spanned<f64>>,
    idle_watts: Option<Spanned<f64>>,
}

/// Facts of this machine the scenario resolves against.
#[derive(Debug, Clone, Copy)]
pub struct Host {
    /// Logical CPUs.
    pub logical: usize,
    /// Physical cores.
    pub physical: usize,
}

const ALLOWED_THREADS: &str =
    "a positive integer, a range \"1-4\", \"all\" (every logical CPU), \"physical\" (every physical core), or a list of these";

fn int_in(
    src: &Src<'_>,
    v: &Option<Spanned<i64>>,
    key: &str,
    lo: i64,
    hi: i64,
    default: i64,
) -> Result<usize, ScenarioError> {
    match v {
        None => Ok(default as usize),
        Some(s) if (lo..=hi).contains(s.get_ref()) => Ok(*s.get_ref() as usize),
        Some(s) => Err(src.err(
            Some(s.span()),
            key,
            format!(
                "{} is out of range; allowed: an integer from {lo} to {hi}",
                s.get_ref()
            ),
        )),
    }
}

fn float_in(
    src: &Src<'_>,
    v: &Option<Spanned<f64>>,
    key: &str,
    lo: f64,
    hi: f64,
    default: f64,
) -> Result<f64, ScenarioError> {
    match v {
        None => Ok(default),
        Some(s) if (lo..=hi).contains(s.get_ref()) => Ok(*s.get_ref()),
        Some(s) => Err(src.err(
            Some(s.span()),
            key,
            format!(
                "{} is out of range; allowed: a number from {lo} to {hi}",
                s.get_ref()
            ),
        )),
    }
}

fn one_of<'a>(
    src: &Src<'_>,
    v: &Option<Spanned<String>>,
    key: &str,
    allowed: &[&'a str],
    default: &'a str,
) -> Result<&'a str, ScenarioError> {
    match v {
        None => Ok(default),
        Some(s) => allowed
            .iter()
            .find(|a| a.eq_ignore_ascii_case(s.get_ref().trim()))
            .copied()
            .ok_or_else(|| {
                src.err(
                    Some(s.span()),
                    key,
                    format!(
                        "\"{}\" is not allowed; allowed: {}",
                        s.get_ref(),
                        allowed.join(", ")
                    ),
                )
            }),
    }
}

fn thread_item(
    src: &Src<'_>,
    v: &Spanned<Value>,
    key: &str,
    host: Host,
    out: &mut Vec<usize>,
) -> Result<(), ScenarioError> {
    let bad = |what: String| {
        src.err(
            Some(v.span()),
            key,
            format!("{what}; allowed: {ALLOWED_THREADS}"),
        )
    };
    match v.get_ref() {
        Value::Integer(n) if (1..=4096).contains(n) => out.push(*n as usize),
        Value::Integer(n) => return Err(bad(format!("{n} is not a thread count"))),
        Value::String(s) => {
            let t = s.trim().to_ascii_lowercase();
            match t.as_str() {
                "all" => out.push(host.logical),
                "physical" => out.push(host.physical),
                _ => {
                    let (a, b) = t
                        .split_once('-')
                        .or_else(|| t.split_once(".."))
                        .ok_or_else(|| bad(format!("\"{s}\" is not a thread count")))?;
                    let parse = |x: &str| -> Result<usize, ScenarioError> {
                        match x.trim() {
                            "all" => Ok(host.logical),
                            "physical" => Ok(host.physical),
                            n => n
                                .parse::<usize>()
                                .ok()
                                .filter(|&n| (1..=4096).contains(&n))
                                .ok_or_else(|| {
                                    bad(format!("\"{s}\" is not a range of thread counts"))
                                }),
                        }
                    };
                    let (a, b) = (parse(a)?, parse(b)?);
                    if a > b {
                        return Err(bad(format!("\"{s}\" is an empty range")));
                    }
                    out.extend(a..=b);
                }
            }
        }
        other => return Err(bad(format!("a {} is not a thread count", other.type_str()))),
    }
    Ok(())
}

impl Scenario {
    /// Reads and checks a scenario file; returns it with the text as read (what a run records
    /// and resumes from).
    pub fn load(path: &Path, host: Host) -> Result<(Scenario, String), ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|e| ScenarioError {
            file: path.display().to_string(),
            pos: None,
            key: String::new(),
            msg: format!("cannot read the scenario: {e}"),
        })?;
        let mut s = Scenario::parse(&text, &path.display().to_string(), host)?;
        s.file = Some(path.to_path_buf());
        if s.name.is_empty() {
            s.name = path
                .file_stem()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
        }
        Ok((s, text))
    }

    /// Parses and checks scenario text; `file` names it in errors.
    pub fn parse(text: &str, file: &str, host: Host) -> Result<Scenario, ScenarioError> {
        let src = Src { file, text };
        let raw: Raw = toml::from_str(text).map_err(|e| {
            let msg = e.message().trim().to_string();
            let msg = if msg.starts_with("unknown field") {
                format!("{msg} (see docs/scenarios.md for the schema)")
            } else {
                msg
            };
            src.err(e.span(), "", msg)
        })?;

        let models = match &raw.models {
            None => return Err(src.err(None, "models", "missing; give a list of zoo names, checkpoint directories or GGUF files, e.g. models = [\"bitnet-700m\"]")),
            Some(m) if m.get_ref().is_empty() => {
                return Err(src.err(Some(m.span()), "models", "empty; give at least one model"))
            }
            Some(m) => m
                .get_ref()
                .iter()
                .enumerate()
                .map(|(i, v)| model_spec(&src, v, &format!("models[{i}]")))
                .collect::<Result<Vec<_>, _>>()?,
        };

        let formats: Vec<Format> = match &raw.formats {
            None => vec![Format::I2],
            Some(f) => {
                if f.get_ref().is_empty() {
                    return Err(src.err(Some(f.span()), "formats", "empty; allowed: i2, tq1, tl"));
                }
                f.get_ref()
                    .iter()
                    .enumerate()
                    .map(|(i, s)| {
                        s.get_ref()
                            .parse::<Format>()
                            .ok()
                            .filter(|f| f.is_ternary())
                            .ok_or_else(|| {
                                src.err(
                                    Some(s.span()),
                                    &format!("formats[{i}]"),
                                    format!(
                                        "\"{}\" is not a ternary format; allowed: i2, tq1, tl",
                                        s.get_ref()
                                    ),
                                )
                            })
                    })
                    .collect::<Result<_, _>>()?
            }
        };
        let mut engines = Vec::new();
        let engine_names: Vec<Spanned<String>> = match &raw.engines {
            None => vec![
                Spanned::new(0..0, "ternary".to_string()),
                Spanned::new(0..0, "fp16".to_string()),
            ],
            Some(e) if e.get_ref().is_empty() => {
                return Err(src.err(Some(e.span()), "engines", "empty; allowed: ternary, fp16"))
            }
            Some(e) => e.get_ref().clone(),
        };
        for (i, e) in engine_names.iter().enumerate() {
            match e.get_ref().trim().to_ascii_lowercase().as_str() {
                "ternary" => engines.extend(formats.iter().map(|&format| EngineSpec {
                    engine: EngineKind::Ternary,
                    format,
                })),
                "fp16" => engines.push(EngineSpec {
                    engine: EngineKind::Fp16,
                    format: Format::F16,
                }),
                other => {
                    return Err(src.err(
                        Some(e.span()),
                        &format!("engines[{i}]"),
                        format!("\"{other}\" is not an engine; allowed: ternary, fp16"),
                    ))
                }
            }
        }
        engines.dedup();

        let head = match one_of(&src, &raw.head, "head", &["f16", "q8", "q4"], "f16")? {
            "q8" => Format::Q8,
            "q4" => Format::Q4,
            _ => Format::F16,
        };

        let mut threads = Vec::new();
        match &raw.threads {
            None => threads.push(1),
            Some(t) => match t.get_ref() {
                Value::Array(items) => {
                    if items.is_empty() {
                        return Err(src.err(
                            Some(t.span()),
                            "threads",
                            format!("empty; allowed: {ALLOWED_THREADS}"),
                        ));
                    }
                    for (i, v) in items.iter().enumerate() {
                        // Array items carry no spans of their own: point at the array.
                        let sv = Spanned::new(t.span(), v.clone());
                        thread_item(&src, &sv, &format!("threads[{i}]"), host, &mut threads)?;
                    }
                }
                _ => thread_item(&src, t, "threads", host, &mut threads)?,
            },
        }
        let mut seen = std::collections::HashSet::new();
        threads.retain(|t| seen.insert(*t));

        let isa = match &raw.isa {
            None => IsaSel::Best,
            Some(v) => isa_sel(&src, v)?,
        };

        let tests = match &raw.tests {
            None => vec![TestSpec::new(128, 64)],
            Some(t) if t.get_ref().is_empty() => {
                return Err(src.err(Some(t.span()), "tests", "empty; allowed: \"ppN\", \"tgN\", \"ppN+tgN\", \"ppN+head\", each optionally followed by \"@ dN\" and \"@ bN\""))
            }
            Some(t) => t
                .get_ref()
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    TestSpec::parse(s.get_ref()).ok_or_else(|| {
                        src.err(
                            Some(s.span()),
                            &format!("tests[{i}]"),
                            format!(
                                "\"{}\" is not a test; allowed: \"ppN\" (prefill N tokens), \"tgN\" (decode N tokens from an empty cache), \"ppN+tgN\" (a request: prefill then decode), \"ppN+head\" (a prefill computing every position's logits: decode's compute-bound ceiling), each optionally followed by \"@ dN\" (N tokens already in the cache, prefilled untimed first) and \"@ bN\" (N sequences at once, each its own cache, as llama-batched-bench), N ≥ 1",
                                s.get_ref()
                            ),
                        )
                    })
                })
                .collect::<Result<_, _>>()?,
        };

        let tests = match &raw.batch {
            None => tests,
            Some(v) => expand_batches(tests, &batches(&src, v)?),
        };

        let repetitions = int_in(&src, &raw.repetitions, "repetitions", 1, 10_000, 6)?;
        let warmup = int_in(&src, &raw.warmup, "warmup", 0, 1000, 1)?;
        let max_repetitions = int_in(
            &src,
            &raw.max_repetitions,
            "max_repetitions",
            1,
            100_000,
            (repetitions.max(1) * 4) as i64,
        )?;
        if max_repetitions < repetitions {
            let s = raw.max_repetitions.as_ref().map(|s| s.span());
            return Err(src.err(s, "max_repetitions", format!("{max_repetitions} is below repetitions ({repetitions}); allowed: at least repetitions")));
        }
        let min_seconds = float_in(&src, &raw.min_seconds, "min_seconds", 0.0, 86_400.0, 0.0)?;
        let cooldown_seconds = float_in(
            &src,
            &raw.cooldown_seconds,
            "cooldown_seconds",
            0.0,
            3600.0,
            0.0,
        )?;
        let order = match one_of(
            &src,
            &raw.order,
            "order",
            &["interleaved", "sequential"],
            "interleaved",
        )? {
            "sequential" => Order::Sequential,
            _ => Order::Interleaved,
        };
        let seed = match &raw.seed {
            None => 1,
            Some(s) if *s.get_ref() >= 0 => *s.get_ref() as u64,
            Some(s) => {
                return Err(src.err(Some(s.span()), "seed", "negative; allowed: an integer ≥ 0"))
            }
        };
        let kv_f16 = one_of(&src, &raw.kv, "kv", &["f32", "f16"], "f16")? == "f16";
        let max_cv = float_in(&src, &raw.max_cv, "max_cv", 0.0, 10.0, 0.05)?;
        let energy = match &raw.energy {
            None => EnergySpec {
                source: "auto".into(),
                idle_seconds: 0.0,
                idle_settle_seconds: 0.0,
                idle_check: "flag".into(),
                tdp_watts: None,
                idle_watts: None,
            },
            Some(e) => {
                let source = one_of(
                    &src,
                    &e.source,
                    "energy.source",
                    &["auto", "powercap", "perf", "msr", "none", "estimate"],
                    "auto",
                )?
                .to_string();
                let idle_seconds = float_in(
                    &src,
                    &e.idle_seconds,
                    "energy.idle_seconds",
                    0.0,
                    3600.0,
                    0.0,
                )?;
                let tdp_watts = match &e.tdp_watts {
                    None => None,
                    Some(_) => Some(float_in(
                        &src,
                        &e.tdp_watts,
                        "energy.tdp_watts",
                        1.0,
                        2000.0,
                        0.0,
                    )?),
                };
                let idle_settle_seconds = float_in(
                    &src,
                    &e.idle_settle_seconds,
                    "energy.idle_settle_seconds",
                    0.0,
                    3600.0,
                    0.0,
                )?;
                let idle_check = one_of(
                    &src,
                    &e.idle_check,
                    "energy.idle_check",
                    &["flag", "refuse", "off"],
                    "flag",
                )?
                .to_string();
                let idle_watts = match &e.idle_watts {
                    None => None,
                    Some(_) => Some(float_in(
                        &src,
                        &e.idle_watts,
                        "energy.idle_watts",
                        0.0,
                        2000.0,
                        0.0,
                    )?),
                };
                if source == "estimate" && tdp_watts.is_none() {
                    return Err(src.err(e.source.as_ref().map(|s| s.span()), "energy.tdp_watts", "missing: `source = \"estimate\"` needs the package power at full load, e.g. tdp_watts = 65"));
                }
                EnergySpec {
                    source,
                    idle_seconds,
                    idle_settle_seconds,
                    idle_check,
                    tdp_watts,
                    idle_watts,
                }
            }
        };

        if let (Some(first), Some(t)) = (
            raw.peer.as_ref().and_then(|p| p.first()),
            tests.iter().find(|t| t.n_prompt > 0 && t.n_gen > 0),
        ) {
            return Err(src.err(
                Some(first.name.span()),
                "peer",
                format!(
                    "a [[peer]]'s llama-bench times \"{}\" as one span (prefill and decode together); with peers use separate tests, e.g. \"pp{}\" and \"tg{}\"",
                    t.name(),
                    t.n_prompt,
                    t.n_gen
                ),
            ));
        }
        if let (Some(first), Some(t)) = (
            raw.peer.as_ref().and_then(|p| p.first()),
            tests.iter().find(|t| t.batch > 1 || t.head_all),
        ) {
            return Err(src.err(
                Some(first.name.span()),
                "peer",
                format!(
                    "a [[peer]]'s llama-bench runs one sequence per test and no \"+head\" ceiling, so \"{}\" cannot run beside it: put batched tests in a scenario without peers",
                    t.name()
                ),
            ));
        }
        let mut peers: Vec<PeerSpec> = Vec::new();
        for (i, p) in raw.peer.iter().flatten().enumerate() {
            let key = |k: &str| format!("peer[{i}].{k}");
            let nonempty = |v: &Spanned<String>, k: &str| {
                let t = v.get_ref().trim();
                if t.is_empty() {
                    Err(src.err(Some(v.span()), &key(k), "empty"))
                } else {
                    Ok(t.to_string())
                }
            };
            let name = nonempty(&p.name, "name")?;
            if ["ternary", "fp16"].contains(&name.to_ascii_lowercase().as_str()) {
                return Err(src.err(
                    Some(p.name.span()),
                    &key("name"),
                    format!("\"{name}\" is the name of one of ternbench's engines; name the peer program (e.g. \"llama.cpp\")"),
                ));
            }
            let timeout_seconds = float_in(
                &src,
                &p.timeout_seconds,
                &key("timeout_seconds"),
                1.0,
                86_400.0,
                1800.0,
            )?;
            let model = PathBuf::from(expand_path(&nonempty(&p.model, "model")?));
            if peers.iter().any(|q| q.name == name && q.model == model) {
                return Err(src.err(
                    Some(p.model.span()),
                    &key("model"),
                    format!(
                        "\"{name}\" already runs {}: a peer runs each file once",
                        model.display()
                    ),
                ));
            }
            peers.push(PeerSpec {
                name,
                bench: PathBuf::from(expand_path(&nonempty(&p.bench, "bench")?)),
                model,
                args: p.args.clone().unwrap_or_default(),
                timeout_seconds,
            });
        }

        for (i, m) in models.iter().enumerate() {
            if let Some(only) = &m.engines {
                if !engines.iter().any(|e| only.contains(&e.engine)) {
                    let have: Vec<&str> = engines.iter().map(|e| e.engine.name()).collect();
                    return Err(src.err(
                        None,
                        &format!("models[{i}].engines"),
                        format!(
                            "none of {} is among the scenario's engines ({}): the model would have no cells; add the engine to `engines` or drop it here",
                            only.iter().map(|e| e.name()).collect::<Vec<_>>().join(", "),
                            have.join(", ")
                        ),
                    ));
                }
            }
        }

        Ok(Scenario {
            peers,
            name: raw.name.map(|n| n.into_inner()).unwrap_or_default(),
            description: raw.description.map(|d| d.into_inner()).unwrap_or_default(),
            file: None,
            models,
            engines,
            head,
            threads,
            isa,
            tests,
            repetitions,
            warmup,
            min_seconds,
            max_repetitions,
            cooldown_seconds,
            pin: raw.pin.unwrap_or(false),
            order,
            seed,
            kv_f16,
            max_cv,
            energy,
        })
    }

    /// The SIMD levels this scenario runs on this CPU (checked: a level the CPU lacks is an
    /// error naming the missing features).
    pub fn isa_levels(&self) -> Result<Vec<Isa>, String> {
        match &self.isa {
            IsaSel::Best => Ok(vec![KernelSet::best().isa]),
            IsaSel::List(l) => l
                .iter()
                .map(|&i| {
                    KernelSet::get(i)
                        .map(|k| k.isa)
                        .map_err(|e| format!("isa: {e}"))
                })
                .collect(),
        }
    }

    /// Every cell, grouped by model: the runner builds a model's engines once and runs their
    /// cells together.
    pub fn cells(&self, isas: &[Isa]) -> Vec<(ModelSpec, Vec<(EngineSpec, CellKey)>)> {
        self.models
            .iter()
            .map(|m| {
                let mut cells = Vec::new();
                for e in self.engines.iter().filter(|e| m.runs(e.engine)) {
                    for isa in isas {
                        for &t in &self.threads {
                            for test in &self.tests {
                                cells.push((
                                    *e,
                                    CellKey {
                                        model: m.name.clone(),
                                        engine: e.engine.name().into(),
                                        format: e.format.name().into(),
                                        head: self.head.name().into(),
                                        isa: isa.name().into(),
                                        threads: t,
                                        test: test.name(),
                                    },
                                ));
                            }
                        }
                    }
                }
                (m.clone(), cells)
            })
            .collect()
    }
}

/// Most sequences one test may run at once.
pub const MAX_BATCH: usize = 256;

/// The `batch` axis: one batch size or a list of them (1 to [`MAX_BATCH`]), duplicates dropped.
fn batches(src: &Src<'_>, v: &Spanned<Value>) -> Result<Vec<usize>, ScenarioError> {
    let allowed = format!(
        "a batch size (sequences decoded together, 1 to {MAX_BATCH}) or a non-empty list of them, e.g. [1, 2, 4, 8, 16]"
    );
    let one = |x: &Value, key: &str| match x {
        Value::Integer(n) if (1..=MAX_BATCH as i64).contains(n) => Ok(*n as usize),
        other => Err(src.err(
            Some(v.span()),
            key,
            format!("{other} is not allowed; allowed: {allowed}"),
        )),
    };
    let mut out: Vec<usize> = match v.get_ref() {
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .enumerate()
            .map(|(i, x)| one(x, &format!("batch[{i}]")))
            .collect::<Result<_, _>>()?,
        Value::Array(_) => {
            return Err(src.err(
                Some(v.span()),
                "batch",
                format!("empty; allowed: {allowed}"),
            ))
        }
        x => vec![one(x, "batch")?],
    };
    let mut seen = std::collections::HashSet::new();
    out.retain(|b| seen.insert(*b));
    Ok(out)
}

/// Every single-stream test once per batch size (a test naming its own `@ bN` is kept as it is),
/// in the order test × batch, duplicates dropped.
fn expand_batches(tests: Vec<TestSpec>, batches: &[usize]) -> Vec<TestSpec> {
    let mut out: Vec<TestSpec> = Vec::new();
    for t in tests {
        let each: Vec<TestSpec> = if t.batch > 1 {
            vec![t]
        } else {
            batches
                .iter()
                .map(|&batch| TestSpec { batch, ..t })
                .collect()
        };
        for t in each {
            if !out.contains(&t) {
                out.push(t);
            }
        }
    }
    out
}

fn model_spec(src: &Src<'_>, v: &Spanned<Value>, key: &str) -> Result<ModelSpec, ScenarioError> {
    const ALLOWED: &str = "a zoo name (e.g. \"bitnet-700m\"), a checkpoint directory, a .gguf file, or a table { name = \"...\", sample_layers = K | \"auto\", engines = [\"ternary\", \"fp16\"] }";
    let bad = |msg: String| src.err(Some(v.span()), key, format!("{msg}; allowed: {ALLOWED}"));
    match v.get_ref() {
        Value::String(s) if !s.trim().is_empty() => {
            let name = expand_path(s.trim());
            known_model(&name).map_err(|m| src.err(Some(v.span()), key, m))?;
            Ok(ModelSpec::named(name))
        }
        Value::Table(t) => {
            for k in t.keys() {
                if k != "name" && k != "sample_layers" && k != "engines" {
                    return Err(bad(format!("unknown key `{k}`")));
                }
            }
            let name = match t.get("name") {
                Some(Value::String(s)) if !s.trim().is_empty() => expand_path(s.trim()),
                _ => return Err(bad("`name` is missing or not a string".into())),
            };
            let sample_layers = match t.get("sample_layers") {
                None => SampleLayers::Full,
                Some(Value::Integer(k)) if *k >= 1 => SampleLayers::Fixed(*k as usize),
                Some(Value::String(s)) if s == "auto" => SampleLayers::Auto,
                Some(Value::String(s)) if s == "full" => SampleLayers::Full,
                Some(other) => {
                    return Err(bad(format!(
                        "sample_layers = {other} is not allowed (a positive integer, \"auto\" or \"full\")"
                    )))
                }
            };
            let engines = match t.get("engines") {
                None => None,
                Some(Value::Array(a)) if !a.is_empty() => {
                    let mut v = Vec::new();
                    for e in a {
                        match e.as_str() {
                            Some("ternary") => v.push(EngineKind::Ternary),
                            Some("fp16") => v.push(EngineKind::Fp16),
                            _ => {
                                return Err(bad(format!(
                                    "engines: {e} is not an engine (\"ternary\" or \"fp16\", among the scenario's `engines`)"
                                )))
                            }
                        }
                    }
                    Some(v)
                }
                Some(other) => {
                    return Err(bad(format!(
                    "engines = {other} is not allowed (a non-empty list of \"ternary\", \"fp16\")"
                )))
                }
            };
            known_model(&name).map_err(|m| src.err(Some(v.span()), key, m))?;
            Ok(ModelSpec {
                name,
                sample_layers,
                engines,
            })
        }
        other => Err(bad(format!("a {} is not a model", other.type_str()))),
    }
}

/// A zoo name, or a path that exists (a checkpoint directory or a GGUF file).
fn known_model(name: &str) -> Result<(), String> {
    if ternbench_engine::zoo::config(name).is_ok() || Path::new(name).exists() {
        return Ok(());
    }
    if Path::new(name).starts_with(peers_root()) {
        return Err(format!(
            "\"{name}\" does not exist: peer scenarios run files under TERNBENCH_PEERS ({}); write them first (docs/peers.md)",
            peers_root().display()
        ));
    }
    Err(format!(
        "\"{name}\" is neither a zoo model nor an existing checkpoint directory or .gguf file; zoo models: {}",
        ternbench_engine::zoo::names().join(", ")
    ))
}

fn isa_sel(src: &Src<'_>, v: &Spanned<Value>) -> Result<IsaSel, ScenarioError> {
    let allowed = format!(
        "\"best\", or a list of levels this CPU runs: {}",
        KernelSet::available()
            .iter()
            .map(|k| k.isa.name())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let level = |s: &str, key: &str| -> Result<Isa, ScenarioError> {
        let isa = s
            .parse::<Isa>()
            .map_err(|e| src.err(Some(v.span()), key, format!("{e}; allowed: {allowed}")))?;
        KernelSet::get(isa)
            .map(|k| k.isa)
            .map_err(|e| src.err(Some(v.span()), key, format!("{e}; allowed: {allowed}")))
    };
    match v.get_ref() {
        Value::String(s) if s.trim().eq_ignore_ascii_case("best") => Ok(IsaSel::Best),
        Value::String(s) if s.trim().eq_ignore_ascii_case("all") => Ok(IsaSel::List(
            KernelSet::available().iter().map(|k| k.isa).collect(),
        )),
        Value::String(s) => Ok(IsaSel::List(vec![level(s, "isa")?])),
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .enumerate()
            .map(|(i, it)| match it {
                Value::String(s) => level(s, &format!("isa[{i}]")),
                other => Err(src.err(
                    Some(v.span()),
                    &format!("isa[{i}]"),
                    format!("a {} is not a level; allowed: {allowed}", other.type_str()),
                )),
            })
            .collect::<Result<_, _>>()
            .map(IsaSel::List),
        _ => Err(src.err(
            Some(v.span()),
            "isa",
            format!("not a level; allowed: {allowed}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOST: Host = Host {
        logical: 8,
        physical: 4,
    };

    fn parse(t: &str) -> Result<Scenario, ScenarioError> {
        Scenario::parse(t, "s.toml", HOST)
    }

    /// Issue 21 defect 6: every shipped scenario that measures energy states its idle baseline's
    /// protocol (window, settle period, quiet check) instead of inheriting defaults.
    #[test]
    fn shipped_scenarios_state_their_idle_protocol() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
        for entry in std::fs::read_dir(&dir).unwrap() {
            let p = entry.unwrap().path();
            if p.extension().and_then(|e| e.to_str()) != Some("toml") {
                continue;
            }
            let text = std::fs::read_to_string(&p).unwrap();
            let s = match Scenario::parse(&text, &p.display().to_string(), HOST) {
                Ok(s) => s,
                // Peer scenarios name files under TERNBENCH_PEERS, absent until written: the
                // text must still state the protocol.
                Err(e) if e.msg.contains("TERNBENCH_PEERS") => {
                    if !text.contains("source = \"none\"") {
                        for key in ["idle_seconds", "idle_settle_seconds", "idle_check"] {
                            assert!(text.contains(key), "{} does not state {key}", p.display());
                        }
                    }
                    continue;
                }
                Err(e) => panic!("{e}"),
            };
            if s.energy.source == "none" {
                continue;
            }
            for key in ["idle_seconds", "idle_settle_seconds", "idle_check"] {
                assert!(text.contains(key), "{} does not state {key}", p.display());
            }
            assert!(s.energy.idle_seconds > 0.0 && s.energy.idle_settle_seconds > 0.0);
        }
    }

    #[test]
    fn embedded_quick_parses() {
        let s = Scenario::parse(EMBEDDED_QUICK, "quick.toml", HOST).unwrap();
        assert!(!s.models.is_empty());
        assert!(s.engines.iter().any(|e| e.engine == EngineKind::Fp16));
    }

    #[test]
    fn defaults_and_expansion() {
        let s = parse("models = [\"bitnet-125m\"]\nthreads = [1, \"all\", \"2-3\", \"physical\"]\nformats = [\"i2\", \"tq1\"]\ntests = [\"pp16\", \"tg8\", \"pp4+tg4\"]\n").unwrap();
        assert_eq!(s.threads, vec![1, 8, 2, 3, 4]);
        assert_eq!(s.engines.len(), 3);
        assert_eq!(s.repetitions, 6);
        assert_eq!(s.order, Order::Interleaved);
        // llama-bench's cache type, as `ternbench bench`.
        assert!(s.kv_f16);
        let names: Vec<String> = s.tests.iter().map(|t| t.name()).collect();
        assert_eq!(names, ["pp16", "tg8", "pp4+tg4"]);
        let cells = s.cells(&[Isa::Scalar]);
        assert_eq!(cells.len(), 1);
        assert_eq!(cells[0].1.len(), 3 * 5 * 3);
        // Every cell key is distinct.
        let mut ids: Vec<String> = cells[0].1.iter().map(|c| c.1.id()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 45);
    }

    #[test]
    fn model_tables() {
        let s = parse("models = [\"bitnet-125m\", { name = \"bitnet-100b\", sample_layers = 2 }, { name = \"bitnet-7b\", sample_layers = \"auto\" }]").unwrap();
        assert_eq!(s.models[1].sample_layers, SampleLayers::Fixed(2));
        assert_eq!(s.models[2].sample_layers, SampleLayers::Auto);
        let s = parse("engines = [\"ternary\", \"fp16\"]\nmodels = [\"bitnet-125m\", { name = \"bitnet-350m\", engines = [\"ternary\"] }]").unwrap();
        let cells = s.cells(&[Isa::Scalar]);
        assert!(cells[0].1.iter().any(|(e, _)| e.engine == EngineKind::Fp16));
        assert!(cells[1]
            .1
            .iter()
            .all(|(e, _)| e.engine == EngineKind::Ternary));
        assert!(!cells[1].1.is_empty());
        let e = parse(
            "engines = [\"ternary\"]\nmodels = [{ name = \"bitnet-125m\", engines = [\"fp16\"] }]",
        )
        .unwrap_err();
        assert!(e.to_string().contains("no cells"), "{e}");
        let e = parse("models = [{ name = \"bitnet-125m\", engines = [\"gpu\"] }]").unwrap_err();
        assert!(e.to_string().contains("not an engine"), "{e}");
    }

    #[test]
    fn errors_name_line_key_and_allowed() {
        let e = parse("models = [\"bitnet-125m\"]\n\nthreads = \"lots\"\n").unwrap_err();
        assert_eq!(e.pos, Some((3, 11)));
        assert_eq!(e.key, "threads");
        assert!(
            e.to_string().starts_with("s.toml:3:11: key `threads`"),
            "{e}"
        );
        assert!(e.msg.contains("allowed"), "{e}");

        let e = parse("models = [\"bitnet-125m\"]\nengines = [\"ternary\", \"gpu\"]").unwrap_err();
        assert_eq!(e.key, "engines[1]");
        assert_eq!(e.pos.unwrap().0, 2);
        assert!(e.msg.contains("ternary, fp16"));

        let e = parse("models = [\"bitnet-125m\"]\nrepetitons = 3\n").unwrap_err();
        assert_eq!(e.pos.unwrap().0, 2, "{e}");
        assert!(e.msg.contains("repetitons"), "{e}");

        let e = parse("threads = [1]").unwrap_err();
        assert_eq!(e.key, "models");

        let e = parse("models = [\"bitnet-125m\"]\ntests = [\"pp0\"]").unwrap_err();
        assert_eq!(e.key, "tests[0]");

        let e = parse("models = [\"bitnet-125m\"]\ntests = [\"tg8\", \"tg8 @ 512\"]").unwrap_err();
        assert_eq!(e.key, "tests[1]");
        assert!(e.msg.contains("@ dN"), "{e}");

        let e = parse("models = [\"bitnet-125m\"]\nrepetitions = 0").unwrap_err();
        assert_eq!(e.key, "repetitions");

        let e = parse("models = [\"bitnet-125m\"]\n[energy]\nsource = \"estimate\"\n").unwrap_err();
        assert_eq!(e.key, "energy.tdp_watts");

        let e =
            parse("models = [\"bitnet-125m\"]\n[energy]\nidle_check = \"maybe\"\n").unwrap_err();
        assert_eq!(e.key, "energy.idle_check");

        let e = parse("models = [\"bitnet-125m\"]\nthreads = [\"4-2\"]").unwrap_err();
        assert!(e.msg.contains("empty range"), "{e}");

        let e = parse("models = [{ nam = \"x\" }]").unwrap_err();
        assert_eq!(e.key, "models[0]");

        let e = parse("\nmodels = [\"bitnet-3b\"]").unwrap_err();
        assert_eq!((e.key.as_str(), e.pos.unwrap().0), ("models[0]", 2));
        assert!(e.msg.contains("bitnet-2b4t"), "{e}");

        let e = parse("models = [\"bitnet-125m\"]\nisa = \"avx9000\"").unwrap_err();
        assert_eq!(e.key, "isa");
        assert!(e.msg.contains("scalar"), "{e}");

        let e = parse("models = [\"bitnet-125m\"\n").unwrap_err();
        assert!(e.pos.is_some(), "{e}");
    }

    #[test]
    fn peers_parse_with_their_paths_expanded() {
        let root = peers_root().display().to_string();
        let s = parse(
            "models = [\"bitnet-125m\"]\ntests = [\"pp8\", \"tg4\"]\n\
             [[peer]]\nname = \"llama.cpp\"\nbench = \"${TERNBENCH_PEERS}/llama.cpp/build/bin/llama-bench\"\nmodel = \"/m/a.gguf\"\n\
             [[peer]]\nname = \"llama.cpp\"\nbench = \"/x/llama-bench\"\nmodel = \"/m/b.gguf\"\nargs = [\"--prio\", \"2\"]\ntimeout_seconds = 60\n",
        )
        .unwrap();
        assert_eq!(s.peers.len(), 2);
        assert_eq!(
            s.peers[0].bench,
            PathBuf::from(format!("{root}/llama.cpp/build/bin/llama-bench"))
        );
        assert_eq!(s.peers[0].timeout_seconds, 1800.0);
        assert_eq!(s.peers[1].args, vec!["--prio", "2"]);
        assert_eq!(s.peers[1].timeout_seconds, 60.0);
        let peer = |body: &str| {
            parse(&format!(
                "models = [\"bitnet-125m\"]\ntests = [\"tg4\"]\n{body}"
            ))
        };
        let e = peer("[[peer]]\nname = \"fp16\"\nbench = \"b\"\nmodel = \"m\"\n").unwrap_err();
        assert_eq!(e.key, "peer[0].name", "{e}");
        let twice = "[[peer]]\nname = \"a\"\nbench = \"b\"\nmodel = \"m\"\n";
        let e = peer(&format!("{twice}{twice}")).unwrap_err();
        assert_eq!(e.key, "peer[1].model", "{e}");
        let e = peer("[[peer]]\nname = \"a\"\nbench = \"\"\nmodel = \"m\"\n").unwrap_err();
        assert_eq!(e.key, "peer[0].bench", "{e}");
        let e = peer("[[peer]]\nname = \"a\"\nbench = \"b\"\n").unwrap_err();
        assert!(e.msg.contains("model"), "{e}");
        let e = peer("[[peer]]\nname = \"a\"\nbench = \"b\"\nmodel = \"m\"\ntimeout_seconds = 0\n")
            .unwrap_err();
        assert_eq!(e.key, "peer[0].timeout_seconds", "{e}");
        let e = peer("[[peer]]\nname = \"a\"\nbench = \"b\"\nmodel = \"m\"\nthreads = 2\n")
            .unwrap_err();
        assert!(e.msg.contains("unknown field"), "{e}");
        // A missing file under the peers root says where peer files come from.
        let e = parse("models = [\"${TERNBENCH_PEERS}/models/nope.gguf\"]\n").unwrap_err();
        assert!(
            e.msg.contains("TERNBENCH_PEERS") && e.msg.contains("docs/peers.md"),
            "{e}"
        );
    }

    #[test]
    fn shipped_scenarios_parse() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
        let mut n = 0;
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "toml") {
                // Levels a scenario names may be missing on this CPU: that error is the
                // expected one there, and it must name the isa key.
                // Peer scenarios run GGUF files under TERNBENCH_PEERS, absent until written.
                match Scenario::load(&p, HOST).map(|(s, _)| s) {
                    Ok(_) => {}
                    Err(e) => assert!(
                        e.key.starts_with("isa") || e.msg.contains("TERNBENCH_PEERS"),
                        "{}: {e}",
                        p.display()
                    ),
                }
                n += 1;
            }
        }
        assert!(n >= 6, "expected the shipped scenarios, found {n}");
    }

    #[test]
    fn a_batch_axis_runs_every_single_stream_test_at_every_batch() {
        let s = parse("models = [\"bitnet-125m\"]\ntests = [\"pp16\", \"tg8\", \"tg4 @ b3\"]\nbatch = [1, 2, 4, 2]\n").unwrap();
        let names: Vec<String> = s.tests.iter().map(|t| t.name()).collect();
        assert_eq!(
            names,
            [
                "pp16",
                "pp16 @ b2",
                "pp16 @ b4",
                "tg8",
                "tg8 @ b2",
                "tg8 @ b4",
                "tg4 @ b3"
            ]
        );
        let s = parse("models = [\"bitnet-125m\"]\ntests = [\"tg8\"]\nbatch = 8\n").unwrap();
        assert_eq!(s.tests[0].batch, 8);
        for (bad, key) in [
            ("batch = 0", "batch"),
            ("batch = []", "batch"),
            ("batch = [1, 300]", "batch[1]"),
            ("batch = \"8\"", "batch"),
        ] {
            let e = parse(&format!("models = [\"bitnet-125m\"]\n{bad}\n")).unwrap_err();
            assert_eq!(e.key, key, "{bad}");
            assert!(e.msg.contains("1 to 256"), "{bad}: {}", e.msg);
        }
    }

    #[test]
    fn tests_at_a_depth_parse_and_name_like_llama_bench() {
        for (text, want, name) in [
            ("pp128", TestSpec::new(128, 0), "pp128"),
            ("tg64", TestSpec::new(0, 64), "tg64"),
            ("pp8+tg4", TestSpec::new(8, 4), "pp8+tg4"),
            (
                "tg64 @ d512",
                TestSpec {
                    n_depth: 512,
                    ..TestSpec::new(0, 64)
                },
                "tg64 @ d512",
            ),
            (
                " pp8 + tg4@d16 ",
                TestSpec {
                    n_depth: 16,
                    ..TestSpec::new(8, 4)
                },
                "pp8+tg4 @ d16",
            ),
        ] {
            let t = TestSpec::parse(text).unwrap_or_else(|| panic!("{text}"));
            assert_eq!(t, want, "{text}");
            assert_eq!(t.name(), name);
            // The name parses back to the same test.
            assert_eq!(TestSpec::parse(&t.name()), Some(t));
        }
        assert_eq!(
            TestSpec::parse("pp8+tg4 @ d16").unwrap().context(),
            16 + 8 + 4 + 1
        );
        for (text, name) in [
            ("tg64@b8", "tg64 @ b8"),
            ("pp128 @ b4", "pp128 @ b4"),
            ("pp8+tg4 @ b2 @ d16", "pp8+tg4 @ d16 @ b2"),
            ("pp128+head", "pp128+head"),
            ("pp16+head@b4", "pp16+head @ b4"),
            ("tg8 @ b1", "tg8"),
        ] {
            let t = TestSpec::parse(text).unwrap_or_else(|| panic!("{text}"));
            assert_eq!(t.name(), name, "{text}");
            assert_eq!(TestSpec::parse(&t.name()), Some(t), "{text}");
        }
        let t = TestSpec::parse("pp8+tg4 @ d16 @ b2").unwrap();
        assert_eq!((t.batch, t.n_depth, t.head_all), (2, 16, false));
        assert!(TestSpec::parse("pp8+head").unwrap().head_all);
        for bad in [
            "tg8 @ b0",
            "tg8 @ b4 @ b4",
            "tg8+head",
            "pp8+tg4+head",
            "tg8 @ d0",
            "tg8 @ 16",
            "tg8 @ d",
            "tg8 @",
            "@ d4",
            "tg8 @ d4 @ d4",
        ] {
            assert_eq!(TestSpec::parse(bad), None, "{bad}");
        }
    }
}
