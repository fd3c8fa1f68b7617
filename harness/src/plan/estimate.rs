//! How long a scenario will take and how much memory each model needs, before measuring:
//! what `ternbench run --plan` and `bench --plan` print, and the weights of the progress bar.
//!
//! The duration is an ESTIMATE from a roofline model whose ceilings are calibrated on this
//! machine a moment before (`measure::calibrate`): a decode step takes the longer of (weight
//! and KV bytes read ÷ the read bandwidth measured at that thread count) and (weights ÷ the
//! gemv rate of that format, level and thread count on an in-cache matrix, the compute
//! ceiling that binds at the scalar level); a prefill of P tokens takes P × weights ÷ the gemm
//! rate, plus one LM-head gemv; a depth fill is a prefill; a model build is scaled from a
//! one-layer build timed in the calibration. Attention's arithmetic is left out (under 2% of
//! the work at the shipped contexts). Repetitions follow the scenario's `repetitions`,
//! `min_seconds` and `max_repetitions`, plus `warmup`; every timed repetition of `run` also
//! pays two short bandwidth readings beside it.

use std::collections::BTreeMap;

use serde::Serialize;
use ternbench_engine::kernels::{Format, Isa};
use ternbench_engine::{weights::estimate_bytes, ModelConfig};

use crate::plan::scenario::{EngineKind, SampleLayers, Scenario};
use crate::records::results::CellKey;

/// Ceilings measured on this machine by the calibration.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Rates {
    /// Read bandwidth, GB/s, per thread count.
    pub bandwidth_gbps: BTreeMap<usize, f64>,
    /// Seconds per weight of one gemv on an in-cache matrix, per `format/level/threads`
    /// ([`Rates::key`]).
    pub gemv_s_per_weight: BTreeMap<String, f64>,
    /// Seconds per weight per token of a gemm, per `format/level/threads`.
    pub gemm_s_per_weight_token: BTreeMap<String, f64>,
    /// Seconds per parameter of building a synthetic model, per linear format.
    pub build_s_per_param: BTreeMap<String, f64>,
    /// Seconds one short bandwidth reading beside a repetition takes, per thread count.
    pub beside_reading_s: BTreeMap<usize, f64>,
    /// Seconds of the opening and closing bandwidth measurements of a run.
    pub run_bandwidth_s: f64,
    /// How long the calibration itself took, seconds.
    pub calibration_s: f64,
}

impl Rates {
    /// The key of a rate: `i2/avx2/2`.
    pub fn key(f: Format, isa: &str, t: usize) -> String {
        format!("{}/{isa}/{t}", f.name())
    }
    fn gemv(&self, f: Format, isa: &str, t: usize) -> f64 {
        self.gemv_s_per_weight
            .get(&Self::key(f, isa, t))
            .copied()
            .unwrap_or(0.0)
    }
    fn gemm(&self, f: Format, isa: &str, t: usize) -> f64 {
        self.gemm_s_per_weight_token
            .get(&Self::key(f, isa, t))
            .copied()
            .unwrap_or(0.0)
    }
    fn bw(&self, t: usize) -> f64 {
        self.bandwidth_gbps
            .get(&t)
            .or_else(|| self.bandwidth_gbps.values().next_back())
            .copied()
            .unwrap_or(10.0)
            * 1e9
    }
}

/// Bytes one weight of `f` takes (block scales left out).
pub fn bytes_per_weight(f: Format) -> f64 {
    match f {
        Format::I2 | Format::Tl => 0.25,
        Format::Tq1 => 0.2,
        Format::Q8 => 1.0,
        Format::F16 => 2.0,
    }
}

/// The memory one model (one engine) needs.
#[derive(Debug, Clone, Serialize)]
pub struct ModelMemory {
    /// Zoo name or checkpoint path.
    pub model: String,
    /// `ternary/i2`, `fp16`.
    pub engine: String,
    /// Layers built (fewer than `layers_total`: SAMPLED).
    pub layers_built: usize,
    /// Layers of the model.
    pub layers_total: usize,
    /// Weight bytes held.
    pub weight_bytes: u64,
    /// KV cache bytes at the longest test's context.
    pub kv_bytes: u64,
    /// Estimated build (or load) seconds.
    pub build_seconds: f64,
}

