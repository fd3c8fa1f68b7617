//! `ternbench kernels`: the kernel sweep, format × SIMD level × op × shape × threads, each cell
//! set against the read bandwidth and arithmetic peak measured in the same run.
//!
//! ## What one run does
//! 1. Resolves the plan from the arguments; every usage error (a level this CPU lacks, a named
//!    level without a kernel for a named format) is reported before anything is measured.
//! 2. Measures the read bandwidth at every thread count ([`crate::measure::bandwidth::measure`] over the
//!    default read methods, the fastest kept) and the int8 / f32 peaks of every level that runs
//!    a gemm.
//! 3. For each format and shape, builds random weights once (a single matrix, or for `stack`
//!    distinct 6912x2560 matrices totalling over 4x the last-level cache, cycled through so
//!    every call reads from DRAM), then times every level × op × thread count on them: one
//!    warm-up call, then samples until a minimum count and time ([`crate::measure::timing`]).
//!    A gemv cell's timing is cut into [`BESIDE_ROUNDS`] rounds, each between two short
//!    bandwidth passes at the same thread count (the method chosen at the start; one before the
//!    first round and one after each): its ratio is the median of the per-round ratios, each
//!    against the mean of the passes on either side of its round, so drift of the machine's
//!    bandwidth between the start and the end of a long sweep (±20% within minutes on a shared
//!    VM) cancels.
//! 4. Measures the bandwidth again, with the method chosen at the start, and sets each other cell
//!    against the mean of the two; measures the peaks again and holds each gemm cell to the
//!    fastest run of either (a ceiling disturbed once by a busy neighbour is not kept).
//!
//! The rows it produces and how they are printed: [`crate::present::kernels_report`].

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use ternbench_kernels::probe::{peak_probe, PeakKind};
use ternbench_kernels::{
    matmul, F16Matrix, Format, I2Matrix, Isa, KernelError, KernelSet, Op, Q4Matrix, Q8Matrix,
    ThreadPool, TlMatrix, Tq1Matrix,
};

use crate::cli::{IsaChoice, KernelsArgs, OpArg};
use crate::error::usage;
use crate::measure::bandwidth::{Bandwidth, Beside};
use crate::measure::peak::{self, Peak};
use crate::measure::synth::{self, BenchMatrix};
use crate::measure::timing::{self, median, min, Policy};
use crate::output::{fmt_opt, fmt_secs};
use crate::present::kernels_report::{
    ceiling_warnings, headroom_lines, table, write_out, PeakPair, Row, Summary,
};
use crate::records::machine;

/// A matrix shape of the sweep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    /// Name on the command line and in results.
    pub name: &'static str,
    /// Output features.
    pub rows: usize,
    /// Input features.
    pub cols: usize,
    /// A stack of distinct matrices larger than the cache, cycled through.
    pub stack: bool,
    /// Resident in L2: `rows` is set per format and thread count so the matrix fills half of
    /// each participating core's L2 ([`l2_rows`]); gemv only. Its `bw ratio` is the kernel's
    /// compute headroom.
    pub l2: bool,
}

/// BitNet b1.58 2B4T's linear layers and tied LM head, then the out-of-cache stack and the
/// L2-resident matrix (compute headroom).
pub const SHAPES: [Shape; 7] = [
    Shape {
        name: "qo",
        rows: 2560,
        cols: 2560,
        stack: false,
        l2: false,
    },
    Shape {
        name: "kv",
        rows: 640,
        cols: 2560,
        stack: false,
        l2: false,
    },
    Shape {
        name: "gate_up",
        rows: 6912,
        cols: 2560,
        stack: false,
        l2: false,
    },
    Shape {
        name: "down",
        rows: 2560,
        cols: 6912,
        stack: false,
        l2: false,
    },
    Shape {
        name: "lm_head",
        rows: 128256,
        cols: 2560,
        stack: false,
        l2: false,
    },
    Shape {
        name: "stack",
        rows: 6912,
        cols: 2560,
        stack: true,
        l2: false,
    },
    Shape {
        name: "l2",
        rows: 0,
        cols: 2560,
        stack: false,
        l2: true,
    },
];

/// The stack holds more than this many times the last-level cache.
pub const STACK_LLC_FACTOR: u64 = 4;

