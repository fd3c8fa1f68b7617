//! `q8` kernels at the `avx512` level (AVX-512 F/BW/VL, no VNNI): exact int8 × int8 dot
//! products in i32, then the shared epilogue [`q8_out`].
//!
//! **Products** ([`dot64`]): AVX-512 has no `vpsignb`, so the sign of `a` moves onto `w` with a
//! mask: `neg = movepi8_mask(a)` (the sign bits, once per activation vector), `w' = neg ? −w :
//! w` (one masked subtract), then `maddubs(|a|, w')` multiplies 64 unsigned `|a|` (≤ 128, -128
//! included: `abs` leaves 0x80, read as unsigned 128) by `w'` and adds adjacent pairs into i16;
//! since weights lie in [-127, 127] a pair is at most 2·128·127 = 32512, so it never saturates.
//! Lanes with `a = 0` give 0 whatever `w'` is. `madd(·, 1)` widens the pairs into sixteen i32
//! lanes. Exact for every int8 activation; the i32 sums cannot overflow (see
//! [`crate::scalar`]).
//!
//! **gemv** (decode, memory-bound). One token at a time; rows in groups of [`GEMV_ROWS`] share
//! each activation load and its `abs`. Each step reads a whole 64-byte line of every row of the
//! group (one `zmm`); the group's lanes are reduced together with a `hadd` tree.
//!
//! **gemm** (prefill). Register tiles of [`TILE_R`] rows × [`TILE_T`] tokens of i32
//! accumulators (dot-product form): each step loads one 64-byte weight vector per row and one
//! activation vector (with its `abs` and sign mask) per token, reused across the tile. The sign transfer and
//! the two multiplies are per (row, token) pair and dominate, so the tile mostly saves loads.
//! Token remainders use narrower tiles, row remainders single-row tiles.

use std::arch::x86_64::*;

use crate::act::ActQ8;
use crate::format::q8::Q8Matrix;
use crate::kernel::{q8_out, Ops, Out};

pub(crate) const OPS: Option<Ops<Q8Matrix, ActQ8>> = Some(Ops { gemv, gemm });

/// Rows sharing each activation load in gemv.
const GEMV_ROWS: usize = 4;
/// Rows of the gemm register tile.
const TILE_R: usize = 4;
/// Tokens of the gemm register tile.
const TILE_T: usize = 4;

/// `Σ a·w` over 64 int8 pairs, as sixteen i32 partial sums (see the module doc).
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c")]
fn dot64(abs_a: __m512i, neg: __mmask64, w: __m512i) -> __m512i {
    let ws = _mm512_mask_sub_epi8(w, neg, _mm512_setzero_si512(), w);
    _mm512_madd_epi16(_mm512_maddubs_epi16(abs_a, ws), _mm512_set1_epi16(1))
}

/// Lane sum of the low and high 256-bit halves.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c")]
fn fold256(v: __m512i) -> __m256i {
    _mm256_add_epi32(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64::<1>(v))
}

/// `[Σa, Σb, Σc, Σd]` of i32 lanes.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c")]
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
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c")]
unsafe fn load(p: *const i8) -> __m512i {
    // SAFETY: forwarded to the caller.
    unsafe { _mm512_loadu_si512(p as *const __m512i) }
}

/// Reduces `acc[i][j]` (row r+i, token t+j) four at a time and writes
/// `q8_out(Σ, row_scale(r+i), scale(t+j))` to output (t+j, r+i).
///
/// # Safety
/// The outputs must be valid.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c")]
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
            let y = q8_out(d, m.row_scale(r + i), act.scale(t + j));
            // SAFETY: output (t+j, r+i) is valid (caller).
            unsafe { out.write(t + j, r + i, y) };
        }
    }
}

/// gemv: every token in turn, rows in groups.
///
/// # Safety
/// Kernel contract ([`crate::kernel`]); the CPU has this level's features.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c")]
unsafe fn gemv(m: &Q8Matrix, r0: usize, r1: usize, act: &ActQ8, out: Out) {
    for t in 0..act.batch() {
        let mut r = r0;
        while r + GEMV_ROWS <= r1 {
            // SAFETY: rows r..r+GEMV_ROWS exist; the caller owns outputs (t, r..).
            unsafe { gemv_rows::<GEMV_ROWS>(m, act, out, t, r) };
            r += GEMV_ROWS;
        }
        while r < r1 {
            // SAFETY: as above, one row.
            unsafe { gemv_rows::<1>(m, act, out, t, r) };
            r += 1;
        }
    }
}

