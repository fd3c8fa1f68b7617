//! `f16` kernels at the `avx512` level: half weights widened with F16C `vcvtph2ps` (16 halves,
//! 32 bytes, to one `zmm`), f32 activations, f32 FMA accumulation.
//!
//! **gemv** (decode, memory-bound). One token at a time. The thread's row range is cut into
//! [`GEMV_ROWS`] contiguous parts walked in step: each step takes one row of every part, so the
//! rows share each activation load while their weight streams stay far apart. Groups of *adjacent*
//! rows (streams one row, a few KB, apart) measured at half the bandwidth of a single sequential
//! stream on Zen 4, far-apart streams at full bandwidth. Each stream is prefetched
//! [`crate::tune::gemv_prefetch`] bytes ahead (2 KiB by default; 0: none; calibrated per host by the harness): on the December 2026 Zen 4 host, 1 thread, three
//! interleaved rounds of `ternbench kernels` (bandwidth read beside each cell), the 0.66 GB LM
//! head went from 0.65-0.75 of the read bandwidth without prefetch to 0.89-1.09 (1 KiB ahead:
//! 0.80-0.84; 4 KiB: 0.78-0.82), the out-of-cache stack from 0.71-0.84 to 0.89-1.06. (On the
//! November host of the same kind no prefetch had measured faster.) Each step reads a whole 64-byte line (32 weights)
//! of every row into two accumulators per row. The group's sums are reduced with one `hadd` tree;
//! leftover rows run alone.
//!
//! **gemm** (prefill, compute-bound). A register tile of [`TILE_R`] rows × [`TILE_T`] tokens of
//! `zmm` accumulators (dot-product form: lane `l` of `acc[i][j]` sums `w[r+i][k+l]·x[t+j][k+l]`
//! over all `k`), 24 of the 32 registers: each step converts one 16-weight vector per row once
//! and reuses it for every token of the tile, and loads each activation vector once for all
//! rows. Loop order: row blocks of about [`ROW_BLOCK_BYTES`] of weights (kept in L2) × token
//! tiles × row groups, so a tile's activation rows stay close (L1) while the block's weights
//! stream from L2 as halves, the narrower operand. Token remainders use narrower tiles, row
//! remainders single-row tiles; every tile runs over all columns, so each output is written once.
//! The first token tile over a row block also prefetches, line by line as it walks each row, the
//! same row of the next block: at a small batch (a batched decode: one or two token tiles per
//! block) that first pass streams the weights from memory, and four adjacent short row streams
//! alone reached about 12 GB/s on the Zen 4 host (the f16 LM head at 4 tokens, by thread CPU
//! time), under half of what gemv streams.
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
/// Tokens of the gemm register tile.
const TILE_T: usize = 6;
/// Weight bytes of one gemm row block (kept in L2 while every token tile passes over it).
const ROW_BLOCK_BYTES: usize = 256 << 10;

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

/// Reduces accumulators `acc[i][j]` (row `i`, token `j`) four at a time and writes them to
/// outputs (t+j, r+i).
///
/// # Safety
/// The outputs must be valid.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c")]
unsafe fn store_tile<const R: usize, const T: usize>(
    acc: &[[__m512; T]; R],
    out: Out,
    r: usize,
    t: usize,
) {
    let z = _mm512_setzero_ps();
    let mut sums = [[0f32; R]; T];
    let mut quad = [z; 4];
    let mut n = 0;
    let mut flush = |quad: &[__m512; 4], n: usize| {
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
            // SAFETY: output (t+j, r+i) is valid (caller).
            unsafe { out.write(t + j, r + i, *v) };
        }
    }
}

/// gemv: every token in turn. The row range is cut into [`GEMV_ROWS`] contiguous parts that are
/// walked in step, one row of each at a time (see the module doc); leftover rows run alone.
///
/// # Safety
/// Kernel contract ([`crate::kernel`]); the CPU has this level's features.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c")]
unsafe fn gemv(m: &F16Matrix, r0: usize, r1: usize, act: &ActF32, out: Out) {
    let h = (r1 - r0) / GEMV_ROWS;
    for t in 0..act.batch() {
        for r in r0..r0 + h {
            // SAFETY: rows r + i·h (i < GEMV_ROWS) lie in r0..r1, inside the matrix; token t is
            // in the batch; the caller owns outputs (t, r0..r1).
            unsafe { gemv_rows::<GEMV_ROWS>(m, act, out, t, r, h) };
        }
        for r in r0 + GEMV_ROWS * h..r1 {
            // SAFETY: as above, one row.
            unsafe { gemv_rows::<1>(m, act, out, t, r, 0) };
        }
    }
}

