//! `q4` kernels at the `sse41` level: the [`crate::x86::drive::q4`] driver on 16-byte quarters of
//! each 64-byte chunk (`pmaddubsw`), f32 block scaling with separate multiply and add; no F16C,
//! so the scales are widened with the portable conversion.
//!
//! gemv runs 4 row streams; gemm tiles are 2 rows × 2 tokens.

use std::arch::x86_64::*;

use crate::act::ActQ8;
use crate::format::q4::Q4Matrix;
use crate::x86::drive::q4::Q4;
use crate::x86::drive::{self, entries};
use crate::x86::sse41::Sse41;

entries! {
    features: "sse4.1,ssse3",
    token: Sse41,
    matrix: Q4Matrix,
    act: ActQ8,
    gemv: drive::q4::gemv::<_, 4>,
    gemm: drive::q4::gemm::<_, 2, 2>,
}

impl Q4 for Sse41 {
    type F = __m128;
    const LANES: usize = 4;

    #[inline(always)]
    fn fzero(self) -> __m128 {
        // SAFETY: the token proves the features.
        unsafe { _mm_setzero_ps() }
    }

    #[inline(always)]
    fn cvt(self, v: __m128i) -> __m128 {
        // SAFETY: the token proves the features.
        unsafe { _mm_cvtepi32_ps(v) }
    }

    #[inline(always)]
    fn fmac(self, acc: __m128, x: __m128, d: f32) -> __m128 {
        // SAFETY: the token proves the features.
        unsafe { _mm_add_ps(acc, _mm_mul_ps(x, _mm_set1_ps(d))) }
    }

    #[inline(always)]
    fn fmul_add(self, acc: __m128, x: __m128, y: __m128) -> __m128 {
        // SAFETY: the token proves the features.
        unsafe { _mm_add_ps(acc, _mm_mul_ps(x, y)) }
    }

    #[inline(always)]
    unsafe fn loadf(self, p: *const f32) -> __m128 {
        // SAFETY: readable (caller); the token proves the features.
        unsafe { _mm_loadu_ps(p) }
    }

    #[inline(always)]
    fn fsum(self, v: __m128) -> f32 {
        // SAFETY: the token proves the features.
        unsafe {
            let s = _mm_add_ps(v, _mm_movehl_ps(v, v));
            _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)))
        }
    }

    #[inline(always)]
    unsafe fn widen_scales(self, src: *const u16, dst: *mut f32, n: usize) {
        for i in 0..n {
            // SAFETY: i < n: inside both (caller).
            unsafe { *dst.add(i) = half::f16::from_bits(*src.add(i)).to_f32() };
        }
    }
}
