//! `matmul_group` (one dispatch for several matrices sharing an activation batch) equals
//! `matmul` on each matrix, bit for bit, at every level, op and thread count, including groups
//! whose matrices differ in rows (q/k/v) and a matrix with fewer rows than one chunk.

use ternbench_kernels::{
    matmul, matmul_group, ActF32, ActQ8, F16Matrix, I2Matrix, KernelSet, Op, PackedMatrix, Pinning,
    ThreadPool,
};

fn tern(n: usize, seed: u64) -> Vec<i8> {
    let mut s = seed | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s % 3) as i8 - 1
        })
        .collect()
}

#[test]
fn group_equals_one_matmul_per_matrix() {
    let pool = ThreadPool::new(3, Pinning::None);
    let cols = 700;
    let shapes = [256usize, 64, 64, 3, 1000];
    for ks in KernelSet::available() {
        for batch in [1usize, 5] {
            let x: Vec<f32> = (0..batch * cols)
                .map(|i| ((i * 37 % 101) as f32 - 50.0) / 17.0)
                .collect();
            let aq = ActQ8::quantize(&x, batch, cols);
            let af = ActF32::new(&x, batch, cols);
            let i2: Vec<I2Matrix> = shapes
                .iter()
                .enumerate()
                .map(|(i, &r)| {
                    I2Matrix::from_ternary(r, cols, &tern(r * cols, i as u64 + 7), 0.5).unwrap()
                })
                .collect();
            let f16: Vec<F16Matrix> = shapes
                .iter()
                .enumerate()
                .map(|(i, &r)| {
                    let w: Vec<f32> = tern(r * cols, i as u64 + 11)
                        .iter()
                        .map(|&t| t as f32 * 0.25 + 0.01)
                        .collect();
                    F16Matrix::from_f32(r, cols, &w).unwrap()
                })
                .collect();
            for op in [Op::Gemv, Op::Gemm] {
                for threads in 1..=3 {
                    let what = format!("{:?} {op:?} t{threads} b{batch}", ks.isa);
                    check(ks, &pool, threads, op, &i2, &aq, &format!("i2 {what}"));
                    check(ks, &pool, threads, op, &f16, &af, &format!("f16 {what}"));
                }
            }
        }
    }
}

/// `matmul_group` over `ms` against one `matmul` per matrix, bit for bit.
fn check<M: PackedMatrix>(
    ks: &KernelSet,
    pool: &ThreadPool,
    threads: usize,
    op: Op,
    ms: &[M],
    act: &M::Act,
    what: &str,
) {
    let (batch, _) = M::act_shape(act);
    let mut want: Vec<Vec<f32>> = ms.iter().map(|m| vec![0f32; batch * m.rows()]).collect();
    let mut got = want.clone();
    for (m, w) in ms.iter().zip(want.iter_mut()) {
        matmul(ks, pool, threads, op, m, act, w).unwrap();
    }
    let refs: Vec<&M> = ms.iter().collect();
    let mut outs: Vec<&mut [f32]> = got.iter_mut().map(|v| &mut v[..]).collect();
    matmul_group(ks, pool, threads, op, &refs, act, &mut outs).unwrap();
    assert_eq!(got, want, "{what}");
}
