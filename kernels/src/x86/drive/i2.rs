//! The `i2` driver: row streams (gemv) and row × token tiles (gemm) for every x86 level, over
//! 64-byte blocks of 256 weights ([`crate::format::i2`]) cut into the level's vectors.
//!
//! **Unpack.** A 64-byte block holds 256 weights; its part at offset `h` (a vector of `VW`
//! bytes) holds, in bits `2d+1..2d` of byte `j`, the code (`w + 1`, 0..=2) of weight
//! `h + d*64 + j`. So one load `w`, one 16-bit shift `w4 = w >> 4` and masks give four vectors
//! of codes that line up with four *contiguous* activation loads (`a[h + d*64 ..]`, `d = 0..4`).
//! Bits that the 16-bit shift moves across a byte boundary are removed by the byte masks.
//!
//! **Accumulation (exact).** The kernels compute `Σ code·q` and the driver subtracts `Σq`
//! (`act.sum(t)`), which equals `Σ w·q` because `code = w + 1`; the padding (code 1,
//! activation 0) adds nothing.
//! * gemv without VNNI ([`gemv_rows_lohi`]) skips two of the three shifts: `w & 0x03` and
//!   `w4 & 0x03` are the codes of `d = 0, 2`, while `w & 0x0C` and `w4 & 0x0C` are *four
//!   times* the codes of `d = 1, 3`. `pmaddubsw(codes_u8, act_i8)` puts them in separate i16
//!   sums `lo` and `hi`; a pair is at most 2·2·128 = 512 (`lo`) or 2·8·128 = 2048 (`hi`) in
//!   magnitude, so no pair saturates, and a block adds at most `(64/VW)·2·2048` to a `hi` lane:
//!   every [`I2::GEMV_WIDEN`] blocks (≤ 16384 per lane) the sums are widened with
//!   `pmaddwd(lo, 4) + pmaddwd(hi, 1)` into i32 lanes that hold exactly 4·Σcode·q, divided by 4
//!   (an exact shift) after the final horizontal sum. The `vpdpbusd` level has its own
//!   ([`I2::gemv_rows`]).
//! * gemm unpacks all four code vectors once per row part (shifts by 0, 2, 4, 6 and mask 3)
//!   and reuses them for every token of the tile ([`Simd::dot_codes`]: `pmaddubsw` into i16
//!   widened every [`I2::GEMM_WIDEN`] blocks, or `vpdpbusd` straight into i32).
//!
//! The i32 sums cannot overflow below 2 M columns: `|4·Σ code·q| ≤ 4·2·128·cols`.
//!
//! **Tiling.** gemv (decode, memory-bound) runs `GR` rows at a time so the activation loads
//! of a part are shared; the rows lie `1/GR` of the row range apart, so the weights are read as
//! `GR` sequential streams, which the hardware prefetchers follow (with a little help from
//! [`prefetch_ahead`], [`crate::tune::gemv_prefetch`] bytes ahead), while consecutive rows read together would be many short streams that
//! they do not follow. gemm (prefill) walks the tokens in L2-sized passes; in a pass, row
//! panels of `MR` rows (then single rows), and in a panel the tokens `MT` at a time (then the
//! remainder), each unpacked code vector feeding a whole tile. Both apply the shared epilogue
//! of [`crate::kernel`].

use crate::act::ActQ8;
use crate::format::i2::{I2Matrix, BLOCK, BLOCK_BYTES};
use crate::kernel::{out_factor, ternary_out, Out};
use crate::x86::drive::by_width;
use crate::x86::simd::{prefetch_t1, Simd};

// gemv prefetches each of its row streams [`crate::tune::gemv_prefetch`] bytes ahead, into
// L2. A short distance suffices because the streams are long and sequential: it mainly keeps
// the hardware stream prefetchers ahead. 1 KiB measured best of 0.5 to 8 KiB on the November
// 2026 host; on the faster December host (same kind), 1 thread, two interleaved rounds with the
// bandwidth read beside each cell, 2 KiB (the default) streamed 37.6-39.5 GB/s on the
// out-of-cache stack against 31.0-31.6 for 1 KiB (the L1 hint: within noise of L2).

