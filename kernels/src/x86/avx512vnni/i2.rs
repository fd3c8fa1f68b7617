//! `i2` kernels at the `avx512vnni` level (AVX-512 F/BW/VL + VNNI `vpdpbusd`). The drivers
//! come from [`crate::x86::sse41::i2::i2_ops`].
//!
//! **Unpack.** One 64-byte load is a whole block: byte `j` holds in bits `2d+1..2d` the code
//! (`w + 1`, 0..=2) of weight `d*64 + j`, so the codes of the block's four contiguous 64-byte
//! runs of activations are bit fields of one register.
//!
//! **Accumulation (exact).** `vpdpbusd(acc, codes_u8, act_i8)` adds four u8×i8 products
//! straight into each i32 lane, so nothing is ever held in i16; the driver subtracts `Σq`
//! (`code = w + 1`).
//! * `gemv` does not shift at all: `w & 0x03`, `w & 0x0C`, `w & 0x30`, `w & 0xC0` are
//!   `4^d · code_d`, each ≤ 128, so a product is ≤ 128·128 in magnitude and every block adds
//!   at most 4·16384 to a lane of the `d = 3` sum: i32 holds 32768 blocks (8.4 M columns).
//!   Each of the four sums per row stays a multiple of `4^d` lane by lane, so
//!   `s0 + (s1 >> 2) + (s2 >> 4) + (s3 >> 6)` (arithmetic shifts) is exactly `Σ code·q`.
//!   A row-block thus costs one load, four `vpandd` and four `vpdpbusd`, and the four sums are
//!   independent dependency chains.
//! * `gemm` needs one sum per (row, token), so it unpacks plain codes once per row-block
//!   (shift by `2d`, mask 3) and reuses each for every token of the tile.
//!
//! **Tiling.** `gemv` runs 4 rows at a time: 16 sums, four activation vectors loaded once per
//! block for the four rows. The four rows lie a quarter of the row range apart, so the weights
//! are read as four long sequential streams, which the hardware prefetchers follow (each also
//! prefetched 1 KiB ahead); four consecutive rows would be four short interleaved streams that
//! they do not follow (measured 0.75-0.8 of read bandwidth on one core, against 0.9-1.1).
//! `gemm` computes 4 rows × 4 tokens per tile: per block
//! 4 weight loads, 28 unpack operations (3 shifts and 4 masks per row), 16 activation loads
//! and 64 `vpdpbusd` into 16 independent sums.

use std::arch::x86_64::*;

use crate::format::i2::{BLOCK, BLOCK_BYTES};
use crate::x86::sse41::i2::{i2_ops, prefetch_ahead};

i2_ops! {
    features: "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c",
    gemv_rows: 4,
    gemm_rows: 4,
    gemm_tokens: [4, 3, 2, 1],
}

/// The four i32 lane sums of each vector: `[Σv0, Σv1, Σv2, Σv3]`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
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
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
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
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
fn codes(w: __m512i, d: usize) -> __m512i {
    let m3 = _mm512_set1_epi8(3);
    match d {
        0 => _mm512_and_si512(w, m3),
        1 => _mm512_and_si512(_mm512_srli_epi16::<2>(w), m3),
        2 => _mm512_and_si512(_mm512_srli_epi16::<4>(w), m3),
        _ => _mm512_and_si512(_mm512_srli_epi16::<6>(w), m3),
    }
}

/// `Σ code·q` of `R` rows with one activation row (module doc: four `4^d`-scaled sums).
///
/// # Safety
/// `R` rows of `nblk` blocks at `w`, `rs` bytes apart, and `nblk * 256` bytes at `a`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn gemv_rows<const R: usize>(
    w: *const u8,
    rs: usize,
    a: *const i8,
    nblk: usize,
) -> [i32; R] {
    // The prefetch distance of each row stream, bytes (0: none).
    let pf = crate::tune::gemv_prefetch(crate::format::Format::I2);
    let masks = [
        _mm512_set1_epi8(0x03),
        _mm512_set1_epi8(0x0C),
        _mm512_set1_epi8(0x30),
        _mm512_set1_epi8(0xC0u8 as i8),
    ];
    let mut acc = [[_mm512_setzero_si512(); 4]; R];
    for b in 0..nblk {
        prefetch_ahead::<R>(w, rs, b, pf);
        let mut av = [_mm512_setzero_si512(); 4];
        for (d, v) in av.iter_mut().enumerate() {
            // SAFETY: b < nblk: inside the activation row's nblk*256 bytes.
            *v = unsafe { _mm512_loadu_si512(a.add(b * BLOCK + d * 64).cast()) };
        }
        for (r, acc) in acc.iter_mut().enumerate() {
            // SAFETY: row r < R, block b < nblk.
            let wv = unsafe { _mm512_loadu_si512(w.add(r * rs + b * BLOCK_BYTES).cast()) };
            for d in 0..4 {
                acc[d] = _mm512_dpbusd_epi32(acc[d], _mm512_and_si512(wv, masks[d]), av[d]);
            }
        }
    }
    // Undo the 4^d scales lane by lane (exact: each lane is a multiple of its scale).
    let mut s = [_mm512_setzero_si512(); R];
    for (s, &[s0, s1, s2, s3]) in s.iter_mut().zip(&acc) {
        *s = _mm512_add_epi32(
            _mm512_add_epi32(s0, _mm512_srai_epi32::<2>(s1)),
            _mm512_add_epi32(_mm512_srai_epi32::<4>(s2), _mm512_srai_epi32::<6>(s3)),
        );
    }
    hsum(&s)
}

/// `Σ code·q` of `R` rows × `T` activation rows (module doc).
///
/// # Safety
/// `R` rows of `nblk` blocks at `w`, `rb` bytes apart; `T` rows of at least `nblk * 256`
/// bytes at `a`, `stride` bytes apart.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn tile<const R: usize, const T: usize>(
    w: *const u8,
    rb: usize,
    a: *const i8,
    stride: usize,
    nblk: usize,
) -> [[i32; T]; R] {
    let mut acc = [[_mm512_setzero_si512(); T]; R];
    for b in 0..nblk {
        let mut wv = [_mm512_setzero_si512(); R];
        for (r, v) in wv.iter_mut().enumerate() {
            // SAFETY: row r < R, block b < nblk.
            *v = unsafe { _mm512_loadu_si512(w.add(r * rb + b * BLOCK_BYTES).cast()) };
        }
        for d in 0..4 {
            let mut av = [_mm512_setzero_si512(); T];
            for (t, v) in av.iter_mut().enumerate() {
                // SAFETY: token row t < T, inside its nblk*256 bytes.
                *v = unsafe { _mm512_loadu_si512(a.add(t * stride + b * BLOCK + d * 64).cast()) };
            }
            for (acc, &wv) in acc.iter_mut().zip(&wv) {
                let c = codes(wv, d);
                for (acc, &av) in acc.iter_mut().zip(&av) {
                    *acc = _mm512_dpbusd_epi32(*acc, c, av);
                }
            }
        }
    }
    let mut o = [[0; T]; R];
    for (o, acc) in o.iter_mut().zip(&acc) {
        *o = hsum(acc);
    }
    o
}
