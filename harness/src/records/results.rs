//! Durable results: `results/<run-id>/` with `cells.jsonl`, `run.json`, `cells.csv`.
//!
//! - `cells.jsonl` is appended and flushed (`fsync`) after every timed repetition and every
//!   model load, so a crash, Ctrl-C or a full disk loses no measured repetition. Each line is a
//!   [`Record`]; a torn last line (a crash mid-write) is ignored on reading.
//! - `scenario.toml` is the scenario's text as run, so `--resume` runs exactly the same cells.
//! - `run.json` (schema [`SCHEMA_VERSION`], units in field names) and `cells.csv` (flat, one
//!   row per cell) are rewritten atomically (write to a temporary file, `fsync`, rename): at
//!   the start (status `running`) and at the end (status `complete`).

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::output::csv;
use crate::records::counters::{CounterStatus, Reading};
use crate::records::stats::{self, Estimate, Percentiles, Summary};

/// Version of `run.json`'s schema; bumped on any incompatible change.
pub const SCHEMA_VERSION: u32 = 1;

/// One model build (one engine of one model).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelRecord {
    /// Model name as given in the scenario.
    pub model: String,
    /// `ternary` or `fp16`.
    pub engine: String,
    /// Linear-layer format.
    pub format: String,
    /// LM head format.
    pub head: String,
    /// Layers built.
    pub layers_built: usize,
    /// Layers of the model.
    pub layers_total: usize,
    /// Parameters of the full model (linear + embedding).
    pub params: u64,
    /// Bytes of weights held for the built layers.
    pub weight_bytes: u64,
    /// Bytes one decode step reads (built layers + head).
    pub decode_bytes_per_token: u64,
    /// The same scaled to the full depth (equal unless sampled).
    pub decode_bytes_per_token_full_depth: u64,
    /// Bytes of K and V one cached position holds over the built layers: a decode step that
    /// attends over `c` positions reads `c` times this from the KV cache besides the weights.
    #[serde(default)]
    pub kv_bytes_per_position: u64,
    /// Seconds to build or load it.
    pub load_seconds: f64,
    /// The FFN activation the model uses (`relu2`, `silu`).
    pub activation: String,
    /// For a peer (an external `llama-bench`): its build and what it said about the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<Box<PeerBuild>>,
}

/// What a peer run records about the program (see `measure::peer`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeerBuild {
    /// The `llama-bench` binary.
    pub bench: String,
    /// The GGUF file it ran.
    pub file: String,
    /// llama-bench's `build_commit`.
    pub build_commit: String,
    /// llama-bench's `cpu_info`.
    pub cpu_info: String,
    /// llama-bench's `model_type` (its description of the file).
    pub model_type: String,
    /// llama-bench's `model_size` (bytes as it counts them; bitnet.cpp's misreports I2_S: the
    /// decode bytes above come from the file itself).
    pub reported_model_size: u64,
    /// The build record beside the binary (`peer.json` from scripts/peers: commits, compiler,
    /// flags), when there is one.
    pub record: Option<serde_json::Value>,
}

/// Energy of one phase of one repetition: measured figures, or ESTIMATED ones in fields of
/// their own, or why there is none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseEnergy {
    /// `measured` or `estimated`.
    pub method: String,
    /// Seconds of the window.
    pub seconds: f64,
    /// Gross measured joules of `cpu_total` (Σpackage + Σdram); `null` when the window has no
    /// measured figure (`missing` says why) and always for estimates.
    pub cpu_total_joules: Option<f64>,
    /// Measured joules net of the idle baseline (`null` without one; `notes` says why).
    pub cpu_total_net_joules: Option<f64>,
    /// ESTIMATED joules (`--energy estimate` only: a model, never a measurement).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimated_joules: Option<f64>,
    /// ESTIMATED joules above the model's idle power.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimated_net_joules: Option<f64>,
    /// Joules per domain, gross.
    pub domains_joules: std::collections::BTreeMap<String, f64>,
    /// Counter wraps seen during the window.
    pub wraps_seen: u64,
    /// Whether DRAM energy is in `cpu_total_joules` (`null`: no measured figure).
    #[serde(default)]
    pub dram_measured: Option<bool>,
    /// Why there is no figure for this window (a failed counter read, no package figure).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missing: Option<String>,
    /// Caveats of this window: a counter that did not move, a window under 1 s, net below
    /// zero, no net figure and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl PhaseEnergy {
    /// A window without a figure, and why.
    pub fn missing(method: &str, seconds: f64, why: impl Into<String>) -> PhaseEnergy {
        PhaseEnergy {
            method: method.to_string(),
            seconds,
            cpu_total_joules: None,
            cpu_total_net_joules: None,
            estimated_joules: None,
            estimated_net_joules: None,
            domains_joules: Default::default(),
            wraps_seen: 0,
            dram_measured: None,
            missing: Some(why.into()),
            notes: Vec::new(),
        }
    }

    /// The ESTIMATED joules, also from results written before estimates had a field of their
    /// own (then `cpu_total_joules` with `method: "estimated"`).
    pub fn estimate(&self) -> Option<f64> {
        if self.method == "estimated" {
            self.estimated_joules.or(self.cpu_total_joules)
        } else {
            None
        }
    }

    /// The measured gross joules (never an estimate).
    pub fn measured(&self) -> Option<f64> {
        (self.method != "estimated")
            .then_some(self.cpu_total_joules)
            .flatten()
    }
}

