//! `f16` kernels at the `sse41` level: no F16C and no FMA here, so halves are widened with
//! integer SSE2 operations and accumulated with separate multiply and add (f32, 4 lanes).
//!
//! **Half → float** ([`half4`], the shift + magic-multiply method): with the half `h` in the top
//! 16 bits of a 32-bit lane, `(h & 0x7fff) << 13` puts its exponent and mantissa in the f32
//! fields; read as an f32 that is `value · 2⁻¹¹²` for normals and subnormals alike (a half
//! subnormal becomes an f32 subnormal), so one multiply by 2¹¹² rescales it exactly. Inf and NaN
//! (half exponent 31) get the f32 exponent forced to 255, keeping the mantissa (payload); the
//! sign is or-ed back last. Exact for every half. (It relies on the default MXCSR: no
//! denormals-are-zero.)
//!
//! **gemv** (decode): the [`crate::x86::drive::f16`] driver on [`GEMV_ROWS`] row streams;
//! software prefetch measured slower than the hardware prefetchers alone, so there is none. Each
//! step widens 8 weights (16 bytes) per row into two accumulators per row; the widening costs ~9
//! operations per 4 weights, so at this level gemv is compute-bound rather than memory-bound.
//!
//! **gemm** (prefill). The widening is done once per weight, not once per token tile: for each
//! column block and group of [`TILE_R`] rows, the rows' halves are widened into an aligned f32
//! buffer on the stack, then every token runs through register tiles of [`TILE_R`] rows ×
//! [`TILE_T`] tokens (dot-product form, 4-lane accumulators) that load the buffered weights and
//! the activations with aligned loads. The first column block writes the outputs, later ones add.

use std::arch::x86_64::*;

use crate::act::ActF32;
use crate::format::f16::F16Matrix;
use crate::kernel::{Ops, Out};
use crate::x86::drive::{self, f16::F16};
use crate::x86::sse41::Sse41;

pub(crate) const OPS: Option<Ops<F16Matrix, ActF32>> = Some(Ops { gemv, gemm });

/// Rows sharing each activation load in gemv.
const GEMV_ROWS: usize = 4;
/// Rows of a gemm group (widened together; the register tile's rows).
const TILE_R: usize = 4;
/// Tokens of the gemm register tile.
const TILE_T: usize = 2;
/// Columns per gemm block (the stack buffer holds `TILE_R · KC` floats).
const KC: usize = 512;

/// Widens four halves held in the high 16 bits of each 32-bit lane (see the module doc).
#[inline]
#[target_feature(enable = "sse4.1,ssse3")]
fn half4(v: __m128i) -> __m128 {
    let sign = _mm_and_si128(v, _mm_set1_epi32(i32::MIN));
    // (h & 0x7fff) << 13: shifting left by one drops the sign, right by four lands it.
    let em = _mm_srli_epi32::<4>(_mm_slli_epi32::<1>(v));
    let scaled = _mm_mul_ps(
        _mm_castsi128_ps(em),
        _mm_castsi128_ps(_mm_set1_epi32(0x7780_0000)), // 2^112
    );
    // Half exponent 31 (inf/NaN): everything above the largest finite half, 0x7bff.
    let infnan = _mm_cmpgt_epi32(em, _mm_set1_epi32(0x7bff << 13));
    let exp255 = _mm_and_si128(infnan, _mm_set1_epi32(0x7f80_0000));
    _mm_castsi128_ps(_mm_or_si128(
        _mm_or_si128(_mm_castps_si128(scaled), exp255),
        sign,
    ))
}

/// Eight halves at `p`, widened: (first four, last four).
///
/// # Safety
/// `p` must be valid for reading 8 `u16` and 16-byte aligned.
#[inline]
#[target_feature(enable = "sse4.1,ssse3")]
unsafe fn load_w(p: *const u16) -> (__m128, __m128) {
    // SAFETY: forwarded to the caller.
    let h = unsafe { _mm_load_si128(p as *const __m128i) };
    let z = _mm_setzero_si128();
    (
        half4(_mm_unpacklo_epi16(z, h)),
        half4(_mm_unpackhi_epi16(z, h)),
    )
}

/// `[Σa, Σb, Σc, Σd]`.
#[inline]
#[target_feature(enable = "sse4.1,ssse3")]
fn hsum4(a: __m128, b: __m128, c: __m128, d: __m128) -> __m128 {
    _mm_hadd_ps(_mm_hadd_ps(a, b), _mm_hadd_ps(c, d))
}

