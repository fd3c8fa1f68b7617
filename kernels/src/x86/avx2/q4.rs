//! `q4` kernels at the `avx2` level: the [`crate::x86::drive::q4`] driver on 32-byte halves of
//! each 64-byte chunk, f32 block scaling with FMA, scales widened by F16C.
//!
//! gemv runs 4 row streams; gemm tiles are 2 rows × 2 tokens (the chunk's activations of a token
//! take 4 of the 16 registers).

use std::arch::x86_64::*;

use crate::act::ActQ8;
use crate::format::q4::Q4Matrix;
use crate::x86::avx2::Avx2;
use crate::x86::drive::q4::Q4;
use crate::x86::drive::{self, entries};

entries! {
    features: "avx2,fma,f16c",
    token: Avx2,
    matrix: Q4Matrix,
    act: ActQ8,
    gemv: drive::q4::gemv::<_, 4>,
    gemm: drive::q4::gemm::<_, 2, 2>,
}

impl Q4 for Avx2 {
    type F = __m256;
    const LANES: usize = 8;

    #[inline(always)]
    fn fzero(self) -> __m256 {
        // SAFETY: the token proves the features.
        unsafe { _mm256_setzero_ps() }
    }

    #[inline(always)]
    fn cvt(self, v: __m256i) -> __m256 {
        // SAFETY: the token proves the features.
        unsafe { _mm256_cvtepi32_ps(v) }
    }

    #[inline(always)]
    fn fmac(self, acc: __m256, x: __m256, d: f32) -> __m256 {
        // SAFETY: the token proves the features.
        unsafe { _mm256_fmadd_ps(x, _mm256_set1_ps(d), acc) }
    }

    #[inline(always)]
    fn fmul_add(self, acc: __m256, x: __m256, y: __m256) -> __m256 {
        // SAFETY: the token proves the features.
        unsafe { _mm256_fmadd_ps(x, y, acc) }
    }

    #[inline(always)]
    unsafe fn loadf(self, p: *const f32) -> __m256 {
        // SAFETY: readable (caller); the token proves the features.
        unsafe { _mm256_loadu_ps(p) }
    }

    #[inline(always)]
    fn fsum(self, v: __m256) -> f32 {
        // SAFETY: the token proves the features.
        unsafe {
            let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
            let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
            _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)))
        }
    }

    #[inline(always)]
    unsafe fn widen_scales(self, src: *const u16, dst: *mut f32, n: usize) {
        for i in (0..n).step_by(8) {
            // SAFETY: i + 8 <= n (a multiple of 16): inside both (caller); the token proves F16C.
            unsafe {
                let h = _mm_loadu_si128(src.add(i).cast());
                _mm256_storeu_ps(dst.add(i), _mm256_cvtph_ps(h));
            }
        }
    }
}
