//! The `q8` driver: exact int8 × int8 dot products in i32, then the shared epilogue
//! [`q8_out`], for every x86 level.
//!
//! **Products** ([`Q8`]): a level forms `Σ a·w` over one vector of weights its own way. Without
//! VNNI, `maddubs(|a|, sign(w, a))` multiplies the unsigned `|a|` (≤ 128, -128 included: `abs`
//! leaves 0x80, read as unsigned 128) by `w·sgn(a)` and adds adjacent pairs into i16; weights
//! lie in [-127, 127], so a pair is at most 2·128·127 = 32512 and never saturates; `madd(·, 1)`
//! widens the pairs into i32 lanes (AVX-512 has no `vpsignb`: the sign moves onto `w` with a
//! masked subtract). With VNNI, `vpdpbusd(a ^ 0x80, w)` sums `(a + 128)·w` and the driver
//! subtracts `128·Σw` ([`Q8Matrix::row_sum`], [`Q8::BIASED`]), all modulo 2³²: the true sum
//! fits in i32 (see [`crate::scalar`]), so the result is exact for every int8 activation.
//!
//! **gemv** (decode, memory-bound). One token at a time. The thread's row range is cut into
//! `GR` contiguous parts walked in step: each step takes one row of every part, so the rows
//! share each activation load (and its preparation) while their weight streams stay far apart.
//! Groups of *adjacent* rows (streams one row, a few KB, apart) measured at half the bandwidth
//! of a single sequential stream on Zen 4, far-apart streams at full bandwidth; software
//! prefetch measured slower than the hardware prefetchers alone, so there is none. Each step
//! reads a whole 64-byte line of every row. The group's sums are reduced together; leftover rows
//! run alone.
//!
//! **gemm** (prefill). Register tiles of `TR` rows × `TT` tokens of i32 accumulators
//! (dot-product form): each step loads one weight vector per row and one activation vector (with
//! its preparation) per token, reused across the tile. Loop order: row blocks of about
//! [`ROW_BLOCK_BYTES`] of weights (kept in L2) × token tiles × row groups, so a tile's
//! activation rows stay in L1 while the block's weights stream from L2; every tile runs over all
//! columns, so each output is written once. Token remainders use narrower tiles, row remainders
//! single-row tiles.

use crate::act::ActQ8;
use crate::format::q8::Q8Matrix;
use crate::kernel::{q8_out, Out};
use crate::x86::drive::{by_width, reduce_tile};
use crate::x86::simd::Simd;

/// Weight bytes of one gemm row block (kept in L2 while every token tile passes over it).
pub(crate) const ROW_BLOCK_BYTES: usize = 128 << 10;

/// How a level forms int8 × int8 products (module doc).
pub(crate) trait Q8: Simd {
    /// One activation vector prepared for [`Q8::dot`] (with its absolute value, its sign mask,
    /// or flipped to unsigned).
    type A: Copy;
    /// Whether the products are `(a + 128)·w`, so that `128·Σw` comes off each row's sum.
    const BIASED: bool;
    /// Prepares one activation vector (once per vector, shared by every row).
    fn prep(self, a: Self::I) -> Self::A;
    /// `Σ a·w` per dword lane.
    fn dot(self, a: Self::A, w: Self::I) -> Self::I;
    /// `acc + Σ a·w` per dword lane (a level whose instruction accumulates overrides it).
    #[inline(always)]
    fn mac(self, acc: Self::I, a: Self::A, w: Self::I) -> Self::I {
        self.add32(acc, self.dot(a, w))
    }
}

/// The exact integer sum of row `r` from a level's dword-lane sum.
#[inline(always)]
fn unbias<L: Q8>(m: &Q8Matrix, r: usize, d: i32) -> i32 {
    if L::BIASED {
        d.wrapping_sub(128i32.wrapping_mul(m.row_sum(r)))
    } else {
        d
    }
}

/// gemv: every token in turn; the row range cut into `GR` contiguous parts walked in step, one
/// row of each at a time (module doc); leftover rows run alone.
///
/// # Safety
/// Kernel contract ([`crate::kernel`]); `l` proves the level's features.
#[inline(always)]
pub(crate) unsafe fn gemv<L: Q8, const GR: usize>(
    l: L,
    m: &Q8Matrix,
    r0: usize,
    r1: usize,
    act: &ActQ8,
    out: Out,
) {
    let h = (r1 - r0) / GR;
    for t in 0..act.batch() {
        for r in r0..r0 + h {
            // SAFETY: rows r + i·h (i < GR) lie in r0..r1, inside the matrix; token t is in the
            // batch; the caller owns outputs (t, r0..r1).
            unsafe { gemv_rows::<L, GR>(l, m, act, out, t, r, h) };
        }
        for r in r0 + GR * h..r1 {
            // SAFETY: as above, one row.
            unsafe { gemv_rows::<L, 1>(l, m, act, out, t, r, 0) };
        }
    }
}