/// Parses `--shapes` values: `2b4t`, `stack`, `all` or shape names.
pub fn parse_shapes(names: &[String]) -> Result<Vec<Shape>> {
    let mut out: Vec<Shape> = Vec::new();
    let mut push = |s: Shape| {
        if !out.contains(&s) {
            out.push(s);
        }
    };
    for n in names {
        match n.trim().to_ascii_lowercase().as_str() {
            "all" => SHAPES.iter().for_each(|&s| push(s)),
            "2b4t" => SHAPES
                .iter()
                .filter(|s| !s.stack && !s.l2)
                .for_each(|&s| push(s)),
            other => match SHAPES.iter().find(|s| s.name == other) {
                Some(&s) => push(s),
                None => {
                    return Err(usage(format!(
                        "unknown shape `{n}`; known: 2b4t, all, {}",
                        SHAPES.map(|s| s.name).join(", ")
                    )))
                }
            },
        }
    }
    Ok(out)
}

/// The level a usage error names when it cannot run: the kernel crate's reason, plus the
/// missing CPU features when that reason does not list them.
pub fn kernel_set(isa: Isa) -> Result<&'static KernelSet> {
    KernelSet::get(isa).map_err(|e| match e {
        KernelError::IsaUnsupported { .. } => usage(e.to_string()),
        _ => {
            let missing = isa.missing_features();
            if missing.is_empty() {
                usage(e.to_string())
            } else {
                usage(format!(
                    "SIMD level `{isa}` cannot run on this CPU: missing CPU features {} ({e})",
                    missing.join(", ")
                ))
            }
        }
    })
}

/// The resolved sweep.
#[derive(Debug)]
struct Plan {
    formats: Vec<Format>,
    isa: IsaChoice,
    /// Every (op, shape) pair to time.
    cells: Vec<(Op, Shape)>,
    threads: Vec<usize>,
    batch: usize,
    policy: Policy,
    bw_passes: usize,
    peak_target_s: f64,
    peak_reps: usize,
}

impl Plan {
    fn from_args(a: &KernelsArgs) -> Result<Plan> {
        let formats_explicit = a.weight_format.is_some();
        let mut formats = a.weight_format.clone().unwrap_or_else(|| {
            if a.quick {
                vec![Format::I2, Format::Tq1, Format::F16]
            } else {
                Format::ALL.to_vec()
            }
        });
        unique(&mut formats);
        let isa = match a.isa.clone().unwrap_or(IsaChoice::Best) {
            IsaChoice::Named(mut l) => {
                unique(&mut l);
                IsaChoice::Named(l)
            }
            other => other,
        };
        if let IsaChoice::Named(levels) = &isa {
            for &l in levels {
                let ks = kernel_set(l)?;
                if formats_explicit {
                    if let Some(f) = formats.iter().find(|&&f| !ks.has(f)) {
                        return Err(usage(format!(
                            "no `{f}` kernel at SIMD level `{l}` (this build has {} there); \
                             use --isa all to list missing kernels as rows",
                            implemented(ks)
                        )));
                    }
                }
            }
        }
        let ops: Vec<Op> = match &a.op {
            Some(o) => o
                .iter()
                .map(|o| match o {
                    OpArg::Gemv => Op::Gemv,
                    OpArg::Gemm => Op::Gemm,
                })
                .collect(),
            None => vec![Op::Gemv, Op::Gemm],
        };
        let cells: Vec<(Op, Shape)> = match (&a.shapes, a.quick) {
            (Some(names), _) => {
                let shapes = parse_shapes(names)?;
                // The LM head runs on one token per step even in prefill: a gemm over it is
                // timed only when named explicitly (the scalar f16 one takes minutes).
                let named_head = names
                    .iter()
                    .any(|n| n.trim().eq_ignore_ascii_case("lm_head"));
                // The L2-resident matrix measures decode kernels' headroom: gemv only.
                ops.iter()
                    .flat_map(|&o| shapes.iter().map(move |&s| (o, s)))
                    .filter(|&(o, s)| {
                        o == Op::Gemv || (!s.l2 && (s.name != "lm_head" || named_head))
                    })
                    .collect()
            }
            (None, true) => ops
                .iter()
                .flat_map(|&o| {
                    let names: &[&str] = if o == Op::Gemv {
                        &["stack", "l2"]
                    } else {
                        &["kv"]
                    };
                    names.iter().map(move |&name| {
                        (o, *SHAPES.iter().find(|s| s.name == name).expect("known"))
                    })
                })
                .collect(),
            (None, false) => ops
                .iter()
                .flat_map(|&o| SHAPES.iter().map(move |&s| (o, s)))
                .filter(|&(o, s)| o == Op::Gemv || (s.name != "lm_head" && !s.l2))
                .collect(),
        };
        let mut cells_dedup: Vec<(Op, Shape)> = Vec::new();
        for c in cells {
            if !cells_dedup.contains(&c) {
                cells_dedup.push(c);
            }
        }
        let min_time = a.min_time.unwrap_or(if a.quick { 0.05 } else { 0.3 });
        if !(min_time.is_finite() && min_time >= 0.0 && a.max_time.is_finite()) {
            return Err(usage(
                "--min-time and --max-time must be finite seconds >= 0",
            ));
        }
        Ok(Plan {
            formats,
            isa,
            cells: cells_dedup,
            threads: machine::thread_list(a.threads.as_deref()),
            batch: a.batch as usize,
            policy: Policy {
                min_reps: a
                    .min_reps
                    .map_or(if a.quick { 3 } else { 5 }, |r| r as usize),
                min_time,
                max_time: a.max_time.max(0.0),
            },
            bw_passes: if a.quick { 3 } else { 5 },
            peak_target_s: if a.quick { 0.02 } else { peak::TARGET_S },
            peak_reps: peak::REPS,
        })
    }