/// gemm processes tokens in passes whose activation rows fit in this many bytes (L2), so
/// each row panel of weights is read from memory once per pass and then reused from L1.
pub(crate) const GEMM_ACT_BYTES: usize = 256 << 10;

/// What an `i2` level supplies beyond [`Simd`] (module doc).
pub(crate) trait I2: Simd {
    /// Blocks between widenings of the i16 `lo`/`hi` sums in [`gemv_rows_lohi`].
    const GEMV_WIDEN: usize;
    /// Blocks between widenings of gemm's code sums ([`Simd::widen_codes`]); `usize::MAX`
    /// where [`Simd::dot_codes`] sums into dwords.
    const GEMM_WIDEN: usize;

    /// `Σ code·q` of `R` rows (at `w`, `rs` bytes apart) with one padded activation row `a`,
    /// each row stream prefetched `pf` bytes ahead (by default [`gemv_rows_lohi`]).
    ///
    /// # Safety
    /// `R` rows of `nblk` blocks at `w`, `rs` bytes apart, and `nblk * 256` bytes at `a`.
    #[inline(always)]
    unsafe fn gemv_rows<const R: usize>(
        self,
        w: *const u8,
        rs: usize,
        a: *const u8,
        nblk: usize,
        pf: usize,
    ) -> [i32; R] {
        // SAFETY: forwarded.
        unsafe { gemv_rows_lohi::<Self, R>(self, w, rs, a, nblk, pf) }
    }
}

/// Prefetches into L2, for each of the `R` rows at `w` (`rs` bytes apart), the line `pf` bytes
/// past block `b`.
#[inline(always)]
pub(crate) fn prefetch_ahead<const R: usize>(w: *const u8, rs: usize, b: usize, pf: usize) {
    if pf == 0 {
        return;
    }
    for k in 0..R {
        prefetch_t1(w.wrapping_add(k * rs + b * BLOCK_BYTES + pf));
    }
}

/// The codes of weights `d*64 ..` of a part (shift by `2d`, mask 3).
#[inline(always)]
fn codes<L: Simd>(l: L, w: L::I, d: usize) -> L::I {
    let m3 = l.splat8(3);
    match d {
        0 => l.and(w, m3),
        1 => l.and(l.srli16::<2>(w), m3),
        2 => l.and(l.srli16::<4>(w), m3),
        _ => l.and(l.srli16::<6>(w), m3),
    }
}

/// `Σ code·q` of `R` rows with one activation row through `pmaddubsw` into the `lo`/`hi` word
/// sums (module doc).
///
/// # Safety
/// `R` rows of `nblk` blocks at `w`, `rs` bytes apart, and `nblk * 256` bytes at `a`.
#[inline(always)]
pub(crate) unsafe fn gemv_rows_lohi<L: I2, const R: usize>(
    l: L,
    w: *const u8,
    rs: usize,
    a: *const u8,
    nblk: usize,
    pf: usize,
) -> [i32; R] {
    let (m03, m0c) = (l.splat8(0x03), l.splat8(0x0C));
    let (ones, fours) = (l.splat16(1), l.splat16(4));
    let mut acc = [l.zero(); R];
    let mut b = 0;
    while b < nblk {
        let end = b + L::GEMV_WIDEN.min(nblk - b);
        let (mut lo, mut hi) = ([l.zero(); R], [l.zero(); R]);
        while b < end {
            prefetch_ahead::<R>(w, rs, b, pf);
            for h in (0..BLOCK_BYTES).step_by(L::VW) {
                let mut av = [l.zero(); 4];
                for (d, v) in av.iter_mut().enumerate() {
                    // SAFETY: b < nblk: inside the activation row's nblk*256 bytes.
                    *v = unsafe { l.load(a.add(b * BLOCK + d * 64 + h)) };
                }
                for r in 0..R {
                    // SAFETY: row r < R, block b < nblk.
                    let wv = unsafe { l.load(w.add(r * rs + b * BLOCK_BYTES + h)) };
                    let w4 = l.srli16::<4>(wv);
                    let lv = l.add16(
                        l.maddubs(l.and(wv, m03), av[0]),
                        l.maddubs(l.and(w4, m03), av[2]),
                    );
                    let uv = l.add16(
                        l.maddubs(l.and(wv, m0c), av[1]),
                        l.maddubs(l.and(w4, m0c), av[3]),
                    );
                    lo[r] = l.add16(lo[r], lv);
                    hi[r] = l.add16(hi[r], uv);
                }
            }
            b += 1;
        }
        for r in 0..R {
            let x = l.add32(l.madd16(lo[r], fours), l.madd16(hi[r], ones));
            acc[r] = l.add32(acc[r], x);
        }
    }
    // Each lane holds exactly 4·Σcode·q.
    let mut s = l.hsum(&acc);
    for s in &mut s {
        *s >>= 2;
    }
    s
}

