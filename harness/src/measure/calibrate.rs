//! A short calibration for the plan's estimate ([`crate::plan::estimate`]): the ceilings of
//! this machine measured now, in a few seconds, without building the scenario's models.
//!
//! - read bandwidth at each thread count (the run's own opening measurement, timed, and one
//!   short reading beside a repetition, timed);
//! - per weight format × SIMD level × thread count: one gemv and one gemm (16 tokens) on a
//!   random 2560 × 2560 matrix (the 2B4T `qo` shape), seconds per weight;
//! - per linear format: a one-layer synthetic `bitnet-125m` build, seconds per parameter.

use std::time::Instant;

use anyhow::{anyhow, Result};
use ternbench_engine::kernels::{
    matmul, F16Matrix, Format, I2Matrix, Isa, KernelSet, Op, Q8Matrix, ThreadPool, TlMatrix,
    Tq1Matrix,
};
use ternbench_engine::{synthetic, zoo, SynthOptions};

use crate::measure::bandwidth::{Beside, BESIDE_PASSES};
use crate::measure::synth::{random, BenchMatrix};
use crate::measure::timing::{median, time_calls, Policy};
use crate::plan::estimate::Rates;

/// Rows and columns of the calibration matrix.
const DIM: usize = 2560;
/// Tokens of the calibration gemm.
const GEMM_BATCH: usize = 16;

/// Measures the ceilings the estimate needs: `combos` are the (format, level) pairs the cells
/// run (the LM head's format included), `threads` their thread counts, `builds` the linear
/// formats of the models to build.
pub fn calibrate(
    pool: &ThreadPool,
    combos: &[(Format, Isa)],
    threads: &[usize],
    builds: &[Format],
) -> Result<Rates> {
    let t0 = Instant::now();
    let mut r = Rates::default();
    let tb = Instant::now();
    let beside = Beside::new(pool, threads, BESIDE_PASSES);
    // The run measures like this at its start and again at its end.
    r.run_bandwidth_s = 2.0 * tb.elapsed().as_secs_f64();
    for b in beside.start() {
        r.bandwidth_gbps.insert(b.threads, b.median_gbps);
    }
    for &t in threads {
        let t1 = Instant::now();
        let _ = beside.gbps(pool, t);
        r.beside_reading_s.insert(t, t1.elapsed().as_secs_f64());
    }
    drop(beside);
    let mut formats: Vec<Format> = combos.iter().map(|c| c.0).collect();
    formats.dedup();
    for f in formats {
        let isas: Vec<Isa> = combos.iter().filter(|c| c.0 == f).map(|c| c.1).collect();
        match f {
            Format::I2 => rates::<I2Matrix>(pool, f, &isas, threads, &mut r)?,
            Format::Tq1 => rates::<Tq1Matrix>(pool, f, &isas, threads, &mut r)?,
            Format::Tl => rates::<TlMatrix>(pool, f, &isas, threads, &mut r)?,
            Format::Q8 => rates::<Q8Matrix>(pool, f, &isas, threads, &mut r)?,
            Format::F16 => rates::<F16Matrix>(pool, f, &isas, threads, &mut r)?,
        }
    }
    let cfg = zoo::config("bitnet-125m").map_err(|e| anyhow!("{e}"))?;
    let params = (cfg.linear_params() / cfg.layers as u64 + cfg.embedding_params()) as f64;
    let workers = pool.size();
    for &f in builds {
        let opts = SynthOptions {
            linear: f,
            head: Format::F16,
            seed: 1,
            sample_layers: Some(1),
        };
        let tb = Instant::now();
        drop(synthetic(&cfg, &opts, pool, workers).map_err(|e| anyhow!("{e}"))?);
        r.build_s_per_param
            .insert(f.name().to_string(), tb.elapsed().as_secs_f64() / params);
    }
    r.calibration_s = t0.elapsed().as_secs_f64();
    Ok(r)
}

fn rates<M: BenchMatrix>(
    pool: &ThreadPool,
    f: Format,
    isas: &[Isa],
    threads: &[usize],
    r: &mut Rates,
) -> Result<()> {
    let m: M = random(DIM, DIM, 7)?;
    let weights = (DIM * DIM) as f64;
    let v = M::random_act(1, DIM, 3);
    let b = M::random_act(GEMM_BATCH, DIM, 5);
    let mut out = vec![0f32; DIM * GEMM_BATCH];
    for &isa in isas {
        let Ok(ks) = KernelSet::get(isa) else {
            continue;
        };
        if !ks.has(f) {
            continue;
        }
        for &t in threads {
            let policy = Policy {
                min_reps: 3,
                min_time: 0.02,
                max_time: 0.3,
            };
            let gemv = time_calls(policy, |_| {
                let _ = matmul(ks, pool, t, Op::Gemv, &m, &v, &mut out[..DIM]);
            });
            let gemm = time_calls(policy, |_| {
                let _ = matmul(ks, pool, t, Op::Gemm, &m, &b, &mut out);
            });
            let key = Rates::key(f, isa.name(), t);
            r.gemv_s_per_weight
                .insert(key.clone(), median(&gemv) / weights);
            r.gemm_s_per_weight_token
                .insert(key, median(&gemm) / (weights * GEMM_BATCH as f64));
        }
    }
    Ok(())
}
