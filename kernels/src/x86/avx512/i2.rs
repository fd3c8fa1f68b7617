//! `i2` kernels at the `avx512` level (AVX-512 F/BW/VL, 512-bit, no VNNI): the `sse41`
//! algorithm with one 64-byte register per block. The drivers come from
//! [`crate::x86::sse41::i2::i2_ops`].
//!
//! **Unpack.** One 64-byte load is a whole block: byte `j` holds in bits `2d+1..2d` the code
//! (`w + 1`) of weight `d*64 + j`, so a 16-bit shift by `2d` (`vpsrlw` moves bits across byte
//! boundaries; the byte mask removes them) and a mask give the codes that line up with the
//! block's four contiguous 64-byte runs of activations.
//!
//! **Accumulation (exact).** `vpmaddubsw(codes_u8, act_i8)` into i16 (no VNNI here), then
//! `Σ code·q − Σq` by the driver. `gemv` keeps `lo` (codes of `d = 0, 2`: `w & 3`,
//! `(w >> 4) & 3`; pairs ≤ 512 in magnitude) and `hi` (`w & 0x0C`, `(w >> 4) & 0x0C`: four
//! times the codes of `d = 1, 3`; pairs ≤ 2048) so a block costs one shift and four masks; a
//! block adds at most 2 × 2048 to a `hi` lane, widened every 4 blocks (≤ 16384) by
//! `vpmaddwd(lo, 4) + vpmaddwd(hi, 1)` into i32 lanes holding exactly 4·Σcode·q, shifted right
//! by 2 at the end. `gemm` uses plain codes (shift by `2d`, mask 3), at most 4 × 512 = 2048
//! per block and lane, widened every 8 blocks (≤ 16384).
//!
//! **Tiling.** `gemv` runs 4 rows at a time (four shared activation loads per block; 12 sums
//! live in the 32 registers), a quarter of the row range apart so the weights are read as four
//! sequential streams (see [`crate::x86::sse41::i2::i2_ops`]); `gemm` computes 2 rows × 6 tokens
//! per tile, each unpacked code vector feeding 6 `vpmaddubsw` (measured faster here than 4 × 4,
//! whose 16 i16 and 16 i32 sums do not fit the registers together).

use std::arch::x86_64::*;

use crate::format::i2::{BLOCK, BLOCK_BYTES};
use crate::x86::sse41::i2::{i2_ops, prefetch_ahead};

i2_ops! {
    features: "avx512f,avx512bw,avx512vl,avx2,fma,f16c",
    gemv_rows: 4,
    gemm_rows: 2,
    gemm_tokens: [6, 5, 4, 3, 2, 1],
}

/// Blocks between widenings in `gemv_rows` (≤ 4 × 4096 per `hi` lane).
const GEMV_WIDEN: usize = 4;
/// Blocks between widenings in `tile` (≤ 8 × 2048 per lane).
const GEMM_WIDEN: usize = 8;

/// The four i32 lane sums of each vector: `[Σv0, Σv1, Σv2, Σv3]`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c")]
fn hsum4(v: [__m512i; 4]) -> [i32; 4] {
    let mut y = [_mm256_setzero_si256(); 4];
    for (y, &x) in y.iter_mut().zip(&v) {
        *y = _mm256_add_epi32(_mm512_castsi512_si256(x), _mm512_extracti64x4_epi64::<1>(x));
    }
    let h = _mm256_hadd_epi32(_mm256_hadd_epi32(y[0], y[1]), _mm256_hadd_epi32(y[2], y[3]));
    let x = _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256::<1>(h));
    [
        _mm_extract_epi32::<0>(x),
        _mm_extract_epi32::<1>(x),
        _mm_extract_epi32::<2>(x),
        _mm_extract_epi32::<3>(x),
    ]
}

/// The lane sums of `N` vectors.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c")]
fn hsum<const N: usize>(v: &[__m512i; N]) -> [i32; N] {
    let mut o = [0; N];
    for (o, v) in o.chunks_mut(4).zip(v.chunks(4)) {
        let mut x = [_mm512_setzero_si512(); 4];
        x[..v.len()].copy_from_slice(v);
        o.copy_from_slice(&hsum4(x)[..o.len()]);
    }
    o
}

/// The codes of weights `d*64 ..` of a block (shift by `2d`, mask 3).
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c")]
fn codes(w: __m512i, d: usize) -> __m512i {
    let m3 = _mm512_set1_epi8(3);
    match d {
        0 => _mm512_and_si512(w, m3),
        1 => _mm512_and_si512(_mm512_srli_epi16::<2>(w), m3),
        2 => _mm512_and_si512(_mm512_srli_epi16::<4>(w), m3),
        _ => _mm512_and_si512(_mm512_srli_epi16::<6>(w), m3),
    }
}