/// One timed repetition of one cell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleRecord {
    /// The cell.
    pub key: CellKey,
    /// Timed repetition index of this cell (0-based).
    pub rep: usize,
    /// When it finished (RFC 3339 UTC).
    pub time_utc: String,
    /// Prompt tokens.
    pub n_prompt: usize,
    /// Decode steps.
    pub n_gen: usize,
    /// Tokens in the cache before the test (prefilled untimed).
    #[serde(default)]
    pub n_depth: usize,
    /// Sequences run together (each with `n_prompt` prompt tokens and `n_gen` decode steps):
    /// the prefill ran their prompts in one pass, each decode step one token of each.
    #[serde(default = "one")]
    pub batch: usize,
    /// Seconds of the prefill, first token chosen (`null` without prefill).
    pub prefill_seconds: Option<f64>,
    /// Seconds of each decode step.
    pub decode_step_seconds: Vec<f64>,
    /// Seconds of all `n_gen` decode steps together, when the steps were not timed one by one
    /// (a peer's llama-bench reports only its tg run's total); `decode_step_seconds` is then
    /// empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decode_seconds: Option<f64>,
    /// A peer's repetition: seconds of its whole invocation (model load, warm-up and the timed
    /// run), the window an energy reading around it covers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_window_seconds: Option<f64>,
    /// A peer's repetition: energy over that whole invocation (model load and warm-up
    /// included, so NOT the energy of its tokens; `peer_window_seconds` long).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_window_energy: Option<PhaseEnergy>,
    /// Peak resident memory of the process so far in this model group (bytes).
    pub peak_rss_bytes: Option<u64>,
    /// Counter deltas over the prefill.
    pub counters_prefill: Option<Reading>,
    /// Counter deltas over the decode steps.
    pub counters_decode: Option<Reading>,
    /// Energy over the prefill.
    pub energy_prefill: Option<PhaseEnergy>,
    /// Energy over the decode steps.
    pub energy_decode: Option<PhaseEnergy>,
    /// Read bandwidth at this cell's thread count, read just before this repetition (GB/s;
    /// absent in results written before it was recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bandwidth_before_gbps: Option<f64>,
    /// The same reading just after this repetition (GB/s; absent in results written before it
    /// was recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bandwidth_after_gbps: Option<f64>,
}

impl SampleRecord {
    /// Prompt tokens per second, over all `batch` prompts (aggregate).
    pub fn prefill_tps(&self) -> Option<f64> {
        self.prefill_seconds
            .filter(|&s| s > 0.0 && self.n_prompt > 0)
            .map(|s| (self.n_prompt * self.batch.max(1)) as f64 / s)
    }

    /// Decode tokens per second over all `batch` sequences (aggregate; a step makes one token
    /// of each).
    pub fn decode_tps(&self) -> Option<f64> {
        if self.decode_step_seconds.is_empty() {
            return self
                .decode_seconds
                .filter(|&s| s > 0.0 && self.n_gen > 0)
                .map(|s| self.n_gen as f64 / s);
        }
        let s: f64 = self.decode_step_seconds.iter().sum();
        (s > 0.0).then(|| (self.decode_step_seconds.len() * self.batch.max(1)) as f64 / s)
    }

    /// The bandwidth this repetition's decode is paired with (GB/s): the mean of the readings
    /// just before and just after it, which bracket the timed span so drift during it counts
    /// from both sides; the reading before alone in results written without the one after.
    /// `None` without a positive reading before.
    pub fn paired_bandwidth_gbps(&self) -> Option<f64> {
        let before = self.bandwidth_before_gbps.filter(|&g| g > 0.0)?;
        Some(match self.bandwidth_after_gbps.filter(|&g| g > 0.0) {
            Some(after) => (before + after) / 2.0,
            None => before,
        })
    }

    /// Seconds of timed work in this repetition.
    pub fn seconds(&self) -> f64 {
        self.prefill_seconds.unwrap_or(0.0)
            + self.decode_step_seconds.iter().sum::<f64>()
            + self.decode_seconds.unwrap_or(0.0)
    }
}

fn one() -> usize {
    1
}

/// A line of `cells.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "record", rename_all = "snake_case")]
pub enum Record {
    /// A model was built.
    Model(ModelRecord),
    /// A timed repetition finished.
    Sample(Box<SampleRecord>),
}

/// A sampled model's layers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sampled {
    /// Layers built and timed.
    pub layers_built: usize,
    /// Layers of the model.
    pub layers_total: usize,
}

/// Per-token energy of a cell, from the same repetitions as its speed. Measured figures and
/// ESTIMATED ones never share a field: an estimate's are the `estimated_*` fields.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CellEnergy {
    /// `measured` or `estimated`: never mixed.
    pub method: String,
    /// Measured gross J per prompt token over the prefill windows.
    pub prefill_joules_per_token: Option<Summary>,
    /// Measured gross J per generated token over the decode windows.
    pub decode_joules_per_token: Option<Summary>,
    /// Measured net-of-idle J per generated token.
    pub decode_net_joules_per_token: Option<Summary>,
    /// Measured average watts over the decode windows.
    pub decode_watts: Option<Summary>,
    /// J per generated token of each decode repetition, measured (or ESTIMATED, as `method`
    /// says), for ratios with an interval (absent in results written before it was kept).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub samples_decode_joules_per_token: Vec<f64>,
    /// ESTIMATED J per prompt token (a model, not a measurement).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimated_prefill_joules_per_token: Option<Summary>,
    /// ESTIMATED J per generated token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimated_decode_joules_per_token: Option<Summary>,
    /// ESTIMATED J per generated token above the model's idle power.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimated_decode_net_joules_per_token: Option<Summary>,
    /// Whether DRAM energy is in the measured J/token (`null` without a measured figure). It
    /// differs by machine: compare J/token only between runs that agree on it.
    #[serde(default)]
    pub dram_in_total: Option<bool>,
    /// Decode repetitions with a figure, and all decode repetitions.
    #[serde(default)]
    pub decode_repetitions_with_energy: usize,
    /// All decode repetitions of the cell.
    #[serde(default)]
    pub decode_repetitions: usize,
    /// Why figures are missing, for all or some repetitions (each reason once).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missing: Option<String>,
    /// Caveats of the windows, each once.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl CellEnergy {
    /// Decode J/token and whether it is ESTIMATED: the measured figure, else the estimate
    /// (also from results written before estimates had fields of their own).
    pub fn decode_jpt(&self) -> Option<(&Summary, bool)> {
        if self.method == "estimated" {
            self.estimated_decode_joules_per_token
                .as_ref()
                .or(self.decode_joules_per_token.as_ref())
                .map(|s| (s, true))
        } else {
            self.decode_joules_per_token.as_ref().map(|s| (s, false))
        }
    }

    /// Prefill J/token and whether it is ESTIMATED.
    pub fn prefill_jpt(&self) -> Option<(&Summary, bool)> {
        if self.method == "estimated" {
            self.estimated_prefill_joules_per_token
                .as_ref()
                .or(self.prefill_joules_per_token.as_ref())
                .map(|s| (s, true))
        } else {
            self.prefill_joules_per_token.as_ref().map(|s| (s, false))
        }
    }

    /// The measured decode J/token (never an estimate).
    pub fn measured_decode_jpt(&self) -> Option<&Summary> {
        self.decode_jpt().filter(|(_, est)| !est).map(|(s, _)| s)
    }

    /// The ESTIMATED decode J/token.
    pub fn estimated_decode_jpt(&self) -> Option<&Summary> {
        self.decode_jpt().filter(|(_, est)| *est).map(|(s, _)| s)
    }

    /// `DRAM in`, `DRAM out`, or empty when unknown: shown beside every J/token.
    pub fn dram_label(&self) -> &'static str {
        match self.dram_in_total {
            Some(true) => "DRAM in",
            Some(false) => "DRAM out",
            None => "",
        }
    }
}

