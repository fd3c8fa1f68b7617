//! `i2` kernels at the `sse41` level (SSE4.1 + SSSE3, 128-bit), and the row/token drivers
//! that all four x86 levels share ([`i2_ops!`]).
//!
//! **Unpack.** A 64-byte block holds 256 weights; its 16-byte part at offset `h` holds, in
//! bits `2d+1..2d` of byte `j`, the code (`w + 1`, 0..=2) of weight `h + d*64 + j`
//! ([`crate::format::i2`]). So one load `w`, one 16-bit shift `w4 = w >> 4` and masks give
//! four vectors of codes that line up with four *contiguous* 16-byte activation loads
//! (`a[h + d*64 ..]`, `d = 0..4`). Bits that the 16-bit shift moves across a byte boundary
//! are removed by the byte masks.
//!
//! **Accumulation (exact).** `pmaddubsw(codes_u8, act_i8)` multiplies and adds pairs into
//! i16. The kernels compute `Σ code·q` and the driver subtracts `Σq` (`act.sum(t)`), which
//! equals `Σ w·q` because `code = w + 1`; the padding (code 1, activation 0) adds nothing.
//! * `gemv` skips two of the three shifts: `w & 0x03` and `w4 & 0x03` are the codes of
//!   `d = 0, 2`, while `w & 0x0C` and `w4 & 0x0C` are *four times* the codes of `d = 1, 3`.
//!   They go to separate i16 sums `lo` and `hi`; a pair is at most 2·2·128 = 512 (`lo`) or
//!   2·8·128 = 2048 (`hi`) in magnitude, so no pair saturates and a block (4 parts × 2
//!   products) adds at most 16384 to a `hi` lane: after every block the sums are widened with
//!   `pmaddwd(lo, 4) + pmaddwd(hi, 1)` into i32 lanes that hold exactly 4·Σcode·q, divided by
//!   4 (an exact shift) after the final horizontal sum.
//! * `gemm` unpacks all four code vectors once per row part (shifts by 0, 2, 4, 6 and mask 3)
//!   and reuses them for every token of the tile; one i16 sum per (row, token) gains at most
//!   4 parts × 4 products × 512 = 8192 per block and is widened (`pmaddwd` by 1) every 2 blocks.
//!
//! The i32 sums cannot overflow below 2 M columns: `|4·Σ code·q| ≤ 4·2·128·cols`.
//!
//! **Tiling.** `gemv` (decode, memory-bound) runs 2 rows at a time so the four activation
//! loads of a part are shared; the two rows lie half the row range apart, so the weights are
//! read as two sequential streams ([`i2_ops!`]), each prefetched [`crate::tune::gemv_prefetch`] bytes ahead.
//! `gemm` (prefill) computes 2 rows × 4 tokens per tile, so each unpacked code vector feeds
//! 4 `pmaddubsw` (at the `avx2` level, with the same 16 registers, 2 × 4 measured fastest of
//! 1 × 8, 2 × 3, 2 × 6, 3 × 4 and 4 × 2).

use std::arch::x86_64::*;

use crate::format::i2::{BLOCK, BLOCK_BYTES};

/// `gemm` processes tokens in passes whose activation rows fit in this many bytes (L2), so
/// each row panel of weights is read from memory once per pass and then reused from L1.
pub(crate) const GEMM_ACT_BYTES: usize = 256 << 10;

/// Prefetches into L2, for each of the `R` rows at `w` (`rs` bytes apart), the line `pf` bytes
/// past block `b` ([`crate::tune::gemv_prefetch`]; 0: none). A short distance suffices because
/// the streams are long and sequential: it mainly keeps the hardware stream prefetchers ahead.
/// (1 KiB measured best of 0.5 to 8 KiB on the November 2026 host; 2 KiB on the December host:
/// 37.6-39.5 GB/s on the out-of-cache stack against 31.0-31.6 for 1 KiB; the harness
/// calibrates it per host.)
#[inline(always)]
pub(crate) fn prefetch_ahead<const R: usize>(w: *const u8, rs: usize, b: usize, pf: usize) {
    if pf == 0 {
        return;
    }
    for k in 0..R {
        let p = w.wrapping_add(k * rs + b * BLOCK_BYTES + pf);
        // SAFETY: a prefetch is a hint: it never faults and reads nothing architecturally,
        // so any address is sound (the pointer is never dereferenced).
        unsafe { _mm_prefetch::<_MM_HINT_T1>(p.cast()) };
    }
}

