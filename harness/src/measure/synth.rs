//! Random weights and activations for timing, fast: xorshift64 streams, no distribution
//! library. Values only need to be plausible (kernels' speed does not depend on them); each
//! seed gives distinct weights so a stack of matrices really occupies distinct memory.
//!
//! To time a new format: implement [`BenchMatrix`] for its matrix type.

use anyhow::{Context, Result};
use ternbench_kernels::{
    ActF32, ActQ8, F16Matrix, I2Matrix, PackedMatrix, Q8Matrix, TlMatrix, Tq1Matrix,
};

/// xorshift64: fast, deterministic, good enough for benchmark inputs.
#[derive(Debug, Clone)]
pub struct XorShift(u64);

impl XorShift {
    /// A generator from any seed (a zero state is avoided).
    pub fn new(seed: u64) -> Self {
        XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    /// Next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        let mut s = self.0;
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        self.0 = s;
        s
    }
    /// Fills `out` with ternary values (-1, 0, +1), eight per draw.
    pub fn fill_ternary(&mut self, out: &mut [i8]) {
        for c in out.chunks_mut(8) {
            let r = self.next_u64().to_le_bytes();
            for (o, b) in c.iter_mut().zip(r) {
                *o = (b % 3) as i8 - 1;
            }
        }
    }
    /// `n` floats uniform in [-1, 1).
    pub fn floats(&mut self, n: usize) -> Vec<f32> {
        (0..n)
            .map(|_| (self.next_u64() >> 40) as f32 / (1u64 << 23) as f32 - 1.0)
            .collect()
    }
}

/// A packed matrix the sweep can build at random and feed.
pub trait BenchMatrix: PackedMatrix + Send {
    /// One unpacked weight as the constructor takes it.
    type Elem: Copy + Send + Sync;
    /// `n` random unpacked weights.
    fn pool(n: usize, seed: u64) -> Vec<Self::Elem>;
    /// Packs `rows * cols` row-major weights.
    fn pack(rows: usize, cols: usize, w: &[Self::Elem]) -> Result<Self>;
    /// Random activations, `batch` tokens of `cols`, quantised as the format takes them.
    fn random_act(batch: usize, cols: usize, seed: u64) -> Self::Act;
}

fn act_q8(batch: usize, cols: usize, seed: u64) -> ActQ8 {
    ActQ8::quantize(&XorShift::new(seed).floats(batch * cols), batch, cols)
}

/// Ternary weights use β = 0.5 (any scale times the same).
const TERNARY_SCALE: f32 = 0.5;

macro_rules! ternary_bench {
    ($($t:ty),*) => {$(
        impl BenchMatrix for $t {
            type Elem = i8;
            fn pool(n: usize, seed: u64) -> Vec<i8> {
                let mut w = vec![0i8; n];
                XorShift::new(seed).fill_ternary(&mut w);
                w
            }
            fn pack(rows: usize, cols: usize, w: &[i8]) -> Result<Self> {
                <$t>::from_ternary(rows, cols, w, TERNARY_SCALE)
                    .with_context(|| format!("packing a random {rows}x{cols} matrix"))
            }
            fn random_act(batch: usize, cols: usize, seed: u64) -> ActQ8 {
                act_q8(batch, cols, seed)
            }
        }
    )*};
}
ternary_bench!(I2Matrix, Tq1Matrix, TlMatrix);

impl BenchMatrix for Q8Matrix {
    type Elem = i8;
    fn pool(n: usize, seed: u64) -> Vec<i8> {
        let mut q = vec![0i8; n];
        let mut g = XorShift::new(seed);
        for c in q.chunks_mut(8) {
            for (o, b) in c.iter_mut().zip(g.next_u64().to_le_bytes()) {
                *o = (b as i8).max(-127);
            }
        }
        q
    }
    fn pack(rows: usize, cols: usize, w: &[i8]) -> Result<Self> {
        Q8Matrix::from_quantized(rows, cols, w, &vec![0.01; rows])
            .with_context(|| format!("building a random {rows}x{cols} q8 matrix"))
    }
    fn random_act(batch: usize, cols: usize, seed: u64) -> ActQ8 {
        act_q8(batch, cols, seed)
    }
}

