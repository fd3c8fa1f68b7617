//! `f16` kernels at the `avx2` level: half weights widened with F16C `vcvtph2ps` (8 halves, 16
//! bytes, to one `ymm`), f32 activations, f32 FMA accumulation.
//!
//! **gemv** (decode, memory-bound). One token at a time; rows in groups of [`GEMV_ROWS`] share
//! each activation load. Every step reads a whole 64-byte line (32 weights) of each row of the
//! group into two accumulators per row, so the core keeps several independent line streams and
//! FMA chains in flight. The group's sums are reduced together (`hadd` tree) and stored as one
//! vector of consecutive rows. Leftover rows run one at a time.
//!
//! **gemm** (prefill, compute-bound). A register tile of [`TILE_R`] rows × [`TILE_T`] tokens of
//! `ymm` accumulators (dot-product form: lane `l` of `acc[i][j]` sums `w[r+i][k+l]·x[t+j][k+l]`
//! over `k`), 12 of the 16 registers: each step converts one 8-weight vector per row once and
//! reuses it for every token of the tile, and loads each activation vector once for all rows.
//! Columns are cut into blocks small enough that the block of all tokens' activations stays in
//! L2 while each row group's weight block stays in L1; the first column block writes the
//! outputs, later ones add to them. Token remainders use narrower tiles, row remainders
//! single-row tiles.
//!
//! Exactness: within the crate's f16 bound (8-lane partial sums, then a pairwise tree); F16C
//! converts every half exactly (subnormals, ±inf, NaN included).

use std::arch::x86_64::*;

use crate::act::ActF32;
use crate::format::f16::F16Matrix;
use crate::kernel::{Ops, Out};

pub(crate) const OPS: Option<Ops<F16Matrix, ActF32>> = Some(Ops { gemv, gemm });

/// Rows sharing each activation load in gemv.
const GEMV_ROWS: usize = 4;
/// Rows of the gemm register tile.
const TILE_R: usize = 2;
/// Tokens of the gemm register tile.
const TILE_T: usize = 6;
/// Bytes of activations (all tokens of one column block) the gemm keeps in L2.
const GEMM_ACT_BYTES: usize = 512 << 10;

/// `[Σa, Σb, Σc, Σd]`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn hsum4(a: __m256, b: __m256, c: __m256, d: __m256) -> __m128 {
    let abcd = _mm256_hadd_ps(_mm256_hadd_ps(a, b), _mm256_hadd_ps(c, d));
    _mm_add_ps(
        _mm256_castps256_ps128(abcd),
        _mm256_extractf128_ps::<1>(abcd),
    )
}

/// Eight halves at `p`, widened.
///
/// # Safety
/// `p` must be valid for reading 8 `u16`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn load_w(p: *const u16) -> __m256 {
    // SAFETY: forwarded to the caller.
    _mm256_cvtph_ps(unsafe { _mm_loadu_si128(p as *const __m128i) })
}

/// Reduces accumulators `acc[i][j]` (row `i`, token `j`) four at a time and writes (or, unless
/// `first`, adds) them to outputs (t+j, r+i).
///
/// # Safety
/// The outputs must be valid; unless `first`, already written.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn store_tile<const R: usize, const T: usize>(
    acc: &[[__m256; T]; R],
    out: Out,
    r: usize,
    t: usize,
    first: bool,
) {
    let z = _mm256_setzero_ps();
    let mut sums = [[0f32; R]; T];
    let mut quad = [z; 4];
    let mut n = 0;
    let mut flush = |quad: &[__m256; 4], n: usize| {
        let mut s = [0f32; 4];
        // SAFETY: `s` holds four floats.
        unsafe { _mm_storeu_ps(s.as_mut_ptr(), hsum4(quad[0], quad[1], quad[2], quad[3])) };
        for (q, v) in s.iter().enumerate() {
            let idx = n - 4 + q;
            if idx < R * T {
                sums[idx / R][idx % R] = *v;
            }
        }
    };
    for j in 0..T {
        for row in acc.iter() {
            quad[n % 4] = row[j];
            n += 1;
            if n % 4 == 0 {
                flush(&quad, n);
            }
        }
    }
    if n % 4 != 0 {
        for q in quad.iter_mut().skip(n % 4) {
            *q = z;
        }
        flush(&quad, n.next_multiple_of(4));
    }
    for (j, s) in sums.iter().enumerate() {
        for (i, v) in s.iter().enumerate() {
            // SAFETY: output (t+j, r+i) is valid (caller), and written before unless `first`.
            unsafe {
                let o = out.ptr.add((t + j) * out.ld + r + i);
                *o = if first { *v } else { *o + v };
            }
        }
    }
}

