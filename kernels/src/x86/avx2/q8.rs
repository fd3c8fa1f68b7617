//! `q8` kernels at the `avx2` level: exact int8 × int8 dot products in i32, then the shared
//! epilogue [`q8_out`].
//!
//! **Products** ([`dot32`]): `maddubs(|a|, sign(w, a))` multiplies 32 unsigned `|a|` (≤ 128,
//! -128 included: `abs` leaves 0x80, read as unsigned 128) by `w·sgn(a)` and adds adjacent
//! pairs into i16; since weights lie in [-127, 127] a pair is at most 2·128·127 = 32512, so it
//! never saturates. `madd(·, 1)` widens the pairs into eight i32 lanes. Exact for every int8
//! activation; the i32 sums cannot overflow (see [`crate::scalar`]).
//!
//! **gemv** (decode, memory-bound). One token at a time. The thread's row range is cut into
//! [`GEMV_ROWS`] contiguous parts walked in step: each step takes one row of every part, so the
//! rows share each activation load and its `abs` while their weight streams stay far apart. Groups
//! of *adjacent* rows (streams one row, a few KB, apart) measured at half the bandwidth of a single
//! sequential stream on Zen 4, far-apart streams at full bandwidth; software prefetch measured
//! slower than the hardware prefetchers alone, so there is none. Each step reads a whole 64-byte
//! line of every row. The group's sums are reduced with one `hadd` tree; leftover rows run alone.
//!
//! **gemm** (prefill). Register tiles of [`TILE_R`] rows × [`TILE_T`] tokens of i32 accumulators
//! (dot-product form): each step loads one 32-byte weight vector per row and one activation vector
//! (with its `abs`) per token, reused across the tile. The sign transfer and the two multiplies are
//! per (row, token) pair and dominate, so the tile mostly saves loads. Loop order: row blocks of
//! about [`ROW_BLOCK_BYTES`] of weights (kept in L2) × token tiles × row groups, so a tile's
//! activation rows stay in L1 while the block's weights stream from L2; every tile runs over all
//! columns, so each output is written once. Token remainders use narrower tiles, row remainders
//! single-row tiles.

use std::arch::x86_64::*;

use crate::act::ActQ8;
use crate::format::q8::Q8Matrix;
use crate::kernel::{q8_out, Ops, Out};

pub(crate) const OPS: Option<Ops<Q8Matrix, ActQ8>> = Some(Ops { gemv, gemm });

/// Rows sharing each activation load in gemv.
const GEMV_ROWS: usize = 4;
/// Rows of the gemm register tile.
const TILE_R: usize = 3;
/// Tokens of the gemm register tile.
const TILE_T: usize = 4;
/// Weight bytes of one gemm row block (kept in L2 while every token tile passes over it).
const ROW_BLOCK_BYTES: usize = 128 << 10;

/// `Σ a·w` over 32 int8 pairs, as eight i32 partial sums (see the module doc).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn dot32(abs_a: __m256i, a: __m256i, w: __m256i) -> __m256i {
    let pairs = _mm256_maddubs_epi16(abs_a, _mm256_sign_epi8(w, a));
    _mm256_madd_epi16(pairs, _mm256_set1_epi16(1))
}

/// `[Σa, Σb, Σc, Σd]` of i32 lanes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn hsum4(a: __m256i, b: __m256i, c: __m256i, d: __m256i) -> __m128i {
    let abcd = _mm256_hadd_epi32(_mm256_hadd_epi32(a, b), _mm256_hadd_epi32(c, d));
    _mm_add_epi32(
        _mm256_castsi256_si128(abcd),
        _mm256_extracti128_si256::<1>(abcd),
    )
}

/// 32 bytes at `p`.
///
/// # Safety
/// `p` valid for 32 bytes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn load(p: *const i8) -> __m256i {
    // SAFETY: forwarded to the caller.
    unsafe { _mm256_loadu_si256(p as *const __m256i) }
}

/// Reduces `acc[i][j]` (row r+i, token t+j) four at a time and writes
/// `q8_out(Σ, row_scale(r+i), scale(t+j))` to output (t+j, r+i).
///
/// # Safety
/// The outputs must be valid.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn store_tile<const R: usize, const T: usize>(
    acc: &[[__m256i; T]; R],
    m: &Q8Matrix,
    act: &ActQ8,
    out: Out,
    r: usize,
    t: usize,
) {
    let z = _mm256_setzero_si256();
    let mut sums = [[0i32; R]; T];
    let mut quad = [z; 4];
    let mut n = 0;
    let mut flush = |quad: &[__m256i; 4], n: usize| {
        let mut s = [0i32; 4];
        // SAFETY: `s` holds four i32.
        unsafe {
            _mm_storeu_si128(
                s.as_mut_ptr() as *mut __m128i,
                hsum4(quad[0], quad[1], quad[2], quad[3]),
            )
        };
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
        for (i, &d) in s.iter().enumerate() {
            let y = q8_out(d, m.row_scale(r + i), act.scale(t + j));
            // SAFETY: output (t+j, r+i) is valid (caller).
            unsafe { out.write(t + j, r + i, y) };
        }
    }
}

/// gemv: every token in turn. The row range is cut into [`GEMV_ROWS`] contiguous parts that are
/// walked in step, one row of each at a time (see the module doc); leftover rows run alone.
///
/// # Safety
/// Kernel contract ([`crate::kernel`]); the CPU has this level's features.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn gemv(m: &Q8Matrix, r0: usize, r1: usize, act: &ActQ8, out: Out) {
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