/// One cell's results: what `run.json` and `cells.csv` carry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellResult {
    /// Settings.
    pub key: CellKey,
    /// Prompt tokens.
    pub n_prompt: usize,
    /// Decode steps.
    pub n_gen: usize,
    /// Tokens in the cache before the test (prefilled untimed).
    #[serde(default)]
    pub n_depth: usize,
    /// Sequences run together (1: a single stream). Token rates are aggregate over them.
    #[serde(default = "one")]
    pub batch: usize,
    /// Set when only some layers were built: every figure is for those layers, and the
    /// `*_full_depth_estimate` fields scale them.
    pub sampled: Option<Sampled>,
    /// Timed repetitions.
    pub repetitions: usize,
    /// Seconds to build/load the model (this engine).
    pub load_seconds: Option<f64>,
    /// Bytes of weights one decode token reads: a step's weight bytes over the `batch` tokens
    /// it makes (all of them for a single stream).
    pub decode_bytes_per_token: Option<u64>,
    /// Bytes of KV cache one decode step of this test reads, averaged over its steps (step `s`
    /// of `n_gen` attends over `n_depth + n_prompt + s + 1` positions, see
    /// [`kv_bytes_per_step`]). The roofline counts them beside the weights.
    #[serde(default)]
    pub decode_kv_bytes_per_token: Option<u64>,
    /// Prompt tokens/s.
    pub prefill_tokens_per_s: Option<Summary>,
    /// Decode tokens/s (aggregate over the `batch` sequences).
    pub decode_tokens_per_s: Option<Summary>,
    /// Decode tokens/s of each sequence (aggregate over `batch`; the same as the aggregate for a
    /// single stream).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decode_tokens_per_s_per_stream: Option<Summary>,
    /// The multiply-add rate the median decode reached over the one this CPU's peaks allow
    /// (`compute_peak`): tokens/s × (ternary/q8 products ÷ the int8 peak + f16 products ÷ the
    /// f32 FMA peak) per token, linear layers and LM head (attention left out). Set where the
    /// run measured the peaks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decode_peak_fraction: Option<f64>,
    /// The peaks behind `decode_peak_fraction` (and the prefill's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compute_peak: Option<ComputePeak>,
    /// As `decode_peak_fraction`, for the prefill (the LM head counted once per prompt, or per
    /// token for `ppN+head`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefill_peak_fraction: Option<f64>,
    /// Time to first token (prefill + choosing the token), seconds.
    pub ttft_seconds: Option<Summary>,
    /// Per-token decode latency percentiles over every step of every repetition, ms.
    pub decode_latency_ms: Option<Percentiles>,
    /// Peak resident memory of the process while the cell ran (bytes; includes every engine
    /// of the model group loaded beside it).
    pub peak_rss_bytes: Option<u64>,
    /// Instructions per decode token (`null`: counters unavailable, see run.json).
    pub decode_instructions_per_token: Option<Summary>,
    /// Cycles per decode token.
    pub decode_cycles_per_token: Option<Summary>,
    /// Cache misses per decode token.
    pub decode_cache_misses_per_token: Option<Summary>,
    /// Instructions per prompt token.
    pub prefill_instructions_per_token: Option<Summary>,
    /// Read bandwidth used as the roofline's denominator (GB/s, this run, same threads): the
    /// median of the repetitions' paired readings (before and after each) when they exist, else
    /// the mean of the run's start and end readings.
    pub bandwidth_gbps: Option<f64>,
    /// Decode tokens/s × bytes per token over the bandwidth: the median over repetitions, each
    /// against the mean of the bandwidth read just before and just after it
    /// ([`SampleRecord::paired_bandwidth_gbps`], `roofline_paired`), else each repetition's
    /// tokens/s over `bandwidth_gbps`.
    pub decode_roofline_fraction: Option<f64>,
    /// The same with its 95% interval, clipped at 100% with the reason when a repetition went
    /// past it ([`stats::roofline_fraction`]).
    #[serde(default)]
    pub decode_roofline: Option<Estimate>,
    /// Each repetition's roofline fraction.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub samples_decode_roofline_fraction: Vec<f64>,
    /// Whether the roofline pairs each repetition with its own bandwidth reading.
    #[serde(default)]
    pub roofline_paired: bool,
    /// ESTIMATE for the full depth from sampled layers: median decode tokens/s scaled by
    /// built/total layers over the whole step (errs slow: the head is scaled too).
    pub decode_tokens_per_s_full_depth_estimate: Option<f64>,
    /// ESTIMATE for the full depth: median prefill tokens/s scaled likewise.
    pub prefill_tokens_per_s_full_depth_estimate: Option<f64>,
    /// Energy per token (`null`: energy unavailable, see run.json `energy`).
    pub energy: Option<CellEnergy>,
    /// The headline metric's CV exceeds the scenario's `max_cv`: too noisy to trust.
    pub noisy: bool,
    /// Raw samples, prompt tokens/s per repetition.
    pub samples_prefill_tokens_per_s: Vec<f64>,
    /// Raw samples, decode tokens/s per repetition.
    pub samples_decode_tokens_per_s: Vec<f64>,
    /// Why the cell has no (or fewer) measurements: a peer that crashed, refused its file or
    /// timed out. The run goes on without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl CellResult {
    /// Whether a decode step's bytes must stream from memory: they exceed the last-level cache
    /// (`llc_bytes`; unknown counts as streamed), so the memory roofline bounds the step.
    pub fn streams_from_memory(&self, llc_bytes: Option<u64>) -> bool {
        match (self.decode_read_bytes(), llc_bytes) {
            (Some(b), Some(l)) if l > 0 => b > l,
            _ => true,
        }
    }

    /// Sets the roofline's denominator for this cell (GB/s at its thread count) and the
    /// fraction of it reached: median decode tokens/s × bytes per token over the bandwidth.
    /// A cell whose repetitions carry their own readings keeps its paired figures.
    /// `llc_bytes`: the last-level cache, which decides whether the roofline bounds the cell.
    pub fn set_bandwidth(&mut self, gbps: f64, llc_bytes: Option<u64>) {
        if self.roofline_paired {
            return;
        }
        self.bandwidth_gbps = Some(gbps);
        self.samples_decode_roofline_fraction = match self.decode_read_bytes() {
            Some(bytes) if gbps > 0.0 => self
                .samples_decode_tokens_per_s
                .iter()
                .map(|t| t * bytes as f64 / (gbps * 1e9))
                .collect(),
            _ => Vec::new(),
        };
        self.decode_roofline = stats::roofline_fraction(
            &self.samples_decode_roofline_fraction,
            self.streams_from_memory(llc_bytes),
        );
        self.decode_roofline_fraction = match (&self.decode_tokens_per_s, self.decode_read_bytes())
        {
            (Some(t), Some(bytes)) if gbps > 0.0 => Some(t.median * bytes as f64 / (gbps * 1e9)),
            _ => None,
        };
    }

    /// This cell's tokens/s over `other`'s (decode or prefill), with the interval of the ratio
    /// from both cells' repetitions: [`stats::ratio`], the one ratio every command prints.
    pub fn tps_ratio(&self, other: &CellResult, decode: bool) -> Option<Estimate> {
        fn pick(c: &CellResult, decode: bool) -> (&Vec<f64>, &Option<Summary>) {
            if decode {
                (&c.samples_decode_tokens_per_s, &c.decode_tokens_per_s)
            } else {
                (&c.samples_prefill_tokens_per_s, &c.prefill_tokens_per_s)
            }
        }
        let ((ra, sa), (rb, sb)) = (pick(self, decode), pick(other, decode));
        if !ra.is_empty() && !rb.is_empty() {
            return stats::ratio(ra, rb);
        }
        // An older file without repetitions: the ratio of the medians, no interval.
        let (a, b) = (sa.as_ref()?, sb.as_ref()?);
        (b.median > 0.0).then(|| Estimate {
            value: a.median / b.median,
            ci95_low: None,
            ci95_high: None,
            ci_level: None,
            method: stats::RATIO_CI.into(),
            n: a.n,
            n_den: Some(b.n),
            no_ci: Some("the repetitions are not in the results file: no interval".into()),
            clipped: None,
            note: None,
        })
    }

    /// Whether `other` is this cell's twin on another engine: same model, SIMD level,
    /// threads and test.
    pub fn same_setup(&self, other: &CellResult) -> bool {
        self.key.model == other.key.model
            && self.key.isa == other.key.isa
            && self.key.threads == other.key.threads
            && self.key.test == other.key.test
    }

    /// The roofline fraction with its interval (or why none), as every command shows it.
    pub fn roofline(&self) -> Option<Estimate> {
        if let Some(e) = &self.decode_roofline {
            return Some(e.clone());
        }
        let v = self.decode_roofline_fraction?;
        stats::roofline_fraction(&self.samples_decode_roofline_fraction, true).or_else(|| {
            let mut e = Summary::of(&[v])?.estimate();
            e.no_ci = Some("an older results file: per-repetition fractions not kept".into());
            Some(e)
        })
    }

    /// Re-derives what older results files computed another way: the tokens/s summaries from
    /// the repetitions they keep (their intervals were of the mean), the roofline interval
    /// (`llc_bytes`: the machine's last-level cache, from the run's machine block).
    pub fn restat(&mut self, llc_bytes: Option<u64>) {
        let redo = |s: &mut Option<Summary>, raw: &[f64]| {
            if s.as_ref().is_some_and(|s| s.ci_method != stats::MEDIAN_CI) && !raw.is_empty() {
                *s = Summary::of(raw);
            }
        };
        redo(
            &mut self.prefill_tokens_per_s,
            &self.samples_prefill_tokens_per_s,
        );
        redo(
            &mut self.decode_tokens_per_s,
            &self.samples_decode_tokens_per_s,
        );
        if self.decode_roofline.is_none() && self.samples_decode_roofline_fraction.is_empty() {
            if let (Some(f), Some(t)) = (self.decode_roofline_fraction, &self.decode_tokens_per_s) {
                if t.median > 0.0 {
                    // Each repetition against the cell's one denominator.
                    self.samples_decode_roofline_fraction = self
                        .samples_decode_tokens_per_s
                        .iter()
                        .map(|x| f * x / t.median)
                        .collect();
                }
            }
            let streamed = self.streams_from_memory(llc_bytes);
            self.decode_roofline =
                stats::roofline_fraction(&self.samples_decode_roofline_fraction, streamed).map(
                    |mut e| {
                        e.value = self.decode_roofline_fraction.unwrap_or(e.value);
                        e
                    },
                );
        }
    }

    /// Bytes one decode step reads (see [`decode_read_bytes`]).
    pub fn decode_read_bytes(&self) -> Option<u64> {
        decode_read_bytes(self.decode_bytes_per_token, self.decode_kv_bytes_per_token)
    }
}

