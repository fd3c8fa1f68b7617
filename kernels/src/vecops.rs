//! Vector primitives for attention over the KV cache: dot products and `y += a·v` on rows stored
//! as f16 (bit patterns) or f32, against f32 vectors, and their fused, strided forms over many
//! cached positions at once (`scores`: `out[j] = scale·(row_j·x)`; `mix`: `y = Σ_j p[j]·row_j`),
//! where row `j` starts at element `j·stride`. The fused forms are what attention runs: one call
//! per head instead of one per position (a call per position, each ending in a horizontal sum,
//! made attention 35% of 700M decode at 400 positions).
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

/// Scores of strided rows against a vector: `out[j] = scale · Σ_i rows[j·stride + i]·x[i]`.
pub type ScoresFn<T> = unsafe fn(rows: &[T], stride: usize, x: &[f32], scale: f32, out: &mut [f32]);
/// A weighted sum of strided rows: `y[i] = Σ_j p[j] · rows[j·stride + i]` (overwrites `y`).
pub type MixFn<T> = unsafe fn(rows: &[T], stride: usize, p: &[f32], y: &mut [f32]);

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
    /// Strided f16 rows' scores.
    pub scores_f16: ScoresFn<u16>,
    /// Strided f32 rows' scores.
    pub scores_f32: ScoresFn<f32>,
    /// Weighted sum of strided f16 rows.
    pub mix_f16: MixFn<u16>,
    /// Weighted sum of strided f32 rows.
    pub mix_f32: MixFn<f32>,
}

impl std::fmt::Debug for VecOps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("VecOps { dot, axpy, scores, mix (f16, f32) }")
    }
}

