//! `q8` kernels at the `avx512vnni` level: exact int8 × int8 dot products with `vpdpbusd`, then
//! the shared epilogue [`q8_out`].
//!
//! **Products**: `vpdpbusd` multiplies unsigned by signed bytes, four products per i32 lane.
//! Activations are made unsigned by flipping their top bit, `u = a ^ 0x80 = a + 128` (once per
//! activation vector, shared by every row), so the instruction sums `(a + 128)·w` and
//! `Σ a·w = Σ (a + 128)·w − 128·Σw`, with `Σw` stored per row ([`Q8Matrix::row_sum`]). One
//! instruction per 64 products. The non-saturating form wraps modulo 2³²; every step and the
//! final subtraction are done modulo 2³² (SIMD adds, `wrapping_*`), and the true sum fits in i32
//! (see [`crate::scalar`]), so the result is exact for every int8 activation, -128 included.
//!
//! **gemv** (decode, memory-bound). One token at a time. The thread's row range is cut into
//! [`GEMV_ROWS`] contiguous parts walked in step: each step takes one row of every part, so the
//! rows share each activation load (flipped once) while their weight streams stay far apart. Groups
//! of *adjacent* rows (streams one row, a few KB, apart) measured at half the bandwidth of a single
//! sequential stream on Zen 4, far-apart streams at full bandwidth; software prefetch measured
//! slower than the hardware prefetchers alone, so there is none. Each step reads a whole 64-byte
//! line (one `zmm`) of every row. The group's sums are reduced with one `hadd` tree; leftover rows
//! run alone.
//!
//! **gemm** (prefill). Register tiles of [`TILE_R`] rows × [`TILE_T`] tokens of i32 accumulators
//! (dot-product form): each step loads one 64-byte weight vector per row and one activation vector
//! (flipped once) per token, reused across the tile: one `vpdpbusd` per (row, token) pair and step.
//! Loop order: row blocks of about [`ROW_BLOCK_BYTES`] of weights (kept in L2) × token tiles × row
//! groups, so a tile's activation rows stay in L1 while the block's weights stream from L2; every
//! tile runs over all columns, so each output is written once. Token remainders use narrower tiles,
//! row remainders single-row tiles.

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
const TILE_T: usize = 8;
/// Weight bytes of one gemm row block (kept in L2 while every token tile passes over it).
const ROW_BLOCK_BYTES: usize = 128 << 10;

/// Lane sum of the low and high 256-bit halves.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
fn fold256(v: __m512i) -> __m256i {
    _mm256_add_epi32(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64::<1>(v))
}

/// `[Σa, Σb, Σc, Σd]` of i32 lanes.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
fn hsum4(a: __m512i, b: __m512i, c: __m512i, d: __m512i) -> __m128i {
    let ab = _mm256_hadd_epi32(fold256(a), fold256(b));
    let abcd = _mm256_hadd_epi32(ab, _mm256_hadd_epi32(fold256(c), fold256(d)));
    _mm_add_epi32(
        _mm256_castsi256_si128(abcd),
        _mm256_extracti128_si256::<1>(abcd),
    )
}

/// 64 bytes at `p`.
///
/// # Safety
/// `p` valid for 64 bytes.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn load(p: *const i8) -> __m512i {
    // SAFETY: forwarded to the caller.
    unsafe { _mm512_loadu_si512(p as *const __m512i) }
}

/// Reduces `acc[i][j]` (row r+i, token t+j) four at a time and writes
/// `q8_out(Σ − 128·row_sum(r+i), row_scale(r+i), scale(t+j))` to output (t+j, r+i).
///
/// # Safety
/// The outputs must be valid.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn store_tile<const R: usize, const T: usize>(
    acc: &[[__m512i; T]; R],
    m: &Q8Matrix,
    act: &ActQ8,
    out: Out,
    r: usize,
    t: usize,
) {
    let z = _mm512_setzero_si512();
    let mut sums = [[0i32; R]; T];
    let mut quad = [z; 4];
    let mut n = 0;
    let mut flush = |quad: &[__m512i; 4], n: usize| {
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
            let d = d.wrapping_sub(128i32.wrapping_mul(m.row_sum(r + i)));
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
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
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
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
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
    let mut acc = [[_mm512_setzero_si512(); 1]; R];
    let mut k = 0;
    while k < kp {
        // SAFETY: k + 64 <= kp (a multiple of 64) <= activation stride: inside every row
        // r + i·h (in the matrix, caller) and the activation row.
        unsafe {
            let au = _mm512_xor_si512(load(a.add(k)), _mm512_set1_epi8(-128));
            for (i, c) in acc.iter_mut().enumerate() {
                c[0] = _mm512_dpbusd_epi32(c[0], au, load(w.add((r + i * h) * kp + k)));
            }
        }
        k += 64;
    }
    let z = _mm512_setzero_si512();
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
        let d = d.wrapping_sub(128i32.wrapping_mul(m.row_sum(r + i * h)));
        let y = q8_out(d, m.row_scale(r + i * h), act.scale(t));
        // SAFETY: output (t, r + i·h) is valid (caller).
        unsafe { out.write(t, r + i * h, y) };
    }
}

/// gemm: row blocks × token tiles × row groups (see the module doc).
///
/// # Safety
/// Kernel contract ([`crate::kernel`]); the CPU has this level's features.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
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
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
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
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
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
    let mut acc = [[_mm512_setzero_si512(); T]; R];
    let mut k = 0;
    while k < kp {
        // SAFETY: k + 64 <= kp <= stride: inside every row of W (r + R <= rows) and of the
        // activations (t + T <= batch).
        unsafe {
            let mut wv = [_mm512_setzero_si512(); R];
            for (i, v) in wv.iter_mut().enumerate() {
                *v = load(w.add((r + i) * kp + k));
            }
            for j in 0..T {
                let au = _mm512_xor_si512(load(a.add((t + j) * xs + k)), _mm512_set1_epi8(-128));
                for (c, wi) in acc.iter_mut().zip(&wv) {
                    c[j] = _mm512_dpbusd_epi32(c[j], au, *wi);
                }
            }
        }
        k += 64;
    }
    // SAFETY: outputs (t.., r..) valid (caller).
    unsafe { store_tile(&acc, m, act, out, r, t) };
}