/// The multiply-add peaks a cell's compute fraction is taken against: this run's `peak` loops
/// at the cell's SIMD level and thread count (the fastest of their timed runs), and what one
/// token costs in products on each.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComputePeak {
    /// int8 products per second (`vpdpbusd` where the level has VNNI), 10^9.
    pub int8_gops: f64,
    /// f32 fused multiply-adds per second, 10^9.
    pub f32_gops: f64,
    /// Products of the linear layers per token (the model as built).
    pub body_products_per_token: u64,
    /// `int8` (ternary layers) or `f32` (the FP16 twin's f16 weights).
    pub body_kind: String,
    /// Products of the LM head per token that reaches it.
    pub head_products_per_token: u64,
    /// `int8` (q8 head) or `f32` (f16 head).
    pub head_kind: String,
}

impl ComputePeak {
    fn gops(&self, kind: &str) -> f64 {
        if kind == "int8" {
            self.int8_gops
        } else {
            self.f32_gops
        }
    }

    /// Seconds the peaks need for `tokens` tokens of which `head_tokens` reach the LM head.
    pub fn seconds(&self, tokens: f64, head_tokens: f64) -> f64 {
        tokens * self.body_products_per_token as f64 / (self.gops(&self.body_kind) * 1e9)
            + head_tokens * self.head_products_per_token as f64 / (self.gops(&self.head_kind) * 1e9)
    }
}

