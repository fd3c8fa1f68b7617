//! `ternbench peak`: multiply-add throughput of every SIMD level's int8 and f32 peak loops
//! ([`ternbench_kernels::probe::PeakProbe`]), in billions of products per second.
//!
//! Each loop is calibrated to run about [`TARGET_S`] seconds, then timed [`REPS`] times on
//! every participant of the thread count at once (products summed over threads); median and
//! max are reported. The ratio a gemm kernel is held to uses the max: the ceiling.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use anyhow::Result;
use serde::Serialize;
use ternbench_kernels::probe::{peak_probes, PeakProbe};
use ternbench_kernels::{Pinning, ThreadPool};

use crate::cli::PeakArgs;
use crate::machine;
use crate::output::{fmt_f, Table};
use crate::timing::{max, median};

/// Seconds one timed run of a peak loop lasts.
pub const TARGET_S: f64 = 0.05;
/// Timed runs per loop.
pub const REPS: usize = 5;

/// One peak loop's figures at one thread count.
#[derive(Clone, Debug, Serialize)]
pub struct Peak {
    /// SIMD level.
    pub isa: String,
    /// `int8` or `f32`.
    pub kind: String,
    /// Instruction timed.
    pub instr: String,
    /// Independent dependency chains.
    pub chains: usize,
    /// Threads running the loop at once.
    pub threads: usize,
    /// Median over runs, 10^9 products per second (all threads).
    pub median_gops: f64,
    /// Fastest run.
    pub max_gops: f64,
    /// Every run.
    pub samples_gops: Vec<f64>,
}

/// `probe` on `threads` participants for `iters` iterations each: (products, seconds).
fn timed(pool: &ThreadPool, probe: &PeakProbe, threads: usize, iters: u64) -> (u64, f64) {
    let products = AtomicU64::new(0);
    let t = Instant::now();
    pool.run(threads, |_, _| {
        products.fetch_add(probe.run(black_box(iters)), Ordering::Relaxed);
    });
    (products.into_inner(), t.elapsed().as_secs_f64())
}

/// Calibrates `probe` to about `target_s` seconds, then times it `reps` times.
pub fn measure(
    pool: &ThreadPool,
    probe: &PeakProbe,
    threads: usize,
    target_s: f64,
    reps: usize,
) -> Peak {
    let mut iters = 1u64 << 12;
    loop {
        let (_, s) = timed(pool, probe, threads, iters);
        if s >= target_s / 4.0 || iters >= 1 << 40 {
            iters = ((iters as f64) * target_s / s.max(1e-9)).max(1.0) as u64;
            break;
        }
        iters *= 4;
    }
    let samples: Vec<f64> = (0..reps)
        .map(|_| {
            let (p, s) = timed(pool, probe, threads, iters);
            p as f64 / s / 1e9
        })
        .collect();
    Peak {
        isa: probe.isa().name().to_string(),
        kind: probe.kind().name().to_string(),
        instr: probe.instr().to_string(),
        chains: probe.chains(),
        threads,
        median_gops: median(&samples),
        max_gops: max(&samples),
        samples_gops: samples,
    }
}

/// Runs `ternbench peak`.
pub fn run(args: &PeakArgs) -> Result<()> {
    let threads = machine::thread_list(Some(&args.threads));
    let pool = ThreadPool::new(*threads.iter().max().unwrap_or(&1), Pinning::None);
    let mut rows = Vec::new();
    for probe in peak_probes() {
        for &t in &threads {
            rows.push(measure(&pool, &probe, t, TARGET_S, REPS));
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    println!("{}", machine::cpu_model());
    let mut t = Table::new(&[
        "isa",
        "kind",
        "instruction",
        "threads",
        "median Gprod/s",
        "max Gprod/s",
    ]);
    for r in &rows {
        t.row(vec![
            r.isa.clone(),
            r.kind.clone(),
            r.instr.clone(),
            r.threads.to_string(),
            fmt_f(r.median_gops, 1),
            fmt_f(r.max_gops, 1),
        ]);
    }
    print!("{}", t.render());
    Ok(())
}
