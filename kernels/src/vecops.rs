//! Vector primitives for attention over the KV cache, on rows stored as f16 (bit patterns) or
//! f32 against f32 vectors, over many cached positions at once (`scores`:
//! `out[q][j] = scale·(row_j·x_q)`; `mix`: `y_q = Σ_j p[q][j]·row_j`), where row `j` starts at
//! element `j·stride`: one call per KV head instead of one per position (a call per position,
//! each ending in a horizontal sum, made attention 35% of 700M decode at 400 positions).
//!
//! **Query groups.** Every call takes the `g` query heads that share a KV head (grouped-query
//! attention: 4 on 2B4T, 1 where there are as many KV heads as query heads), their vectors back
//! to back, so each cached row is loaded (and widened from f16) once for all of them instead of
//! once per query head: at 512 positions attention was 30% of 2B4T prefill with one call per
//! query head.
//!
//! Each level's [`crate::KernelSet`] carries a [`VecOps`]; the scalar reference here keeps eight
//! independent partial sums (so the compiler can vectorise it without reassociating, and its
//! result does not depend on the build's target features); the AVX2 version (F16C conversion,
//! FMA) serves every x86 level that has those features. Results agree within f32 rounding of a
//! differently ordered sum: `|Δ| ≤ 8·√n·ε·Σ|aᵢxᵢ|` ([`crate::F16_TOL_FACTOR`]).

use half::f16;

/// Scores of strided rows against `g` query vectors held back to back in `x` (each
/// `x.len() / g` long): `out[q·n + j] = scale · Σ_i rows[j·stride + i]·x[q·len + i]`, with
/// `n = out.len() / g` rows.
pub type ScoresFn<T> =
    unsafe fn(rows: &[T], stride: usize, x: &[f32], g: usize, scale: f32, out: &mut [f32]);
/// Weighted sums of strided rows for `g` weight vectors held back to back in `p` (each
/// `n = p.len() / g` long): `y[q·len + i] = Σ_j p[q·n + j] · rows[j·stride + i]`, with
/// `len = y.len() / g` (overwrites `y`).
pub type MixFn<T> = unsafe fn(rows: &[T], stride: usize, p: &[f32], g: usize, y: &mut [f32]);

/// [`crate::act::quantize_row`] compiled for a level: one token's int8 quantisation, `q` as long
/// as `x`.
pub type QuantizeFn = unsafe fn(x: &[f32], q: &mut [i8]) -> (f32, i32);

/// [`crate::softmax::softmax`] compiled for a level, in place.
pub type SoftmaxFn = unsafe fn(s: &mut [f32]);

/// The vector primitives of one level. Call them through the safe [`crate::KernelSet`] methods
/// ([`crate::KernelSet::scores_f16`] and the rest), which check bounds.
pub struct VecOps {
    /// Strided f16 rows' scores.
    pub scores_f16: ScoresFn<u16>,
    /// Strided f32 rows' scores.
    pub scores_f32: ScoresFn<f32>,
    /// Weighted sums of strided f16 rows.
    pub mix_f16: MixFn<u16>,
    /// Weighted sums of strided f32 rows.
    pub mix_f32: MixFn<f32>,
    /// Activation quantisation ([`crate::act::quantize_row`], compiled for the level).
    pub quantize: QuantizeFn,
    /// Softmax ([`crate::softmax::softmax`], compiled for the level).
    pub softmax: SoftmaxFn,
}

impl std::fmt::Debug for VecOps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("VecOps { scores, mix (f16, f32), quantize, softmax }")
    }
}

/// The portable reference.
pub(crate) static SCALAR: VecOps = VecOps {
    scores_f16: scores_f16_scalar,
    scores_f32: scores_f32_scalar,
    mix_f16: mix_f16_scalar,
    mix_f32: mix_f32_scalar,
    quantize: crate::act::quantize_row,
    softmax: crate::softmax::softmax,
};

