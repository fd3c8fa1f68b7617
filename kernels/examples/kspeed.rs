//! Developer tool: times one format × level × op on one shape, on a stack of distinct matrices
//! larger than the last-level cache, beside a plain AVX2 read-bandwidth loop in the same run.
//! The `ternbench kernels` and `ternbench bandwidth` commands are the measured, reported form.
//!
//! cargo run --release -p ternbench-kernels --example kspeed -- FORMAT ISA OP ROWS COLS BATCH THREADS [STACK_MB]

use std::time::Instant;
use ternbench_kernels::*;

fn main() {
    let a: Vec<String> = std::env::args().skip(1).collect();
    if a.len() < 7 {
        eprintln!("usage: kspeed FORMAT ISA OP(gemv|gemm) ROWS COLS BATCH THREADS [STACK_MB]");
        std::process::exit(2);
    }
    let format: Format = a[0].parse().unwrap();
    let ks = KernelSet::get(a[1].parse().unwrap()).unwrap();
    let op = if a[2] == "gemm" { Op::Gemm } else { Op::Gemv };
    let (rows, cols, batch, threads): (usize, usize, usize, usize) = (
        a[3].parse().unwrap(),
        a[4].parse().unwrap(),
        a[5].parse().unwrap(),
        a[6].parse().unwrap(),
    );
    let stack_mb: usize = a.get(7).map(|s| s.parse().unwrap()).unwrap_or(160);
    let pool = ThreadPool::new(threads, Pinning::None);
    let bw = read_bw(&pool, threads);
    match format {
        Format::I2 => bench(ks, &pool, threads, op, stack_mb, batch, bw, |s| {
            I2Matrix::from_ternary(rows, cols, &tern(rows * cols, s), 0.5).unwrap()
        }),
        Format::Tq1 => bench(ks, &pool, threads, op, stack_mb, batch, bw, |s| {
            Tq1Matrix::from_ternary(rows, cols, &tern(rows * cols, s), 0.5).unwrap()
        }),
        Format::Tl => bench(ks, &pool, threads, op, stack_mb, batch, bw, |s| {
            TlMatrix::from_ternary(rows, cols, &tern(rows * cols, s), 0.5).unwrap()
        }),
        Format::Q8 => bench(ks, &pool, threads, op, stack_mb, batch, bw, |s| {
            let q: Vec<i8> = tern(rows * cols, s).iter().map(|&v| v * 100).collect();
            Q8Matrix::from_quantized(rows, cols, &q, &vec![0.01; rows]).unwrap()
        }),
        Format::F16 => bench(ks, &pool, threads, op, stack_mb, batch, bw, |s| {
            let w: Vec<f32> = tern(rows * cols, s)
                .iter()
                .map(|&v| v as f32 * 0.01)
                .collect();
            F16Matrix::from_f32(rows, cols, &w).unwrap()
        }),
    }
}

trait MakeAct: PackedMatrix {
    fn act(batch: usize, cols: usize) -> Self::Act;
}
macro_rules! q8act {
    ($($t:ty),*) => {$(impl MakeAct for $t {
        fn act(batch: usize, cols: usize) -> ActQ8 {
            let x: Vec<f32> = (0..batch * cols).map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0).collect();
            ActQ8::quantize(&x, batch, cols)
        }
    })*};
}
q8act!(I2Matrix, Tq1Matrix, TlMatrix, Q8Matrix);
impl MakeAct for F16Matrix {
    fn act(batch: usize, cols: usize) -> ActF32 {
        let x: Vec<f32> = (0..batch * cols)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0)
            .collect();
        ActF32::new(&x, batch, cols)
    }
}

#[allow(clippy::too_many_arguments)]
fn bench<M: MakeAct>(
    ks: &KernelSet,
    pool: &ThreadPool,
    threads: usize,
    op: Op,
    stack_mb: usize,
    batch: usize,
    bw: f64,
    make: impl Fn(u64) -> M,
) {
    let first = make(1);
    let per = first.weight_bytes();
    let n = (stack_mb << 20).div_ceil(per).max(1);
    let mut mats = vec![first];
    for s in 1..n {
        mats.push(make(s as u64 + 1));
    }
    let act = M::act(batch, mats[0].cols());
    let mut out = vec![0f32; batch * mats[0].rows()];
    let mut times = Vec::new();
    for rep in 0..7 {
        let t0 = Instant::now();
        for m in &mats {
            matmul(ks, pool, threads, op, m, &act, &mut out).unwrap();
        }
        if rep > 0 {
            times.push(t0.elapsed().as_secs_f64() / n as f64);
        }
    }
    times.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let med = times[times.len() / 2];
    let gbps = per as f64 / med / 1e9;
    let gops = (mats[0].rows() * mats[0].cols() * batch) as f64 / med / 1e9;
    println!(
        "{}/{}/{} {}x{} batch {batch} threads {threads}: {:.1} us/matrix, {gbps:.2} GB/s weights, read bw {bw:.2} GB/s, ratio {:.3}, {gops:.1} Gprod/s (stack {} x {:.2} MB)",
        op.name(), M::FORMAT, ks.isa, mats[0].rows(), mats[0].cols(), med * 1e6, gbps / bw, n, per as f64 / 1e6
    );
}

fn tern(n: usize, seed: u64) -> Vec<i8> {
    let mut s = seed.wrapping_mul(0x9E3779B97F4A7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 32) % 3) as i8 - 1
        })
        .collect()
}

/// Plain AVX2 read loop over 512 MiB, best of 5, `threads` readers on disjoint halves.
fn read_bw(pool: &ThreadPool, threads: usize) -> f64 {
    let buf = buf::ABuf::<u64>::zeroed(64 << 20);
    let mut best = 0f64;
    for _ in 0..5 {
        let t0 = Instant::now();
        pool.run(threads, |i, n| {
            let (a, b) = threads::split_rows(buf.len(), 64, n, i);
            std::hint::black_box(sum(&buf[a..b]));
        });
        best = best.max((buf.len() * 8) as f64 / t0.elapsed().as_secs_f64() / 1e9);
    }
    best
}

fn sum(x: &[u64]) -> u64 {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: AVX2 checked just above.
        return unsafe { sum_avx2(x) };
    }
    x.iter().fold(0, |a, &b| a ^ b)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn sum_avx2(x: &[u64]) -> u64 {
    use std::arch::x86_64::*;
    let mut acc = [_mm256_setzero_si256(); 8];
    let p = x.as_ptr() as *const __m256i;
    let n = x.len() / 4;
    let mut i = 0;
    while i + 8 <= n {
        for (k, a) in acc.iter_mut().enumerate() {
            // SAFETY: i + k < n, inside the slice.
            *a = _mm256_xor_si256(*a, unsafe { _mm256_loadu_si256(p.add(i + k)) });
        }
        i += 8;
    }
    let mut r = [0u64; 4];
    let mut t = acc[0];
    for a in &acc[1..] {
        t = _mm256_xor_si256(t, *a);
    }
    // SAFETY: r has room for 32 bytes.
    unsafe { _mm256_storeu_si256(r.as_mut_ptr() as *mut __m256i, t) };
    r.iter().fold(0, |a, &b| a ^ b)
}
