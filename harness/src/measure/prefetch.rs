//! The decode kernels' software prefetch distance, calibrated on this host before a measurement
//! ([`ternbench_kernels::tune`] says why no constant holds on every host).
//!
//! For every tuned weight format a run's decode uses (the trunk's and the LM head's) at every
//! thread count it measures, [`calibrate`] times one gemv pass over a stack of distinct
//! 6912 × 2560 matrices (the 2B4T feed-forward shape) totalling over twice the last-level cache,
//! at each candidate distance in turn, interleaved over [`ROUNDS`] rounds (A B C … A B C …, so a
//! drift of the host's bandwidth touches every candidate alike), and keeps the distance with the
//! highest median GB/s. The whole table goes into `run.json` (`prefetch`), so a reader sees what
//! each cell ran with and by how much the choice won. `--prefetch N` (or `off`) skips the
//! calibration and records the fixed distance instead.
//!
//! Cost: about half a second per format and thread count on a 2-core Zen 4 VM (the f16 stack is
//! the largest: 4 matrices, 142 MB).

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::{Context, Result};
use ternbench_kernels::tune::{self, check_gemv_prefetch, DEFAULT_GEMV_PREFETCH};
use ternbench_kernels::{
    matmul, F16Matrix, Format, I2Matrix, Isa, KernelSet, Op, PackedMatrix, Q4Matrix, ThreadPool,
    Tq1Matrix,
};

use crate::measure::synth::{self, BenchMatrix};
use crate::measure::timing::median;
use crate::plan::scenario::{EngineKind, Scenario};
use crate::records::machine;
use crate::records::results::{PrefetchCandidate, PrefetchChoice};

/// Candidate distances, bytes (0: no software prefetch).
pub const CANDIDATES: [usize; 5] = [0, 512, 1024, 2048, 4096];
/// Interleaved rounds of every candidate.
pub const ROUNDS: usize = 7;
/// The stack holds more than this many times the last-level cache.
const STACK_LLC_FACTOR: u64 = 2;
/// The calibration matrix shape (2B4T's gate/up projection).
const ROWS: usize = 6912;
const COLS: usize = 2560;

/// What the command line asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrefetchArg {
    /// Calibrate on this host before measuring.
    Auto,
    /// One distance for every tuned format, bytes (0: none).
    Fixed(usize),
}

/// Parses `--prefetch`: `auto`, `off` (0) or a distance in bytes (a multiple of 64 up to 64 KiB).
pub fn parse_prefetch(s: &str) -> Result<PrefetchArg, String> {
    match s.trim() {
        "auto" => Ok(PrefetchArg::Auto),
        "off" | "none" => Ok(PrefetchArg::Fixed(0)),
        n => {
            let b: usize = n.parse().map_err(|_| {
                format!("`{s}`: expected auto, off or a distance in bytes (e.g. 1024)")
            })?;
            check_gemv_prefetch(b).map_err(|e| e.to_string())?;
            Ok(PrefetchArg::Fixed(b))
        }
    }
}

/// The distance each (format, thread count) runs with, applied before each cell.
#[derive(Clone, Debug, Default)]
pub struct PrefetchPlan {
    /// The choices, as recorded in `run.json`.
    pub choices: Vec<PrefetchChoice>,
}

impl PrefetchPlan {
    /// A fixed distance for every tuned format at every thread count.
    pub fn fixed(bytes: usize, formats: &[Format], isa: Isa, threads: &[usize]) -> PrefetchPlan {
        let mut choices = Vec::new();
        for f in tuned_at(formats, isa) {
            for &t in threads {
                choices.push(PrefetchChoice {
                    format: f.name().into(),
                    isa: isa.name().into(),
                    threads: t,
                    bytes,
                    source: "--prefetch".into(),
                    candidates: Vec::new(),
                });
            }
        }
        PrefetchPlan { choices }
    }

    /// Sets every format's distance for a cell at level `isa` and `threads` threads: the choice
    /// made at that level and the nearest thread count (a format with no choice at the level
    /// keeps the distance in force).
    pub fn apply(&self, isa: Isa, threads: usize) {
        let mut best: BTreeMap<String, (usize, usize)> = BTreeMap::new();
        for c in self.choices.iter().filter(|c| c.isa == isa.name()) {
            let d = c.threads.abs_diff(threads);
            let e = best
                .entry(c.format.clone())
                .or_insert((usize::MAX, c.bytes));
            if d < e.0 {
                *e = (d, c.bytes);
            }
        }
        for (f, (_, bytes)) in best {
            if let Ok(f) = f.parse::<Format>() {
                // Checked when chosen; a format without a tunable distance was never chosen.
                let _ = tune::set_gemv_prefetch(f, bytes);
            }
        }
    }

