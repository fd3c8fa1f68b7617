//! Vector primitives for attention over the KV cache: dot products and `y += a·v` on rows stored
//! as f16 (bit patterns) or f32, against f32 vectors.
//!
//! Each level's [`crate::KernelSet`] carries a [`VecOps`]; the scalar reference here keeps eight
//! independent partial sums (so the compiler can vectorise it without reassociating, and its
//! result does not depend on the build's target features); the AVX2 version (F16C conversion,
//! FMA) serves every x86 level that has those features. Results agree within f32 rounding of a
//! differently ordered sum: `|Δ| ≤ 8·√n·ε·Σ|aᵢxᵢ|` ([`crate::F16_TOL_FACTOR`]).

use half::f16;

/// Dot product of a row and a vector of the same length.
pub type DotFn<T> = unsafe fn(row: &[T], x: &[f32]) -> f32;
/// `y += a · row` for a row and a vector of the same length.
pub type AxpyFn<T> = unsafe fn(a: f32, row: &[T], y: &mut [f32]);

/// The vector primitives of one level. Call them through the safe [`crate::KernelSet`] methods
/// ([`crate::KernelSet::dot_f16`] and the rest), which check lengths.
pub struct VecOps {
    /// f16 row · f32 vector.
    pub dot_f16: DotFn<u16>,
    /// f32 row · f32 vector.
    pub dot_f32: DotFn<f32>,
    /// `y += a · f16 row`.
    pub axpy_f16: AxpyFn<u16>,
    /// `y += a · f32 row`.
    pub axpy_f32: AxpyFn<f32>,
}

impl std::fmt::Debug for VecOps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("VecOps { dot_f16, dot_f32, axpy_f16, axpy_f32 }")
    }
}

/// The portable reference.
pub(crate) static SCALAR: VecOps = VecOps {
    dot_f16: dot_f16_scalar,
    dot_f32: dot_f32_scalar,
    axpy_f16: axpy_f16_scalar,
    axpy_f32: axpy_f32_scalar,
};

const LANES: usize = 8;

fn dot_lanes<T: Copy>(row: &[T], x: &[f32], cvt: impl Fn(T) -> f32) -> f32 {
    let mut acc = [0f32; LANES];
    let (rc, xc) = (row.chunks_exact(LANES), x.chunks_exact(LANES));
    let (rt, xt) = (rc.remainder(), xc.remainder());
    for (r, v) in rc.zip(xc) {
        for i in 0..LANES {
            acc[i] += cvt(r[i]) * v[i];
        }
    }
    let mut s = acc.iter().sum::<f32>();
    for (&r, &v) in rt.iter().zip(xt) {
        s += cvt(r) * v;
    }
    s
}

/// # Safety
/// None beyond the signature (safe code; `unsafe fn` only to share the pointer type).
unsafe fn dot_f16_scalar(row: &[u16], x: &[f32]) -> f32 {
    dot_lanes(row, x, |b| f16::from_bits(b).to_f32())
}

/// # Safety
/// As [`dot_f16_scalar`].
unsafe fn dot_f32_scalar(row: &[f32], x: &[f32]) -> f32 {
    dot_lanes(row, x, |v| v)
}

/// # Safety
/// As [`dot_f16_scalar`].
unsafe fn axpy_f16_scalar(a: f32, row: &[u16], y: &mut [f32]) {
    for (o, &b) in y.iter_mut().zip(row) {
        *o += a * f16::from_bits(b).to_f32();
    }
}

/// # Safety
/// As [`dot_f16_scalar`].
unsafe fn axpy_f32_scalar(a: f32, row: &[f32], y: &mut [f32]) {
    for (o, &v) in y.iter_mut().zip(row) {
        *o += a * v;
    }
}

impl crate::KernelSet {
    /// `Σ row[i]·x[i]` for an f16 row (bit patterns). Panics if the lengths differ.
    pub fn dot_f16(&self, row: &[u16], x: &[f32]) -> f32 {
        assert_eq!(row.len(), x.len(), "dot_f16: lengths");
        // SAFETY: this set's level was checked against the CPU when the set was obtained.
        unsafe { (self.vec.dot_f16)(row, x) }
    }