    /// The levels a format runs at: `(level, its set if it has this format's kernel)`.
    fn levels(&self, f: Format) -> Vec<(Isa, Option<&'static KernelSet>)> {
        let with = |ks: &'static KernelSet| (ks.isa, ks.has(f).then_some(ks));
        match &self.isa {
            IsaChoice::Best => KernelSet::available()
                .into_iter()
                .rev()
                .find(|ks| ks.has(f))
                .map(with)
                .into_iter()
                .collect(),
            IsaChoice::All => KernelSet::available().into_iter().map(with).collect(),
            IsaChoice::Named(levels) => levels
                .iter()
                .filter_map(|&l| KernelSet::get(l).ok())
                .map(with)
                .collect(),
        }
    }
}

/// Removes repeated items, keeping the first of each.
fn unique<T: PartialEq + Copy>(v: &mut Vec<T>) {
    let mut seen: Vec<T> = Vec::with_capacity(v.len());
    v.retain(|x| {
        let new = !seen.contains(x);
        if new {
            seen.push(*x);
        }
        new
    });
}

/// Formats a level implements, for messages.
fn implemented(ks: &KernelSet) -> String {
    let v: Vec<&str> = Format::ALL
        .into_iter()
        .filter(|&f| ks.has(f))
        .map(|f| f.name())
        .collect();
    if v.is_empty() {
        "no kernels".into()
    } else {
        v.join(", ")
    }
}

/// The peak kind a format's gemm is held to.
fn peak_kind(f: Format) -> PeakKind {
    if f == Format::F16 {
        PeakKind::F32
    } else {
        PeakKind::Int8
    }
}

/// What the sweep shares.
struct Ctx<'a> {
    plan: &'a Plan,
    pool: &'a ThreadPool,
    /// The bandwidth array and, per thread count, the read method chosen at the start.
    beside: &'a Beside,
    llc: u64,
    /// One core's L2 (bytes), for the L2-resident shape.
    l2: u64,
    cpu: String,
    /// The gemv prefetch distances, per format, level and thread count.
    prefetch: crate::measure::prefetch::PrefetchPlan,
}

