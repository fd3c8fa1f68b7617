//! `f16` kernels at the `avx512` level: half weights widened with F16C `vcvtph2ps` (16 halves,
//! 32 bytes, to one `zmm`), f32 activations, f32 FMA accumulation.
//!
//! **gemv** (decode, memory-bound). One token at a time; rows in groups of [`GEMV_ROWS`] share
//! each activation load. Every step reads a whole 64-byte line (32 weights) of each row of the
//! group into two accumulators per row, so the core keeps several independent line streams and
//! FMA chains in flight. The group's accumulators are folded and reduced together (`hadd` tree)
//! and stored as one vector of consecutive rows. Leftover rows run one at a time.
//!
//! **gemm** (prefill, compute-bound). A register tile of [`TILE_R`] rows × [`TILE_T`] tokens of
//! `zmm` accumulators (dot-product form: lane `l` of `acc[i][j]` sums `w[r+i][k+l]·x[t+j][k+l]`
//! over `k`): each step converts one 16-weight vector per row once and reuses it for every token
//! of the tile, and loads each activation vector once for every row. Columns are cut into blocks
//! small enough that the block of all tokens' activations stays in L2 while each row group's
//! weight block stays in L1; the first column block writes the outputs, later ones add to them.
//! Token remainders use narrower tiles (1..`TILE_T`), row remainders single-row tiles.
//!
//! Exactness: within the crate's f16 bound (16-lane partial sums, then a pairwise tree); F16C
//! converts every half exactly (subnormals, ±inf, NaN included).

use std::arch::x86_64::*;

use crate::act::ActF32;
use crate::format::f16::F16Matrix;
use crate::kernel::{Ops, Out};

pub(crate) const OPS: Option<Ops<F16Matrix, ActF32>> = Some(Ops { gemv, gemm });

/// Rows sharing each activation load in gemv.
const GEMV_ROWS: usize = 4;
/// Rows of the gemm register tile.
const TILE_R: usize = 4;
/// Tokens of the gemm register tile (`TILE_R · TILE_T` accumulators of 32 registers).
const TILE_T: usize = 6;
/// Bytes of activations (all tokens of one column block) the gemm keeps in L2.
const GEMM_ACT_BYTES: usize = 512 << 10;

/// Lane sum of the low and high 256-bit halves.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c")]
fn fold256(v: __m512) -> __m256 {
    let hi = _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(v)));
    _mm256_add_ps(_mm512_castps512_ps256(v), hi)
}

/// `[Σa, Σb, Σc, Σd]`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c")]
fn hsum4(a: __m512, b: __m512, c: __m512, d: __m512) -> __m128 {
    let ab = _mm256_hadd_ps(fold256(a), fold256(b));
    let cd = _mm256_hadd_ps(fold256(c), fold256(d));
    let abcd = _mm256_hadd_ps(ab, cd);
    _mm_add_ps(
        _mm256_castps256_ps128(abcd),
        _mm256_extractf128_ps::<1>(abcd),
    )
}

/// Σ of one vector's lanes.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c")]
fn hsum(a: __m512) -> f32 {
    let z = _mm512_setzero_ps();
    _mm_cvtss_f32(hsum4(a, z, z, z))
}

/// Sixteen halves at `p`, widened.
///
/// # Safety
/// `p` must be valid for reading 16 `u16`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c")]
unsafe fn load_w(p: *const u16) -> __m512 {
    // SAFETY: forwarded to the caller.
    _mm512_cvtph_ps(unsafe { _mm256_loadu_si256(p as *const __m256i) })
}

