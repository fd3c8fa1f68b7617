//! Every format × op × SIMD level this CPU has, against the scalar reference, over awkward shapes
//! (1 and 3 rows, the 2B4T projection and LM-head shapes, columns on and off block multiples) and
//! extreme inputs (activations at -128/+127 with all weights ±1). Integer formats must agree bit
//! for bit; f16 within the documented bound against an f64 sum.
//!
//! The levels that ran and those skipped (no CPU support) are written straight to stderr, past
//! the test harness's capture. `TERNBENCH_REQUIRE_ISA=avx512[,avx512vnni]` turns a skip of the
//! named levels into a failure, so a machine that has them proves those paths.

use std::io::Write;

use proptest::prelude::*;
use ternbench_kernels::{
    format::q4::Q4_TOL_FACTOR, matmul, ActF32, ActQ8, F16Matrix, Format, I2Matrix, Isa, KernelSet,
    Op, PackedMatrix, Pinning, Q4Matrix, Q8Matrix, ThreadPool, TlMatrix, Tq1Matrix, F16_TOL_FACTOR,
};

/// splitmix64: a tiny deterministic generator, so failures reproduce.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn i8(&mut self) -> i8 {
        self.next() as i8
    }
    fn tern(&mut self) -> i8 {
        (self.next() % 3) as i8 - 1
    }
    fn f32(&mut self) -> f32 {
        ((self.next() >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
}

/// How the inputs of one case are drawn.
#[derive(Clone, Copy, Debug)]
enum Fill {
    Random,
    /// Activations all -128 and weights all -1 (or +1 for q8's 127): the largest sums.
    ExtremeNeg,
    /// Activations all +127 and weights all +1.
    ExtremePos,
}

/// Builds a matrix and activations of one format; computes the exact expectation.
trait Case: PackedMatrix {
    fn build(
        rows: usize,
        cols: usize,
        batch: usize,
        fill: Fill,
        rng: &mut Rng,
    ) -> (Self, Self::Act);
    /// Exact reference output for f16 (f64 sum) and its allowed error; `None` for integer
    /// formats, which must equal the scalar level bit for bit.
    fn f64_check(_m: &Self, _a: &Self::Act) -> Option<(Vec<f64>, Vec<f64>)> {
        None
    }
}

fn ternary_input(
    rows: usize,
    cols: usize,
    batch: usize,
    fill: Fill,
    rng: &mut Rng,
) -> (Vec<i8>, ActQ8) {
    let (w, q): (Vec<i8>, Vec<i8>) = match fill {
        Fill::Random => (
            (0..rows * cols).map(|_| rng.tern()).collect(),
            (0..batch * cols).map(|_| rng.i8()).collect(),
        ),
        Fill::ExtremeNeg => (vec![-1; rows * cols], vec![-128; batch * cols]),
        Fill::ExtremePos => (vec![1; rows * cols], vec![127; batch * cols]),
    };
    let scales: Vec<f32> = (0..batch).map(|t| 3.0 + t as f32 * 0.37).collect();
    (w, ActQ8::from_quantized(&q, batch, cols, &scales))
}

impl Case for I2Matrix {
    fn build(rows: usize, cols: usize, batch: usize, fill: Fill, rng: &mut Rng) -> (Self, ActQ8) {
        let (w, a) = ternary_input(rows, cols, batch, fill, rng);
        (I2Matrix::from_ternary(rows, cols, &w, 0.731).unwrap(), a)
    }
}
impl Case for Tq1Matrix {
    fn build(rows: usize, cols: usize, batch: usize, fill: Fill, rng: &mut Rng) -> (Self, ActQ8) {
        let (w, a) = ternary_input(rows, cols, batch, fill, rng);
        (Tq1Matrix::from_ternary(rows, cols, &w, 0.731).unwrap(), a)
    }
}
impl Case for TlMatrix {
    fn build(rows: usize, cols: usize, batch: usize, fill: Fill, rng: &mut Rng) -> (Self, ActQ8) {
        let (w, a) = ternary_input(rows, cols, batch, fill, rng);
        (TlMatrix::from_ternary(rows, cols, &w, 0.731).unwrap(), a)
    }
}
impl Case for Q8Matrix {
    fn build(rows: usize, cols: usize, batch: usize, fill: Fill, rng: &mut Rng) -> (Self, ActQ8) {
        let (t, a) = ternary_input(rows, cols, batch, fill, rng);
        let q: Vec<i8> = match fill {
            Fill::Random => (0..rows * cols)
                .map(|_| ((rng.next() % 255) as i32 - 127) as i8)
                .collect(),
            _ => t.iter().map(|&v| v * 127).collect(),
        };
        let scales: Vec<f32> = (0..rows).map(|r| 0.01 + r as f32 * 1e-4).collect();
        (
            Q8Matrix::from_quantized(rows, cols, &q, &scales).unwrap(),
            a,
        )
    }
}
impl Case for Q4Matrix {
    fn build(rows: usize, cols: usize, batch: usize, fill: Fill, rng: &mut Rng) -> (Self, ActQ8) {
        let (_, a) = ternary_input(rows, cols, batch, fill, rng);
        let kp = cols.div_ceil(128) * 128;
        let nb = kp / 64;
        let mut codes = vec![8u8; rows * kp];
        for r in 0..rows {
            for k in 0..cols {
                codes[r * kp + k] = match fill {
                    Fill::Random => (rng.next() % 16) as u8,
                    Fill::ExtremeNeg => 0,
                    Fill::ExtremePos => 15,
                };
            }
        }
        let scales: Vec<f32> = (0..rows * nb).map(|_| rng.f32() * 0.05).collect();
        (
            Q4Matrix::from_codes(rows, cols, &codes, &scales).unwrap(),
            a,
        )
    }
    fn f64_check(m: &Self, a: &ActQ8) -> Option<(Vec<f64>, Vec<f64>)> {
        let rows = m.rows();
        let nb = m.blocks();
        let tol = f32::EPSILON as f64 * Q4_TOL_FACTOR as f64 * (nb as f64).sqrt();
        let mut exact = Vec::with_capacity(a.batch() * rows);
        let mut bound = Vec::with_capacity(a.batch() * rows);
        for t in 0..a.batch() {
            let x = a.row(t);
            let inv = 1.0 / a.scale(t) as f64;
            for r in 0..rows {
                let (mut e, mut mag) = (0f64, 0f64);
                for b in 0..nb {
                    let (mut sb, mut ab) = (0i64, 0i64);
                    for (k, &q) in x.iter().enumerate().skip(b * 64).take(64) {
                        sb += m.code(r, k) as i64 * q as i64;
                        ab += q as i64;
                    }
                    let d = m.scale(r, b) as f64;
                    e += d * (sb - 8 * ab) as f64;
                    mag += d.abs() * (sb.abs() + 8 * ab.abs()) as f64;
                }
                exact.push(e * inv);
                bound.push(tol * mag * inv + 1e-30);
            }
        }
        Some((exact, bound))
    }
}
impl Case for F16Matrix {
    fn build(rows: usize, cols: usize, batch: usize, fill: Fill, rng: &mut Rng) -> (Self, ActF32) {
        let (w, x): (Vec<f32>, Vec<f32>) = match fill {
            Fill::Random => (
                (0..rows * cols).map(|_| rng.f32() * 0.1).collect(),
                (0..batch * cols).map(|_| rng.f32() * 30.0).collect(),
            ),
            Fill::ExtremeNeg => (vec![-65504.0; rows * cols], vec![-1e3; batch * cols]),
            Fill::ExtremePos => (vec![65504.0; rows * cols], vec![1e3; batch * cols]),
        };
        (
            F16Matrix::from_f32(rows, cols, &w).unwrap(),
            ActF32::new(&x, batch, cols),
        )
    }
    fn f64_check(m: &Self, a: &ActF32) -> Option<(Vec<f64>, Vec<f64>)> {
        let (rows, cols) = (m.rows(), m.cols());
        let mut exact = Vec::with_capacity(a.batch() * rows);
        let mut bound = Vec::with_capacity(a.batch() * rows);
        let eps = f32::EPSILON as f64 * F16_TOL_FACTOR as f64 * (cols as f64).sqrt();
        for t in 0..a.batch() {
            let x = a.row(t);
            for r in 0..rows {
                let (mut s, mut sa) = (0f64, 0f64);
                for (k, &xk) in x.iter().enumerate().take(cols) {
                    let p = m.get(r, k) as f64 * xk as f64;
                    s += p;
                    sa += p.abs();
                }
                exact.push(s);
                bound.push(eps * sa + 1e-30);
            }
        }
        Some((exact, bound))
    }
}

/// 2B4T shapes and awkward ones: (rows, cols, batches).
const SHAPES: &[(usize, usize, &[usize])] = &[
    (1, 1, &[1, 2]),
    (3, 100, &[1, 3, 5]),
    (1, 2560, &[1, 4]),
    (3, 2561, &[1, 7]),
    (17, 1279, &[1, 9]),
    (33, 1281, &[2, 13]),
    (640, 2560, &[1, 8]),
    (2560, 2560, &[1, 5]),
    (6912, 2560, &[1, 16]),
    (2560, 6912, &[1, 3]),
    (128256, 2560, &[1]),
];

fn required_levels() -> Vec<Isa> {
    std::env::var("TERNBENCH_REQUIRE_ISA")
        .ok()
        .map(|v| {
            v.split(',')
                .filter(|s| !s.trim().is_empty())
                .map(|s| {
                    s.parse::<Isa>()
                        .unwrap_or_else(|e| panic!("TERNBENCH_REQUIRE_ISA: {e}"))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Levels to test: the available ones; a skipped level is reported, and fails if required.
fn levels(format: Format) -> Vec<&'static KernelSet> {
    let required = required_levels();
    let mut report = format!("[agreement {format}] ");
    let mut sets = Vec::new();
    let mut failures = Vec::new();
    for isa in Isa::ALL {
        match KernelSet::get(isa) {
            Ok(ks) if ks.has(format) => {
                report += &format!("{isa}: ran; ");
                sets.push(ks);
            }
            Ok(_) => {
                report += &format!("{isa}: NO KERNEL; ");
                failures.push(format!("level {isa} runs here but has no {format} kernel"));
            }
            Err(e) => {
                report += &format!("{isa}: skipped ({e}); ");
                if required.contains(&isa) {
                    failures.push(format!("TERNBENCH_REQUIRE_ISA names {isa}, but: {e}"));
                }
            }
        }
    }
    let _ = writeln!(std::io::stderr().lock(), "{report}");
    assert!(failures.is_empty(), "{}", failures.join("; "));
    sets
}

fn run<M: Case>(
    ks: &KernelSet,
    pool: &ThreadPool,
    threads: usize,
    op: Op,
    m: &M,
    a: &M::Act,
) -> Vec<f32> {
    let (batch, _) = M::act_shape(a);
    let mut out = vec![f32::NAN; batch * m.rows()];
    matmul(ks, pool, threads, op, m, a, &mut out).unwrap();
    out
}

fn check_case<M: Case>(
    sets: &[&KernelSet],
    pool: &ThreadPool,
    rows: usize,
    cols: usize,
    batch: usize,
    fill: Fill,
    seed: u64,
) {
    let mut rng = Rng(seed);
    let (m, a) = M::build(rows, cols, batch, fill, &mut rng);
    let scalar = KernelSet::get(Isa::Scalar).unwrap();
    let reference = run(scalar, pool, 1, Op::Gemv, &m, &a);
    let f64ref = M::f64_check(&m, &a);
    for ks in sets {
        for op in [Op::Gemv, Op::Gemm] {
            for threads in [1, 2] {
                let got = run(ks, pool, threads, op, &m, &a);
                let ctx = || {
                    format!(
                        "{}/{}/{} {rows}x{cols} batch {batch} {fill:?} threads {threads}",
                        op.name(),
                        M::FORMAT,
                        ks.isa
                    )
                };
                match &f64ref {
                    None => {
                        if let Some(i) =
                            (0..got.len()).find(|&i| got[i].to_bits() != reference[i].to_bits())
                        {
                            panic!(
                                "{}: out[{i}] (token {}, row {}) = {} but scalar gives {}",
                                ctx(),
                                i / rows,
                                i % rows,
                                got[i],
                                reference[i]
                            );
                        }
                    }
                    Some((exact, bound)) => {
                        for i in 0..got.len() {
                            let err = (got[i] as f64 - exact[i]).abs();
                            assert!(
                                err <= bound[i]
                                    || (got[i].is_infinite()
                                        && got[i] as f64
                                            == exact[i]
                                                .clamp(f32::MIN as f64 * 2.0, f32::MAX as f64 * 2.0)
                                                .signum()
                                                * f64::INFINITY
                                        && exact[i].abs() > f32::MAX as f64),
                                "{}: out[{i}] = {} vs exact {} (error {err:e} > bound {:e})",
                                ctx(),
                                got[i],
                                exact[i],
                                bound[i]
                            );
                        }
                    }
                }
            }
        }
    }
}

fn check_format<M: Case>() {
    let sets = levels(M::FORMAT);
    let pool = ThreadPool::new(2, Pinning::None);
    for (i, &(rows, cols, batches)) in SHAPES.iter().enumerate() {
        for &batch in batches {
            check_case::<M>(
                &sets,
                &pool,
                rows,
                cols,
                batch,
                Fill::Random,
                1000 + i as u64 * 31 + batch as u64,
            );
        }
    }
    for (rows, cols) in [(3, 2561), (33, 6912)] {
        for fill in [Fill::ExtremeNeg, Fill::ExtremePos] {
            check_case::<M>(&sets, &pool, rows, cols, 3, fill, 7);
        }
    }
}

#[test]
fn agreement_i2() {
    check_format::<I2Matrix>();
}
#[test]
fn agreement_tq1() {
    check_format::<Tq1Matrix>();
}
#[test]
fn agreement_tl() {
    check_format::<TlMatrix>();
}
#[test]
fn agreement_q8() {
    check_format::<Q8Matrix>();
}
#[test]
fn agreement_q4() {
    check_format::<Q4Matrix>();
}
#[test]
fn agreement_f16() {
    check_format::<F16Matrix>();
}

/// The scalar references themselves against a naive unpack-and-multiply, on small shapes.
#[test]
fn scalar_reference_matches_naive_dot() {
    let pool = ThreadPool::new(1, Pinning::None);
    let scalar = KernelSet::get(Isa::Scalar).unwrap();
    let mut rng = Rng(5);
    for (rows, cols, batch) in [(1, 1, 1), (5, 333, 3), (40, 700, 2)] {
        let (w, a) = ternary_input(rows, cols, batch, Fill::Random, &mut rng);
        let expect: Vec<f32> = (0..batch)
            .flat_map(|t| {
                let a = &a;
                let w = &w;
                (0..rows).map(move |r| {
                    let d: i32 = (0..cols)
                        .map(|k| w[r * cols + k] as i32 * a.row(t)[k] as i32)
                        .sum();
                    d as f32 * (0.731 / a.scale(t))
                })
            })
            .collect();
        let i2 = I2Matrix::from_ternary(rows, cols, &w, 0.731).unwrap();
        let tq1 = Tq1Matrix::from_ternary(rows, cols, &w, 0.731).unwrap();
        let tl = TlMatrix::from_ternary(rows, cols, &w, 0.731).unwrap();
        assert_eq!(run(scalar, &pool, 1, Op::Gemv, &i2, &a), expect);
        assert_eq!(run(scalar, &pool, 1, Op::Gemv, &tq1, &a), expect);
        assert_eq!(run(scalar, &pool, 1, Op::Gemv, &tl, &a), expect);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    /// Random small shapes and batches: every level agrees with scalar for every integer format.
    #[test]
    fn random_shapes_agree(rows in 1usize..80, cols in 1usize..900, batch in 1usize..11, seed in any::<u64>()) {
        let pool = ThreadPool::new(2, Pinning::None);
        let sets: Vec<_> = KernelSet::available();
        check_case::<I2Matrix>(&sets.iter().copied().filter(|k| k.has(Format::I2)).collect::<Vec<_>>(), &pool, rows, cols, batch, Fill::Random, seed);
        check_case::<Tq1Matrix>(&sets.iter().copied().filter(|k| k.has(Format::Tq1)).collect::<Vec<_>>(), &pool, rows, cols, batch, Fill::Random, seed);
        check_case::<TlMatrix>(&sets.iter().copied().filter(|k| k.has(Format::Tl)).collect::<Vec<_>>(), &pool, rows, cols, batch, Fill::Random, seed);
        check_case::<Q8Matrix>(&sets.iter().copied().filter(|k| k.has(Format::Q8)).collect::<Vec<_>>(), &pool, rows, cols, batch, Fill::Random, seed);
        check_case::<Q4Matrix>(&sets.iter().copied().filter(|k| k.has(Format::Q4)).collect::<Vec<_>>(), &pool, rows, cols, batch, Fill::Random, seed);
        check_case::<F16Matrix>(&sets.iter().copied().filter(|k| k.has(Format::F16)).collect::<Vec<_>>(), &pool, rows, cols, batch, Fill::Random, seed);
    }
}