/// Rows r..r+R against token `t`.
///
/// # Safety
/// Rows inside the matrix, token inside the batch, outputs valid.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c")]
unsafe fn gemv_rows<const R: usize>(m: &Q8Matrix, act: &ActQ8, out: Out, t: usize, r: usize) {
    let kp = m.padded_cols();
    let w = m.data().as_ptr();
    let a = act.row(t).as_ptr();
    let mut acc = [[_mm512_setzero_si512(); 1]; R];
    let mut k = 0;
    while k < kp {
        // SAFETY: k + 64 <= kp (a multiple of 64) <= activation stride: inside every row of
        // the group (r + R <= rows) and the activation row.
        unsafe {
            let av = load(a.add(k));
            let (ab, neg) = (_mm512_abs_epi8(av), _mm512_movepi8_mask(av));
            for (i, c) in acc.iter_mut().enumerate() {
                let d = dot64(ab, neg, load(w.add((r + i) * kp + k)));
                c[0] = _mm512_add_epi32(c[0], d);
            }
        }
        k += 64;
    }
    // SAFETY: outputs (t, r..r+R) valid (caller).
    unsafe { store_tile(&acc, m, act, out, r, t) };
}

/// gemm: row groups × token tiles.
///
/// # Safety
/// Kernel contract ([`crate::kernel`]); the CPU has this level's features.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c")]
unsafe fn gemm(m: &Q8Matrix, r0: usize, r1: usize, act: &ActQ8, out: Out) {
    let mut r = r0;
    while r + TILE_R <= r1 {
        // SAFETY: rows r..r+TILE_R inside the matrix; outputs from the caller.
        unsafe { rows::<TILE_R>(m, act, out, r) };
        r += TILE_R;
    }
    while r < r1 {
        // SAFETY: as above, one row.
        unsafe { rows::<1>(m, act, out, r) };
        r += 1;
    }
}

const _: () = assert!(TILE_T <= 8, "rows() dispatches remainders up to 7 tokens");

/// Rows r..r+R, every token.
///
/// # Safety
/// Rows inside the matrix; outputs valid.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c")]
unsafe fn rows<const R: usize>(m: &Q8Matrix, act: &ActQ8, out: Out, r: usize) {
    let batch = act.batch();
    let mut t = 0;
    while t + TILE_T <= batch {
        // SAFETY: tokens t..t+TILE_T inside the batch; rows from the caller.
        unsafe { tile::<R, TILE_T>(m, act, out, r, t) };
        t += TILE_T;
    }
    // SAFETY: the remaining tokens t..batch (fewer than TILE_T); rows from the caller.
    unsafe {
        match batch - t {
            0 => {}
            1 => tile::<R, 1>(m, act, out, r, t),
            2 => tile::<R, 2>(m, act, out, r, t),
            3 => tile::<R, 3>(m, act, out, r, t),
            4 => tile::<R, 4>(m, act, out, r, t),
            5 => tile::<R, 5>(m, act, out, r, t),
            6 => tile::<R, 6>(m, act, out, r, t),
            _ => tile::<R, 7>(m, act, out, r, t),
        }
    }
}

/// One register tile: rows r..r+R × tokens t..t+T over every column.
///
/// # Safety
/// Rows inside the matrix, tokens inside the batch, outputs valid.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c")]
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
                let av = load(a.add((t + j) * xs + k));
                let (ab, neg) = (_mm512_abs_epi8(av), _mm512_movepi8_mask(av));
                for (c, wi) in acc.iter_mut().zip(&wv) {
                    c[j] = _mm512_add_epi32(c[j], dot64(ab, neg, *wi));
                }
            }
        }
        k += 64;
    }
    // SAFETY: outputs (t.., r..) valid (caller).
    unsafe { store_tile(&acc, m, act, out, r, t) };
}