/// Runs `ternbench kernels`.
pub fn run(args: &KernelsArgs) -> Result<()> {
    let plan = Plan::from_args(args)?;
    crate::commands::check_threads(&plan.threads, &args.thread_opts, "--threads")?;
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating output directory {}", dir.display()))?;
    }
    let max_threads = *plan.threads.iter().max().unwrap_or(&1);
    let pool = ThreadPool::new(max_threads, crate::records::machine::pinning(args.pin));
    if args.pin && !pool.pinned() {
        eprintln!("warning: --pin asked for, but pinning threads to cores failed here; threads are not pinned");
    }
    let (llc, _) = machine::llc_bytes();
    let cpu = machine::cpu_model();

    eprintln!("measuring read bandwidth ...");
    let beside = Beside::new(&pool, &plan.threads, plan.bw_passes);
    let bw_start = beside.start().to_vec();
    for b in &bw_start {
        eprintln!(
            "  {} thread(s): {:.2} GB/s max, {:.2} median ({})",
            b.threads, b.max_gbps, b.median_gbps, b.method
        );
    }

    let peaks_start = measure_peaks(&plan, &pool);

    let mut prefetch = crate::measure::prefetch::PrefetchPlan::default();
    if plan.cells.iter().any(|(o, _)| *o == Op::Gemv) {
        for &f in &plan.formats {
            for (_, ks) in plan.levels(f) {
                let Some(ks) = ks else { continue };
                let p = crate::measure::prefetch::for_formats(
                    args.prefetch,
                    &[f],
                    ks,
                    &pool,
                    &plan.threads,
                )
                .with_context(|| format!("choosing the {f} gemv prefetch distance"))?;
                for l in p.summary() {
                    eprintln!("{l}");
                }
                prefetch.choices.extend(p.choices);
            }
        }
    }
    let ctx = Ctx {
        plan: &plan,
        pool: &pool,
        beside: &beside,
        llc,
        l2: machine::l2_bytes().0,
        cpu: cpu.clone(),
        prefetch,
    };
    let mut rows = Vec::new();
    for &f in &plan.formats {
        match f {
            Format::I2 => sweep::<I2Matrix>(&ctx, f, &mut rows)?,
            Format::Tq1 => sweep::<Tq1Matrix>(&ctx, f, &mut rows)?,
            Format::Tl => sweep::<TlMatrix>(&ctx, f, &mut rows)?,
            Format::Q8 => sweep::<Q8Matrix>(&ctx, f, &mut rows)?,
            Format::Q4 => sweep::<Q4Matrix>(&ctx, f, &mut rows)?,
            Format::F16 => sweep::<F16Matrix>(&ctx, f, &mut rows)?,
        }
    }

    eprintln!("measuring read bandwidth again ...");
    let bw_end = beside.again(&pool, plan.bw_passes);
    drop(beside);
    fill_bandwidth(&mut rows, &bw_start, &bw_end);
    let peaks = remeasure_peaks(&plan, &pool, peaks_start);
    fill_peaks(&mut rows, &peaks);

    let warnings = ceiling_warnings(&rows);
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    let summary = Summary {
        cpu,
        llc,
        bw_start,
        bw_end,
        peaks: peaks.into_values().collect(),
        headroom: headroom_lines(&rows),
        warnings,
    };
    if args.output == crate::cli::TextOrJson::Json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        print!("{}", summary.text());
        print!("{}", table(&rows).render());
    }
    if let Some(dir) = &args.out {
        write_out(dir, &rows, &summary)?;
    }
    Ok(())
}

/// A peak loop: level, kind, threads.
type PeakKey = (Isa, PeakKind, usize);

/// Measures the peaks of `start` again after the sweep, pairing each with its first run.
fn remeasure_peaks(
    plan: &Plan,
    pool: &ThreadPool,
    start: BTreeMap<PeakKey, Peak>,
) -> BTreeMap<PeakKey, PeakPair> {
    start
        .into_iter()
        .filter_map(|((isa, kind, t), s)| {
            let probe = peak_probe(isa, kind)?;
            eprintln!(
                "measuring {isa} {} peak again, {t} thread(s) ...",
                kind.name()
            );
            let end = peak::measure(pool, &probe, t, plan.peak_target_s, plan.peak_reps);
            Some(((isa, kind, t), PeakPair { start: s, end }))
        })
        .collect()
}

/// Peaks of every level that runs a gemm, per kind its formats need and per thread count.
fn measure_peaks(plan: &Plan, pool: &ThreadPool) -> BTreeMap<PeakKey, Peak> {
    let mut peaks = BTreeMap::new();
    if !plan.cells.iter().any(|(o, _)| *o == Op::Gemm) {
        return peaks;
    }
    for &f in &plan.formats {
        for (isa, ks) in plan.levels(f) {
            if ks.is_none() {
                continue;
            }
            let kind = peak_kind(f);
            let Some(probe) = peak_probe(isa, kind) else {
                continue;
            };
            for &t in &plan.threads {
                peaks.entry((isa, kind, t)).or_insert_with(|| {
                    eprintln!("measuring {isa} {} peak, {t} thread(s) ...", kind.name());
                    peak::measure(pool, &probe, t, plan.peak_target_s, plan.peak_reps)
                });
            }
        }
    }
    peaks
}