impl BenchMatrix for F16Matrix {
    type Elem = u16;
    fn pool(n: usize, seed: u64) -> Vec<u16> {
        // Half bit patterns built directly: random sign and mantissa, exponent 9..=14
        // (magnitudes 2^-6 .. 1), so values are normal and no conversion is needed.
        let mut bits = vec![0u16; n];
        let mut g = XorShift::new(seed);
        for c in bits.chunks_mut(4) {
            let r = g.next_u64();
            for (i, o) in c.iter_mut().enumerate() {
                let v = (r >> (16 * i)) as u16;
                let exp = 9 + (v >> 10 & 0x1f) % 6;
                *o = (v & 0x8000) | (exp << 10) | (v & 0x3ff);
            }
        }
        bits
    }
    fn pack(rows: usize, cols: usize, w: &[u16]) -> Result<Self> {
        F16Matrix::from_bits(rows, cols, w)
            .with_context(|| format!("building a random {rows}x{cols} f16 matrix"))
    }
    fn random_act(batch: usize, cols: usize, seed: u64) -> ActF32 {
        ActF32::new(&XorShift::new(seed).floats(batch * cols), batch, cols)
    }
}

/// Matrix `i` of a stack starts this many elements into the shared random pool: a prime, so
/// no two matrices hold the same weights at the same place, whatever the format's block.
pub const STACK_SHIFT: usize = 1021;

/// `n` distinct random `rows x cols` matrices, packed on up to `workers` threads.
///
/// One random pool of `rows * cols + n * STACK_SHIFT` weights is drawn once; matrix `i` takes
/// the window starting at `i * STACK_SHIFT`. Drawing once keeps a 40-matrix stack quick to
/// build (packing dominates); every matrix still has its own weights at every position.
pub fn stack<M: BenchMatrix>(
    rows: usize,
    cols: usize,
    n: usize,
    seed: u64,
    workers: usize,
) -> Result<Vec<M>> {
    let len = rows * cols;
    let pool = M::pool(len + n * STACK_SHIFT, seed);
    let per = n.div_ceil(workers.clamp(1, n.max(1))).max(1);
    let mut slots: Vec<Option<Result<M>>> = (0..n).map(|_| None).collect();
    std::thread::scope(|s| {
        for (w, chunk) in slots.chunks_mut(per).enumerate() {
            let pool = &pool;
            s.spawn(move || {
                for (j, slot) in chunk.iter_mut().enumerate() {
                    let off = (w * per + j) * STACK_SHIFT;
                    *slot = Some(M::pack(rows, cols, &pool[off..off + len]));
                }
            });
        }
    });
    slots
        .into_iter()
        .map(|s| s.expect("every slot filled"))
        .collect()
}

/// One random `rows x cols` matrix.
pub fn random<M: BenchMatrix>(rows: usize, cols: usize, seed: u64) -> Result<M> {
    M::pack(rows, cols, &M::pool(rows * cols, seed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ternary_values_in_range_and_all_present() {
        let mut w = vec![5i8; 1001];
        XorShift::new(7).fill_ternary(&mut w);
        assert!(w.iter().all(|v| (-1..=1).contains(v)));
        for v in -1..=1 {
            assert!(w.iter().filter(|&&x| x == v).count() > 250);
        }
    }

    #[test]
    fn floats_in_range() {
        let f = XorShift::new(3).floats(1000);
        assert!(f.iter().all(|x| (-1.0..1.0).contains(x)));
    }

    #[test]
    fn stack_builds_distinct_matrices() {
        let s: Vec<I2Matrix> = stack(16, 256, 3, 1, 2).unwrap();
        assert_eq!(s.len(), 3);
        assert_ne!(s[0].data(), s[1].data());
        assert_ne!(s[1].data(), s[2].data());
        let f: F16Matrix = random(4, 64, 9).unwrap();
        assert!((0..64).all(|k| f.get(0, k).is_finite() && f.get(0, k).abs() <= 1.0));
    }
}