/// Bytes one decode step reads, the roofline's numerator: the weights plus the step's mean KV
/// cache bytes (none when unknown).
pub fn decode_read_bytes(weights: Option<u64>, kv: Option<u64>) -> Option<u64> {
    weights.map(|w| w + kv.unwrap_or(0))
}

/// Mean KV cache bytes a decode step reads over the `n_gen` steps that follow `cached`
/// positions (depth plus prompt), `per_position` bytes per cached position: step `s` attends
/// over `cached + s + 1` positions, so the mean is `cached + (n_gen + 1) / 2` positions
/// (rounded down to a byte).
pub fn kv_bytes_per_step(per_position: u64, cached: usize, n_gen: usize) -> u64 {
    if n_gen == 0 {
        return 0;
    }
    per_position * (2 * cached as u64 + n_gen as u64 + 1) / 2
}

/// The scenario as run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScenarioInfo {
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// File it was read from (`null`: the embedded quick scenario).
    pub file: Option<String>,
    /// Its full text.
    pub text: String,
}

/// Bandwidth measured in the run at one thread count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunBandwidth {
    /// Threads.
    pub threads: usize,
    /// Median GB/s before the sweep.
    pub before_gbps: f64,
    /// Median GB/s after the sweep (`null` until the end).
    pub after_gbps: Option<f64>,
}

impl RunBandwidth {
    /// Mean of before and after (before alone until the end).
    pub fn gbps(&self) -> f64 {
        match self.after_gbps {
            Some(a) => (self.before_gbps + a) / 2.0,
            None => self.before_gbps,
        }
    }
}

/// The software prefetch distance a tuned gemv format ran with at one thread count
/// (`run.json` `prefetch`; see `measure::prefetch`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrefetchChoice {
    /// Weight format (`i2`, `tq1`, `q4`, `f16`).
    pub format: String,
    /// SIMD level it was calibrated at.
    pub isa: String,
    /// Threads.
    pub threads: usize,
    /// The distance the cells ran with, bytes (0: no software prefetch).
    pub bytes: usize,
    /// `calibrated` (timed on this host before the cells) or `--prefetch` (given).
    pub source: String,
    /// Every candidate's gemv read rate on the calibration stack (empty when given).
    #[serde(default)]
    pub candidates: Vec<PrefetchCandidate>,
}

impl PrefetchChoice {
    /// A distance for a person: `none` for 0, else bytes.
    pub fn distance_text(bytes: usize) -> String {
        if bytes == 0 {
            "none".to_string()
        } else {
            format!("{bytes} B")
        }
    }

    /// One line for a person: the choice, and the candidates' medians when calibrated.
    pub fn line(&self) -> String {
        let dist = PrefetchChoice::distance_text;
        let mut s = format!(
            "gemv prefetch {} {} {}t: {} ({})",
            self.format,
            self.isa,
            self.threads,
            dist(self.bytes),
            self.source
        );
        if !self.candidates.is_empty() {
            let c: Vec<String> = self
                .candidates
                .iter()
                .map(|c| format!("{} {:.1}", dist(c.bytes), c.median_gbps))
                .collect();
            s.push_str(&format!("; median GB/s: {}", c.join(", ")));
        }
        s
    }
}

/// One candidate distance of a calibration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrefetchCandidate {
    /// Distance, bytes (0: none).
    pub bytes: usize,
    /// Median GB/s of the interleaved rounds.
    pub median_gbps: f64,
    /// Every round's GB/s.
    pub samples_gbps: Vec<f64>,
}

/// `run.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunFile {
    /// [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The folder name under `results/`.
    pub run_id: String,
    /// `running`, `complete`.
    pub status: String,
    /// ternbench version.
    pub ternbench_version: String,
    /// Start (RFC 3339 UTC).
    pub started_utc: String,
    /// End (`null` while running).
    pub finished_utc: Option<String>,
    /// Times the run was resumed.
    pub resumed: usize,
    /// The scenario.
    pub scenario: ScenarioInfo,
    /// The machine fingerprint.
    pub machine: serde_json::Value,
    /// What the user calls the machine (`ternbench run --label`: an instance type, a lab
    /// host): reports show it in place of the CPU name. `null` when not given.
    #[serde(default)]
    pub label: Option<String>,
    /// The machine's price in USD per hour (`ternbench run --price-per-hour`): the CPU
    /// comparison's tokens per dollar. `null` when not given.
    #[serde(default)]
    pub price_usd_per_hour: Option<f64>,
    /// Read bandwidth per thread count (roofline denominators).
    pub bandwidth: Vec<RunBandwidth>,
    /// The decode kernels' software prefetch distances the cells ran with (calibrated on this
    /// host or given); empty in runs before it was tunable.
    #[serde(default)]
    pub prefetch: Vec<PrefetchChoice>,
    /// Hardware counters: measured or why not.
    pub counters: CounterStatus,
    /// Energy: source, domains, idle baseline, or why unavailable.
    pub energy: serde_json::Value,
    /// Models built.
    pub models: Vec<ModelRecord>,
    /// Cell results.
    pub cells: Vec<CellResult>,
    /// Notes worth reading beside the numbers.
    pub notes: Vec<String>,
}

impl RunFile {
    /// Parses a `run.json` and re-derives what older versions computed another way
    /// ([`CellResult::restat`]), so every command reads the same figures from it.
    pub fn parse(text: &str) -> serde_json::Result<RunFile> {
        let mut r: RunFile = serde_json::from_str(text)?;
        let llc = r
            .machine
            .get("l3_bytes")
            .and_then(serde_json::Value::as_u64);
        for c in &mut r.cells {
            c.restat(llc);
        }
        Ok(r)
    }
}

/// A results folder.
#[derive(Debug)]
pub struct RunDir {
    path: PathBuf,
    jsonl: File,
}