/// Times every level × (op, shape) × thread count of format `f` (matrix type `M`).
fn sweep<M: BenchMatrix>(ctx: &Ctx, f: Format, out_rows: &mut Vec<Row>) -> Result<()> {
    let plan = ctx.plan;
    let levels = plan.levels(f);
    let mut shapes: Vec<Shape> = Vec::new();
    for (_, s) in &plan.cells {
        if !shapes.contains(s) {
            shapes.push(*s);
        }
    }
    for shape in shapes {
        let ops: Vec<Op> = plan
            .cells
            .iter()
            .filter(|(_, s)| *s == shape)
            .map(|(o, _)| *o)
            .collect();
        let any_kernel = levels.iter().any(|(_, ks)| ks.is_some());
        // The L2-resident shape is sized per thread count; the others serve every count.
        let variants: Vec<(Shape, Vec<usize>)> = if shape.l2 {
            let mut v = Vec::new();
            for &t in &plan.threads {
                let rows = l2_rows::<M>(ctx, shape.cols, t)?;
                v.push((Shape { rows, ..shape }, vec![t]));
            }
            v
        } else {
            vec![(shape, plan.threads.clone())]
        };
        for (shape, threads) in variants {
            sweep_shape::<M>(ctx, f, &levels, &ops, shape, &threads, any_kernel, out_rows)?;
        }
    }
    Ok(())
}

/// Rows of the L2-resident matrix at `threads`: half of each participating core's L2 in packed
/// weights, in whole 32-row groups (at least one).
fn l2_rows<M: BenchMatrix>(ctx: &Ctx, cols: usize, threads: usize) -> Result<usize> {
    let probe: M = synth::random(32, cols, 1)?;
    let per_group = probe.weight_bytes() as u64;
    let groups = (ctx.l2 / 2 * threads as u64 / per_group).max(1);
    Ok(groups as usize * 32)
}