/// Writes (or, unless `first`, adds) the sums of four accumulators `a` to the consecutive
/// outputs at `o` (only the first `n`).
///
/// # Safety
/// `o` valid for `n` floats (already written unless `first`).
#[inline]
#[target_feature(enable = "sse4.1,ssse3")]
unsafe fn store4(a: [__m128; 4], n: usize, o: *mut f32, first: bool) {
    let mut s = [0f32; 4];
    // SAFETY: `s` holds four floats.
    unsafe { _mm_storeu_ps(s.as_mut_ptr(), hsum4(a[0], a[1], a[2], a[3])) };
    for (i, v) in s.iter().enumerate().take(n) {
        // SAFETY: i < n: inside the caller's region.
        unsafe { *o.add(i) = if first { *v } else { *o.add(i) + v } };
    }
}

/// gemv entry point: the [`crate::x86::drive::f16`] driver with this level's token.
///
/// # Safety
/// Kernel contract ([`crate::kernel`]); the CPU has this level's features.
#[target_feature(enable = "sse4.1,ssse3")]
unsafe fn gemv(m: &F16Matrix, r0: usize, r1: usize, act: &ActF32, out: Out) {
    // SAFETY: the CPU has the level's features (contract above).
    let l = unsafe { Sse41::new() };
    // SAFETY: forwarded kernel contract.
    unsafe { drive::f16::gemv::<_, GEMV_ROWS>(l, m, r0, r1, act, out) }
}

impl F16 for Sse41 {
    type F = __m128;
    const LANES: usize = 4;
    const PAIRS: usize = 1;
    const GEMV_PREFETCH: bool = false;

    #[inline(always)]
    fn fzero(self) -> __m128 {
        // SAFETY: the token proves the features.
        unsafe { _mm_setzero_ps() }
    }

    #[inline(always)]
    fn fadd(self, a: __m128, b: __m128) -> __m128 {
        // SAFETY: the token proves the features.
        unsafe { _mm_add_ps(a, b) }
    }

    #[inline(always)]
    fn mac(self, acc: __m128, w: __m128, x: __m128) -> __m128 {
        // SAFETY: the token proves the features.
        unsafe { _mm_add_ps(acc, _mm_mul_ps(w, x)) }
    }

    #[inline(always)]
    unsafe fn load_x(self, p: *const f32) -> __m128 {
        // SAFETY: readable and 16-byte aligned (caller); the token proves the features.
        unsafe { _mm_load_ps(p) }
    }

    #[inline(always)]
    unsafe fn load_w2(self, p: *const u16) -> (__m128, __m128) {
        // SAFETY: readable and aligned (caller); the token proves the features.
        unsafe { load_w(p) }
    }

    #[inline(always)]
    fn hsum4(self, [a, b, c, d]: [__m128; 4]) -> [f32; 4] {
        let mut s = [0f32; 4];
        // SAFETY: the token proves the features; `s` holds four floats.
        unsafe { _mm_storeu_ps(s.as_mut_ptr(), hsum4(a, b, c, d)) };
        s
    }
}

/// A group's widened weights: `TILE_R` rows of `KC` floats.
#[repr(C, align(64))]
struct WBuf([f32; TILE_R * KC]);

