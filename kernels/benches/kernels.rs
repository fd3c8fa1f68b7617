//! Criterion benches of every format × SIMD level × op on the BitNet b1.58 2B4T shapes, plus
//! one out-of-cache stack.
//!
//! Ids are `OP/FORMAT/LEVEL/SHAPE` (`gemv/i2/avx2/qo`), so a filter selects any slice:
//! `cargo bench -p ternbench-kernels -- gemv/i2/` or `-- /stack`. Matrices are built lazily on the
//! first bench that needs them, so a filter also skips building what it does not run.
//!
//! * Shapes: qo 2560x2560, kv 640x2560, gate_up 6912x2560, down 2560x6912, lm_head
//!   128256x2560 (gemv only: one token per step reaches the LM head, even in prefill), and
//!   `stack`: distinct 6912x2560 matrices totalling over 4x the last-level cache, one per
//!   iteration in turn, so each gemv reads its weights from DRAM.
//! * gemv is batch 1; gemm is batch [`GEMM_BATCH`] (32, not the harness's 128, so a scalar f16
//!   gemm iteration stays near a second). One thread (`TERNBENCH_BENCH_THREADS` to change).
//! * Throughput is the packed weight bytes one call reads.
//! * Settings keep a full run short: 0.3 s warm-up, 1 s measurement, 10 samples, flat sampling
//!   for gemm. Levels without a kernel for a format are skipped (listed on stderr).
//!
//! `ternbench kernels` is the measured, reported form (bandwidth and peak ratios in one run);
//! these benches are for comparing kernel changes (`--save-baseline`, `--baseline`).

use std::cell::OnceCell;
use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
use ternbench_kernels::{
    matmul, ActF32, ActQ8, F16Matrix, Format, I2Matrix, KernelSet, Op, PackedMatrix, Pinning,
    Q4Matrix, Q8Matrix, ThreadPool, TlMatrix, Tq1Matrix,
};

/// Tokens per gemm call.
const GEMM_BATCH: usize = 32;

/// (name, rows, cols, stack).
const SHAPES: [(&str, usize, usize, bool); 6] = [
    ("qo", 2560, 2560, false),
    ("kv", 640, 2560, false),
    ("gate_up", 6912, 2560, false),
    ("down", 2560, 6912, false),
    ("lm_head", 128256, 2560, false),
    ("stack", 6912, 2560, true),
];

/// Matrix `i` of a stack is the random pool shifted by `i * STACK_SHIFT` weights.
const STACK_SHIFT: usize = 1021;

struct XorShift(u64);
impl XorShift {
    fn new(seed: u64) -> Self {
        XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut v = vec![0u8; n];
        for c in v.chunks_mut(8) {
            let r = self.next().to_le_bytes();
            c.copy_from_slice(&r[..c.len()]);
        }
        v
    }
    fn floats(&mut self, n: usize) -> Vec<f32> {
        (0..n)
            .map(|_| (self.next() >> 40) as f32 / (1u64 << 23) as f32 - 1.0)
            .collect()
    }
}

/// How to build random matrices and activations of one format.
trait Bench: PackedMatrix {
    /// Packs `rows x cols` weights taken from `pool` (random bytes) starting at `off`.
    fn make(rows: usize, cols: usize, pool: &[u8], off: usize) -> Self;
    fn act(batch: usize, cols: usize) -> Self::Act;
}

fn ternary(pool: &[u8], off: usize, n: usize) -> Vec<i8> {
    pool[off..off + n]
        .iter()
        .map(|&b| (b % 3) as i8 - 1)
        .collect()
}

fn act_q8(batch: usize, cols: usize) -> ActQ8 {
    ActQ8::quantize(&XorShift::new(7).floats(batch * cols), batch, cols)
}

macro_rules! ternary_bench {
    ($($t:ty),*) => {$(
        impl Bench for $t {
            fn make(rows: usize, cols: usize, pool: &[u8], off: usize) -> Self {
                <$t>::from_ternary(rows, cols, &ternary(pool, off, rows * cols), 0.5)
                    .expect("valid ternary matrix")
            }
            fn act(batch: usize, cols: usize) -> ActQ8 {
                act_q8(batch, cols)
            }
        }
    )*};
}
ternary_bench!(I2Matrix, Tq1Matrix, TlMatrix);

impl Bench for Q8Matrix {
    fn make(rows: usize, cols: usize, pool: &[u8], off: usize) -> Self {
        let q: Vec<i8> = pool[off..off + rows * cols]
            .iter()
            .map(|&b| (b as i8).max(-127))
            .collect();
        Q8Matrix::from_quantized(rows, cols, &q, &vec![0.01; rows]).expect("valid q8 matrix")
    }
    fn act(batch: usize, cols: usize) -> ActQ8 {
        act_q8(batch, cols)
    }
}

impl Bench for Q4Matrix {
    fn make(rows: usize, cols: usize, pool: &[u8], off: usize) -> Self {
        let kp = cols.div_ceil(128) * 128;
        let mut codes = vec![8u8; rows * kp];
        for r in 0..rows {
            for (o, &b) in codes[r * kp..r * kp + cols]
                .iter_mut()
                .zip(&pool[off + r * cols..off + (r + 1) * cols])
            {
                *o = b & 15;
            }
        }
        Q4Matrix::from_codes(rows, cols, &codes, &vec![0.01; rows * kp / 64])
            .expect("valid q4 matrix")
    }
    fn act(batch: usize, cols: usize) -> ActQ8 {
        act_q8(batch, cols)
    }
}

