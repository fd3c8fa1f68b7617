//! AVX2 + FMA + F16C vector primitives (see [`crate::vecops`]); every x86 level with those
//! features (avx2, avx512, avx512vnni) uses them.
//!
//! Both primitives work in register tiles over the query group (see [`crate::vecops`]):
//! * `scores`: `R` rows × `Q` queries of accumulators; each 8-element piece of a row is loaded
//!   (widened) once for the `Q` queries and each piece of a query once for the `R` rows. Groups
//!   of 4 (and 8, …) run as 2 × 4 tiles, pairs as 2 × 2, a single query as 4 × 1 (four rows
//!   share each load of `x`, and four FMA chains run side by side).
//! * `mix`: `Q` queries × `8·K` columns of accumulators while the rows pass; each piece of a
//!   row is loaded once for the `Q` queries. 4 × 16, 2 × 32 and 1 × 32 columns; 8-column tiles
//!   and a scalar tail after. The rows go in blocks of about [`MIX_BLOCK_BYTES`] (kept in L1
//!   while every column tile passes over them; the tiles carry their sums through `y`, exactly):
//!   a tile reads a few bytes of every row, so without blocks each row came from memory once
//!   per tile pass.
//!
//! **Memory.** At decode the cached rows of a long context come from DRAM (the weights streamed
//! through the caches since the last token). `scores` reads each row front to back, which the
//! hardware prefetchers follow (a software prefetch 2 KiB ahead measured no faster); `mix`
//! reads a few bytes of every row per tile, which they do not, so as its tiles pass over a
//! block each prefetches its own columns of the next block's rows. Measured with one thread on
//! the 2-vCPU Zen 4 VM over the 2B4T decode shape at depth 1040 (g = 4, 128 f16 elements, 150
//! heads' rows, far more than the last-level cache): `mix` 5.5 ms per token unblocked, 4.6
//! blocked without the prefetch, 1.9-2.4 blocked with it; `scores` 2.8 ms either way.

use std::arch::x86_64::*;

use crate::vecops::VecOps;

/// Bytes of rows per `mix` block (a quarter of a 32 KiB L1, the next block's prefetch as much).
const MIX_BLOCK_BYTES: usize = 8192;

/// Prefetches (into L1) the `len` elements of `T` at `p`, a hint: addresses past the slice
/// are harmless.
#[inline(always)]
fn prefetch_row<T>(p: *const T, len: usize) {
    let bytes = len * std::mem::size_of::<T>();
    let b = p.cast::<i8>();
    let mut o = 0;
    while o < bytes {
        // SAFETY: a prefetch never faults and reads nothing architecturally.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(b.wrapping_add(o)) };
        o += 64;
    }
}

/// Rows in `bytes` of rows `stride` elements of `T` apart (at least 1).
#[inline]
fn rows_in<T>(bytes: usize, stride: usize) -> usize {
    (bytes / (stride * std::mem::size_of::<T>()).max(1)).max(1)
}

pub(crate) static VEC: VecOps = VecOps {
    scores_f16: f16_rows::scores,
    scores_f32: f32_rows::scores,
    mix_f16: f16_rows::mix,
    mix_f32: f32_rows::mix,
};

/// Eight f16 (bit patterns) at `p`, widened.
///
/// # Safety
/// `p..p+8` readable; the CPU has F16C.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn load8_f16(p: *const u16) -> __m256 {
    // SAFETY: forwarded to the caller.
    unsafe { _mm256_cvtph_ps(_mm_loadu_si128(p.cast())) }
}

/// Eight f32 at `p`.
///
/// # Safety
/// `p..p+8` readable; the CPU has AVX.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn load8_f32(p: *const f32) -> __m256 {
    // SAFETY: forwarded to the caller.
    unsafe { _mm256_loadu_ps(p) }
}