/// Rows r + i·h (i < R ≤ 4) against token `t`, one 64-byte line per row per step; writes
/// outputs (t, r + i·h).
///
/// # Safety
/// The rows inside the matrix, the token inside the batch, the outputs valid.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn gemv_rows<const R: usize>(
    m: &Q8Matrix,
    act: &ActQ8,
    out: Out,
    t: usize,
    r: usize,
    h: usize,
) {
    let kp = m.padded_cols();
    let w = m.data().as_ptr();
    let a = act.row(t).as_ptr();
    let mut acc = [[_mm256_setzero_si256(); 1]; R];
    let mut k = 0;
    while k < kp {
        // SAFETY: k + 64 <= kp (a multiple of 64) <= activation stride: inside every row
        // r + i·h (in the matrix, caller) and the activation row.
        unsafe {
            let a0 = load(a.add(k));
            let a1 = load(a.add(k + 32));
            let (b0, b1) = (_mm256_abs_epi8(a0), _mm256_abs_epi8(a1));
            for (i, c) in acc.iter_mut().enumerate() {
                let p = w.add((r + i * h) * kp + k);
                let d = _mm256_add_epi32(dot32(b0, a0, load(p)), dot32(b1, a1, load(p.add(32))));
                c[0] = _mm256_add_epi32(c[0], d);
            }
        }
        k += 64;
    }
    let z = _mm256_setzero_si256();
    let mut f = [z; 4];
    for (fi, a) in f.iter_mut().zip(&acc) {
        *fi = a[0];
    }
    let mut s = [0i32; 4];
    // SAFETY: `s` holds four i32.
    unsafe {
        _mm_storeu_si128(
            s.as_mut_ptr() as *mut __m128i,
            hsum4(f[0], f[1], f[2], f[3]),
        )
    };
    for (i, &d) in s.iter().enumerate().take(R) {
        let y = q8_out(d, m.row_scale(r + i * h), act.scale(t));
        // SAFETY: output (t, r + i·h) is valid (caller).
        unsafe { out.write(t, r + i * h, y) };
    }
}

/// gemm: row blocks × token tiles × row groups (see the module doc).
///
/// # Safety
/// Kernel contract ([`crate::kernel`]); the CPU has this level's features.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn gemm(m: &Q8Matrix, r0: usize, r1: usize, act: &ActQ8, out: Out) {
    let batch = act.batch();
    let mc = (ROW_BLOCK_BYTES / m.padded_cols() / TILE_R).max(1) * TILE_R;
    let mut rb = r0;
    while rb < r1 {
        let rb1 = (rb + mc).min(r1);
        let mut t = 0;
        while t + TILE_T <= batch {
            // SAFETY: rows rb..rb1 inside the matrix, tokens t..t+TILE_T inside the batch.
            unsafe { block::<TILE_T>(m, act, out, rb, rb1, t) };
            t += TILE_T;
        }
        // SAFETY: the remaining tokens t..batch (fewer than TILE_T); rows as above.
        unsafe {
            match batch - t {
                0 => {}
                1 => block::<1>(m, act, out, rb, rb1, t),
                2 => block::<2>(m, act, out, rb, rb1, t),
                3 => block::<3>(m, act, out, rb, rb1, t),
                4 => block::<4>(m, act, out, rb, rb1, t),
                5 => block::<5>(m, act, out, rb, rb1, t),
                6 => block::<6>(m, act, out, rb, rb1, t),
                _ => block::<7>(m, act, out, rb, rb1, t),
            }
        }
        rb = rb1;
    }
}

const _: () = assert!(TILE_T <= 8, "gemm dispatches remainders up to 7 tokens");

/// Rows rb..rb1 (groups of `TILE_R`, then single rows) × tokens t..t+T.
///
/// # Safety
/// Rows inside the matrix, tokens inside the batch, outputs valid.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn block<const T: usize>(
    m: &Q8Matrix,
    act: &ActQ8,
    out: Out,
    rb: usize,
    rb1: usize,
    t: usize,
) {
    let mut r = rb;
    while r + TILE_R <= rb1 {
        // SAFETY: rows r..r+TILE_R inside rb..rb1; tokens from the caller.
        unsafe { tile::<TILE_R, T>(m, act, out, r, t) };
        r += TILE_R;
    }
    while r < rb1 {
        // SAFETY: as above, one row.
        unsafe { tile::<1, T>(m, act, out, r, t) };
        r += 1;
    }
}

/// One register tile: rows r..r+R × tokens t..t+T over every column.
///
/// # Safety
/// Rows inside the matrix, tokens inside the batch, outputs valid.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn tile<const R: usize, const T: usize>(
    m: &Q8Matrix,
    act: &ActQ8,
    out: Out,
    r: usize,
    t: usize,
) {
    let kp = m.padded_cols();
    let w = m.data().as_ptr();
    let (a, xs) = (act.data().as_ptr(), act.stride());
    let mut acc = [[_mm256_setzero_si256(); T]; R];
    let mut k = 0;
    while k < kp {
        // SAFETY: k + 32 <= kp <= stride: inside every row of W (r + R <= rows) and of the
        // activations (t + T <= batch).
        unsafe {
            let mut wv = [_mm256_setzero_si256(); R];
            for (i, v) in wv.iter_mut().enumerate() {
                *v = load(w.add((r + i) * kp + k));
            }
            for j in 0..T {
                let av = load(a.add((t + j) * xs + k));
                let ab = _mm256_abs_epi8(av);
                for (c, wi) in acc.iter_mut().zip(&wv) {
                    c[j] = _mm256_add_epi32(c[j], dot32(ab, av, *wi));
                }
            }
        }
        k += 32;
    }
    // SAFETY: outputs (t.., r..) valid (caller).
    unsafe { store_tile(&acc, m, act, out, r, t) };
}