    /// One line per choice, for the terminal.
    pub fn summary(&self) -> Vec<String> {
        self.choices.iter().map(PrefetchChoice::line).collect()
    }
}

/// The plan for a scenario's cells: calibrated (`auto`) for the formats its decode uses (each
/// engine's linear format, the ternary LM head's, f16 for the FP16 twin) at each of its levels
/// and thread counts, or the given distance.
pub fn for_scenario(
    arg: PrefetchArg,
    s: &Scenario,
    isas: &[Isa],
    pool: &ThreadPool,
) -> Result<PrefetchPlan> {
    let mut formats: Vec<Format> = Vec::new();
    for e in &s.engines {
        formats.push(e.format);
        formats.push(match e.engine {
            EngineKind::Ternary => s.head,
            EngineKind::Fp16 => Format::F16,
        });
    }
    let mut plan = PrefetchPlan::default();
    for &isa in isas {
        let ks = KernelSet::get(isa).map_err(|e| anyhow::anyhow!("{e}"))?;
        plan.choices
            .extend(for_formats(arg, &formats, ks, pool, &s.threads)?.choices);
    }
    Ok(plan)
}

/// The plan for `formats` at `ks`'s level and `threads`: calibrated (`auto`) or given. No
/// choice is made for a format whose kernel at this level reads no distance
/// ([`tune::is_tuned_at`]).
pub fn for_formats(
    arg: PrefetchArg,
    formats: &[Format],
    ks: &KernelSet,
    pool: &ThreadPool,
    threads: &[usize],
) -> Result<PrefetchPlan> {
    match arg {
        PrefetchArg::Fixed(b) => Ok(PrefetchPlan::fixed(b, formats, ks.isa, threads)),
        PrefetchArg::Auto => calibrate(ks, pool, formats, threads),
    }
}

/// The formats of `formats` whose gemv at `isa` reads a distance ([`tune::is_tuned_at`]), each
/// once, in order.
fn tuned_at(formats: &[Format], isa: Isa) -> Vec<Format> {
    let mut v: Vec<Format> = Vec::new();
    for &f in formats {
        if tune::is_tuned_at(f, isa) && !v.contains(&f) {
            v.push(f);
        }
    }
    v
}

/// Calibrates every tuned format of `formats` at `ks`'s level and every thread count.
pub fn calibrate(
    ks: &KernelSet,
    pool: &ThreadPool,
    formats: &[Format],
    threads: &[usize],
) -> Result<PrefetchPlan> {
    let (llc, _) = machine::llc_bytes();
    calibrate_on(ks, pool, formats, threads, ROWS, STACK_LLC_FACTOR * llc)
}

/// [`calibrate`] on a stack of `rows` × [`COLS`] matrices holding over `stack_bytes`.
fn calibrate_on(
    ks: &KernelSet,
    pool: &ThreadPool,
    formats: &[Format],
    threads: &[usize],
    rows: usize,
    stack_bytes: u64,
) -> Result<PrefetchPlan> {
    let mut plan = PrefetchPlan::default();
    for f in tuned_at(formats, ks.isa).into_iter().filter(|&f| ks.has(f)) {
        let choices = match f {
            Format::I2 => calibrate_format::<I2Matrix>(ks, pool, f, threads, rows, stack_bytes),
            Format::Tq1 => calibrate_format::<Tq1Matrix>(ks, pool, f, threads, rows, stack_bytes),
            Format::Q4 => calibrate_format::<Q4Matrix>(ks, pool, f, threads, rows, stack_bytes),
            Format::F16 => calibrate_format::<F16Matrix>(ks, pool, f, threads, rows, stack_bytes),
            _ => continue,
        }
        .with_context(|| format!("calibrating the {f} gemv prefetch distance"))?;
        plan.choices.extend(choices);
    }
    tune_defaults();
    Ok(plan)
}

/// Puts every tuned format back to the default distance (a plan's `apply` sets them per cell).
fn tune_defaults() {
    for f in tune::TUNED_FORMATS {
        let _ = tune::set_gemv_prefetch(f, DEFAULT_GEMV_PREFETCH);
    }
}