/// Prefetches `len` bytes from `p` (the next row panel of `gemm`) into L2.
#[inline(always)]
pub(crate) fn prefetch_bytes(p: *const u8, len: usize) {
    for off in (0..len).step_by(BLOCK_BYTES) {
        // SAFETY: as in `prefetch_ahead`, a prefetch never faults.
        unsafe { _mm_prefetch::<_MM_HINT_T1>(p.wrapping_add(off).cast()) };
    }
}

/// Writes a level's `OPS`, `gemv` and `gemm` around its two inner kernels, which the level
/// defines with its `#[target_feature]`s:
/// * `unsafe fn gemv_rows<const R: usize>(w: *const u8, rs: usize, a: *const i8, nblk: usize)
///   -> [i32; R]`: `Σ code·q` of the `R` rows at `w` (`rs` bytes apart, `nblk` blocks each)
///   with one padded activation row `a`;
/// * `unsafe fn tile<const R: usize, const T: usize>(w, rb, a, stride, nblk) -> [[i32; T]; R]`:
///   the same for `T` activation rows `stride` bytes apart.
///
/// `gemv` walks the tokens one by one. It cuts rows `r0..r1` into `gemv_rows` equal runs and
/// reads them side by side, a row of each run per `gemv_rows` call (then the remainder one by
/// one): the weights are read as a few long sequential streams, which the hardware prefetchers
/// follow (with a little help from `prefetch_ahead`), while consecutive rows read together
/// would be many short streams that they do not follow.
/// `gemm` walks the tokens in L2-sized passes; in a pass, row panels of `gemm_rows` rows (then
/// single rows), and in a panel the tokens `gemm_tokens` at a time, the list naming every tile
/// width down to 1 for the remainder. Both apply the shared epilogue of [`crate::kernel`].
macro_rules! i2_ops {
    (
        features: $feat:literal,
        gemv_rows: $gr:literal,
        gemm_rows: $mr:literal,
        gemm_tokens: [$t:literal $(, $tr:literal)* $(,)?] $(,)?
    ) => {
        pub(crate) const OPS: Option<
            $crate::kernel::Ops<$crate::format::i2::I2Matrix, $crate::act::ActQ8>,
        > = Some($crate::kernel::Ops { gemv, gemm });

        /// Decode: every token in turn, rows as `gemv_rows` sequential streams (see above).
        ///
        /// # Safety
        /// The CPU has this level's features and `out` is valid for rows `r0..r1 <= rows()` of
        /// every token (the kernel contract of [`crate::kernel`]).
        #[target_feature(enable = $feat)]
        unsafe fn gemv(
            m: &$crate::format::i2::I2Matrix,
            r0: usize,
            r1: usize,
            act: &$crate::act::ActQ8,
            out: $crate::kernel::Out,
        ) {
            let rb = m.row_bytes();
            let nblk = rb / $crate::format::i2::BLOCK_BYTES;
            // Stream k reads rows r0 + k*q .. r0 + (k+1)*q; the rest go one by one.
            let q = (r1 - r0) / $gr;
            let w = m.data().as_ptr();
            for t in 0..act.batch() {
                // SAFETY: t < batch, so the token's row starts inside the activation buffer.
                let a = unsafe { act.data().as_ptr().add(t * act.stride()) };
                let (sum, f) = (act.sum(t), $crate::kernel::out_factor(m.scale(), act.scale(t)));
                for i in 0..q {
                    let r = r0 + i;
                    // SAFETY: rows r + k*q (k < R) are below r1 <= rows() and hold rb =
                    // nblk*64 bytes each; the activation row holds stride >= padded_cols =
                    // nblk*256 bytes.
                    let d = unsafe { gemv_rows::<$gr>(w.add(r * rb), q * rb, a, nblk) };
                    for (k, &d) in d.iter().enumerate() {
                        let y = $crate::kernel::ternary_out(d - sum, f);
                        // SAFETY: kernel contract: (t, r + k*q) is in the caller's region.
                        unsafe { out.write(t, r + k * q, y) };
                    }
                }
                for r in r0 + $gr * q..r1 {
                    // SAFETY: row r is below r1 <= rows(); as above.
                    let d = unsafe { gemv_rows::<1>(w.add(r * rb), rb, a, nblk) };
                    let y = $crate::kernel::ternary_out(d[0] - sum, f);
                    // SAFETY: kernel contract: (t, r) is in the caller's region.
                    unsafe { out.write(t, r, y) };
                }
            }
        }

        /// Prefill: tiles of rows × tokens (see the module doc).
        ///
        /// # Safety
        /// As [`gemv`].
        #[target_feature(enable = $feat)]
        unsafe fn gemm(
            m: &$crate::format::i2::I2Matrix,
            r0: usize,
            r1: usize,
            act: &$crate::act::ActQ8,
            out: $crate::kernel::Out,
        ) {
            let n = act.batch();
            let pass = ($crate::x86::sse41::i2::GEMM_ACT_BYTES / act.stride() / $t).max(1) * $t;
            let mut t0 = 0;
            while t0 < n {
                let t1 = (t0 + pass).min(n);
                let mut r = r0;
                while r < r1 {
                    if r1 - r >= $mr {
                        // SAFETY: rows r..r+R are below r1 <= rows(); tokens t0..t1 exist.
                        unsafe { gemm_panel::<$mr>(m, r, act, t0, t1, out) };
                        r += $mr;
                    } else {
                        // SAFETY: as above, for one row.
                        unsafe { gemm_panel::<1>(m, r, act, t0, t1, out) };
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
        #[inline]
        #[target_feature(enable = $feat)]
        unsafe fn gemm_panel<const R: usize>(
            m: &$crate::format::i2::I2Matrix,
            r: usize,
            act: &$crate::act::ActQ8,
            t0: usize,
            t1: usize,
            out: $crate::kernel::Out,
        ) {
            // The panel's weights are reused from L1 by every tile; fetch the next panel's.
            let bytes = R * m.row_bytes();
            $crate::x86::sse41::i2::prefetch_bytes(
                m.data().as_ptr().wrapping_add((r + R) * m.row_bytes()),
                bytes,
            );
            let mut t = t0;
            while t < t1 {
                let n = (t1 - t).min($t);
                // SAFETY: tokens t..t+n are below t1; forwarded contract.
                unsafe {
                    match n {
                        $t => gemm_tile_out::<R, $t>(m, r, act, t, out),
                        $($tr => gemm_tile_out::<R, $tr>(m, r, act, t, out),)*
                        _ => unreachable!("gemm_tokens lists every tile width"),
                    }
                }
                t += n;
            }
        }

        /// One tile: rows `r..r+R` × tokens `t..t+T`, written through `out`.
        ///
        /// # Safety
        /// Rows `r..r+R` and tokens `t..t+T` exist; otherwise as [`gemm`].
        #[inline]
        #[target_feature(enable = $feat)]
        unsafe fn gemm_tile_out<const R: usize, const T: usize>(
            m: &$crate::format::i2::I2Matrix,
            r: usize,
            act: &$crate::act::ActQ8,
            t: usize,
            out: $crate::kernel::Out,
        ) {
            let rb = m.row_bytes();
            let nblk = rb / $crate::format::i2::BLOCK_BYTES;
            // SAFETY: the rows and tokens exist, so both pointers start inside their buffers
            // and `tile` reads nblk blocks of each row and nblk*256 bytes of each token row.
            let d = unsafe {
                let w = m.data().as_ptr().add(r * rb);
                let a = act.data().as_ptr().add(t * act.stride());
                tile::<R, T>(w, rb, a, act.stride(), nblk)
            };
            for j in 0..T {
                let (sum, f) = (
                    act.sum(t + j),
                    $crate::kernel::out_factor(m.scale(), act.scale(t + j)),
                );
                for (i, d) in d.iter().enumerate() {
                    let y = $crate::kernel::ternary_out(d[j] - sum, f);
                    // SAFETY: kernel contract: (t + j, r + i) is in the caller's region.
                    unsafe { out.write(t + j, r + i, y) };
                }
            }
        }
    };
}
pub(crate) use i2_ops;

i2_ops! {
    features: "sse4.1,ssse3",
    gemv_rows: 2,
    gemm_rows: 2,
    gemm_tokens: [4, 3, 2, 1],
}

/// Blocks between widenings in `gemv_rows`: a block adds at most 4 × 2 × 2048 = 16384 to a
/// `hi` lane (module doc).
const GEMV_WIDEN: usize = 1;
/// Blocks between widenings in `tile`: a block adds at most 4 × 4 × 512 = 8192 to a lane.
const GEMM_WIDEN: usize = 2;

/// The four i32 lane sums of each vector: `[Σv0, Σv1, Σv2, Σv3]`.
#[inline]
#[target_feature(enable = "sse4.1,ssse3")]
fn hsum4(v: [__m128i; 4]) -> [i32; 4] {
    let h = _mm_hadd_epi32(_mm_hadd_epi32(v[0], v[1]), _mm_hadd_epi32(v[2], v[3]));
    [
        _mm_extract_epi32::<0>(h),
        _mm_extract_epi32::<1>(h),
        _mm_extract_epi32::<2>(h),
        _mm_extract_epi32::<3>(h),
    ]
}

/// The lane sums of `N` vectors.
#[inline]
#[target_feature(enable = "sse4.1,ssse3")]
fn hsum<const N: usize>(v: &[__m128i; N]) -> [i32; N] {
    let mut o = [0; N];
    for (o, v) in o.chunks_mut(4).zip(v.chunks(4)) {
        let mut x = [_mm_setzero_si128(); 4];
        x[..v.len()].copy_from_slice(v);
        o.copy_from_slice(&hsum4(x)[..o.len()]);
    }
    o
}

/// The codes of weights `d*64 ..` of a 16-byte part (shift by `2d`, mask 3).
#[inline]
#[target_feature(enable = "sse4.1,ssse3")]
fn codes(w: __m128i, d: usize) -> __m128i {
    let m3 = _mm_set1_epi8(3);
    match d {
        0 => _mm_and_si128(w, m3),
        1 => _mm_and_si128(_mm_srli_epi16::<2>(w), m3),
        2 => _mm_and_si128(_mm_srli_epi16::<4>(w), m3),
        _ => _mm_and_si128(_mm_srli_epi16::<6>(w), m3),
    }
}

/// `Σ code·q` of `R` rows with one activation row (module doc: `lo`/`hi` sums).
///
/// # Safety
/// `R` rows of `nblk` blocks at `w`, `rs` bytes apart, and `nblk * 256` bytes at `a`.
#[inline]
#[target_feature(enable = "sse4.1,ssse3")]
unsafe fn gemv_rows<const R: usize>(
    w: *const u8,
    rs: usize,
    a: *const i8,
    nblk: usize,
) -> [i32; R] {
    // The prefetch distance of each row stream, bytes (0: none).
    let pf = crate::tune::gemv_prefetch(crate::format::Format::I2);
    let (m03, m0c) = (_mm_set1_epi8(0x03), _mm_set1_epi8(0x0C));
    let (ones, fours) = (_mm_set1_epi16(1), _mm_set1_epi16(4));
    let mut acc = [_mm_setzero_si128(); R];
    let mut b = 0;
    while b < nblk {
        let end = (b + GEMV_WIDEN).min(nblk);
        let (mut lo, mut hi) = ([_mm_setzero_si128(); R], [_mm_setzero_si128(); R]);
        while b < end {
            prefetch_ahead::<R>(w, rs, b, pf);
            for h in (0..BLOCK_BYTES).step_by(16) {
                let mut av = [_mm_setzero_si128(); 4];
                for (d, v) in av.iter_mut().enumerate() {
                    // SAFETY: b < nblk: inside the activation row's nblk*256 bytes.
                    *v = unsafe { _mm_loadu_si128(a.add(b * BLOCK + d * 64 + h).cast()) };
                }
                for r in 0..R {
                    // SAFETY: row r < R, block b < nblk.
                    let wv = unsafe { _mm_loadu_si128(w.add(r * rs + b * BLOCK_BYTES + h).cast()) };
                    let w4 = _mm_srli_epi16::<4>(wv);
                    let l = _mm_add_epi16(
                        _mm_maddubs_epi16(_mm_and_si128(wv, m03), av[0]),
                        _mm_maddubs_epi16(_mm_and_si128(w4, m03), av[2]),
                    );
                    let u = _mm_add_epi16(
                        _mm_maddubs_epi16(_mm_and_si128(wv, m0c), av[1]),
                        _mm_maddubs_epi16(_mm_and_si128(w4, m0c), av[3]),
                    );
                    lo[r] = _mm_add_epi16(lo[r], l);
                    hi[r] = _mm_add_epi16(hi[r], u);
                }
            }
            b += 1;
        }
        for r in 0..R {
            let x = _mm_add_epi32(_mm_madd_epi16(lo[r], fours), _mm_madd_epi16(hi[r], ones));
            acc[r] = _mm_add_epi32(acc[r], x);
        }
    }
    // Each lane holds exactly 4·Σcode·q.
    let mut s = hsum(&acc);
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
#[inline]
#[target_feature(enable = "sse4.1,ssse3")]
unsafe fn tile<const R: usize, const T: usize>(
    w: *const u8,
    rb: usize,
    a: *const i8,
    stride: usize,
    nblk: usize,
) -> [[i32; T]; R] {
    let ones = _mm_set1_epi16(1);
    let mut acc = [[_mm_setzero_si128(); T]; R];
    let mut b = 0;
    while b < nblk {
        let end = (b + GEMM_WIDEN).min(nblk);
        let mut s = [[_mm_setzero_si128(); T]; R];
        while b < end {
            for h in (0..BLOCK_BYTES).step_by(16) {
                let mut wv = [_mm_setzero_si128(); R];
                for (r, v) in wv.iter_mut().enumerate() {
                    // SAFETY: row r < R, block b < nblk.
                    *v = unsafe { _mm_loadu_si128(w.add(r * rb + b * BLOCK_BYTES + h).cast()) };
                }
                for d in 0..4 {
                    let mut av = [_mm_setzero_si128(); T];
                    for (t, v) in av.iter_mut().enumerate() {
                        // SAFETY: token row t < T, inside its nblk*256 bytes.
                        *v = unsafe {
                            _mm_loadu_si128(a.add(t * stride + b * BLOCK + d * 64 + h).cast())
                        };
                    }
                    for (s, &wv) in s.iter_mut().zip(&wv) {
                        let c = codes(wv, d);
                        for (s, &av) in s.iter_mut().zip(&av) {
                            *s = _mm_add_epi16(*s, _mm_maddubs_epi16(c, av));
                        }
                    }
                }
            }
            b += 1;
        }
        for (acc, s) in acc.iter_mut().zip(&s) {
            for (acc, &s) in acc.iter_mut().zip(s) {
                *acc = _mm_add_epi32(*acc, _mm_madd_epi16(s, ones));
            }
        }
    }
    let mut o = [[0; T]; R];
    for (o, acc) in o.iter_mut().zip(&acc) {
        *o = hsum(acc);
    }
    o
}