/// Rows r + i·h (i < R ≤ 4) against token `t`, one 64-byte line per row per step; writes
/// outputs (t, r + i·h).
///
/// # Safety
/// The rows inside the matrix, the token inside the batch, the outputs valid.
#[inline(always)]
unsafe fn gemv_rows<L: Q8, const R: usize>(
    l: L,
    m: &Q8Matrix,
    act: &ActQ8,
    out: Out,
    t: usize,
    r: usize,
    h: usize,
) {
    let parts = 64 / L::VW;
    let kp = m.padded_cols();
    let w = m.data().as_ptr().cast::<u8>();
    let a = act.row(t).as_ptr().cast::<u8>();
    let mut acc = [l.zero(); R];
    let mut k = 0;
    while k < kp {
        // SAFETY: k + 64 <= kp (a multiple of 64) <= activation stride: inside every row
        // r + i·h (in the matrix, caller) and the activation row.
        unsafe {
            let mut av = [l.prep(l.zero()); 4];
            for (q, v) in av.iter_mut().enumerate().take(parts) {
                *v = l.prep(l.load(a.add(k + q * L::VW)));
            }
            for (i, c) in acc.iter_mut().enumerate() {
                let p = w.add((r + i * h) * kp + k);
                if parts == 1 {
                    *c = l.mac(*c, av[0], l.load(p));
                } else {
                    let mut d = [l.zero(); 4];
                    for (q, d) in d.iter_mut().enumerate().take(parts) {
                        *d = l.dot(av[q], l.load(p.add(q * L::VW)));
                    }
                    let s = if parts == 4 {
                        l.add32(l.add32(d[0], d[1]), l.add32(d[2], d[3]))
                    } else {
                        l.add32(d[0], d[1])
                    };
                    *c = l.add32(*c, s);
                }
            }
        }
        k += 64;
    }
    let s = l.hsum(&acc);
    for (i, &d) in s.iter().enumerate() {
        let y = q8_out(
            unbias::<L>(m, r + i * h, d),
            m.row_scale(r + i * h),
            act.scale(t),
        );
        // SAFETY: output (t, r + i·h) is valid (caller).
        unsafe { out.write(t, r + i * h, y) };
    }
}

/// gemm: row blocks × token tiles × row groups (module doc).
///
/// # Safety
/// Kernel contract ([`crate::kernel`]); `l` proves the level's features.
#[inline(always)]
pub(crate) unsafe fn gemm<L: Q8, const TR: usize, const TT: usize>(
    l: L,
    m: &Q8Matrix,
    r0: usize,
    r1: usize,
    act: &ActQ8,
    out: Out,
) {
    const { assert!(TT <= 8, "gemm dispatches remainders up to 7 tokens") };
    let batch = act.batch();
    let mc = (ROW_BLOCK_BYTES / m.padded_cols() / TR).max(1) * TR;
    let mut rb = r0;
    while rb < r1 {
        let rb1 = (rb + mc).min(r1);
        let mut t = 0;
        while t + TT <= batch {
            // SAFETY: rows rb..rb1 inside the matrix, tokens t..t+TT inside the batch.
            unsafe { block::<L, TR, TT>(l, m, act, out, rb, rb1, t) };
            t += TT;
        }
        if t < batch {
            // SAFETY: the remaining tokens t..batch (fewer than TT); rows as above.
            unsafe { by_width!(batch - t, block::<L, TR>(l, m, act, out, rb, rb1, t)) };
        }
        rb = rb1;
    }
}

/// Rows rb..rb1 (groups of `TR`, then single rows) × tokens t..t+T.
///
/// # Safety
/// Rows inside the matrix, tokens inside the batch, outputs valid.
#[inline(always)]
unsafe fn block<L: Q8, const TR: usize, const T: usize>(
    l: L,
    m: &Q8Matrix,
    act: &ActQ8,
    out: Out,
    rb: usize,
    rb1: usize,
    t: usize,
) {
    let mut r = rb;
    while r + TR <= rb1 {
        // SAFETY: rows r..r+TR inside rb..rb1; tokens from the caller.
        unsafe { tile::<L, TR, T>(l, m, act, out, r, t) };
        r += TR;
    }
    while r < rb1 {
        // SAFETY: as above, one row.
        unsafe { tile::<L, 1, T>(l, m, act, out, r, t) };
        r += 1;
    }
}

/// One register tile: rows r..r+R × tokens t..t+T over every column.
///
/// # Safety
/// Rows inside the matrix, tokens inside the batch, outputs valid.
#[inline(always)]
unsafe fn tile<L: Q8, const R: usize, const T: usize>(
    l: L,
    m: &Q8Matrix,
    act: &ActQ8,
    out: Out,
    r: usize,
    t: usize,
) {
    let kp = m.padded_cols();
    let w = m.data().as_ptr().cast::<u8>();
    let (a, xs) = (act.data().as_ptr().cast::<u8>(), act.stride());
    let mut acc = [[l.zero(); T]; R];
    let mut k = 0;
    while k < kp {
        // SAFETY: k + VW <= kp <= stride: inside every row of W (r + R <= rows) and of the
        // activations (t + T <= batch).
        unsafe {
            let mut wv = [l.zero(); R];
            for (i, v) in wv.iter_mut().enumerate() {
                *v = l.load(w.add((r + i) * kp + k));
            }
            for j in 0..T {
                let av = l.prep(l.load(a.add((t + j) * xs + k)));
                for (c, &wi) in acc.iter_mut().zip(&wv) {
                    c[j] = l.mac(c[j], av, wi);
                }
            }
        }
        k += L::VW;
    }
    let sums = reduce_tile(l, &acc);
    for (j, s) in sums.iter().enumerate() {
        for (i, &d) in s.iter().enumerate() {
            let d = unbias::<L>(m, r + i, d);
            let y = q8_out(d, m.row_scale(r + i), act.scale(t + j));
            // SAFETY: output (t+j, r+i) is valid (caller).
            unsafe { out.write(t + j, r + i, y) };
        }
    }
}
