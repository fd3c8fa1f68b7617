//! The worker: runs cases inside one process under Valgrind, each measured stretch of work
//! inside a call of [`ternbench_icount_region`], the function Valgrind is told to count
//! (`--toggle-collect`) and to dump its counts after (`--dump-after`). Nothing needs Valgrind's
//! client requests; natively the region is an ordinary call.
//!
//! On stdout the worker writes one JSON line per region, before entering it, in order, so the
//! k-th line names the k-th dump: first `{"levels": [...]}` (the levels it can run), then
//! `{"calibration": true}` (an empty region: the fixed cost of entering one), then per case
//! `{"case": ID, "units": N}` (N kernel calls or tokens inside), or `{"case": ID, "skipped":
//! REASON}` for a case that cannot run here (a level the CPU, as Valgrind presents it, lacks).
//!
//! A kernel case makes one uncounted warm-up call (every allocation and cache it touches in
//! its steady state), then one counted call. A model case counts the whole prefill, or every
//! decode step, in one region.

use std::io::Write;

use anyhow::{Context, Result};
use serde_json::json;
use ternbench_engine::kernels::{
    matmul, F16Matrix, Format, I2Matrix, Isa, KernelSet, Pinning, Q8Matrix, ThreadPool, TlMatrix,
    Tq1Matrix,
};
use ternbench_engine::{KvType, Logits, Sampler};

use super::cases::{self, Case, KOp, Phase, Shape};
use crate::cli::EngineArg;
use crate::measure::synth::BenchMatrix;
use crate::plan::model::{build, ModelPlan};

/// The one function Valgrind counts: everything `f` does, inclusive.
#[no_mangle]
#[inline(never)]
pub fn ternbench_icount_region(f: &mut dyn FnMut()) {
    f();
    std::hint::black_box(());
}

/// Its symbol, as Valgrind's options name it.
pub const REGION_SYMBOL: &str = "ternbench_icount_region";

/// Seed of the synthetic weights and activations.
const SEED: u64 = 0x1C0_u64;

/// Runs `ids` in order (grouped by what they build), writing the manifest to `out`.
pub fn run(ids: &[String], out: &mut impl Write) -> Result<()> {
    let cases: Vec<Case> = ids.iter().map(|i| Case::parse(i)).collect::<Result<_>>()?;
    let levels: Vec<&str> = cases::LEVELS
        .iter()
        .filter(|i| i.is_available())
        .map(|i| i.name())
        .collect();
    writeln!(out, "{}", json!({ "levels": levels }))?;
    writeln!(out, "{}", json!({ "calibration": true }))?;
    out.flush()?;
    ternbench_icount_region(&mut || {});
    let mut keys: Vec<String> = Vec::new();
    for c in &cases {
        if !keys.contains(&c.setup_key()) {
            keys.push(c.setup_key());
        }
    }
    for key in keys {
        let group: Vec<Case> = cases
            .iter()
            .filter(|c| c.setup_key() == key)
            .copied()
            .collect();
        match group[0] {
            Case::Kernel { format, shape, .. } => {
                let ops: Vec<(Isa, KOp, String)> = group
                    .iter()
                    .filter_map(|c| match c {
                        Case::Kernel { isa, op, .. } => Some((*isa, *op, c.id())),
                        Case::Model { .. } => None,
                    })
                    .collect();
                match format {
                    Format::I2 => kernels::<I2Matrix>(shape, &ops, out)?,
                    Format::Tq1 => kernels::<Tq1Matrix>(shape, &ops, out)?,
                    Format::Tl => kernels::<TlMatrix>(shape, &ops, out)?,
                    Format::Q8 => kernels::<Q8Matrix>(shape, &ops, out)?,
                    Format::F16 => kernels::<F16Matrix>(shape, &ops, out)?,
                }
            }
            Case::Model { engine, .. } => model(engine, &group, out)?,
        }
    }
    out.flush()?;
    Ok(())
}