/// `Σ code·q` of `R` rows with one activation row (module doc: `lo`/`hi` sums).
///
/// # Safety
/// `R` rows of `nblk` blocks at `w`, `rs` bytes apart, and `nblk * 256` bytes at `a`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c")]
unsafe fn gemv_rows<const R: usize>(
    w: *const u8,
    rs: usize,
    a: *const i8,
    nblk: usize,
) -> [i32; R] {
    // The prefetch distance of each row stream, bytes (0: none).
    let pf = crate::tune::gemv_prefetch(crate::format::Format::I2);
    let (m03, m0c) = (_mm512_set1_epi8(0x03), _mm512_set1_epi8(0x0C));
    let (ones, fours) = (_mm512_set1_epi16(1), _mm512_set1_epi16(4));
    let mut acc = [_mm512_setzero_si512(); R];
    let mut b = 0;
    while b < nblk {
        let end = (b + GEMV_WIDEN).min(nblk);
        let (mut lo, mut hi) = ([_mm512_setzero_si512(); R], [_mm512_setzero_si512(); R]);
        while b < end {
            prefetch_ahead::<R>(w, rs, b, pf);
            let mut av = [_mm512_setzero_si512(); 4];
            for (d, v) in av.iter_mut().enumerate() {
                // SAFETY: b < nblk: inside the activation row's nblk*256 bytes.
                *v = unsafe { _mm512_loadu_si512(a.add(b * BLOCK + d * 64).cast()) };
            }
            for r in 0..R {
                // SAFETY: row r < R, block b < nblk.
                let wv = unsafe { _mm512_loadu_si512(w.add(r * rs + b * BLOCK_BYTES).cast()) };
                let w4 = _mm512_srli_epi16::<4>(wv);
                let l = _mm512_add_epi16(
                    _mm512_maddubs_epi16(_mm512_and_si512(wv, m03), av[0]),
                    _mm512_maddubs_epi16(_mm512_and_si512(w4, m03), av[2]),
                );
                let u = _mm512_add_epi16(
                    _mm512_maddubs_epi16(_mm512_and_si512(wv, m0c), av[1]),
                    _mm512_maddubs_epi16(_mm512_and_si512(w4, m0c), av[3]),
                );
                lo[r] = _mm512_add_epi16(lo[r], l);
                hi[r] = _mm512_add_epi16(hi[r], u);
            }
            b += 1;
        }
        for r in 0..R {
            let x = _mm512_add_epi32(
                _mm512_madd_epi16(lo[r], fours),
                _mm512_madd_epi16(hi[r], ones),
            );
            acc[r] = _mm512_add_epi32(acc[r], x);
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
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c")]
unsafe fn tile<const R: usize, const T: usize>(
    w: *const u8,
    rb: usize,
    a: *const i8,
    stride: usize,
    nblk: usize,
) -> [[i32; T]; R] {
    let ones = _mm512_set1_epi16(1);
    let mut acc = [[_mm512_setzero_si512(); T]; R];
    let mut b = 0;
    while b < nblk {
        let end = (b + GEMM_WIDEN).min(nblk);
        let mut s = [[_mm512_setzero_si512(); T]; R];
        while b < end {
            let mut wv = [_mm512_setzero_si512(); R];
            for (r, v) in wv.iter_mut().enumerate() {
                // SAFETY: row r < R, block b < nblk.
                *v = unsafe { _mm512_loadu_si512(w.add(r * rb + b * BLOCK_BYTES).cast()) };
            }
            for d in 0..4 {
                let mut av = [_mm512_setzero_si512(); T];
                for (t, v) in av.iter_mut().enumerate() {
                    // SAFETY: token row t < T, inside its nblk*256 bytes.
                    *v = unsafe {
                        _mm512_loadu_si512(a.add(t * stride + b * BLOCK + d * 64).cast())
                    };
                }
                for (s, &wv) in s.iter_mut().zip(&wv) {
                    let c = codes(wv, d);
                    for (s, &av) in s.iter_mut().zip(&av) {
                        *s = _mm512_add_epi16(*s, _mm512_maddubs_epi16(c, av));
                    }
                }
            }
            b += 1;
        }
        for (acc, s) in acc.iter_mut().zip(&s) {
            for (acc, &s) in acc.iter_mut().zip(s) {
                *acc = _mm512_add_epi32(*acc, _mm512_madd_epi16(s, ones));
            }
        }
    }
    let mut o = [[0; T]; R];
    for (o, acc) in o.iter_mut().zip(&acc) {
        *o = hsum(acc);
    }
    o
}