impl RunDir {
    /// Creates `root/<id>` (`id` made unique with a suffix) holding the scenario text.
    pub fn create(root: &Path, id: &str, scenario_text: &str) -> Result<RunDir> {
        std::fs::create_dir_all(root)
            .with_context(|| format!("creating the results folder {}", root.display()))?;
        let mut path = root.join(id);
        let mut n = 1;
        while path.exists() {
            n += 1;
            path = root.join(format!("{id}-{n}"));
        }
        std::fs::create_dir(&path).with_context(|| format!("creating {}", path.display()))?;
        write_atomic(&path.join("scenario.toml"), scenario_text.as_bytes())?;
        let jsonl = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path.join("cells.jsonl"))
            .with_context(|| format!("creating {}", path.join("cells.jsonl").display()))?;
        Ok(RunDir { path, jsonl })
    }

    /// Opens an existing run for `--resume`: its scenario text, its records, its run.json.
    pub fn open(path: &Path) -> Result<(RunDir, String, Vec<Record>, Option<RunFile>)> {
        let scen = path.join("scenario.toml");
        let text = std::fs::read_to_string(&scen).with_context(|| {
            format!(
                "{}: not a ternbench results folder (no readable scenario.toml)",
                path.display()
            )
        })?;
        let jpath = path.join("cells.jsonl");
        let records = if jpath.exists() {
            read_records(&jpath)?
        } else {
            Vec::new()
        };
        let run = match std::fs::read_to_string(path.join("run.json")) {
            Ok(s) => Some(RunFile::parse(&s).with_context(|| {
                format!(
                    "{}: unreadable run.json (schema {SCHEMA_VERSION} expected)",
                    path.display()
                )
            })?),
            Err(_) => None,
        };
        let jsonl = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&jpath)
            .with_context(|| format!("opening {} to append", jpath.display()))?;
        Ok((
            RunDir {
                path: path.to_path_buf(),
                jsonl,
            },
            text,
            records,
            run,
        ))
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The folder's name.
    pub fn id(&self) -> String {
        self.path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    /// Appends one record and makes it durable before returning.
    pub fn append(&mut self, r: &Record) -> Result<()> {
        let mut line = serde_json::to_string(r).context("serialising a result record")?;
        line.push('\n');
        let p = self.path.join("cells.jsonl");
        self.jsonl
            .write_all(line.as_bytes())
            .and_then(|_| self.jsonl.flush())
            .and_then(|_| self.jsonl.sync_data())
            .with_context(|| {
                format!(
                    "appending to {} (every repetition measured before this one is saved there; free space and run `ternbench run --resume {}`)",
                    p.display(),
                    self.path.display()
                )
            })
    }

    /// Writes `run.json` and `cells.csv` atomically.
    pub fn write_summary(&self, run: &RunFile) -> Result<()> {
        let json = serde_json::to_string_pretty(run).context("serialising run.json")?;
        write_atomic(&self.path.join("run.json"), json.as_bytes())?;
        write_atomic(&self.path.join("cells.csv"), cells_csv(run).as_bytes())
    }

    /// Writes another file atomically into the folder.
    pub fn write_file(&self, name: &str, data: &str) -> Result<()> {
        write_atomic(&self.path.join(name), data.as_bytes())
    }
}

/// Reads `cells.jsonl`; a torn final line is skipped, a corrupt line elsewhere is an error.
pub fn read_records(path: &Path) -> Result<Vec<Record>> {
    let f = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let lines: Vec<String> = BufReader::new(f)
        .lines()
        .collect::<Result<_, _>>()
        .with_context(|| format!("reading {}", path.display()))?;
    let mut out = Vec::new();
    let n = lines.len();
    for (i, l) in lines.iter().enumerate() {
        if l.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Record>(l) {
            Ok(r) => out.push(r),
            Err(_) if i + 1 == n => {} // torn last line: the process died mid-write
            Err(e) => bail!(
                "{}:{}: not a ternbench record ({e}); the file is damaged",
                path.display(),
                i + 1
            ),
        }
    }
    Ok(out)
}

