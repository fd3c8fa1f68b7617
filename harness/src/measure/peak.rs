//! `ternbench peak`: multiply-add throughput of every SIMD level's int8 and f32 peak loops
//! ([`ternbench_kernels::probe::PeakProbe`]), in billions of products per second.
//!
//! Each loop is calibrated to run about [`TARGET_S`] seconds, then run [`REPS`] times on every
//! participant of the thread count at once; median and max are reported. The ratio a gemm
//! kernel is held to uses the max: the ceiling.
//!
//! Each participant divides its products by its own running time ([`CLOCK`]: the thread's CPU
//! time on Linux, wall time elsewhere) and the rates are summed. An in-register loop shares
//! nothing with other cores, so this is the rate of `t` cores running at once (their common
//! clock frequency included), without the time a busy neighbour on a shared machine took the
//! core away, which would otherwise show up as a falsely low ceiling.

use std::hint::black_box;
use std::sync::Mutex;
use std::time::Instant;

use serde::Serialize;
use ternbench_kernels::probe::PeakProbe;
use ternbench_kernels::ThreadPool;

use crate::measure::timing::{max, median};
use crate::records::machine;

/// Seconds one timed run of a peak loop lasts.
pub const TARGET_S: f64 = 0.05;
/// Timed runs per loop.
pub const REPS: usize = 5;

/// The clock each participant's rate is taken over.
pub const CLOCK: &str = if cfg!(target_os = "linux") {
    "thread CPU time"
} else {
    "wall time"
};

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
    /// What each participant's rate was taken over ([`CLOCK`]).
    pub clock: &'static str,
}

/// `probe` on `threads` participants for `iters` iterations each: products per second of all
/// of them together, each participant's products over its own running time (see [`CLOCK`]),
/// and the longest wall time of a participant.
fn timed(pool: &ThreadPool, probe: &PeakProbe, threads: usize, iters: u64) -> (f64, f64) {
    let rate = Mutex::new((0.0f64, 0.0f64));
    pool.run(threads, |_, _| {
        let (w0, c0) = (Instant::now(), machine::thread_cpu_seconds());
        let products = probe.run(black_box(iters));
        let wall = w0.elapsed().as_secs_f64();
        let ran = match (c0, machine::thread_cpu_seconds()) {
            (Some(a), Some(b)) if b > a => b - a,
            _ => wall,
        };
        let mut r = rate.lock().unwrap_or_else(|e| e.into_inner());
        r.0 += products as f64 / ran;
        r.1 = r.1.max(wall);
    });
    rate.into_inner().unwrap_or_else(|e| e.into_inner())
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
        let (_, wall) = timed(pool, probe, threads, iters);
        if wall >= target_s / 4.0 || iters >= 1 << 40 {
            iters = ((iters as f64) * target_s / wall.max(1e-9)).max(1.0) as u64;
            break;
        }
        iters *= 4;
    }
    let samples: Vec<f64> = (0..reps)
        .map(|_| timed(pool, probe, threads, iters).0 / 1e9)
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
        clock: CLOCK,
    }
}