impl Bench for F16Matrix {
    fn make(rows: usize, cols: usize, pool: &[u8], off: usize) -> Self {
        // Normal halves of magnitude 2^-6 .. 1 from one random byte each (sign, exponent,
        // mantissa high bits), built as bit patterns.
        let bits: Vec<u16> = pool[off..off + rows * cols]
            .iter()
            .map(|&b| {
                let b = b as u16;
                ((b & 0x80) << 8) | ((9 + (b >> 4 & 7) % 6) << 10) | ((b & 0xf) << 6)
            })
            .collect();
        F16Matrix::from_bits(rows, cols, &bits).expect("valid f16 matrix")
    }
    fn act(batch: usize, cols: usize) -> ActF32 {
        ActF32::new(&XorShift::new(7).floats(batch * cols), batch, cols)
    }
}

/// The last-level cache of cpu0 from sysfs, or 32 MiB.
fn llc_bytes() -> usize {
    let mut best = (0u32, 32usize << 20);
    for i in 0..8 {
        let dir = format!("/sys/devices/system/cpu/cpu0/cache/index{i}");
        let read = |f: &str| std::fs::read_to_string(format!("{dir}/{f}")).ok();
        let (Some(level), Some(ty), Some(size)) = (read("level"), read("type"), read("size"))
        else {
            continue;
        };
        let level: u32 = level.trim().parse().unwrap_or(0);
        let size = size.trim();
        let kib: Option<usize> = size.strip_suffix('K').and_then(|s| s.parse().ok());
        if let Some(kib) = kib {
            if ty.trim() != "Instruction" && level > best.0 {
                best = (level, kib << 10);
            }
        }
    }
    best.1
}

/// The matrices of one shape: one, or a stack of over 4x the last-level cache.
fn build<M: Bench>(rows: usize, cols: usize, stack: bool) -> Vec<M> {
    let n = if stack {
        let per = M::make(32, cols, &XorShift::new(1).bytes(32 * cols), 0).weight_bytes()
            * rows.div_ceil(32);
        4 * llc_bytes() / per + 1
    } else {
        1
    };
    let pool = XorShift::new(1).bytes(rows * cols + n * STACK_SHIFT);
    let start = std::time::Instant::now();
    let mats: Vec<M> = (0..n)
        .map(|i| M::make(rows, cols, &pool, i * STACK_SHIFT))
        .collect();
    eprintln!(
        "built {n} {} matrix(es) of {rows}x{cols} in {:.1} s",
        M::FORMAT,
        start.elapsed().as_secs_f64()
    );
    mats
}

fn bench_format<M: Bench>(c: &mut Criterion, pool: &ThreadPool, threads: usize) {
    let (sets, missing): (Vec<&'static KernelSet>, Vec<&'static KernelSet>) =
        KernelSet::available()
            .into_iter()
            .partition(|ks| ks.has(M::FORMAT));
    if !missing.is_empty() {
        let names: Vec<&str> = missing.iter().map(|ks| ks.isa.name()).collect();
        eprintln!("{}: no kernel at {} (skipped)", M::FORMAT, names.join(", "));
    }
    for (shape, rows, cols, stack) in SHAPES {
        let mats: OnceCell<Vec<M>> = OnceCell::new();
        // Bytes per call without building the shape: a 32-row slice scaled up.
        let bytes = M::make(32, cols, &XorShift::new(1).bytes(32 * cols), 0).weight_bytes()
            * rows.div_ceil(32);
        for op in [Op::Gemv, Op::Gemm] {
            if op == Op::Gemm && shape == "lm_head" {
                continue;
            }
            let batch = if op == Op::Gemv { 1 } else { GEMM_BATCH };
            let act = M::act(batch, cols);
            let mut out = vec![0f32; batch * rows];
            let mut g = c.benchmark_group(format!("{}/{}", op.name(), M::FORMAT));
            g.warm_up_time(Duration::from_millis(300))
                .measurement_time(Duration::from_secs(1))
                .sample_size(10)
                .throughput(Throughput::Bytes(bytes as u64));
            if op == Op::Gemm {
                g.sampling_mode(SamplingMode::Flat);
            }
            for &ks in &sets {
                g.bench_function(BenchmarkId::new(ks.isa.name(), shape), |b| {
                    let mats = mats.get_or_init(|| build::<M>(rows, cols, stack));
                    let mut i = 0usize;
                    b.iter(|| {
                        i = i.wrapping_add(1);
                        let m = &mats[i % mats.len()];
                        matmul(ks, pool, threads, op, m, &act, &mut out).expect("kernel exists");
                        black_box(out[0])
                    });
                });
            }
            g.finish();
        }
    }
}

fn main() {
    let threads: usize = std::env::var("TERNBENCH_BENCH_THREADS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1)
        .max(1);
    let pool = ThreadPool::new(threads, Pinning::None);
    let mut c = Criterion::default().configure_from_args();
    for f in Format::ALL {
        match f {
            Format::I2 => bench_format::<I2Matrix>(&mut c, &pool, threads),
            Format::Tq1 => bench_format::<Tq1Matrix>(&mut c, &pool, threads),
            Format::Tl => bench_format::<TlMatrix>(&mut c, &pool, threads),
            Format::Q8 => bench_format::<Q8Matrix>(&mut c, &pool, threads),
            Format::Q4 => bench_format::<Q4Matrix>(&mut c, &pool, threads),
            Format::F16 => bench_format::<F16Matrix>(&mut c, &pool, threads),
        }
    }
    c.final_summary();
}