/// One cell's estimate.
#[derive(Debug, Clone, Serialize)]
pub struct CellEstimate {
    /// The cell.
    pub key: CellKey,
    /// Untimed warm-up repetitions.
    pub warmup: usize,
    /// Timed repetitions expected (repetitions, raised by min_seconds, capped by
    /// max_repetitions).
    pub repetitions: usize,
    /// Seconds of one repetition (timed part).
    pub rep_seconds: f64,
    /// Seconds of one repetition as run: the depth fill and, for `run`, the bandwidth
    /// readings beside it included.
    pub rep_wall_seconds: f64,
    /// Seconds of the whole cell (warm-up and timed repetitions).
    pub seconds: f64,
}

/// A scenario's plan: its cells, models and estimated duration.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// Scenario name.
    pub scenario: String,
    /// SIMD levels the cells run.
    pub isas: Vec<String>,
    /// Every model × engine build, with its memory.
    pub models: Vec<ModelMemory>,
    /// Every cell.
    pub cells: Vec<CellEstimate>,
    /// Memory available now (bytes), if known.
    pub mem_available_bytes: Option<u64>,
    /// Seconds before the sweep (bandwidth readings, idle-power baseline).
    pub overhead_seconds: f64,
    /// The whole estimate, seconds.
    pub total_seconds: f64,
    /// How the estimate was made, in words.
    pub method: String,
    /// The calibrated ceilings it used.
    pub rates: Rates,
}

/// What the estimate needs to know besides the scenario.
#[derive(Debug, Clone, Copy)]
pub struct Context {
    /// Bandwidth readings beside every timed repetition (`run`: yes; `bench`: no).
    pub beside: bool,
    /// Seconds of idle-power baseline before the sweep (0 when energy is unavailable).
    pub idle_seconds: f64,
}

/// The method sentence printed with every estimate.
pub fn method_text(rates: &Rates) -> String {
    format!(
        "ESTIMATE from a roofline model calibrated on this machine just now ({:.1} s): decode at \
         the slower of weight bytes ÷ measured read bandwidth and the measured gemv rate, prefill \
         at the measured gemm rate, builds scaled from a one-layer build, peers (llama-bench) at \
         ternbench's rate for their bit width plus their model load and warm-up. A busy machine runs \
         slower; scenarios/README.md lists measured durations",
        rates.calibration_s
    )
}