/// Defines a level's `quantize` ([`QuantizeFn`]) and `softmax` ([`SoftmaxFn`]): the portable
/// code of [`crate::act::quantize_row`] and [`crate::softmax::softmax`] compiled with the target
/// features `$features`, so the compiler vectorises it at the level's width. The operations and
/// their order are the portable code's (no contraction into FMA), so every copy gives its bits.
macro_rules! compiled_copies {
    ($features:literal) => {
        /// [`crate::act::quantize_row`] compiled for this level.
        ///
        /// # Safety
        /// `q` as long as `x`; the CPU has the level's features.
        #[target_feature(enable = $features)]
        unsafe fn quantize(x: &[f32], q: &mut [i8]) -> (f32, i32) {
            crate::act::quantize_row_body(x, q)
        }

        /// [`crate::softmax::softmax`] compiled for this level.
        ///
        /// # Safety
        /// The CPU has the level's features.
        #[target_feature(enable = $features)]
        unsafe fn softmax(s: &mut [f32]) {
            crate::softmax::softmax_body(s)
        }
    };
}
pub(crate) use compiled_copies;

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
    g: usize,
    scale: f32,
    out: &mut [f32],
    cvt: impl Fn(T) -> f32,
) {
    let (len, n) = (x.len() / g, out.len() / g);
    for q in 0..g {
        let xq = &x[q * len..(q + 1) * len];
        for (j, o) in out[q * n..(q + 1) * n].iter_mut().enumerate() {
            *o = scale * dot_lanes(&rows[j * stride..j * stride + len], xq, &cvt);
        }
    }
}

fn mix_rows<T: Copy>(
    rows: &[T],
    stride: usize,
    p: &[f32],
    g: usize,
    y: &mut [f32],
    cvt: impl Fn(T) -> f32,
) {
    y.fill(0.0);
    let (len, n) = (y.len() / g, p.len() / g);
    for q in 0..g {
        let yq = &mut y[q * len..(q + 1) * len];
        for (j, &a) in p[q * n..(q + 1) * n].iter().enumerate() {
            for (o, &v) in yq.iter_mut().zip(&rows[j * stride..j * stride + len]) {
                *o += a * cvt(v);
            }
        }
    }
}

fn f16_to_f32(b: u16) -> f32 {
    f16::from_bits(b).to_f32()
}

/// # Safety
/// None beyond the signature (safe code; `unsafe fn` only to share the pointer type).
unsafe fn scores_f16_scalar(
    rows: &[u16],
    stride: usize,
    x: &[f32],
    g: usize,
    scale: f32,
    out: &mut [f32],
) {
    scores_lanes(rows, stride, x, g, scale, out, f16_to_f32)
}

/// # Safety
/// As [`scores_f16_scalar`].
unsafe fn scores_f32_scalar(
    rows: &[f32],
    stride: usize,
    x: &[f32],
    g: usize,
    scale: f32,
    out: &mut [f32],
) {
    scores_lanes(rows, stride, x, g, scale, out, |v| v)
}

/// # Safety
/// As [`scores_f16_scalar`].
unsafe fn mix_f16_scalar(rows: &[u16], stride: usize, p: &[f32], g: usize, y: &mut [f32]) {
    mix_rows(rows, stride, p, g, y, f16_to_f32)
}

/// # Safety
/// As [`scores_f16_scalar`].
unsafe fn mix_f32_scalar(rows: &[f32], stride: usize, p: &[f32], g: usize, y: &mut [f32]) {
    mix_rows(rows, stride, p, g, y, |v| v)
}