/// gemv: every token in turn, rows in groups.
///
/// # Safety
/// Kernel contract ([`crate::kernel`]); the CPU has this level's features.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn gemv(m: &F16Matrix, r0: usize, r1: usize, act: &ActF32, out: Out) {
    let kp = m.padded_cols();
    let w = m.data().as_ptr();
    for t in 0..act.batch() {
        let x = act.row(t).as_ptr();
        let mut r = r0;
        while r + GEMV_ROWS <= r1 {
            // SAFETY: rows r..r+GEMV_ROWS exist (r1 <= rows), each `kp` halves; the activation
            // row holds at least `kp` floats (stride >= kp); the caller owns outputs (t, r..).
            unsafe { gemv_rows::<GEMV_ROWS>(w.add(r * kp), kp, x, out, t, r) };
            r += GEMV_ROWS;
        }
        while r < r1 {
            // SAFETY: as above, one row.
            unsafe { gemv_rows::<1>(w.add(r * kp), kp, x, out, t, r) };
            r += 1;
        }
    }
}

/// `R` consecutive rows (at `w`, `kp` halves apart) against one activation row `x`; writes
/// outputs (t, r..r+R).
///
/// # Safety
/// `w` valid for `R·kp` halves, `x` for `kp` floats, `kp` a multiple of 32; the outputs valid.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn gemv_rows<const R: usize>(
    w: *const u16,
    kp: usize,
    x: *const f32,
    out: Out,
    t: usize,
    r: usize,
) {
    let mut acc = [[_mm256_setzero_ps(); 2]; R];
    let mut k = 0;
    while k < kp {
        // SAFETY: k + 32 <= kp (kp is a multiple of 64): inside every row and the activations.
        unsafe {
            let xv = [
                _mm256_loadu_ps(x.add(k)),
                _mm256_loadu_ps(x.add(k + 8)),
                _mm256_loadu_ps(x.add(k + 16)),
                _mm256_loadu_ps(x.add(k + 24)),
            ];
            for (i, a) in acc.iter_mut().enumerate() {
                let p = w.add(i * kp + k);
                for (c, xc) in xv.iter().enumerate() {
                    a[c % 2] = _mm256_fmadd_ps(load_w(p.add(8 * c)), *xc, a[c % 2]);
                }
            }
        }
        k += 32;
    }
    let mut fold = [[_mm256_setzero_ps(); 1]; R];
    for (f, a) in fold.iter_mut().zip(&acc) {
        f[0] = _mm256_add_ps(a[0], a[1]);
    }
    // SAFETY: outputs (t, r..r+R) are valid (caller).
    unsafe { store_tile(&fold, out, r, t, true) };
}

/// Columns per gemm block: all of them when every token's activations fit in
/// [`GEMM_ACT_BYTES`], else the largest multiple of 64 that does (at least 256).
fn col_block(batch: usize, kp: usize) -> usize {
    let fit = (GEMM_ACT_BYTES / (4 * batch.max(1))) / 64 * 64;
    fit.clamp(256, kp.max(256)).min(kp)
}

