//! `i2` kernels at the `avx2` level (AVX2, 256-bit): the `sse41` algorithm on 32-byte halves
//! of each 64-byte block. The drivers come from [`crate::x86::sse41::i2::i2_ops`].
//!
//! **Unpack.** The half of a block at offset `h` (0 or 32) holds in bits `2d+1..2d` of byte
//! `j` the code (`w + 1`) of weight `h + d*64 + j`, so one 32-byte load, a 16-bit shift by 4
//! (or by 2, 4, 6 in `gemm`) and byte masks give the codes of four contiguous 32-byte runs of
//! activations.
//!
//! **Accumulation (exact).** `vpmaddubsw(codes_u8, act_i8)` into i16, `Σ code·q − Σq` by the
//! driver. `gemv` keeps `lo` (codes of `d = 0, 2`, pairs ≤ 512 in magnitude) and `hi` (`w & 0x0C`
//! and `w4 & 0x0C`: four times the codes of `d = 1, 3`, pairs ≤ 2048); a block adds at most
//! 2 halves × 2 × 2048 = 8192 to a `hi` lane, so the sums are widened every 2 blocks
//! (≤ 16384) with `vpmaddwd(lo, 4) + vpmaddwd(hi, 1)`; the i32 lanes hold exactly
//! 4·Σcode·q and the total is shifted right by 2. `gemm` uses plain codes (shift, mask 3):
//! a block adds at most 2 × 4 × 512 = 4096 to a lane, widened every 4 blocks (≤ 16384).
//!
//! **Tiling.** `gemv` runs 2 rows at a time (shared activation loads; 16 registers hold the
//! `lo`, `hi` and i32 sums of two rows plus four activation vectors), half the row range
//! apart, so the weights stream sequentially (see [`crate::x86::sse41::i2::i2_ops`]); `gemm` computes 2 rows × 4 tokens per tile, each unpacked code vector feeding 4
//! `vpmaddubsw`.

use std::arch::x86_64::*;

use crate::format::i2::{BLOCK, BLOCK_BYTES};
use crate::x86::sse41::i2::{i2_ops, prefetch_ahead};

i2_ops! {
    features: "avx2,fma,f16c",
    gemv_rows: 2,
    gemm_rows: 2,
    gemm_tokens: [4, 3, 2, 1],
}

/// Blocks between widenings in `gemv_rows` (≤ 2 × 8192 per `hi` lane).
const GEMV_WIDEN: usize = 2;
/// Blocks between widenings in `tile` (≤ 4 × 4096 per lane).
const GEMM_WIDEN: usize = 4;

/// The four i32 lane sums of each vector: `[Σv0, Σv1, Σv2, Σv3]`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn hsum4(v: [__m256i; 4]) -> [i32; 4] {
    let h = _mm256_hadd_epi32(_mm256_hadd_epi32(v[0], v[1]), _mm256_hadd_epi32(v[2], v[3]));
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
#[target_feature(enable = "avx2,fma,f16c")]
fn hsum<const N: usize>(v: &[__m256i; N]) -> [i32; N] {
    let mut o = [0; N];
    for (o, v) in o.chunks_mut(4).zip(v.chunks(4)) {
        let mut x = [_mm256_setzero_si256(); 4];
        x[..v.len()].copy_from_slice(v);
        o.copy_from_slice(&hsum4(x)[..o.len()]);
    }
    o
}

/// The codes of weights `d*64 ..` of a 32-byte half (shift by `2d`, mask 3).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn codes(w: __m256i, d: usize) -> __m256i {
    let m3 = _mm256_set1_epi8(3);
    match d {
        0 => _mm256_and_si256(w, m3),
        1 => _mm256_and_si256(_mm256_srli_epi16::<2>(w), m3),
        2 => _mm256_and_si256(_mm256_srli_epi16::<4>(w), m3),
        _ => _mm256_and_si256(_mm256_srli_epi16::<6>(w), m3),
    }
}