/// Times every level × op × thread count of format `f` on one shape.
#[allow(clippy::too_many_arguments)]
fn sweep_shape<M: BenchMatrix>(
    ctx: &Ctx,
    f: Format,
    levels: &[(Isa, Option<&'static KernelSet>)],
    ops: &[Op],
    shape: Shape,
    threads: &[usize],
    any_kernel: bool,
    out_rows: &mut Vec<Row>,
) -> Result<()> {
    let plan = ctx.plan;
    let mats: Vec<M> = if any_kernel {
        build::<M>(ctx, f, shape)?
    } else {
        Vec::new()
    };
    for &(isa, ks) in levels {
        for &op in ops {
            let batch = if op == Op::Gemv { 1 } else { plan.batch };
            let Some(ks) = ks else {
                for &t in threads {
                    out_rows.push(blank_row(ctx, f, isa, op, shape, batch, t, &mats));
                }
                continue;
            };
            let act = M::random_act(batch, shape.cols, 0xAC7);
            let mut out = vec![0f32; batch * shape.rows];
            for &t in threads {
                ctx.prefetch.apply(isa, t);
                // Validates once (the set has this format's kernel), outside the timing.
                matmul(ks, ctx.pool, t, op, &mats[0], &act, &mut out)
                    .with_context(|| format!("running {f} {op:?} at {isa}"))?;
                let mut call = |i: usize| {
                    matmul(ks, ctx.pool, t, op, &mats[i % mats.len()], &act, &mut out)
                        .expect("kernel presence checked above");
                };
                let mut row = blank_row(ctx, f, isa, op, shape, batch, t, &mats);
                if op == Op::Gemv && ternbench_kernels::tune::is_tuned_at(f, isa) {
                    row.prefetch_bytes = Some(ternbench_kernels::tune::gemv_prefetch(f));
                }
                match op {
                    Op::Gemv if ctx.beside.covers(t) => {
                        let bytes = row.weight_bytes.unwrap_or(0) as f64;
                        let (samples, bws, ratios) = time_beside(ctx, t, bytes, &mut call);
                        fill_timing(&mut row, samples);
                        row.bandwidth_beside_gbps = Some(median(&bws));
                        row.bandwidth_ratio = Some(median(&ratios));
                        row.bandwidth_beside_samples_gbps = bws;
                        row.bandwidth_ratio_rounds = ratios;
                    }
                    _ => fill_timing(&mut row, timing::time_calls(plan.policy, call)),
                }
                eprintln!(
                    "  {:<4} {:<10} {} {:<7} {}t{}: {:>10}/call {:>8} GB/s {:>9} Gprod/s",
                    row.format,
                    row.isa,
                    row.op,
                    row.shape,
                    t,
                    row.prefetch_bytes
                        .map_or(String::new(), |d| format!(" prefetch {d} B")),
                    fmt_secs(row.median_s.unwrap_or(f64::NAN)),
                    fmt_opt(row.weight_gbps, 2),
                    fmt_opt(row.gops, 2)
                );
                out_rows.push(row);
            }
        }
    }
    Ok(())
}

/// Timing rounds of a gemv cell, each between two bandwidth passes.
pub const BESIDE_ROUNDS: usize = 5;
/// Times `call` in [`BESIDE_ROUNDS`] rounds (the plan's policy split among them) with a short
/// bandwidth reading at `threads` ([`Beside::gbps`]) before the first and after every round,
/// so each round lies between two readings: returns every sample, the `BESIDE_ROUNDS + 1`
/// readings in order, and each round's weight GB/s over the mean of the readings on either
/// side of it.
fn time_beside(
    ctx: &Ctx,
    threads: usize,
    weight_bytes: f64,
    call: &mut impl FnMut(usize),
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let p = ctx.plan.policy;
    let k = BESIDE_ROUNDS;
    let round = Policy {
        min_reps: p.min_reps.div_ceil(k).max(1),
        min_time: p.min_time / k as f64,
        max_time: p.max_time / k as f64,
    };
    let read = || ctx.beside.gbps(ctx.pool, threads).unwrap_or(0.0);
    let (mut samples, mut bws, mut ratios) = (Vec::new(), vec![read()], Vec::new());
    let mut offset = 0usize;
    for _ in 0..k {
        let s = timing::time_calls(round, |i| call(offset + i));
        offset += s.len() + 1;
        let gbps = weight_bytes / median(&s) / 1e9;
        let before = bws[bws.len() - 1];
        let after = read();
        bws.push(after);
        if before > 0.0 && after > 0.0 {
            ratios.push(gbps / ((before + after) / 2.0));
        }
        samples.extend(s);
    }
    (samples, bws, ratios)
}

/// The matrices of one shape: one, or a stack over [`STACK_LLC_FACTOR`]x the cache.
fn build<M: BenchMatrix>(ctx: &Ctx, f: Format, shape: Shape) -> Result<Vec<M>> {
    let t0 = std::time::Instant::now();
    let mats: Vec<M> = if shape.stack {
        // Bytes per matrix from a 32-row slice (every format packs whole 32-row groups).
        let probe: M = synth::random(32, shape.cols, 1)?;
        let per = (probe.weight_bytes() * shape.rows.div_ceil(32)) as u64;
        let n = (STACK_LLC_FACTOR * ctx.llc / per + 1) as usize;
        synth::stack(shape.rows, shape.cols, n, 1, machine::cores())?
    } else {
        vec![synth::random(shape.rows, shape.cols, 1)?]
    };
    eprintln!(
        "{f} {}: {} matrix(es) of {}x{}, {:.1} MB, built in {:.1} s",
        shape.name,
        mats.len(),
        shape.rows,
        shape.cols,
        (mats.len() * mats[0].weight_bytes()) as f64 / 1e6,
        t0.elapsed().as_secs_f64()
    );
    Ok(mats)
}

/// A row with the cell's identity and no figures.
#[allow(clippy::too_many_arguments)]
fn blank_row<M: BenchMatrix>(
    ctx: &Ctx,
    f: Format,
    isa: Isa,
    op: Op,
    shape: Shape,
    batch: usize,
    threads: usize,
    mats: &[M],
) -> Row {
    Row {
        format: f.name().into(),
        isa: isa.name().into(),
        op: op.name().into(),
        shape: shape.name.into(),
        status: "no kernel".into(),
        rows: shape.rows,
        cols: shape.cols,
        batch,
        threads,
        stack_matrices: if shape.stack { mats.len() } else { 1 },
        weight_bytes: mats.first().map(|m| m.weight_bytes()),
        median_s: None,
        min_s: None,
        weight_gbps: None,
        bandwidth_start_gbps: None,
        bandwidth_end_gbps: None,
        bandwidth_gbps: None,
        bandwidth_method: None,
        bandwidth_beside_gbps: None,
        bandwidth_beside_samples_gbps: Vec::new(),
        bandwidth_ratio_rounds: Vec::new(),
        bandwidth_ratio: None,
        gops: None,
        peak_gops: None,
        peak_instr: None,
        peak_ratio: None,
        samples_s: Vec::new(),
        prefetch_bytes: None,
        cpu: ctx.cpu.clone(),
    }
}

/// Sets a timed row's time and throughput (bandwidth and peak ratios come at the end).
fn fill_timing(row: &mut Row, samples: Vec<f64>) {
    let med = median(&samples);
    row.status = "ok".into();
    row.median_s = Some(med);
    row.min_s = Some(min(&samples));
    row.weight_gbps = row.weight_bytes.map(|b| b as f64 / med / 1e9);
    let gops = (row.rows * row.cols * row.batch) as f64 / med / 1e9;
    row.gops = Some(gops);
    row.samples_s = samples;
}

/// Sets every timed gemm row's peak fields: the fastest run of its level's loop at its thread
/// count, before or after the sweep.
fn fill_peaks(rows: &mut [Row], peaks: &BTreeMap<PeakKey, PeakPair>) {
    for r in rows.iter_mut().filter(|r| r.op == Op::Gemm.name()) {
        let (Ok(isa), Ok(f), Some(gops)) =
            (r.isa.parse::<Isa>(), r.format.parse::<Format>(), r.gops)
        else {
            continue;
        };
        if let Some(p) = peaks.get(&(isa, peak_kind(f), r.threads)) {
            r.peak_gops = Some(p.max_gops());
            r.peak_instr = Some(p.start.instr.clone());
            r.peak_ratio = Some(gops / p.max_gops());
        }
    }
}

/// Sets every row's bandwidth fields from the start and end measurements.
fn fill_bandwidth(rows: &mut [Row], start: &[Bandwidth], end: &[Bandwidth]) {
    for r in rows {
        let s = start.iter().find(|b| b.threads == r.threads);
        let e = end.iter().find(|b| b.threads == r.threads);
        if let (Some(s), Some(e)) = (s, e) {
            let mean = (s.max_gbps + e.max_gbps) / 2.0;
            r.bandwidth_start_gbps = Some(s.max_gbps);
            r.bandwidth_end_gbps = Some(e.max_gbps);
            r.bandwidth_gbps = Some(mean);
            r.bandwidth_method = Some(s.method.clone());
            if r.bandwidth_ratio.is_none() {
                r.bandwidth_ratio = r.weight_gbps.map(|w| w / mean);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_parse() {
        let s = parse_shapes(&["2b4t".into()]).unwrap();
        assert_eq!(s.len(), 5);
        assert!(s.iter().all(|s| !s.stack));
        let s = parse_shapes(&["stack".into(), "qo".into(), "stack".into()]).unwrap();
        assert_eq!(
            s.iter().map(|s| s.name).collect::<Vec<_>>(),
            ["stack", "qo"]
        );
        assert_eq!(parse_shapes(&["all".into()]).unwrap().len(), 7);
        assert!(parse_shapes(&["l2".into()]).unwrap()[0].l2);
        assert!(parse_shapes(&["huge".into()]).is_err());
    }

    #[test]
    fn unique_keeps_first_occurrences() {
        let mut v = vec![3, 1, 3, 2, 1];
        unique(&mut v);
        assert_eq!(v, [3, 1, 2]);
    }

    #[test]
    fn missing_level_names_features() {
        let e = kernel_set(Isa::Neon).unwrap_err();
        if cfg!(target_arch = "x86_64") {
            assert!(e.to_string().contains("missing CPU features neon"), "{e}");
        }
        assert!(e.downcast_ref::<crate::error::UsageError>().is_some());
    }
}