fn skip(out: &mut impl Write, id: &str, reason: impl std::fmt::Display) -> Result<()> {
    writeln!(
        out,
        "{}",
        json!({ "case": id, "skipped": reason.to_string() })
    )?;
    Ok(())
}

fn region(out: &mut impl Write, id: &str, units: u64, f: &mut dyn FnMut()) -> Result<()> {
    writeln!(out, "{}", json!({ "case": id, "units": units }))?;
    out.flush()?;
    ternbench_icount_region(f);
    Ok(())
}

/// One matrix of `shape`, then every (level, op) of the group on it.
fn kernels<M: BenchMatrix>(
    shape: Shape,
    ops: &[(Isa, KOp, String)],
    out: &mut impl Write,
) -> Result<()> {
    let m = M::pack(
        shape.rows,
        shape.cols,
        &M::pool(shape.rows * shape.cols, SEED),
    )?;
    let pool = ThreadPool::new(1, Pinning::None);
    for (isa, op, id) in ops {
        let ks = match KernelSet::get(*isa) {
            Ok(ks) => ks,
            Err(e) => {
                skip(out, id, e)?;
                continue;
            }
        };
        if let Err(e) = ks.ops::<M>() {
            skip(out, id, e)?;
            continue;
        }
        let act = M::random_act(op.batch(), shape.cols, SEED + 1);
        let mut y = vec![0f32; op.batch() * shape.rows];
        let mut call = || {
            matmul(ks, &pool, 1, op.op(), &m, &act, &mut y).expect("kernel checked above");
        };
        call();
        region(out, id, 1, &mut call)?;
        std::hint::black_box(&y);
    }
    Ok(())
}

/// The model of `engine`, then every (level, phase) of the group on it.
fn model(engine: EngineArg, group: &[Case], out: &mut impl Write) -> Result<()> {
    let context = cases::PROMPT_TOKENS + cases::DECODE_TOKENS;
    let pool = ThreadPool::new(1, Pinning::None);
    let plan = ModelPlan {
        name: cases::MODEL,
        engine,
        format: Format::I2,
        head: Format::F16,
        seed: 1,
        sample_layers: Some(cases::MODEL_LAYERS),
        kv: KvType::F16,
        context,
    };
    let model = build(&plan, &pool, 1)?;
    let vocab = model.weights.cfg.vocab as u32;
    let prompt: Vec<u32> = (0..cases::PROMPT_TOKENS as u32)
        .map(|i| (1 + 37 * i) % vocab)
        .collect();
    for c in group {
        let Case::Model { isa, phase, .. } = *c else {
            continue;
        };
        let id = c.id();
        let ks = match KernelSet::get(isa) {
            Ok(ks) => ks,
            Err(e) => {
                skip(out, &id, e)?;
                continue;
            }
        };
        let ex = ternbench_engine::model::exec(ks, &pool, 1);
        let mut s = model.session(context, KvType::F16)?;
        let mut sampler = Sampler::greedy();
        let mut failed = None;
        match phase {
            Phase::Prefill => {
                region(
                    out,
                    &id,
                    cases::PROMPT_TOKENS as u64,
                    &mut || match model.forward(ex, &mut s, &prompt, Logits::Last) {
                        Ok(l) => {
                            std::hint::black_box(sampler.sample(&l));
                        }
                        Err(e) => failed = Some(e),
                    },
                )?;
            }
            Phase::Decode => {
                let l = model.forward(ex, &mut s, &prompt, Logits::Last)?;
                let mut tok = sampler.sample(&l);
                region(out, &id, cases::DECODE_TOKENS as u64, &mut || {
                    for _ in 0..cases::DECODE_TOKENS {
                        match model.forward(ex, &mut s, &[tok], Logits::Last) {
                            Ok(l) => tok = sampler.sample(&l),
                            Err(e) => {
                                failed = Some(e);
                                return;
                            }
                        }
                    }
                })?;
            }
        }
        if let Some(e) = failed {
            return Err(e).with_context(|| format!("case {id}"));
        }
    }
    Ok(())
}