/// gemv: every token in turn, rows in groups.
///
/// # Safety
/// Kernel contract ([`crate::kernel`]); the CPU has this level's features.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c")]
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
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c")]
unsafe fn gemv_rows<const R: usize>(
    w: *const u16,
    kp: usize,
    x: *const f32,
    out: Out,
    t: usize,
    r: usize,
) {
    let mut acc0 = [_mm512_setzero_ps(); R];
    let mut acc1 = [_mm512_setzero_ps(); R];
    let mut k = 0;
    while k < kp {
        // SAFETY: k + 32 <= kp (kp is a multiple of 64): inside every row and the activations.
        unsafe {
            let x0 = _mm512_loadu_ps(x.add(k));
            let x1 = _mm512_loadu_ps(x.add(k + 16));
            for i in 0..R {
                let p = w.add(i * kp + k);
                acc0[i] = _mm512_fmadd_ps(load_w(p), x0, acc0[i]);
                acc1[i] = _mm512_fmadd_ps(load_w(p.add(16)), x1, acc1[i]);
            }
        }
        k += 32;
    }
    if R == 4 {
        let s = hsum4(
            _mm512_add_ps(acc0[0], acc1[0]),
            _mm512_add_ps(acc0[1], acc1[1]),
            _mm512_add_ps(acc0[2], acc1[2]),
            _mm512_add_ps(acc0[3], acc1[3]),
        );
        // SAFETY: outputs (t, r..r+4) are consecutive and valid (caller).
        unsafe { _mm_storeu_ps(out.ptr.add(t * out.ld + r), s) };
    } else {
        for i in 0..R {
            // SAFETY: output (t, r+i) is valid (caller).
            unsafe { out.write(t, r + i, hsum(_mm512_add_ps(acc0[i], acc1[i]))) };
        }
    }
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
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c")]
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

impl Gemm {
    /// Rows r..r+R, columns k0..k1, every token.
    ///
    /// # Safety
    /// Rows and columns inside the matrix, `k1 - k0` a multiple of 16, outputs valid.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c")]
    unsafe fn rows<const R: usize>(&self, r: usize, k0: usize, k1: usize) {
        let mut t = 0;
        while t + TILE_T <= self.batch {
            // SAFETY: tokens t..t+TILE_T inside the batch; row/column bounds from the caller.
            unsafe { self.tile::<R, TILE_T>(r, t, k0, k1) };
            t += TILE_T;
        }
        // SAFETY: the remaining tokens t..batch; row/column bounds from the caller.
        unsafe {
            match self.batch - t {
                0 => {}
                1 => self.tile::<R, 1>(r, t, k0, k1),
                2 => self.tile::<R, 2>(r, t, k0, k1),
                3 => self.tile::<R, 3>(r, t, k0, k1),
                4 => self.tile::<R, 4>(r, t, k0, k1),
                _ => self.tile::<R, 5>(r, t, k0, k1),
            }
        }
    }

    /// One register tile: rows r..r+R × tokens t..t+T over columns k0..k1.
    ///
    /// # Safety
    /// As [`Self::rows`], and tokens t..t+T inside the batch.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c")]
    unsafe fn tile<const R: usize, const T: usize>(
        &self,
        r: usize,
        t: usize,
        k0: usize,
        k1: usize,
    ) {
        let mut acc = [[_mm512_setzero_ps(); T]; R];
        let mut k = k0;
        while k < k1 {
            // SAFETY: k + 16 <= k1 <= kp <= stride: inside every row of W and of x.
            unsafe {
                let mut wv = [_mm512_setzero_ps(); R];
                for (i, v) in wv.iter_mut().enumerate() {
                    *v = load_w(self.w.add((r + i) * self.kp + k));
                }
                for j in 0..T {
                    let xv = _mm512_loadu_ps(self.x.add((t + j) * self.xs + k));
                    for (a, wi) in acc.iter_mut().zip(&wv) {
                        a[j] = _mm512_fmadd_ps(*wi, xv, a[j]);
                    }
                }
            }
            k += 16;
        }
        let first = k0 == 0;
        for j in 0..T {
            // SAFETY: outputs (t+j, r..r+R) are valid (caller); on later column blocks they
            // were written by the first block of this same call.
            unsafe {
                let o = self.out.ptr.add((t + j) * self.out.ld + r);
                if R == 4 {
                    let mut s = hsum4(acc[0][j], acc[1][j], acc[2][j], acc[3][j]);
                    if !first {
                        s = _mm_add_ps(s, _mm_loadu_ps(o));
                    }
                    _mm_storeu_ps(o, s);
                } else {
                    for (i, a) in acc.iter().enumerate() {
                        let s = hsum(a[j]);
                        *o.add(i) = if first { s } else { *o.add(i) + s };
                    }
                }
            }
        }
    }
}