/// gemm: column blocks × row groups × token tiles.
///
/// # Safety
/// Kernel contract ([`crate::kernel`]); the CPU has this level's features.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn gemm(m: &F16Matrix, r0: usize, r1: usize, act: &ActF32, out: Out) {
    let kp = m.padded_cols();
    let kc = col_block(act.batch(), kp);
    let g = Gemm {
        w: m.data().as_ptr(),
        kp,
        x: act.data().as_ptr(),
        xs: act.stride(),
        batch: act.batch(),
        out,
    };
    let mut k0 = 0;
    while k0 < kp {
        let k1 = (k0 + kc).min(kp);
        let mut r = r0;
        while r + TILE_R <= r1 {
            // SAFETY: rows r..r+TILE_R are inside the matrix; columns k0..k1 inside kp.
            unsafe { g.rows::<TILE_R>(r, k0, k1) };
            r += TILE_R;
        }
        while r < r1 {
            // SAFETY: as above, one row.
            unsafe { g.rows::<1>(r, k0, k1) };
            r += 1;
        }
        k0 = k1;
    }
}

/// Operands of one gemm call.
struct Gemm {
    w: *const u16,
    kp: usize,
    x: *const f32,
    xs: usize,
    batch: usize,
    out: Out,
}

const _: () = assert!(
    TILE_T <= 8,
    "Gemm::rows dispatches remainders up to 7 tokens"
);

impl Gemm {
    /// Rows r..r+R, columns k0..k1, every token.
    ///
    /// # Safety
    /// Rows and columns inside the matrix, `k1 - k0` a multiple of 8, outputs valid.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn rows<const R: usize>(&self, r: usize, k0: usize, k1: usize) {
        let mut t = 0;
        while t + TILE_T <= self.batch {
            // SAFETY: tokens t..t+TILE_T inside the batch; row/column bounds from the caller.
            unsafe { self.tile::<R, TILE_T>(r, t, k0, k1) };
            t += TILE_T;
        }
        // SAFETY: the remaining tokens t..batch (fewer than TILE_T); bounds from the caller.
        unsafe {
            match self.batch - t {
                0 => {}
                1 => self.tile::<R, 1>(r, t, k0, k1),
                2 => self.tile::<R, 2>(r, t, k0, k1),
                3 => self.tile::<R, 3>(r, t, k0, k1),
                4 => self.tile::<R, 4>(r, t, k0, k1),
                5 => self.tile::<R, 5>(r, t, k0, k1),
                6 => self.tile::<R, 6>(r, t, k0, k1),
                _ => self.tile::<R, 7>(r, t, k0, k1),
            }
        }
    }

    /// One register tile: rows r..r+R × tokens t..t+T over columns k0..k1.
    ///
    /// # Safety
    /// As [`Self::rows`], and tokens t..t+T inside the batch.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn tile<const R: usize, const T: usize>(
        &self,
        r: usize,
        t: usize,
        k0: usize,
        k1: usize,
    ) {
        let mut acc = [[_mm256_setzero_ps(); T]; R];
        let mut k = k0;
        while k < k1 {
            // SAFETY: k + 8 <= k1 <= kp <= stride: inside every row of W and of x.
            unsafe {
                let mut wv = [_mm256_setzero_ps(); R];
                for (i, v) in wv.iter_mut().enumerate() {
                    *v = load_w(self.w.add((r + i) * self.kp + k));
                }
                for j in 0..T {
                    let xv = _mm256_loadu_ps(self.x.add((t + j) * self.xs + k));
                    for (a, wi) in acc.iter_mut().zip(&wv) {
                        a[j] = _mm256_fmadd_ps(*wi, xv, a[j]);
                    }
                }
            }
            k += 8;
        }
        // SAFETY: outputs (t.., r..) valid (caller); later column blocks add to what the first
        // block of this same call wrote.
        unsafe { store_tile(&acc, self.out, r, t, k0 == 0) };
    }
}