/// Estimates `s` on `isas` with `configs` (each model's shape) and `rates`. `layers` gives the
/// layers each model is built with (its `sample_layers`, resolved).
pub fn estimate(
    s: &Scenario,
    isas: &[Isa],
    configs: &BTreeMap<String, (ModelConfig, usize)>,
    rates: &Rates,
    ctx: Context,
    mem_available: Option<u64>,
) -> Plan {
    let context_len = s.tests.iter().map(|t| t.context()).max().unwrap_or(1);
    let kv_elem = if s.kv_f16 { 2.0 } else { 4.0 };
    let mut models = Vec::new();
    let mut cells = Vec::new();
    for (mspec, group) in s.cells(isas) {
        let Some((cfg, layers)) = configs.get(&mspec.name) else {
            continue;
        };
        let layers = *layers;
        for e in s.engines.iter().filter(|e| mspec.runs(e.engine)) {
            let f = linear_format(e.engine, e.format);
            let weight_bytes = estimate_bytes(cfg, f, s.head, layers);
            let kv_bytes = (2 * layers * cfg.kv_dim() * context_len) as f64 * kv_elem;
            let params = cfg.linear_params() as f64 / cfg.layers as f64 * layers as f64
                + cfg.embedding_params() as f64;
            let build = rates
                .build_s_per_param
                .get(f.name())
                .copied()
                .unwrap_or(0.0)
                * params;
            models.push(ModelMemory {
                model: mspec.name.clone(),
                engine: e.label(),
                layers_built: layers,
                layers_total: cfg.layers,
                weight_bytes,
                kv_bytes: kv_bytes as u64,
                build_seconds: build,
            });
        }
        for (spec, key) in group {
            let Some(test) = s.tests.iter().find(|t| t.name() == key.test) else {
                continue;
            };
            let f = linear_format(spec.engine, spec.format);
            let t = key.threads;
            let isa = key.isa.as_str();
            let lin_w = cfg.linear_params() as f64 / cfg.layers as f64 * layers as f64;
            let head_w = cfg.embedding_params() as f64;
            let kv_per_pos = (2 * layers * cfg.kv_dim()) as f64 * kv_elem;
            let bw = rates.bw(t);
            let head_gemv = head_w * rates.gemv(s.head, isa, t);
            let decode_step = |pos: f64| -> f64 {
                let bytes = lin_w * bytes_per_weight(f) + head_w * bytes_per_weight(s.head);
                let memory = bytes / bw;
                let compute = lin_w * rates.gemv(f, isa, t) + head_gemv;
                memory.max(compute) + pos * kv_per_pos / bw
            };
            let prefill = |n: usize| -> f64 {
                if n == 0 {
                    0.0
                } else {
                    n as f64 * lin_w * rates.gemm(f, isa, t) + head_gemv
                }
            };
            let start = (test.n_depth + test.n_prompt) as f64;
            let timed = prefill(test.n_prompt)
                + test.n_gen as f64 * decode_step(start + test.n_gen as f64 / 2.0);
            let beside = if ctx.beside {
                2.0 * rates.beside_reading_s.get(&t).copied().unwrap_or(0.0)
            } else {
                0.0
            };
            let wall = timed + prefill(test.n_depth) + beside;
            let by_time = if timed > 0.0 {
                (s.min_seconds / timed).ceil() as usize
            } else {
                0
            };
            let reps = s
                .repetitions
                .max(by_time)
                .min(s.max_repetitions.max(s.repetitions));
            let seconds =
                s.warmup as f64 * (wall - beside) + reps as f64 * (wall + s.cooldown_seconds);
            cells.push(CellEstimate {
                key,
                warmup: s.warmup,
                repetitions: reps,
                rep_seconds: timed,
                rep_wall_seconds: wall,
                seconds,
            });
        }
    }
    cells.extend(peer_cells(s, isas, rates, ctx));
    let overhead = rates.run_bandwidth_s + ctx.idle_seconds;
    let total = overhead
        + models.iter().map(|m| m.build_seconds).sum::<f64>()
        + cells.iter().map(|c| c.seconds).sum::<f64>();
    Plan {
        scenario: s.name.clone(),
        isas: isas.iter().map(|i| i.name().to_string()).collect(),
        models,
        cells,
        mem_available_bytes: mem_available,
        overhead_seconds: overhead,
        total_seconds: total,
        method: method_text(rates),
        rates: rates.clone(),
    }
}

/// The peers' cells (`[[peer]]`): one llama-bench invocation per repetition, each paying the
/// model's load (its bytes read at the measured bandwidth) and llama-bench's own warm-up (the
/// whole prompt for a pp test, one token for a tg test) beside the timed test. The peer's
/// speed is ESTIMATED as ternbench's kernel of the same bit width on this machine (F16 as
/// F16, TQ1_0 as tq1, the other ternary types as i2): a peer faster than ternbench finishes
/// sooner. A file that cannot be read has no estimate (its cells fail at once).
fn peer_cells(s: &Scenario, isas: &[Isa], rates: &Rates, ctx: Context) -> Vec<CellEstimate> {
    if s.peers.is_empty() {
        return Vec::new();
    }
    let files = crate::measure::runner::peer_files(s);
    let isa = isas.first().map_or("scalar", |i| i.name());
    let mut out = Vec::new();
    for g in crate::measure::runner::layout(s, isas, &files) {
        for (runs, key) in g.cells {
            let crate::measure::runner::Runs::Peer(pi) = runs else {
                continue;
            };
            let Ok(file) = &files[pi] else {
                continue;
            };
            let Some(test) = s.tests.iter().find(|t| t.name() == key.test) else {
                continue;
            };
            let f = match key.format.to_ascii_uppercase().as_str() {
                "F16" | "F32" | "BF16" => Format::F16,
                "TQ1_0" => Format::Tq1,
                _ => Format::I2,
            };
            let t = key.threads;
            let m = &file.record;
            let bw = rates.bw(t);
            let weights = m.params as f64;
            let step = (m.decode_bytes_per_token as f64 / bw).max(weights * rates.gemv(f, isa, t));
            let prefill = |n: usize| n as f64 * weights * rates.gemm(f, isa, t);
            let timed = prefill(test.n_prompt) + test.n_gen as f64 * step;
            let warm = prefill(test.n_prompt) + if test.n_gen > 0 { step } else { 0.0 };
            // Loading: the file's weights read once (mapped from the page cache), plus
            // llama-bench's start.
            let load = m.weight_bytes as f64 / bw + 0.5;
            let beside = if ctx.beside {
                2.0 * rates.beside_reading_s.get(&t).copied().unwrap_or(0.0)
            } else {
                0.0
            };
            let wall = timed + warm + load + beside;
            let reps = s.repetitions.max(if timed > 0.0 {
                (s.min_seconds / timed).ceil() as usize
            } else {
                0
            });
            let reps = reps.min(s.max_repetitions.max(s.repetitions));
            out.push(CellEstimate {
                key,
                warmup: 0,
                repetitions: reps,
                rep_seconds: timed,
                rep_wall_seconds: wall,
                seconds: reps as f64 * (wall + s.cooldown_seconds),
            });
        }
    }
    out
}