/// Panics unless `g ≥ 1` divides both lengths `a` and `b`; returns `(a / g, b / g)`.
fn split_groups(what: &str, g: usize, a: usize, b: usize) -> (usize, usize) {
    assert!(
        g >= 1 && a.is_multiple_of(g) && b.is_multiple_of(g),
        "{what}: {g} query heads do not divide lengths {a} and {b}"
    );
    (a / g, b / g)
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

/// Checks a `scores` call (as [`crate::KernelSet::scores_f16`] documents) and runs `f`.
///
/// # Safety
/// `f` is a primitive of a level this CPU runs.
#[allow(clippy::too_many_arguments)]
unsafe fn checked_scores<T>(
    what: &str,
    f: ScoresFn<T>,
    rows: &[T],
    stride: usize,
    x: &[f32],
    g: usize,
    scale: f32,
    out: &mut [f32],
) {
    let (len, n) = split_groups(what, g, x.len(), out.len());
    check_strided(what, rows.len(), stride, n, len);
    // SAFETY: `f` runs on this CPU (caller); bounds just checked.
    unsafe { f(rows, stride, x, g, scale, out) }
}

/// Checks a `mix` call (as [`crate::KernelSet::mix_f16`] documents) and runs `f`.
///
/// # Safety
/// `f` is a primitive of a level this CPU runs.
unsafe fn checked_mix<T>(
    what: &str,
    f: MixFn<T>,
    rows: &[T],
    stride: usize,
    p: &[f32],
    g: usize,
    y: &mut [f32],
) {
    let (n, len) = split_groups(what, g, p.len(), y.len());
    check_strided(what, rows.len(), stride, n, len);
    // SAFETY: `f` runs on this CPU (caller); bounds just checked.
    unsafe { f(rows, stride, p, g, y) }
}

impl crate::KernelSet {
    /// `out[q·n + j] = scale · (row_j · x_q)` for the `g` query vectors `x_q` held back to back
    /// in `x` (each `x.len() / g` long) and `n = out.len() / g` rows, row `j` being
    /// `rows[j·stride .. j·stride + x.len() / g]` (f16 bit patterns). Panics if `g` does not
    /// divide the lengths, or the rows do not fit or overlap (`stride` below the row length).
    pub fn scores_f16(
        &self,
        rows: &[u16],
        stride: usize,
        x: &[f32],
        g: usize,
        scale: f32,
        out: &mut [f32],
    ) {
        let f = self.vec.scores_f16;
        // SAFETY: the set's level was checked against the CPU when it was obtained.
        unsafe { checked_scores("scores_f16", f, rows, stride, x, g, scale, out) }
    }

    /// As [`Self::scores_f16`], f32 rows.
    pub fn scores_f32(
        &self,
        rows: &[f32],
        stride: usize,
        x: &[f32],
        g: usize,
        scale: f32,
        out: &mut [f32],
    ) {
        let f = self.vec.scores_f32;
        // SAFETY: as in `scores_f16`.
        unsafe { checked_scores("scores_f32", f, rows, stride, x, g, scale, out) }
    }

    /// `y_q = Σ_j p[q·n + j] · row_j` (overwriting `y`) for the `g` weight vectors held back to
    /// back in `p` (each `n = p.len() / g` long) and outputs back to back in `y` (each
    /// `y.len() / g` long), row `j` being `rows[j·stride .. j·stride + y.len() / g]` (f16 bit
    /// patterns). Panics if `g` does not divide the lengths or the rows do not fit.
    pub fn mix_f16(&self, rows: &[u16], stride: usize, p: &[f32], g: usize, y: &mut [f32]) {
        // SAFETY: as in `scores_f16`.
        unsafe { checked_mix("mix_f16", self.vec.mix_f16, rows, stride, p, g, y) }
    }

    /// As [`Self::mix_f16`], f32 rows.
    pub fn mix_f32(&self, rows: &[f32], stride: usize, p: &[f32], g: usize, y: &mut [f32]) {
        // SAFETY: as in `scores_f16`.
        unsafe { checked_mix("mix_f32", self.vec.mix_f32, rows, stride, p, g, y) }
    }

    /// [`crate::softmax::softmax`] compiled for this level, in place: the same result, bit for
    /// bit.
    pub fn softmax(&self, s: &mut [f32]) {
        // SAFETY: the set's level was checked against the CPU when it was obtained.
        unsafe { (self.vec.softmax)(s) }
    }

    /// [`crate::act::quantize_row`] compiled for this level: the same result, bit for bit.
    /// Panics unless `q` is as long as `x`.
    pub fn quantize_row(&self, x: &[f32], q: &mut [i8]) -> (f32, i32) {
        assert_eq!(x.len(), q.len(), "quantize_row: input vs output length");
        // SAFETY: the set's level was checked against the CPU when it was obtained; lengths
        // just checked.
        unsafe { (self.vec.quantize)(x, q) }
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
                // A KV head's contiguous rows over a long context: `mix` runs several row
                // blocks (32 f16 or 16 f32 rows each) and a partial one.
                (128, 128, 300),
            ] {
                // Query groups: one (MHA), the 2B4T group of 4, and every tile remainder.
                // 16 and more take the AVX2 wide path (prefill blocks), with query and row
                // remainders.
                for g in [1usize, 2, 3, 4, 5, 7, 8, 16, 17, 38] {
                    check_group(ks, len, stride, n, g);
                }
            }
        }
    }

    /// `scores` and `mix` of `g` queries over `n` rows of `len` at `stride`, against f64 sums.
    fn check_group(ks: &KernelSet, len: usize, stride: usize, n: usize, g: usize) {
        let (r16, r32, _) = data(stride * n.max(1), (len + n) as u32);
        let (_, _, x) = data(g * len, 99 + g as u32);
        let scale = 0.125f32;
        let (mut s16, mut s32) = (vec![f32::NAN; g * n], vec![f32::NAN; g * n]);
        ks.scores_f16(&r16, stride, &x, g, scale, &mut s16);
        ks.scores_f32(&r32, stride, &x, g, scale, &mut s32);
        let what = |op: &str, i: usize| {
            format!(
                "{:?} {op} len {len} stride {stride} n {n} g {g} at {i}",
                ks.isa
            )
        };
        for q in 0..g {
            let xq = &x[q * len..(q + 1) * len];
            for j in 0..n {
                let row = j * stride..j * stride + len;
                let e16: f64 = r16[row.clone()]
                    .iter()
                    .zip(xq)
                    .map(|(&a, &b)| f16::from_bits(a).to_f32() as f64 * b as f64)
                    .sum();
                let e32: f64 = r32[row.clone()]
                    .iter()
                    .zip(xq)
                    .map(|(&a, &b)| a as f64 * b as f64)
                    .sum();
                let mag: f64 = r32[row]
                    .iter()
                    .zip(xq)
                    .map(|(&a, &b)| (a * b).abs() as f64)
                    .sum();
                let tol = 8.0 * (len as f64).sqrt() * f32::EPSILON as f64 * mag * 0.125 + 1e-30;
                let k = q * n + j;
                assert!(
                    (s16[k] as f64 - 0.125 * e16).abs() <= tol,
                    "{}",
                    what("scores_f16", k)
                );
                assert!(
                    (s32[k] as f64 - 0.125 * e32).abs() <= tol,
                    "{}",
                    what("scores_f32", k)
                );
            }
        }
        let p: Vec<f32> = (0..g * n)
            .map(|k| 1.0 / ((k % n.max(1)) as f32 + 1.5 + (k / n.max(1)) as f32))
            .collect();
        let (mut y16, mut y32) = (vec![f32::NAN; g * len], vec![f32::NAN; g * len]);
        ks.mix_f16(&r16, stride, &p, g, &mut y16);
        ks.mix_f32(&r32, stride, &p, g, &mut y32);
        for q in 0..g {
            let pq = &p[q * n..(q + 1) * n];
            for i in 0..len {
                let e16: f64 = (0..n)
                    .map(|j| pq[j] as f64 * f16::from_bits(r16[j * stride + i]).to_f32() as f64)
                    .sum();
                let e32: f64 = (0..n)
                    .map(|j| pq[j] as f64 * r32[j * stride + i] as f64)
                    .sum();
                let mag: f64 = (0..n)
                    .map(|j| (pq[j] * r32[j * stride + i]).abs() as f64)
                    .sum();
                let tol = 8.0 * (n.max(1) as f64).sqrt() * f32::EPSILON as f64 * mag + 1e-30;
                let k = q * len + i;
                assert!((y16[k] as f64 - e16).abs() <= tol, "{}", what("mix_f16", k));
                assert!((y32[k] as f64 - e32).abs() <= tol, "{}", what("mix_f32", k));
            }
        }
    }

    #[test]
    #[should_panic(expected = "do not fit")]
    fn strided_rows_past_the_end_panic() {
        let rows = vec![0f32; 100];
        let mut out = vec![0f32; 3];
        KernelSet::best().scores_f32(&rows, 40, &[0.0; 32], 1, 1.0, &mut out);
    }

    #[test]
    #[should_panic(expected = "do not divide")]
    fn a_group_that_does_not_divide_the_queries_panics() {
        let rows = vec![0f32; 64];
        let mut out = vec![0f32; 4];
        KernelSet::best().scores_f32(&rows, 8, &[0.0; 12], 3, 1.0, &mut out);
    }
}