/// The portable reference.
pub(crate) static SCALAR: VecOps = VecOps {
    dot_f16: dot_f16_scalar,
    dot_f32: dot_f32_scalar,
    axpy_f16: axpy_f16_scalar,
    axpy_f32: axpy_f32_scalar,
    scores_f16: scores_f16_scalar,
    scores_f32: scores_f32_scalar,
    mix_f16: mix_f16_scalar,
    mix_f32: mix_f32_scalar,
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

/// # Safety
/// None beyond the signature; the caller checked `(n-1)·stride + x.len() ≤ rows.len()`.
unsafe fn scores_f16_scalar(rows: &[u16], stride: usize, x: &[f32], scale: f32, out: &mut [f32]) {
    for (j, o) in out.iter_mut().enumerate() {
        *o = scale
            * dot_lanes(&rows[j * stride..j * stride + x.len()], x, |b| {
                f16::from_bits(b).to_f32()
            });
    }
}

/// # Safety
/// As [`scores_f16_scalar`].
unsafe fn scores_f32_scalar(rows: &[f32], stride: usize, x: &[f32], scale: f32, out: &mut [f32]) {
    for (j, o) in out.iter_mut().enumerate() {
        *o = scale * dot_lanes(&rows[j * stride..j * stride + x.len()], x, |v| v);
    }
}

/// # Safety
/// None beyond the signature; the caller checked `(n-1)·stride + y.len() ≤ rows.len()`.
unsafe fn mix_f16_scalar(rows: &[u16], stride: usize, p: &[f32], y: &mut [f32]) {
    y.fill(0.0);
    for (j, &a) in p.iter().enumerate() {
        let n = y.len();
        // SAFETY: forwarded bounds (row j lies inside `rows`).
        unsafe { axpy_f16_scalar(a, &rows[j * stride..j * stride + n], y) };
    }
}

/// # Safety
/// As [`mix_f16_scalar`].
unsafe fn mix_f32_scalar(rows: &[f32], stride: usize, p: &[f32], y: &mut [f32]) {
    y.fill(0.0);
    for (j, &a) in p.iter().enumerate() {
        let n = y.len();
        // SAFETY: forwarded bounds (row j lies inside `rows`).
        unsafe { axpy_f32_scalar(a, &rows[j * stride..j * stride + n], y) };
    }
}

/// Panics unless `n` rows of `len` elements at `stride` fit in `have` elements.
fn check_strided(what: &str, have: usize, stride: usize, n: usize, len: usize) {
    if n > 0 {
        let need = (n - 1).checked_mul(stride).and_then(|v| v.checked_add(len));
        assert!(
            stride >= len && need.is_some_and(|need| need <= have),
            "{what}: {n} rows of {len} at stride {stride} do not fit in {have} elements"
        );
    }
}

impl crate::KernelSet {
    /// `out[j] = scale · (row_j · x)` for `j < out.len()`, row `j` being
    /// `rows[j·stride .. j·stride + x.len()]` (f16 bit patterns). Panics if the rows do not fit
    /// or overlap (`stride < x.len()`).
    pub fn scores_f16(&self, rows: &[u16], stride: usize, x: &[f32], scale: f32, out: &mut [f32]) {
        check_strided("scores_f16", rows.len(), stride, out.len(), x.len());
        // SAFETY: level checked against the CPU when the set was obtained; bounds just checked.
        unsafe { (self.vec.scores_f16)(rows, stride, x, scale, out) }
    }

    /// As [`Self::scores_f16`], f32 rows.
    pub fn scores_f32(&self, rows: &[f32], stride: usize, x: &[f32], scale: f32, out: &mut [f32]) {
        check_strided("scores_f32", rows.len(), stride, out.len(), x.len());
        // SAFETY: as in `scores_f16`.
        unsafe { (self.vec.scores_f32)(rows, stride, x, scale, out) }
    }

    /// `y = Σ_j p[j] · row_j` (overwriting `y`), row `j` being
    /// `rows[j·stride .. j·stride + y.len()]` (f16 bit patterns). Panics if the rows do not fit.
    pub fn mix_f16(&self, rows: &[u16], stride: usize, p: &[f32], y: &mut [f32]) {
        check_strided("mix_f16", rows.len(), stride, p.len(), y.len());
        // SAFETY: as in `scores_f16`.
        unsafe { (self.vec.mix_f16)(rows, stride, p, y) }
    }

    /// As [`Self::mix_f16`], f32 rows.
    pub fn mix_f32(&self, rows: &[f32], stride: usize, p: &[f32], y: &mut [f32]) {
        check_strided("mix_f32", rows.len(), stride, p.len(), y.len());
        // SAFETY: as in `scores_f16`.
        unsafe { (self.vec.mix_f32)(rows, stride, p, y) }
    }

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
    fn strided_scores_and_mix_agree_with_the_exact_sums() {
        for ks in KernelSet::available() {
            for (len, stride, n) in [
                (96, 96, 1),
                (96, 1536, 7),
                (128, 640, 33),
                (13, 20, 5),
                (8, 8, 4),
                (64, 72, 0),
            ] {
                let (r16, r32, _) = data(stride * n.max(1), (len + n) as u32);
                let (_, _, x) = data(len, 99);
                let scale = 0.125f32;
                let (mut s16, mut s32) = (vec![0f32; n], vec![0f32; n]);
                ks.scores_f16(&r16, stride, &x, scale, &mut s16);
                ks.scores_f32(&r32, stride, &x, scale, &mut s32);
                for j in 0..n {
                    let row = j * stride..j * stride + len;
                    let e16: f64 = r16[row.clone()]
                        .iter()
                        .zip(&x)
                        .map(|(&a, &b)| f16::from_bits(a).to_f32() as f64 * b as f64)
                        .sum();
                    let e32: f64 = r32[row.clone()]
                        .iter()
                        .zip(&x)
                        .map(|(&a, &b)| a as f64 * b as f64)
                        .sum();
                    let mag: f64 = r32[row]
                        .iter()
                        .zip(&x)
                        .map(|(&a, &b)| (a * b).abs() as f64)
                        .sum();
                    let tol = 8.0 * (len as f64).sqrt() * f32::EPSILON as f64 * mag * 0.125 + 1e-30;
                    assert!(
                        (s16[j] as f64 - 0.125 * e16).abs() <= tol,
                        "{:?} scores_f16 {len} {stride} {n} j={j}",
                        ks.isa
                    );
                    assert!(
                        (s32[j] as f64 - 0.125 * e32).abs() <= tol,
                        "{:?} scores_f32 {len} {stride} {n} j={j}",
                        ks.isa
                    );
                }
                let p: Vec<f32> = (0..n).map(|j| 1.0 / (j as f32 + 1.5)).collect();
                let (mut y16, mut y32) = (vec![f32::NAN; len], vec![f32::NAN; len]);
                ks.mix_f16(&r16, stride, &p, &mut y16);
                ks.mix_f32(&r32, stride, &p, &mut y32);
                for i in 0..len {
                    let e16: f64 = (0..n)
                        .map(|j| p[j] as f64 * f16::from_bits(r16[j * stride + i]).to_f32() as f64)
                        .sum();
                    let e32: f64 = (0..n)
                        .map(|j| p[j] as f64 * r32[j * stride + i] as f64)
                        .sum();
                    let mag: f64 = (0..n)
                        .map(|j| (p[j] * r32[j * stride + i]).abs() as f64)
                        .sum();
                    let tol = 8.0 * (n.max(1) as f64).sqrt() * f32::EPSILON as f64 * mag + 1e-30;
                    assert!(
                        (y16[i] as f64 - e16).abs() <= tol,
                        "{:?} mix_f16 {len} {stride} {n} i={i}",
                        ks.isa
                    );
                    assert!(
                        (y32[i] as f64 - e32).abs() <= tol,
                        "{:?} mix_f32 {len} {stride} {n} i={i}",
                        ks.isa
                    );
                }
            }
        }
    }

    #[test]
    #[should_panic(expected = "do not fit")]
    fn strided_rows_past_the_end_panic() {
        let rows = vec![0f32; 100];
        let mut out = vec![0f32; 3];
        KernelSet::best().scores_f32(&rows, 40, &[0.0; 32], 1.0, &mut out);
    }

    #[test]
    #[should_panic(expected = "lengths")]
    fn length_mismatch_panics() {
        KernelSet::best().dot_f32(&[1.0, 2.0], &[1.0]);
    }
}