fn calibrate_format<M: BenchMatrix + PackedMatrix + Clone>(
    ks: &KernelSet,
    pool: &ThreadPool,
    f: Format,
    threads: &[usize],
    rows: usize,
    stack_bytes: u64,
) -> Result<Vec<PrefetchChoice>> {
    // One random matrix, copied: a gemv's speed does not depend on the weights' values, only
    // on every copy occupying memory of its own (and copying is fast in a debug build too).
    let first: M = synth::random(rows, COLS, 7)?;
    let n = (stack_bytes / first.weight_bytes().max(1) as u64 + 1).max(2) as usize;
    let mats: Vec<M> = std::iter::repeat_n(first, n).collect();
    let bytes: f64 = mats.iter().map(|m| m.weight_bytes() as f64).sum();
    let act = M::random_act(1, COLS, 3);
    let mut out = vec![0f32; rows];
    let mut choices = Vec::new();
    for &t in threads {
        let mut gbps: Vec<Vec<f64>> = vec![Vec::new(); CANDIDATES.len()];
        // One untimed pass to fault in and warm the pool.
        for m in &mats {
            matmul(ks, pool, t, Op::Gemv, m, &act, &mut out)?;
        }
        for _ in 0..ROUNDS {
            for (ci, &c) in CANDIDATES.iter().enumerate() {
                tune::set_gemv_prefetch(f, c)?;
                let t0 = Instant::now();
                for m in &mats {
                    matmul(ks, pool, t, Op::Gemv, m, &act, &mut out)?;
                }
                gbps[ci].push(bytes / t0.elapsed().as_secs_f64() / 1e9);
            }
        }
        let candidates: Vec<PrefetchCandidate> = CANDIDATES
            .iter()
            .zip(&gbps)
            .map(|(&b, g)| PrefetchCandidate {
                bytes: b,
                median_gbps: median(g),
                samples_gbps: g.clone(),
            })
            .collect();
        let best = candidates
            .iter()
            .max_by(|a, b| a.median_gbps.total_cmp(&b.median_gbps))
            .map_or(DEFAULT_GEMV_PREFETCH, |c| c.bytes);
        choices.push(PrefetchChoice {
            format: f.name().into(),
            isa: ks.isa.name().into(),
            threads: t,
            bytes: best,
            source: "calibrated".into(),
            candidates,
        });
    }
    Ok(choices)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_auto_off_and_whole_lines() {
        assert_eq!(parse_prefetch("auto"), Ok(PrefetchArg::Auto));
        assert_eq!(parse_prefetch("off"), Ok(PrefetchArg::Fixed(0)));
        assert_eq!(parse_prefetch("1024"), Ok(PrefetchArg::Fixed(1024)));
        let e = parse_prefetch("100").unwrap_err();
        assert!(e.contains("multiple of 64"), "{e}");
        let e = parse_prefetch("soon").unwrap_err();
        assert!(e.contains("auto, off"), "{e}");
    }

    #[test]
    fn a_plan_applies_the_nearest_thread_count() {
        let mk = |t, b| PrefetchChoice {
            format: "tq1".into(),
            isa: "scalar".into(),
            threads: t,
            bytes: b,
            source: "calibrated".into(),
            candidates: Vec::new(),
        };
        let plan = PrefetchPlan {
            choices: vec![mk(1, 0), mk(4, 1024)],
        };
        plan.apply(Isa::Scalar, 1);
        assert_eq!(tune::gemv_prefetch(Format::Tq1), 0);
        plan.apply(Isa::Sse41, 1);
        assert_eq!(
            tune::gemv_prefetch(Format::Tq1),
            0,
            "another level's choice is not applied"
        );
        plan.apply(Isa::Scalar, 3);
        assert_eq!(tune::gemv_prefetch(Format::Tq1), 1024);
        tune_defaults();
        assert_eq!(tune::gemv_prefetch(Format::Tq1), DEFAULT_GEMV_PREFETCH);
    }

    #[test]
    fn calibration_picks_a_candidate_and_records_every_one() {
        let ks = KernelSet::get(Isa::Scalar).unwrap();
        let pool = ThreadPool::new(1, ternbench_kernels::Pinning::None);
        // A small stack: the point is the record's shape, not the winner.
        let plan = calibrate_on(ks, &pool, &[Format::I2, Format::Q8], &[1], 64, 1 << 20).unwrap();
        assert!(
            plan.choices.is_empty(),
            "the scalar level reads no distance"
        );
        let Some(ks) = [Isa::Sse41, Isa::Avx2]
            .into_iter()
            .find_map(|i| KernelSet::get(i).ok())
        else {
            eprintln!("skipped: no x86 SIMD level here");
            return;
        };
        let plan = calibrate_on(ks, &pool, &[Format::I2, Format::Q8], &[1], 64, 1 << 20).unwrap();
        assert_eq!(plan.choices.len(), 1, "q8 has no tunable distance");
        let c = &plan.choices[0];
        assert_eq!(c.candidates.len(), CANDIDATES.len());
        assert!(CANDIDATES.contains(&c.bytes));
        assert!(c.candidates.iter().all(|k| k.samples_gbps.len() == ROUNDS));
        assert_eq!(tune::gemv_prefetch(Format::I2), DEFAULT_GEMV_PREFETCH);
    }
}