/// `Σ code·q` of `R` rows × `T` activation rows (module doc).
///
/// # Safety
/// `R` rows of `nblk` blocks at `w`, `rb` bytes apart; `T` rows of at least `nblk * 256`
/// bytes at `a`, `stride` bytes apart.
#[inline(always)]
unsafe fn tile<L: I2, const R: usize, const T: usize>(
    l: L,
    w: *const u8,
    rb: usize,
    a: *const u8,
    stride: usize,
    nblk: usize,
) -> [[i32; T]; R] {
    let mut acc = [[l.zero(); T]; R];
    let mut b = 0;
    while b < nblk {
        let end = b + L::GEMM_WIDEN.min(nblk - b);
        let mut s = [[l.zero(); T]; R];
        while b < end {
            for h in (0..BLOCK_BYTES).step_by(L::VW) {
                let mut wv = [l.zero(); R];
                for (r, v) in wv.iter_mut().enumerate() {
                    // SAFETY: row r < R, block b < nblk.
                    *v = unsafe { l.load(w.add(r * rb + b * BLOCK_BYTES + h)) };
                }
                for d in 0..4 {
                    let mut av = [l.zero(); T];
                    for (t, v) in av.iter_mut().enumerate() {
                        // SAFETY: token row t < T, inside its nblk*256 bytes.
                        *v = unsafe { l.load(a.add(t * stride + b * BLOCK + d * 64 + h)) };
                    }
                    for (s, &wv) in s.iter_mut().zip(&wv) {
                        let c = codes(l, wv, d);
                        for (s, &av) in s.iter_mut().zip(&av) {
                            *s = l.dot_codes(*s, c, av);
                        }
                    }
                }
            }
            b += 1;
        }
        for (acc, s) in acc.iter_mut().zip(&s) {
            for (acc, &s) in acc.iter_mut().zip(s) {
                *acc = l.widen_codes(*acc, s);
            }
        }
    }
    let mut o = [[0; T]; R];
    for (o, acc) in o.iter_mut().zip(&acc) {
        *o = l.hsum(acc);
    }
    o
}

/// Decode: every token in turn, rows as `GR` sequential streams (module doc).
///
/// # Safety
/// Kernel contract ([`crate::kernel`]); `l` proves the level's features.
#[inline(always)]
pub(crate) unsafe fn gemv<L: I2, const GR: usize>(
    l: L,
    m: &I2Matrix,
    r0: usize,
    r1: usize,
    act: &ActQ8,
    out: Out,
) {
    let rb = m.row_bytes();
    let nblk = rb / BLOCK_BYTES;
    // Stream k reads rows r0 + k*q .. r0 + (k+1)*q; the rest go one by one.
    let q = (r1 - r0) / GR;
    let w = m.data().as_ptr();
    let pf = crate::tune::gemv_prefetch(crate::format::Format::I2);
    for t in 0..act.batch() {
        // SAFETY: t < batch, so the token's row starts inside the activation buffer.
        let a = unsafe { act.data().as_ptr().add(t * act.stride()) }.cast::<u8>();
        let (sum, f) = (act.sum(t), out_factor(m.scale(), act.scale(t)));
        for i in 0..q {
            let r = r0 + i;
            // SAFETY: rows r + k*q (k < GR) are below r1 <= rows() and hold rb = nblk*64 bytes
            // each; the activation row holds stride >= padded_cols = nblk*256 bytes.
            let d = unsafe { l.gemv_rows::<GR>(w.add(r * rb), q * rb, a, nblk, pf) };
            for (k, &d) in d.iter().enumerate() {
                let y = ternary_out(d - sum, f);
                // SAFETY: kernel contract: (t, r + k*q) is in the caller's region.
                unsafe { out.write(t, r + k * q, y) };
            }
        }
        for r in r0 + GR * q..r1 {
            // SAFETY: row r is below r1 <= rows(); as above.
            let d = unsafe { l.gemv_rows::<1>(w.add(r * rb), rb, a, nblk, pf) };
            let y = ternary_out(d[0] - sum, f);
            // SAFETY: kernel contract: (t, r) is in the caller's region.
            unsafe { out.write(t, r, y) };
        }
    }
}