/// Sums of four vectors' lanes: `[Σa, Σb, Σc, Σd]`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn hsum4(a: __m256, b: __m256, c: __m256, d: __m256) -> __m128 {
    let h = _mm256_hadd_ps(_mm256_hadd_ps(a, b), _mm256_hadd_ps(c, d));
    _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps::<1>(h))
}

/// The lane sums of `N` vectors, four at a time.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn hsums<const N: usize>(v: &[__m256; N]) -> [f32; N] {
    let mut o = [0f32; N];
    for (o, v) in o.chunks_mut(4).zip(v.chunks(4)) {
        let mut x = [_mm256_setzero_ps(); 4];
        x[..v.len()].copy_from_slice(v);
        let mut s = [0f32; 4];
        // SAFETY: `s` holds four floats.
        unsafe { _mm_storeu_ps(s.as_mut_ptr(), hsum4(x[0], x[1], x[2], x[3])) };
        o.copy_from_slice(&s[..o.len()]);
    }
    o
}

/// Strided scores and weighted row sums for one element type (`$load` widens 8 elements,
/// `$cvt` one), in module `$m`.
macro_rules! strided {
    ($m:ident, $t:ty, $load:ident, $cvt:expr) => {
        pub(crate) mod $m {
            use super::*;

            /// The operands of one `scores` call: `n` rows of `len` at `stride`, the queries
            /// back to back in `x`, the scale.
            #[derive(Clone, Copy)]
            struct Scores<'a> {
                rows: &'a [$t],
                stride: usize,
                x: &'a [f32],
                len: usize,
                n: usize,
                scale: f32,
            }

            /// Rows `j..j+R` × queries `q0..q0+Q` of `scores` (the module doc).
            ///
            /// # Safety
            /// The CPU has AVX2, FMA and F16C; the rows and queries exist (the `scores` contract).
            #[inline]
            #[target_feature(enable = "avx2,fma,f16c")]
            unsafe fn scores_tile<const R: usize, const Q: usize>(
                sc: &Scores<'_>,
                out: &mut [f32],
                (j, q0): (usize, usize),
            ) {
                let Scores {
                    rows,
                    stride,
                    x,
                    len,
                    n,
                    scale,
                } = *sc;
                let body = len / 8 * 8;
                let (r, xp) = (rows.as_ptr(), x.as_ptr());
                let mut acc = [[_mm256_setzero_ps(); Q]; R];
                let mut i = 0;
                while i < body {
                    // SAFETY: i + 8 <= body <= len: inside query q0 + q's `len` elements and
                    // inside row j + k (caller: the rows fit).
                    unsafe {
                        let mut xv = [_mm256_setzero_ps(); Q];
                        for (q, v) in xv.iter_mut().enumerate() {
                            *v = _mm256_loadu_ps(xp.add((q0 + q) * len + i));
                        }
                        for (k, a) in acc.iter_mut().enumerate() {
                            let w = $load(r.add((j + k) * stride + i));
                            for (a, &v) in a.iter_mut().zip(&xv) {
                                *a = _mm256_fmadd_ps(w, v, *a);
                            }
                        }
                    }
                    i += 8;
                }
                for (k, a) in acc.iter().enumerate() {
                    let s = hsums(a);
                    for (q, s) in s.iter().enumerate() {
                        let (row, xq) = ((j + k) * stride, (q0 + q) * len);
                        let tail: f32 = (body..len).map(|i| $cvt(rows[row + i]) * x[xq + i]).sum();
                        out[(q0 + q) * n + j + k] = scale * (s + tail);
                    }
                }
            }

            /// Every row for queries `q0..q0+Q`: tiles of `R` rows, then single rows.
            ///
            /// # Safety
            /// As [`scores_tile`].
            #[inline]
            #[target_feature(enable = "avx2,fma,f16c")]
            unsafe fn scores_queries<const R: usize, const Q: usize>(
                sc: &Scores<'_>,
                out: &mut [f32],
                q0: usize,
            ) {
                let mut j = 0;
                while j + R <= sc.n {
                    // SAFETY: rows j..j+R < n and queries q0..q0+Q exist (caller).
                    unsafe { scores_tile::<R, Q>(sc, out, (j, q0)) };
                    j += R;
                }
                while j < sc.n {
                    // SAFETY: as above, one row.
                    unsafe { scores_tile::<1, Q>(sc, out, (j, q0)) };
                    j += 1;
                }
            }

            /// [`crate::vecops::ScoresFn`].
            ///
            /// # Safety
            /// The CPU has AVX2, FMA and F16C; the caller checked that `g` divides the lengths,
            /// `(n-1)·stride + len ≤ rows.len()` and `stride ≥ len`.
            #[target_feature(enable = "avx2,fma,f16c")]
            pub(crate) unsafe fn scores(
                rows: &[$t],
                stride: usize,
                x: &[f32],
                g: usize,
                scale: f32,
                out: &mut [f32],
            ) {
                let (len, n) = (x.len() / g, out.len() / g);
                let sc = Scores {
                    rows,
                    stride,
                    x,
                    len,
                    n,
                    scale,
                };
                let mut q0 = 0;
                while q0 + 4 <= g {
                    // SAFETY: queries q0..q0+4 < g; the rest is the caller's contract.
                    unsafe { scores_queries::<2, 4>(&sc, out, q0) };
                    q0 += 4;
                }
                if q0 + 2 <= g {
                    // SAFETY: queries q0..q0+2 < g; as above.
                    unsafe { scores_queries::<2, 2>(&sc, out, q0) };
                    q0 += 2;
                }
                if q0 < g {
                    // SAFETY: query q0 < g; as above.
                    unsafe { scores_queries::<4, 1>(&sc, out, q0) };
                }
            }

            /// The operands of one `mix` call: `n` rows of `len` at `stride`, the weight vectors
            /// back to back in `p`.
            #[derive(Clone, Copy)]
            struct Mix<'a> {
                rows: &'a [$t],
                stride: usize,
                p: &'a [f32],
                len: usize,
                n: usize,
            }

            /// Queries `q0..q0+Q` × columns `c..c+8K` of `mix` over rows `j0..j1` (the module
            /// doc), added to what `y` holds unless `j0 = 0`; prefetches those columns of the
            /// next `j1 - j0` rows.
            ///
            /// # Safety
            /// The CPU has AVX2, FMA and F16C; `c + 8K ≤ len`, `j0 < j1 ≤ n`; the `mix`
            /// contract.
            #[inline]
            #[target_feature(enable = "avx2,fma,f16c")]
            unsafe fn mix_tile<const Q: usize, const K: usize>(
                mx: &Mix<'_>,
                y: &mut [f32],
                (q0, c): (usize, usize),
                (j0, j1): (usize, usize),
            ) {
                let Mix {
                    rows,
                    stride,
                    p,
                    len,
                    n,
                } = *mx;
                let (r, yp) = (rows.as_ptr(), y.as_mut_ptr());
                let mut acc = [[_mm256_setzero_ps(); K]; Q];
                if j0 > 0 {
                    for (q, a) in acc.iter_mut().enumerate() {
                        for (k, a) in a.iter_mut().enumerate() {
                            // SAFETY: query q0 + q < g, c + 8k + 8 <= len: inside `y`.
                            *a = unsafe { _mm256_loadu_ps(yp.add((q0 + q) * len + c + 8 * k)) };
                        }
                    }
                }
                let next = j1 - j0;
                for j in j0..j1 {
                    prefetch_row(r.wrapping_add((j + next) * stride + c), 8 * K);
                    let mut w = [_mm256_setzero_ps(); K];
                    for (k, w) in w.iter_mut().enumerate() {
                        // SAFETY: c + 8k + 8 <= len; row j < n fits (caller).
                        *w = unsafe { $load(r.add(j * stride + c + 8 * k)) };
                    }
                    for (q, a) in acc.iter_mut().enumerate() {
                        let pv = _mm256_set1_ps(p[(q0 + q) * n + j]);
                        for (a, &w) in a.iter_mut().zip(&w) {
                            *a = _mm256_fmadd_ps(pv, w, *a);
                        }
                    }
                }
                for (q, a) in acc.iter().enumerate() {
                    for (k, a) in a.iter().enumerate() {
                        // SAFETY: query q0 + q < g, c + 8k + 8 <= len: inside `y`.
                        unsafe { _mm256_storeu_ps(yp.add((q0 + q) * len + c + 8 * k), *a) };
                    }
                }
            }

            /// Every column for queries `q0..q0+Q`: tiles of `8·K` columns, 8-column tiles,
            /// then a scalar tail.
            ///
            /// # Safety
            /// As [`mix_tile`], without the column bound.
            #[inline]
            #[target_feature(enable = "avx2,fma,f16c")]
            unsafe fn mix_queries<const Q: usize, const K: usize>(
                mx: &Mix<'_>,
                y: &mut [f32],
                q0: usize,
            ) {
                let Mix {
                    rows,
                    stride,
                    p,
                    len,
                    n,
                } = *mx;
                let block = rows_in::<$t>(MIX_BLOCK_BYTES, stride);
                let mut j0 = 0;
                while j0 < n {
                    let j1 = (j0 + block).min(n);
                    let mut c = 0;
                    while c + 8 * K <= len {
                        // SAFETY: c + 8K <= len, j0 < j1 <= n.
                        unsafe { mix_tile::<Q, K>(mx, y, (q0, c), (j0, j1)) };
                        c += 8 * K;
                    }
                    while c + 8 <= len {
                        // SAFETY: c + 8 <= len, j0 < j1 <= n.
                        unsafe { mix_tile::<Q, 1>(mx, y, (q0, c), (j0, j1)) };
                        c += 8;
                    }
                    j0 = j1;
                }
                let c = len / 8 * 8;
                for q in q0..q0 + Q {
                    for i in c..len {
                        y[q * len + i] = (0..n)
                            .map(|j| p[q * n + j] * $cvt(rows[j * stride + i]))
                            .sum();
                    }
                }
            }

            /// [`crate::vecops::MixFn`].
            ///
            /// # Safety
            /// The CPU has AVX2, FMA and F16C; the caller checked that `g` divides the lengths,
            /// `(n-1)·stride + len ≤ rows.len()` and `stride ≥ len`.
            #[target_feature(enable = "avx2,fma,f16c")]
            pub(crate) unsafe fn mix(
                rows: &[$t],
                stride: usize,
                p: &[f32],
                g: usize,
                y: &mut [f32],
            ) {
                let (len, n) = (y.len() / g, p.len() / g);
                if n == 0 {
                    // No rows: every output is an empty sum (the block loop writes nothing).
                    y.fill(0.0);
                    return;
                }
                let mx = Mix {
                    rows,
                    stride,
                    p,
                    len,
                    n,
                };
                let mut q0 = 0;
                while q0 + 4 <= g {
                    // SAFETY: queries q0..q0+4 < g; the rest is the caller's contract.
                    unsafe { mix_queries::<4, 2>(&mx, y, q0) };
                    q0 += 4;
                }
                if q0 + 2 <= g {
                    // SAFETY: queries q0..q0+2 < g; as above.
                    unsafe { mix_queries::<2, 4>(&mx, y, q0) };
                    q0 += 2;
                }
                if q0 < g {
                    // SAFETY: query q0 < g; as above.
                    unsafe { mix_queries::<1, 4>(&mx, y, q0) };
                }
            }
        }
    };
}

strided!(f16_rows, u16, load8_f16, |b: u16| {
    half::f16::from_bits(b).to_f32()
});
strided!(f32_rows, f32, load8_f32, |v: f32| v);