/// Write to `path.tmp`, fsync, rename over `path`.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    let tmp = path.with_extension(format!(
        "{}.tmp",
        path.extension().and_then(|e| e.to_str()).unwrap_or("")
    ));
    let res = (|| -> std::io::Result<()> {
        let mut f = File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if res.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    res.with_context(|| format!("writing {}", path.display()))
}

/// The columns of `cells.csv`.
pub const CSV_COLUMNS: &[&str] = &[
    "run_id",
    "model",
    "engine",
    "format",
    "head",
    "isa",
    "threads",
    "test",
    "n_prompt",
    "n_depth",
    "n_gen",
    "batch",
    "sampled_layers",
    "model_layers",
    "repetitions",
    "prefill_tps_median",
    "prefill_tps_mean",
    "prefill_tps_stddev",
    "prefill_tps_ci95_low",
    "prefill_tps_ci95_high",
    "decode_tps_median",
    "decode_tps_mean",
    "decode_tps_stddev",
    "decode_tps_ci95_low",
    "decode_tps_ci95_high",
    "decode_tps_cv",
    "ttft_s_median",
    "decode_latency_ms_p50",
    "decode_latency_ms_p90",
    "decode_latency_ms_p99",
    "peak_rss_bytes",
    "load_s",
    "decode_bytes_per_token",
    "decode_kv_bytes_per_token",
    "bandwidth_gbps",
    "decode_roofline_fraction",
    "decode_roofline_ci95_low",
    "decode_roofline_ci95_high",
    "decode_tps_full_depth_estimate",
    "decode_instructions_per_token",
    "energy_method",
    "decode_j_per_token",
    "decode_net_j_per_token",
    "dram_in_total",
    "decode_j_per_token_ESTIMATED",
    "energy_missing",
    "noisy",
    "decode_tps_per_stream_median",
    "decode_peak_fraction",
    "prefill_peak_fraction",
];

fn cells_csv(run: &RunFile) -> String {
    let f = |v: Option<f64>| v.map(|x| format!("{x}")).unwrap_or_default();
    let med = |s: &Option<Summary>| s.as_ref().map(|s| s.median);
    let rows: Vec<Vec<String>> = run
        .cells
        .iter()
        .map(|c| {
            vec![
                run.run_id.clone(),
                c.key.model.clone(),
                c.key.engine.clone(),
                c.key.format.clone(),
                c.key.head.clone(),
                c.key.isa.clone(),
                c.key.threads.to_string(),
                c.key.test.clone(),
                c.n_prompt.to_string(),
                c.n_depth.to_string(),
                c.n_gen.to_string(),
                c.batch.to_string(),
                c.sampled
                    .as_ref()
                    .map(|s| s.layers_built.to_string())
                    .unwrap_or_default(),
                c.sampled
                    .as_ref()
                    .map(|s| s.layers_total.to_string())
                    .unwrap_or_default(),
                c.repetitions.to_string(),
                f(med(&c.prefill_tokens_per_s)),
                f(c.prefill_tokens_per_s.as_ref().map(|s| s.mean)),
                f(c.prefill_tokens_per_s.as_ref().map(|s| s.stddev)),
                f(c.prefill_tokens_per_s.as_ref().and_then(|s| s.ci95_low)),
                f(c.prefill_tokens_per_s.as_ref().and_then(|s| s.ci95_high)),
                f(med(&c.decode_tokens_per_s)),
                f(c.decode_tokens_per_s.as_ref().map(|s| s.mean)),
                f(c.decode_tokens_per_s.as_ref().map(|s| s.stddev)),
                f(c.decode_tokens_per_s.as_ref().and_then(|s| s.ci95_low)),
                f(c.decode_tokens_per_s.as_ref().and_then(|s| s.ci95_high)),
                f(c.decode_tokens_per_s.as_ref().and_then(|s| s.cv)),
                f(med(&c.ttft_seconds)),
                f(c.decode_latency_ms.as_ref().map(|p| p.p50)),
                f(c.decode_latency_ms.as_ref().map(|p| p.p90)),
                f(c.decode_latency_ms.as_ref().map(|p| p.p99)),
                c.peak_rss_bytes.map(|b| b.to_string()).unwrap_or_default(),
                f(c.load_seconds),
                c.decode_bytes_per_token
                    .map(|b| b.to_string())
                    .unwrap_or_default(),
                c.decode_kv_bytes_per_token
                    .map(|b| b.to_string())
                    .unwrap_or_default(),
                f(c.bandwidth_gbps),
                f(c.decode_roofline_fraction),
                f(c.roofline().and_then(|e| e.ci95_low)),
                f(c.roofline().and_then(|e| e.ci95_high)),
                f(c.decode_tokens_per_s_full_depth_estimate),
                f(med(&c.decode_instructions_per_token)),
                c.energy
                    .as_ref()
                    .map(|e| e.method.clone())
                    .unwrap_or_else(|| "unavailable".into()),
                f(c.energy
                    .as_ref()
                    .and_then(|e| e.measured_decode_jpt().map(|s| s.median))),
                f(c.energy
                    .as_ref()
                    .and_then(|e| med(&e.decode_net_joules_per_token))),
                c.energy
                    .as_ref()
                    .and_then(|e| e.dram_in_total)
                    .map(|d| d.to_string())
                    .unwrap_or_default(),
                f(c.energy
                    .as_ref()
                    .and_then(|e| e.estimated_decode_jpt().map(|s| s.median))),
                c.energy
                    .as_ref()
                    .and_then(|e| e.missing.clone())
                    .unwrap_or_default(),
                c.noisy.to_string(),
                f(med(&c.decode_tokens_per_s_per_stream)),
                f(c.decode_peak_fraction),
                f(c.prefill_peak_fraction),
            ]
        })
        .collect();
    csv(CSV_COLUMNS, &rows)
}

/// RFC 3339 UTC timestamp of now, to the second.
pub fn now_utc() -> String {
    crate::records::fingerprint::os::rfc3339(std::time::SystemTime::now())
}

impl RunFile {
    /// Whether DRAM energy is in this run's measured `cpu_total` (`None`: no measured energy,
    /// or results written before it was recorded and without a provenance domain list).
    pub fn dram_in_total(&self) -> Option<bool> {
        if self.energy.get("status").and_then(|s| s.as_str()) != Some("measured") {
            return None;
        }
        if let Some(d) = self.energy.get("dram_in_total").and_then(|d| d.as_bool()) {
            return Some(d);
        }
        let domains = self.energy.get("provenance")?.get("domains")?.as_array()?;
        Some(domains.iter().any(|d| d.as_str() == Some("dram")))
    }
}

/// One cell: a model × engine × level × threads × test.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CellKey {
    /// Model name as given.
    pub model: String,
    /// `ternary` or `fp16`.
    pub engine: String,
    /// Linear-layer format.
    pub format: String,
    /// LM head format.
    pub head: String,
    /// SIMD level actually used.
    pub isa: String,
    /// Threads.
    pub threads: usize,
    /// Test name (`pp128`, `tg64`, `pp128+tg64`).
    pub test: String,
}