/// Prefill: tiles of rows × tokens (module doc).
///
/// # Safety
/// As [`gemv`].
#[inline(always)]
pub(crate) unsafe fn gemm<L: I2, const MR: usize, const MT: usize>(
    l: L,
    m: &I2Matrix,
    r0: usize,
    r1: usize,
    act: &ActQ8,
    out: Out,
) {
    const { assert!(MT <= 8, "tiles are 1 to 8 tokens wide") };
    let n = act.batch();
    let pass = (GEMM_ACT_BYTES / act.stride() / MT).max(1) * MT;
    let mut t0 = 0;
    while t0 < n {
        let t1 = (t0 + pass).min(n);
        let mut r = r0;
        while r < r1 {
            if r1 - r >= MR {
                // SAFETY: rows r..r+MR are below r1 <= rows(); tokens t0..t1 exist.
                unsafe { gemm_panel::<L, MR, MT>(l, m, r, act, t0, t1, out) };
                r += MR;
            } else {
                // SAFETY: as above, for one row.
                unsafe { gemm_panel::<L, 1, MT>(l, m, r, act, t0, t1, out) };
                r += 1;
            }
        }
        t0 = t1;
    }
}

/// Rows `r..r+R` for tokens `t0..t1`, tile by tile.
///
/// # Safety
/// Rows `r..r+R` and tokens `t0..t1` exist; otherwise as [`gemm`].
#[inline(always)]
unsafe fn gemm_panel<L: I2, const R: usize, const MT: usize>(
    l: L,
    m: &I2Matrix,
    r: usize,
    act: &ActQ8,
    t0: usize,
    t1: usize,
    out: Out,
) {
    // The panel's weights are reused from L1 by every tile; fetch the next panel's.
    let next = m.data().as_ptr().wrapping_add((r + R) * m.row_bytes());
    for off in (0..R * m.row_bytes()).step_by(BLOCK_BYTES) {
        prefetch_t1(next.wrapping_add(off));
    }
    let mut t = t0;
    while t < t1 {
        let n = (t1 - t).min(MT);
        // SAFETY: tokens t..t+n are below t1; forwarded contract.
        unsafe { by_width!(n, gemm_tile_out::<L, R>(l, m, r, act, t, out)) };
        t += n;
    }
}

/// One tile: rows `r..r+R` × tokens `t..t+T`, written through `out`.
///
/// # Safety
/// Rows `r..r+R` and tokens `t..t+T` exist; otherwise as [`gemm`].
#[inline(always)]
unsafe fn gemm_tile_out<L: I2, const R: usize, const T: usize>(
    l: L,
    m: &I2Matrix,
    r: usize,
    act: &ActQ8,
    t: usize,
    out: Out,
) {
    let rb = m.row_bytes();
    let nblk = rb / BLOCK_BYTES;
    // SAFETY: the rows and tokens exist, so both pointers start inside their buffers and `tile`
    // reads nblk blocks of each row and nblk*256 bytes of each token row.
    let d = unsafe {
        let w = m.data().as_ptr().add(r * rb);
        let a = act.data().as_ptr().add(t * act.stride()).cast::<u8>();
        tile::<L, R, T>(l, w, rb, a, act.stride(), nblk)
    };
    for j in 0..T {
        let (sum, f) = (act.sum(t + j), out_factor(m.scale(), act.scale(t + j)));
        for (i, d) in d.iter().enumerate() {
            let y = ternary_out(d[j] - sum, f);
            // SAFETY: kernel contract: (t + j, r + i) is in the caller's region.
            unsafe { out.write(t + j, r + i, y) };
        }
    }
}
