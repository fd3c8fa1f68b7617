//! Vector primitives for attention over the KV cache, on rows stored as f16 (bit patterns) or
//! f32 against f32 vectors, over many cached positions at once (`scores`:
//! `out[j] = scale·(row_j·x)`; `mix`: `y = Σ_j p[j]·row_j`), where row `j` starts at element
//! `j·stride`: one call per head instead of one per position (a call per position, each ending
//! in a horizontal sum, made attention 35% of 700M decode at 400 positions).
//!
//! Each level's [`crate::KernelSet`] carries a [`VecOps`]; the scalar reference here keeps eight
//! independent partial sums (so the compiler can vectorise it without reassociating, and its
//! result does not depend on the build's target features); the AVX2 version (F16C conversion,
//! FMA) serves every x86 level that has those features. Results agree within f32 rounding of a
//! differently ordered sum: `|Δ| ≤ 8·√n·ε·Σ|aᵢxᵢ|` ([`crate::F16_TOL_FACTOR`]).

use half::f16;

/// Scores of strided rows against a vector: `out[j] = scale · Σ_i rows[j·stride + i]·x[i]`.
pub type ScoresFn<T> = unsafe fn(rows: &[T], stride: usize, x: &[f32], scale: f32, out: &mut [f32]);
/// A weighted sum of strided rows: `y[i] = Σ_j p[j] · rows[j·stride + i]` (overwrites `y`).
pub type MixFn<T> = unsafe fn(rows: &[T], stride: usize, p: &[f32], y: &mut [f32]);

/// The vector primitives of one level. Call them through the safe [`crate::KernelSet`] methods
/// ([`crate::KernelSet::scores_f16`] and the rest), which check bounds.
pub struct VecOps {
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
        f.write_str("VecOps { scores, mix (f16, f32) }")
    }
}

/// The portable reference.
pub(crate) static SCALAR: VecOps = VecOps {
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

fn scores_lanes<T: Copy>(
    rows: &[T],
    stride: usize,
    x: &[f32],
    scale: f32,
    out: &mut [f32],
    cvt: impl Fn(T) -> f32,
) {
    for (j, o) in out.iter_mut().enumerate() {
        *o = scale * dot_lanes(&rows[j * stride..j * stride + x.len()], x, &cvt);
    }
}

fn mix_rows<T: Copy>(rows: &[T], stride: usize, p: &[f32], y: &mut [f32], cvt: impl Fn(T) -> f32) {
    y.fill(0.0);
    let n = y.len();
    for (j, &a) in p.iter().enumerate() {
        for (o, &v) in y.iter_mut().zip(&rows[j * stride..j * stride + n]) {
            *o += a * cvt(v);
        }
    }
}

fn f16_to_f32(b: u16) -> f32 {
    f16::from_bits(b).to_f32()
}

/// # Safety
/// None beyond the signature (safe code; `unsafe fn` only to share the pointer type).
unsafe fn scores_f16_scalar(rows: &[u16], stride: usize, x: &[f32], scale: f32, out: &mut [f32]) {
    scores_lanes(rows, stride, x, scale, out, f16_to_f32)
}

/// # Safety
/// As [`scores_f16_scalar`].
unsafe fn scores_f32_scalar(rows: &[f32], stride: usize, x: &[f32], scale: f32, out: &mut [f32]) {
    scores_lanes(rows, stride, x, scale, out, |v| v)
}

/// # Safety
/// As [`scores_f16_scalar`].
unsafe fn mix_f16_scalar(rows: &[u16], stride: usize, p: &[f32], y: &mut [f32]) {
    mix_rows(rows, stride, p, y, f16_to_f32)
}

/// # Safety
/// As [`scores_f16_scalar`].
unsafe fn mix_f32_scalar(rows: &[f32], stride: usize, p: &[f32], y: &mut [f32]) {
    mix_rows(rows, stride, p, y, |v| v)
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
    fn strided_scores_and_mix_agree_with_the_exact_sums() {
        for ks in KernelSet::available() {
            for (len, stride, n) in [
                (96, 96, 1),
                (96, 1536, 7),
                (128, 640, 33),
                (13, 20, 5),
                (8, 8, 4),
                (64, 72, 0),
                // Lengths on and off the 8- and 16-element steps, single rows included.
                (1, 1, 3),
                (7, 9, 2),
                (15, 15, 5),
                (16, 16, 4),
                (33, 40, 3),
                (100, 100, 2),
                (256, 256, 2),
                (1000, 1000, 1),
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
}