    /// `Σ row[i]·x[i]`. Panics if the lengths differ.
    pub fn dot_f32(&self, row: &[f32], x: &[f32]) -> f32 {
        assert_eq!(row.len(), x.len(), "dot_f32: lengths");
        // SAFETY: as in `dot_f16`.
        unsafe { (self.vec.dot_f32)(row, x) }
    }

    /// `y += a·row` for an f16 row (bit patterns). Panics if the lengths differ.
    pub fn axpy_f16(&self, a: f32, row: &[u16], y: &mut [f32]) {
        assert_eq!(row.len(), y.len(), "axpy_f16: lengths");
        // SAFETY: as in `dot_f16`.
        unsafe { (self.vec.axpy_f16)(a, row, y) }
    }

    /// `y += a·row`. Panics if the lengths differ.
    pub fn axpy_f32(&self, a: f32, row: &[f32], y: &mut [f32]) {
        assert_eq!(row.len(), y.len(), "axpy_f32: lengths");
        // SAFETY: as in `dot_f16`.
        unsafe { (self.vec.axpy_f32)(a, row, y) }
    }
}

#[cfg(test)]
mod tests {
    use crate::KernelSet;
    use half::f16;

    fn data(n: usize, seed: u32) -> (Vec<u16>, Vec<f32>, Vec<f32>) {
        let mut s = seed.wrapping_mul(2654435761).max(1);
        let mut next = || {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            (s as f32 / u32::MAX as f32) * 4.0 - 2.0
        };
        let r32: Vec<f32> = (0..n).map(|_| next()).collect();
        let r16 = r32.iter().map(|&v| f16::from_f32(v).to_bits()).collect();
        let x = (0..n).map(|_| next()).collect();
        (r16, r32, x)
    }

    #[test]
    fn every_level_agrees_with_the_exact_sum() {
        for ks in KernelSet::available() {
            for n in [0, 1, 7, 8, 15, 16, 33, 64, 100, 128, 256, 1000] {
                let (r16, r32, x) = data(n, n as u32 + 1);
                let exact16: f64 = r16
                    .iter()
                    .zip(&x)
                    .map(|(&a, &b)| f16::from_bits(a).to_f32() as f64 * b as f64)
                    .sum();
                let exact32: f64 = r32.iter().zip(&x).map(|(&a, &b)| a as f64 * b as f64).sum();
                let mag: f64 = r32
                    .iter()
                    .zip(&x)
                    .map(|(&a, &b)| (a * b).abs() as f64)
                    .sum();
                let tol = crate::F16_TOL_FACTOR as f64
                    * (n.max(1) as f64).sqrt()
                    * f32::EPSILON as f64
                    * mag.max(1e-30);
                let d16 = ks.dot_f16(&r16, &x) as f64;
                let d32 = ks.dot_f32(&r32, &x) as f64;
                assert!((d16 - exact16).abs() <= tol, "{:?} dot_f16 n={n}", ks.isa);
                assert!((d32 - exact32).abs() <= tol, "{:?} dot_f32 n={n}", ks.isa);

                let y0: Vec<f32> = x.iter().map(|v| v * 0.5).collect();
                let (mut y16, mut y32) = (y0.clone(), y0.clone());
                ks.axpy_f16(0.75, &r16, &mut y16);
                ks.axpy_f32(0.75, &r32, &mut y32);
                for i in 0..n {
                    let w16 = y0[i] as f64 + 0.75 * f16::from_bits(r16[i]).to_f32() as f64;
                    let w32 = y0[i] as f64 + 0.75 * r32[i] as f64;
                    let t = 4.0 * f32::EPSILON as f64 * (y0[i].abs() as f64 + 2.0);
                    assert!((y16[i] as f64 - w16).abs() <= t, "{:?} axpy_f16", ks.isa);
                    assert!((y32[i] as f64 - w32).abs() <= t, "{:?} axpy_f32", ks.isa);
                }
            }
        }
    }

    #[test]
    #[should_panic(expected = "lengths")]
    fn length_mismatch_panics() {
        KernelSet::best().dot_f32(&[1.0, 2.0], &[1.0]);
    }
}