/// `Σ code·q` of `R` rows with one activation row (module doc: `lo`/`hi` sums).
///
/// # Safety
/// `R` rows of `nblk` blocks at `w`, `rs` bytes apart, and `nblk * 256` bytes at `a`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn gemv_rows<const R: usize>(
    w: *const u8,
    rs: usize,
    a: *const i8,
    nblk: usize,
) -> [i32; R] {
    // The prefetch distance of each row stream, bytes (0: none).
    let pf = crate::tune::gemv_prefetch(crate::format::Format::I2);
    let (m03, m0c) = (_mm256_set1_epi8(0x03), _mm256_set1_epi8(0x0C));
    let (ones, fours) = (_mm256_set1_epi16(1), _mm256_set1_epi16(4));
    let mut acc = [_mm256_setzero_si256(); R];
    let mut b = 0;
    while b < nblk {
        let end = (b + GEMV_WIDEN).min(nblk);
        let (mut lo, mut hi) = ([_mm256_setzero_si256(); R], [_mm256_setzero_si256(); R]);
        while b < end {
            prefetch_ahead::<R>(w, rs, b, pf);
            for h in [0, 32] {
                let mut av = [_mm256_setzero_si256(); 4];
                for (d, v) in av.iter_mut().enumerate() {
                    // SAFETY: b < nblk: inside the activation row's nblk*256 bytes.
                    *v = unsafe { _mm256_loadu_si256(a.add(b * BLOCK + d * 64 + h).cast()) };
                }
                for r in 0..R {
                    // SAFETY: row r < R, block b < nblk.
                    let wv =
                        unsafe { _mm256_loadu_si256(w.add(r * rs + b * BLOCK_BYTES + h).cast()) };
                    let w4 = _mm256_srli_epi16::<4>(wv);
                    let l = _mm256_add_epi16(
                        _mm256_maddubs_epi16(_mm256_and_si256(wv, m03), av[0]),
                        _mm256_maddubs_epi16(_mm256_and_si256(w4, m03), av[2]),
                    );
                    let u = _mm256_add_epi16(
                        _mm256_maddubs_epi16(_mm256_and_si256(wv, m0c), av[1]),
                        _mm256_maddubs_epi16(_mm256_and_si256(w4, m0c), av[3]),
                    );
                    lo[r] = _mm256_add_epi16(lo[r], l);
                    hi[r] = _mm256_add_epi16(hi[r], u);
                }
            }
            b += 1;
        }
        for r in 0..R {
            let x = _mm256_add_epi32(
                _mm256_madd_epi16(lo[r], fours),
                _mm256_madd_epi16(hi[r], ones),
            );
            acc[r] = _mm256_add_epi32(acc[r], x);
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
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn tile<const R: usize, const T: usize>(
    w: *const u8,
    rb: usize,
    a: *const i8,
    stride: usize,
    nblk: usize,
) -> [[i32; T]; R] {
    let ones = _mm256_set1_epi16(1);
    let mut acc = [[_mm256_setzero_si256(); T]; R];
    let mut b = 0;
    while b < nblk {
        let end = (b + GEMM_WIDEN).min(nblk);
        let mut s = [[_mm256_setzero_si256(); T]; R];
        while b < end {
            for h in [0, 32] {
                let mut wv = [_mm256_setzero_si256(); R];
                for (r, v) in wv.iter_mut().enumerate() {
                    // SAFETY: row r < R, block b < nblk.
                    *v = unsafe { _mm256_loadu_si256(w.add(r * rb + b * BLOCK_BYTES + h).cast()) };
                }
                for d in 0..4 {
                    let mut av = [_mm256_setzero_si256(); T];
                    for (t, v) in av.iter_mut().enumerate() {
                        // SAFETY: token row t < T, inside its nblk*256 bytes.
                        *v = unsafe {
                            _mm256_loadu_si256(a.add(t * stride + b * BLOCK + d * 64 + h).cast())
                        };
                    }
                    for (s, &wv) in s.iter_mut().zip(&wv) {
                        let c = codes(wv, d);
                        for (s, &av) in s.iter_mut().zip(&av) {
                            *s = _mm256_add_epi16(*s, _mm256_maddubs_epi16(c, av));
                        }
                    }
                }
            }
            b += 1;
        }
        for (acc, s) in acc.iter_mut().zip(&s) {
            for (acc, &s) in acc.iter_mut().zip(s) {
                *acc = _mm256_add_epi32(*acc, _mm256_madd_epi16(s, ones));
            }
        }
    }
    let mut o = [[0; T]; R];
    for (o, acc) in o.iter_mut().zip(&acc) {
        *o = hsum(acc);
    }
    o
}