/// Rows r + i·h (i < R ≤ 4) against token `t`: 32 weights (one 64-byte line) per row per step
/// into two accumulators per row; writes outputs (t, r + i·h).
///
/// # Safety
/// The rows inside the matrix, the token inside the batch, the outputs valid.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c")]
unsafe fn gemv_rows<const R: usize>(
    m: &F16Matrix,
    act: &ActF32,
    out: Out,
    t: usize,
    r: usize,
    h: usize,
) {
    let kp = m.padded_cols();
    let x = act.row(t).as_ptr();
    let mut w = [m.data().as_ptr(); R];
    for (i, p) in w.iter_mut().enumerate() {
        *p = p.wrapping_add((r + i * h) * kp);
    }
    let mut acc0 = [_mm512_setzero_ps(); R];
    let mut acc1 = [_mm512_setzero_ps(); R];
    // The prefetch distance in halves (0: no software prefetch).
    let pf = crate::tune::gemv_prefetch(crate::format::Format::F16) / 2;
    let mut k = 0;
    while k < kp {
        if pf != 0 {
            for p in w.iter() {
                // A hint, never a fault: addresses past the row (or the matrix) are harmless.
                _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(k + pf) as *const i8);
            }
        }
        // SAFETY: k + 32 <= kp (a multiple of 64) <= the activation stride: inside every row
        // (w[i] points at a row of the matrix) and the activation row.
        unsafe {
            let x0 = _mm512_loadu_ps(x.add(k));
            let x1 = _mm512_loadu_ps(x.add(k + 16));
            for (i, p) in w.iter().enumerate() {
                acc0[i] = _mm512_fmadd_ps(load_w(p.add(k)), x0, acc0[i]);
                acc1[i] = _mm512_fmadd_ps(load_w(p.add(k + 16)), x1, acc1[i]);
            }
        }
        k += 32;
    }
    let z = _mm512_setzero_ps();
    let mut f = [z; 4];
    for (fi, (a0, a1)) in f.iter_mut().zip(acc0.iter().zip(&acc1)) {
        *fi = _mm512_add_ps(*a0, *a1);
    }
    let mut s = [0f32; 4];
    // SAFETY: `s` holds four floats.
    unsafe { _mm_storeu_ps(s.as_mut_ptr(), hsum4(f[0], f[1], f[2], f[3])) };
    for (i, v) in s.iter().enumerate().take(R) {
        // SAFETY: output (t, r + i·h) is valid (caller).
        unsafe { out.write(t, r + i * h, *v) };
    }
}

/// gemm: row blocks × token tiles × row groups (see the module doc).
///
/// # Safety
/// Kernel contract ([`crate::kernel`]); the CPU has this level's features.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c")]
unsafe fn gemm(m: &F16Matrix, r0: usize, r1: usize, act: &ActF32, out: Out) {
    let kp = m.padded_cols();
    let g = Gemm {
        w: m.data().as_ptr(),
        kp,
        x: act.data().as_ptr(),
        xs: act.stride(),
        out,
    };
    let batch = act.batch();
    let mc = (ROW_BLOCK_BYTES / (2 * kp) / TILE_R).max(1) * TILE_R;
    // The first token tile over a block prefetches, as it walks each row, the same row of the
    // next block (`mc` rows on): the weights stream in ahead of the pass that needs them.
    let ahead = mc * kp;
    let mut rb = r0;
    while rb < r1 {
        let rb1 = (rb + mc).min(r1);
        let mut pf = ahead;
        let mut t = 0;
        while t + TILE_T <= batch {
            // SAFETY: rows rb..rb1 inside the matrix, tokens t..t+TILE_T inside the batch.
            unsafe { g.block::<TILE_T>(rb, rb1, t, pf) };
            pf = 0;
            t += TILE_T;
        }
        // SAFETY: the remaining tokens t..batch (fewer than TILE_T); rows as above.
        unsafe {
            match batch - t {
                0 => {}
                1 => g.block::<1>(rb, rb1, t, pf),
                2 => g.block::<2>(rb, rb1, t, pf),
                3 => g.block::<3>(rb, rb1, t, pf),
                4 => g.block::<4>(rb, rb1, t, pf),
                5 => g.block::<5>(rb, rb1, t, pf),
                6 => g.block::<6>(rb, rb1, t, pf),
                _ => g.block::<7>(rb, rb1, t, pf),
            }
        }
        rb = rb1;
    }
}

/// Operands of one gemm call.
struct Gemm {
    w: *const u16,
    kp: usize,
    x: *const f32,
    xs: usize,
    out: Out,
}

const _: () = assert!(TILE_T <= 8, "gemm dispatches remainders up to 7 tokens");

impl Gemm {
    /// Rows rb..rb1 (groups of `TILE_R`, then single rows) × tokens t..t+T, prefetching
    /// `pf` halves ahead of every row walked (0: none).
    ///
    /// # Safety
    /// Rows inside the matrix, tokens inside the batch, outputs valid.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c")]
    unsafe fn block<const T: usize>(&self, rb: usize, rb1: usize, t: usize, pf: usize) {
        let mut r = rb;
        while r + TILE_R <= rb1 {
            // SAFETY: rows r..r+TILE_R inside rb..rb1; tokens from the caller.
            unsafe { self.tile::<TILE_R, T>(r, t, pf) };
            r += TILE_R;
        }
        while r < rb1 {
            // SAFETY: as above, one row.
            unsafe { self.tile::<1, T>(r, t, pf) };
            r += 1;
        }
    }

    /// One register tile: rows r..r+R × tokens t..t+T over every column; with `pf > 0`, each
    /// 64-byte line of a row also prefetches (into L2) the line `pf` halves further on.
    ///
    /// # Safety
    /// As [`Self::block`].
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c")]
    unsafe fn tile<const R: usize, const T: usize>(&self, r: usize, t: usize, pf: usize) {
        let mut acc = [[_mm512_setzero_ps(); T]; R];
        let mut k = 0;
        while k < self.kp {
            if pf > 0 && k % 32 == 0 {
                for i in 0..R {
                    // A hint, never a fault: addresses past the matrix are harmless.
                    let p = self.w.wrapping_add((r + i) * self.kp + k + pf);
                    _mm_prefetch::<_MM_HINT_T1>(p as *const i8);
                }
            }
            // SAFETY: k + 16 <= kp <= stride: inside every row of W and of x.
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
        // SAFETY: outputs (t.., r..) valid (caller).
        unsafe { store_tile(&acc, self.out, r, t) };
    }
}
