//! Batched decode against single-stream decode and the compute-bound ceiling, in one run, on a
//! synthetic zoo model: the engine-level check behind `ternbench bench`'s batched tests.
//!
//! ```text
//! cargo run --release -p ternbench-engine --example batched_decode -- \
//!     [model=bitnet-2b4t] [linear=i2|f16] [head=f16|q8] [threads=1] [batches=1,2,4,8,16] \
//!     [steps=16] [prompt=128] [rounds=3]
//! ```
//! Each round (batches in alternating order, so drift spreads over all of them) times:
//! * the ceiling: a `prompt`-token prefill with every position's logits (the LM head counted
//!   per token, as decode computes it), tokens/s;
//! * per batch `B`: `B` sequences from empty caches decoding `steps` steps together (one forward
//!   over `B` tokens per step), aggregate tokens/s = `B · steps / seconds`.
//!
//! Prints the medians over rounds, each batch's ratio to `B = 1` and to the ceiling, by wall
//! time and by the thread's CPU time (at `threads=1` all work runs on the calling thread, so
//! the CPU-time rates leave out the time a busy neighbour took the core away: a diagnostic on a
//! shared machine, never the measurement of record).

use std::time::Instant;

use ternbench_engine::kernels::{Format, KernelSet, Pinning, ThreadPool};
use ternbench_engine::model::exec;
use ternbench_engine::{synthetic, zoo, KvType, Logits, Model, Session, SynthOptions};

/// This thread's CPU seconds (Linux), or NaN.
fn cpu_now() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the call only writes it.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc == 0 {
        ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
    } else {
        f64::NAN
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut model = "bitnet-2b4t".to_string();
    let (mut linear, mut head) = (Format::I2, Format::F16);
    let (mut threads, mut steps, mut prompt, mut rounds) = (1usize, 16usize, 128usize, 3usize);
    let mut batches = vec![1usize, 2, 4, 8, 16];
    for a in std::env::args().skip(1) {
        let (k, v) = a
            .split_once('=')
            .ok_or(format!("argument `{a}`: expected key=value"))?;
        match k {
            "model" => model = v.to_string(),
            "linear" => linear = v.parse()?,
            "head" => head = v.parse()?,
            "threads" => threads = v.parse()?,
            "steps" => steps = v.parse()?,
            "prompt" => prompt = v.parse()?,
            "rounds" => rounds = v.parse()?,
            "batches" => batches = v.split(',').map(|b| b.parse()).collect::<Result<_, _>>()?,
            _ => return Err(format!("unknown argument `{k}`").into()),
        }
    }
    let cfg = zoo::config(&model)?;
    let pool = ThreadPool::new(threads, Pinning::None);
    let ks = KernelSet::best();
    let opts = SynthOptions {
        linear,
        head,
        seed: 1,
        sample_layers: None,
    };
    let t = Instant::now();
    let m = Model::new(synthetic(&cfg, &opts, &pool, threads)?);
    eprintln!(
        "built {model} ({linear}, head {head}) in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let ex = exec(ks, &pool, threads);
    let toks: Vec<u32> = (0..prompt).map(|i| (i * 7919 % cfg.vocab) as u32).collect();
    let ctx = prompt.max(steps) + 1;
    let mut ceiling = Vec::new();
    let mut ceiling_cpu = Vec::new();
    let mut agg: Vec<Vec<f64>> = vec![Vec::new(); batches.len()];
    let mut agg_cpu: Vec<Vec<f64>> = vec![Vec::new(); batches.len()];
    let mut step_ms: Vec<Vec<f64>> = vec![Vec::new(); batches.len()];
    // One untimed warm-up round, then the timed ones.
    for round in 0..=rounds {
        let mut s = m.session(ctx, KvType::F16)?;
        let (t, c0) = (Instant::now(), cpu_now());
        m.forward(ex, &mut s, &toks, Logits::All)?;
        let c = prompt as f64 / t.elapsed().as_secs_f64();
        let c_cpu = prompt as f64 / (cpu_now() - c0);
        let mut order: Vec<usize> = (0..batches.len()).collect();
        if round % 2 == 1 {
            order.reverse();
        }
        for &bi in &order {
            let b = batches[bi];
            let mut ss: Vec<Session> = (0..b)
                .map(|_| m.session(ctx, KvType::F16))
                .collect::<Result<_, _>>()?;
            let mut total = 0.0;
            let mut per = Vec::new();
            let c0 = cpu_now();
            for step in 0..steps {
                let ids: Vec<[u32; 1]> = (0..b)
                    .map(|i| [((step * 31 + i * 101 + 5) % cfg.vocab) as u32])
                    .collect();
                let lists: Vec<&[u32]> = ids.iter().map(|x| x.as_slice()).collect();
                let t = Instant::now();
                m.forward_batch(ex, &mut ss, &lists, Logits::Last)?;
                let dt = t.elapsed().as_secs_f64();
                total += dt;
                per.push(dt * 1e3);
            }
            let cpu = cpu_now() - c0;
            if round > 0 {
                agg[bi].push((b * steps) as f64 / total);
                agg_cpu[bi].push((b * steps) as f64 / cpu);
                step_ms[bi].extend(per);
            }
        }
        if round > 0 {
            ceiling.push(c);
            ceiling_cpu.push(c_cpu);
            eprintln!("round {round}: ceiling {c:.2} t/s");
        }
    }
    let ceil = median(&mut ceiling);
    let ceil_cpu = median(&mut ceiling_cpu);
    println!(
        "{model} {linear} head {head}, {threads} thread(s), {} level; ceiling (pp{prompt}, every \
         position's logits): {ceil:.2} t/s wall, {ceil_cpu:.2} t/s CPU time (median of {rounds})",
        ks.isa
    );
    println!(
        "batch  aggregate t/s  per-stream t/s  step ms p50  x B=1  / ceiling | CPU-time: t/s  x B=1  / ceiling"
    );
    let base = median(&mut agg[0].clone());
    let base_cpu = median(&mut agg_cpu[0].clone());
    for (bi, &b) in batches.iter().enumerate() {
        let a = median(&mut agg[bi]);
        let ac = median(&mut agg_cpu[bi]);
        let p50 = median(&mut step_ms[bi]);
        println!(
            "{b:>5}  {a:>13.2}  {:>14.2}  {p50:>11.1}  {:>5.2}  {:>8.2} | {ac:>14.2}  {:>5.2}  {:>8.2}",
            a / b as f64,
            a / base,
            a / ceil,
            ac / base_cpu,
            ac / ceil_cpu
        );
    }
    Ok(())
}