impl CellKey {
    /// A stable one-line id.
    pub fn id(&self) -> String {
        format!(
            "{} {}{} head={} {} t{} {}",
            self.model,
            self.engine,
            if self.engine == "ternary" {
                format!("/{}", self.format)
            } else {
                String::new()
            },
            self.head,
            self.isa,
            self.threads,
            self.test
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(t: usize) -> CellKey {
        CellKey {
            model: "m".into(),
            engine: "ternary".into(),
            format: "i2".into(),
            head: "f16".into(),
            isa: "scalar".into(),
            threads: t,
            test: "pp4+tg4".into(),
        }
    }

    fn sample(t: usize, rep: usize) -> Record {
        Record::Sample(Box::new(SampleRecord {
            key: key(t),
            rep,
            time_utc: now_utc(),
            n_prompt: 4,
            n_gen: 2,
            n_depth: 0,
            batch: 1,
            prefill_seconds: Some(0.5),
            decode_step_seconds: vec![0.1, 0.3],
            decode_seconds: None,
            peer_window_seconds: None,
            peer_window_energy: None,
            peak_rss_bytes: Some(1 << 20),
            counters_prefill: None,
            counters_decode: None,
            energy_prefill: None,
            energy_decode: None,
            bandwidth_before_gbps: Some(30.0),
            bandwidth_after_gbps: Some(34.0),
        }))
    }

    #[test]
    fn a_batched_repetition_counts_every_sequence_and_old_records_read_as_one() {
        let Record::Sample(mut r) = sample(1, 0) else {
            unreachable!()
        };
        // 4 prompt tokens in 0.5 s; steps 0.1 + 0.3 s.
        assert_eq!(r.prefill_tps(), Some(8.0));
        assert_eq!(r.decode_tps(), Some(5.0));
        r.batch = 3;
        assert_eq!(r.prefill_tps(), Some(24.0));
        assert_eq!(r.decode_tps(), Some(15.0));
        let mut v = serde_json::to_value(&*r).unwrap();
        v.as_object_mut().unwrap().remove("batch");
        let old: SampleRecord = serde_json::from_value(v).unwrap();
        assert_eq!(old.batch, 1);
    }

    #[test]
    fn compute_peak_seconds_by_hand() {
        // 2e9 int8 products of linear layers per token at 200 G/s, a 0.5e9-product f16 head at
        // 50 G/s: 10 ms + 10 ms a decode token; a 100-token prompt reaches the head once.
        let p = ComputePeak {
            int8_gops: 200.0,
            f32_gops: 50.0,
            body_products_per_token: 2_000_000_000,
            body_kind: "int8".into(),
            head_products_per_token: 500_000_000,
            head_kind: "f32".into(),
        };
        assert!((p.seconds(1.0, 1.0) - 0.020).abs() < 1e-12);
        assert!((p.seconds(100.0, 1.0) - 1.010).abs() < 1e-12);
        // The FP16 twin: everything at the f32 peak.
        let f = ComputePeak {
            body_kind: "f32".into(),
            ..p
        };
        assert!((f.seconds(1.0, 1.0) - 0.050).abs() < 1e-12);
    }

    #[test]
    fn paired_bandwidth_is_the_mean_of_the_bracketing_readings() {
        let Record::Sample(mut r) = sample(1, 0) else {
            unreachable!()
        };
        assert_eq!(r.paired_bandwidth_gbps(), Some(32.0));
        // Results written before the reading after: the one before alone.
        r.bandwidth_after_gbps = None;
        assert_eq!(r.paired_bandwidth_gbps(), Some(30.0));
        // A failed reading after (0) is not averaged in.
        r.bandwidth_after_gbps = Some(0.0);
        assert_eq!(r.paired_bandwidth_gbps(), Some(30.0));
        // No usable reading before: no pairing.
        r.bandwidth_before_gbps = Some(0.0);
        r.bandwidth_after_gbps = Some(34.0);
        assert_eq!(r.paired_bandwidth_gbps(), None);
        r.bandwidth_before_gbps = None;
        assert_eq!(r.paired_bandwidth_gbps(), None);
    }

    #[test]
    fn kv_bytes_per_step_is_the_mean_over_the_steps() {
        // tg64 from an empty cache: steps attend over 1..=64 positions, mean 32.5.
        assert_eq!(kv_bytes_per_step(100, 0, 64), 3250);
        // After a 1024-token prompt, 32 steps: 1025..=1056, mean 1040.5.
        assert_eq!(kv_bytes_per_step(100, 1024, 32), 104_050);
        assert_eq!(kv_bytes_per_step(100, 128, 0), 0);
        let brute: u64 = (0..7u64).map(|s| 6 * (5 + s + 1)).sum::<u64>() / 7;
        assert_eq!(kv_bytes_per_step(6, 5, 7), brute);
    }

    #[test]
    fn sample_rates() {
        let Record::Sample(s) = sample(1, 0) else {
            unreachable!()
        };
        assert_eq!(s.prefill_tps(), Some(8.0));
        assert!((s.decode_tps().unwrap() - 5.0).abs() < 1e-12);
        assert!((s.seconds() - 0.9).abs() < 1e-12);
    }

    #[test]
    fn append_reopen_and_torn_line() {
        let root = tempfile::tempdir().unwrap();
        let mut d = RunDir::create(root.path(), "r", "models = [\"m\"]\n").unwrap();
        d.append(&sample(1, 0)).unwrap();
        d.append(&sample(2, 0)).unwrap();
        let path = d.path().to_path_buf();
        drop(d);
        // A crash mid-write leaves half a line.
        let mut f = OpenOptions::new()
            .append(true)
            .open(path.join("cells.jsonl"))
            .unwrap();
        f.write_all(b"{\"record\":\"sample\",\"key\":{\"mo")
            .unwrap();
        drop(f);
        let (_d, text, recs, run) = RunDir::open(&path).unwrap();
        assert_eq!(text, "models = [\"m\"]\n");
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[1], sample(2, 0).clone_with_time(&recs[1]));
        assert!(run.is_none());
        // Same id again gets a fresh folder.
        let d2 = RunDir::create(root.path(), "r", "x").unwrap();
        assert_eq!(d2.id(), "r-2");
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn a_full_disk_says_what_is_saved_and_how_to_resume() {
        let root = tempfile::tempdir().unwrap();
        let mut d = RunDir::create(root.path(), "r", "models = [\"m\"]\n").unwrap();
        d.append(&sample(1, 0)).unwrap();
        // /dev/full fails every write with ENOSPC, as a full disk does.
        let Ok(full) = OpenOptions::new().write(true).open("/dev/full") else {
            eprintln!("no /dev/full on this machine: the full-disk test did not run");
            return;
        };
        d.jsonl = full;
        let e = format!("{:#}", d.append(&sample(1, 1)).unwrap_err());
        assert!(e.contains("cells.jsonl"), "{e}");
        assert!(e.contains("free space"), "{e}");
        assert!(
            e.contains(&format!("--resume {}", d.path().display())),
            "{e}"
        );
        assert!(e.to_lowercase().contains("no space"), "{e}");
        // What was saved before stays readable.
        let (_d, _, recs, _) = RunDir::open(d.path()).unwrap();
        assert_eq!(recs.len(), 1);
    }

    #[test]
    fn corrupt_middle_line_is_an_error() {
        let root = tempfile::tempdir().unwrap();
        let p = root.path().join("cells.jsonl");
        std::fs::write(&p, "garbage\n{\"record\":\"model\"}\n").unwrap();
        let e = read_records(&p).unwrap_err().to_string();
        assert!(e.contains("cells.jsonl:1"), "{e}");
    }

    #[test]
    fn open_without_scenario_says_so() {
        let root = tempfile::tempdir().unwrap();
        let e = format!("{:#}", RunDir::open(root.path()).unwrap_err());
        assert!(e.contains("not a ternbench results folder"), "{e}");
    }

    impl Record {
        /// The same record with `other`'s timestamp (for comparisons).
        fn clone_with_time(&self, other: &Record) -> Record {
            match (self, other) {
                (Record::Sample(a), Record::Sample(b)) => Record::Sample(Box::new(SampleRecord {
                    time_utc: b.time_utc.clone(),
                    ..(**a).clone()
                })),
                _ => self.clone(),
            }
        }
    }
}
