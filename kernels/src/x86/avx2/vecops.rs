//! AVX2 + FMA + F16C vector primitives (see [`crate::vecops`]); every x86 level with those
//! features (avx2, avx512, avx512vnni) uses them.
//!
//! Both primitives work in register tiles over the query group (see [`crate::vecops`]):
//! * `scores`: `R` rows × `Q` queries of accumulators; each 8-element piece of a row is loaded
//!   (widened) once for the `Q` queries and each piece of a query once for the `R` rows. Groups
//!   of 4 (and 8, …) run as 2 × 4 tiles, pairs as 2 × 2, a single query as 4 × 1 (four rows
//!   share each load of `x`, and four FMA chains run side by side). From [`WIDE_MIN`] queries
//!   on (a prefill block: many tokens' query heads against the same rows) the dot products give
//!   way to outer products: the queries are transposed once, the rows widened [`WIDE_ROWS`] at
//!   a time, and a 6-row × 16-query tile of accumulators takes two query loads and six row
//!   broadcasts per element, with no horizontal sums; the scores are written transposed and
//!   turned around at the end. 2B4T prefill, 1 thread, `perf` shares: `scores` went from 52% to
//!   36% of the ternary gemm's time at pp2048 (14% to 10% at pp512).
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

/// Query groups from this size on take `scores`' wide path (prefill blocks: many tokens' queries
/// against the same rows).
const WIDE_MIN: usize = 16;
/// Rows per tile of the wide path (6 rows × 16 queries: 12 accumulators).
const WIDE_ROWS: usize = 6;

/// The wide path's tile: rows `kb` (`R` rows of `len` f32, back to back) against every query of
/// the transposed block `xt` (`xt[k·gp + q]`, `gp` a multiple of 16, zero past the real
/// queries), 16 queries at a time: for each `k`, two loads of queries, `R` broadcasts of row
/// elements and `2R` FMAs (outer products: no horizontal sums). Writes `scale · Σ` transposed,
/// `st[(j0 + i)·gp + q]`, two vector stores per row.
///
/// # Safety
/// The CPU has AVX2 and FMA; `kb` holds `R·len`, `xt` `len·gp` and `st` `(j0 + R)·gp`
/// elements.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn wide_tile<const R: usize>(
    kb: &[f32],
    (len, gp): (usize, usize),
    xt: &[f32],
    st: &mut [f32],
    j0: usize,
    scale: f32,
) {
    let (kp, xp, sp) = (kb.as_ptr(), xt.as_ptr(), st.as_mut_ptr());
    let sv = _mm256_set1_ps(scale);
    let mut q0 = 0;
    while q0 < gp {
        let mut acc = [[_mm256_setzero_ps(); 2]; R];
        for k in 0..len {
            // SAFETY: k < len, q0 + 16 <= gp: inside `xt`; i < R: inside `kb` (caller).
            unsafe {
                let b0 = _mm256_loadu_ps(xp.add(k * gp + q0));
                let b1 = _mm256_loadu_ps(xp.add(k * gp + q0 + 8));
                for (i, a) in acc.iter_mut().enumerate() {
                    let r = _mm256_broadcast_ss(&*kp.add(i * len + k));
                    a[0] = _mm256_fmadd_ps(r, b0, a[0]);
                    a[1] = _mm256_fmadd_ps(r, b1, a[1]);
                }
            }
        }
        for (i, a) in acc.iter().enumerate() {
            // SAFETY: row j0 + i < j0 + R, q0 + 16 <= gp: inside `st` (caller).
            unsafe {
                let o = sp.add((j0 + i) * gp + q0);
                _mm256_storeu_ps(o, _mm256_mul_ps(sv, a[0]));
                _mm256_storeu_ps(o.add(8), _mm256_mul_ps(sv, a[1]));
            }
        }
        q0 += 16;
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
    quantize,
    softmax,
};

// The quantiser and the softmax at 8 lanes.
crate::vecops::compiled_copies!("avx2,fma,f16c");

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

            /// `scores` for `g ≥ WIDE_MIN` queries (a prefill block's): the queries are
            /// transposed once (`xt[k·gp + q]`), the rows widened to f32 [`WIDE_ROWS`] at a
            /// time, and [`wide_tile`] runs outer products over them, so each row element is
            /// loaded once per 16 queries and no horizontal sum is needed.
            ///
            /// # Safety
            /// As [`scores`].
            #[target_feature(enable = "avx2,fma,f16c")]
            unsafe fn scores_wide(sc: &Scores<'_>, g: usize, out: &mut [f32]) {
                let Scores {
                    rows,
                    stride,
                    x,
                    len,
                    n,
                    scale,
                } = *sc;
                let gp = g.next_multiple_of(16);
                let mut xt = vec![0f32; len * gp];
                for (q, xq) in x.chunks_exact(len.max(1)).enumerate().take(g) {
                    for (k, &v) in xq.iter().enumerate() {
                        xt[k * gp + q] = v;
                    }
                }
                let mut kb = vec![0f32; WIDE_ROWS * len];
                // Scores transposed (`st[j·gp + q]`), turned around into `out` at the end.
                let mut st = vec![0f32; n * gp];
                let mut j0 = 0;
                while j0 < n {
                    let rb = (n - j0).min(WIDE_ROWS);
                    let body = len / 8 * 8;
                    for (i, dst) in kb.chunks_exact_mut(len.max(1)).take(rb).enumerate() {
                        let row = &rows[(j0 + i) * stride..(j0 + i) * stride + len];
                        let mut k = 0;
                        while k < body {
                            // SAFETY: k + 8 <= len: inside the row and `dst`.
                            unsafe {
                                _mm256_storeu_ps(
                                    dst.as_mut_ptr().add(k),
                                    $load(row.as_ptr().add(k)),
                                )
                            };
                            k += 8;
                        }
                        for (d, &v) in dst[body..].iter_mut().zip(&row[body..]) {
                            *d = $cvt(v);
                        }
                    }
                    let d = (len, gp);
                    // SAFETY: `kb` holds rb rows of len, `xt` len·gp, `st` n·gp with
                    // j0 + rb <= n.
                    unsafe {
                        match rb {
                            6 => wide_tile::<6>(&kb, d, &xt, &mut st, j0, scale),
                            5 => wide_tile::<5>(&kb, d, &xt, &mut st, j0, scale),
                            4 => wide_tile::<4>(&kb, d, &xt, &mut st, j0, scale),
                            3 => wide_tile::<3>(&kb, d, &xt, &mut st, j0, scale),
                            2 => wide_tile::<2>(&kb, d, &xt, &mut st, j0, scale),
                            _ => wide_tile::<1>(&kb, d, &xt, &mut st, j0, scale),
                        }
                    }
                    j0 += rb;
                }
                for (q, o) in out.chunks_exact_mut(n.max(1)).enumerate().take(g) {
                    for (j, v) in o.iter_mut().enumerate() {
                        *v = st[j * gp + q];
                    }
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
                if g >= WIDE_MIN {
                    // SAFETY: the caller's contract.
                    unsafe { scores_wide(&sc, g, out) };
                    return;
                }
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