/// gemm: column blocks × row groups (widened once) × token tiles.
///
/// # Safety
/// Kernel contract ([`crate::kernel`]); the CPU has this level's features.
#[target_feature(enable = "sse4.1,ssse3")]
unsafe fn gemm(m: &F16Matrix, r0: usize, r1: usize, act: &ActF32, out: Out) {
    let kp = m.padded_cols();
    let w = m.data().as_ptr();
    let x = act.data().as_ptr();
    let (xs, batch) = (act.stride(), act.batch());
    let mut buf = WBuf([0.0; TILE_R * KC]);
    let b = buf.0.as_mut_ptr();
    let mut k0 = 0;
    while k0 < kp {
        let k1 = (k0 + KC).min(kp);
        let first = k0 == 0;
        let mut r = r0;
        while r < r1 {
            let nr = (r1 - r).min(TILE_R);
            // Widen rows r..r+nr, columns k0..k1, into the buffer (row i at b + i*KC).
            for i in 0..nr {
                let mut k = k0;
                while k < k1 {
                    // SAFETY: row r+i exists, k + 8 <= k1 <= kp, aligned (kp and k multiples
                    // of 8 halves); the buffer holds KC floats per row, k - k0 + 8 <= KC.
                    unsafe {
                        let (lo, hi) = load_w(w.add((r + i) * kp + k));
                        let d = b.add(i * KC + k - k0);
                        _mm_store_ps(d, lo);
                        _mm_store_ps(d.add(4), hi);
                    }
                    k += 8;
                }
            }
            let mut t = 0;
            while t < batch {
                let nt = if batch - t >= TILE_T { TILE_T } else { 1 };
                // SAFETY: buffer rows 0..nr hold columns k0..k1 (rows nr..TILE_R hold stale
                // but initialised floats whose sums are dropped); tokens t..t+nt exist, their
                // rows hold `kp` aligned floats; outputs (t.., r..r+nr) valid, written by the
                // first block before later blocks add.
                unsafe {
                    let xt = x.add(t * xs + k0);
                    let o = out.ptr.add(t * out.ld + r);
                    if nt == TILE_T {
                        tile::<TILE_T>(b, xt, xs, k1 - k0, o, out.ld, nr, first);
                    } else {
                        tile::<1>(b, xt, xs, k1 - k0, o, out.ld, nr, first);
                    }
                }
                t += nt;
            }
            r += nr;
        }
        k0 = k1;
    }
}

/// One register tile: the buffered `TILE_R` rows × `T` tokens (at `x`, `xs` apart) over `kn`
/// columns; writes (or adds) the first `nr` rows' sums to `o` (token `j` at `o + j·ld`).
///
/// # Safety
/// `b` holds `TILE_R` rows of at least `kn` floats `KC` apart; `x` valid for `T` rows of `kn`
/// floats; both 16-byte aligned; outputs valid (written already unless `first`).
#[allow(clippy::too_many_arguments)]
#[inline]
#[target_feature(enable = "sse4.1,ssse3")]
unsafe fn tile<const T: usize>(
    b: *const f32,
    x: *const f32,
    xs: usize,
    kn: usize,
    o: *mut f32,
    ld: usize,
    nr: usize,
    first: bool,
) {
    let z = _mm_setzero_ps();
    let mut acc = [[z; TILE_R]; T];
    let mut k = 0;
    while k < kn {
        // SAFETY: k + 4 <= kn: inside the buffer rows and the activation rows; aligned.
        unsafe {
            let mut wv = [z; TILE_R];
            for (i, v) in wv.iter_mut().enumerate() {
                *v = _mm_load_ps(b.add(i * KC + k));
            }
            for (j, a) in acc.iter_mut().enumerate() {
                let xv = _mm_load_ps(x.add(j * xs + k));
                for (ai, wi) in a.iter_mut().zip(&wv) {
                    *ai = _mm_add_ps(*ai, _mm_mul_ps(*wi, xv));
                }
            }
        }
        k += 4;
    }
    for (j, a) in acc.iter().enumerate() {
        // SAFETY: outputs (j, 0..nr) relative to `o` are valid (caller).
        unsafe { store4(*a, nr, o.add(j * ld), first) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every one of the 65536 halves widens to the exact float (NaNs keep sign and payload).
    #[test]
    fn half4_is_exact_for_every_half() {
        if !(is_x86_feature_detected!("sse4.1") && is_x86_feature_detected!("ssse3")) {
            return;
        }
        for base in (0..=u16::MAX).step_by(8) {
            let h: [u16; 8] = std::array::from_fn(|i| base + i as u16);
            let mut got = [0f32; 8];
            // SAFETY: the features were detected above; `h` and `got` hold 8 values (an aligned
            // copy is used for the aligned load).
            unsafe {
                #[repr(align(16))]
                struct A([u16; 8]);
                let a = A(h);
                let (lo, hi) = load_w(a.0.as_ptr());
                _mm_storeu_ps(got.as_mut_ptr(), lo);
                _mm_storeu_ps(got.as_mut_ptr().add(4), hi);
            }
            for (&b, g) in h.iter().zip(got) {
                let v = half::f16::from_bits(b);
                let want = if v.is_nan() {
                    (u32::from(b & 0x8000) << 16) | 0x7f80_0000 | (u32::from(b & 0x3ff) << 13)
                } else {
                    v.to_f32().to_bits()
                };
                assert_eq!(g.to_bits(), want, "half {b:#06x}");
            }
        }
    }
}