/// The linear-layer format an engine runs.
pub fn linear_format(engine: EngineKind, format: Format) -> Format {
    match engine {
        EngineKind::Fp16 => Format::F16,
        EngineKind::Ternary => format,
    }
}

/// Layers a model is built with under `sel` (`auto`: as `measure::runner` resolves it).
pub fn layers_for(sel: SampleLayers, cfg: &ModelConfig, auto: Option<usize>) -> usize {
    match sel {
        SampleLayers::Full => cfg.layers,
        SampleLayers::Fixed(k) => k.min(cfg.layers),
        SampleLayers::Auto => auto.unwrap_or(cfg.layers),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::scenario::Host;

    fn rates(isa: &str) -> Rates {
        let mut r = Rates::default();
        r.bandwidth_gbps.insert(1, 10.0);
        for f in [Format::I2, Format::F16] {
            r.gemv_s_per_weight.insert(Rates::key(f, isa, 1), 1e-11);
            r.gemm_s_per_weight_token
                .insert(Rates::key(f, isa, 1), 1e-10);
            r.build_s_per_param.insert(f.name().into(), 1e-9);
        }
        r.beside_reading_s.insert(1, 0.1);
        r
    }

    #[test]
    fn decode_follows_bytes_over_bandwidth_and_reps_follow_min_seconds() {
        let host = Host {
            logical: 1,
            physical: 1,
        };
        let s = Scenario::parse(
            "models = [\"bitnet-125m\"]\nengines = [\"ternary\", \"fp16\"]\nthreads = [1]\ntests = [\"tg10\"]\nrepetitions = 2\nwarmup = 1\nmin_seconds = 1.0\nmax_repetitions = 50\n",
            "t.toml",
            host,
        )
        .unwrap();
        let isas = vec![ternbench_engine::kernels::KernelSet::best().isa];
        let isa = isas[0].name();
        let cfg = ternbench_engine::zoo::config("bitnet-125m").unwrap();
        let mut configs = BTreeMap::new();
        configs.insert("bitnet-125m".to_string(), (cfg.clone(), cfg.layers));
        let ctx = Context {
            beside: true,
            idle_seconds: 0.0,
        };
        let p = estimate(&s, &isas, &configs, &rates(isa), ctx, None);
        assert_eq!(p.cells.len(), 2);
        assert_eq!(p.models.len(), 2);
        let (tern, fp16) = (&p.cells[0], &p.cells[1]);
        // FP16 reads 8x the linear bytes of i2: its decode is memory-bound and slower.
        assert!(fp16.rep_seconds > 3.0 * tern.rep_seconds, "{p:?}");
        // 10 steps of an fp16 step: linear 2 B/weight + head 2 B/weight, over 10 GB/s.
        let bytes = cfg.linear_params() as f64 * 2.0 + cfg.embedding_params() as f64 * 2.0;
        let want = 10.0 * bytes / 10e9;
        assert!(
            (fp16.rep_seconds / want - 1.0).abs() < 0.05,
            "{} vs {want}",
            fp16.rep_seconds
        );
        // min_seconds = 1 raises the repetitions to cover a second.
        assert!(fp16.repetitions as f64 * fp16.rep_seconds >= 1.0);
        assert!(fp16.repetitions >= 2 && fp16.repetitions <= 50);
        // The beside readings are paid per timed repetition only.
        assert!((fp16.rep_wall_seconds - fp16.rep_seconds - 0.2).abs() < 1e-9);
        let sum: f64 = p.cells.iter().map(|c| c.seconds).sum::<f64>()
            + p.models.iter().map(|m| m.build_seconds).sum::<f64>();
        assert!((p.total_seconds - sum).abs() < 1e-9);
        assert!(p.method.starts_with("ESTIMATE"));
    }
}
