//! `q4` kernels at the `avx512` level (AVX-512 F/BW/VL, no VNNI): the [`crate::x86::drive::q4`]
//! driver with one 64-byte register per chunk (`vpmaddubsw` into words), f32 block scaling with
//! FMA, scales widened by `vcvtph2ps`; the [`Q4`] float arithmetic is shared with `avx512vnni`
//! ([`avx512_q4!`]).
//!
//! gemv runs 4 row streams; gemm tiles are 2 rows × 4 tokens.

use crate::act::ActQ8;
use crate::format::q4::Q4Matrix;
use crate::x86::avx512::Avx512;
use crate::x86::drive::{self, entries};

entries! {
    features: "avx512f,avx512bw,avx512vl,avx2,fma,f16c",
    token: Avx512,
    matrix: Q4Matrix,
    act: ActQ8,
    gemv: drive::q4::gemv::<_, 4>,
    gemm: drive::q4::gemm::<_, 2, 4>,
}

/// Writes `impl Q4 for $token` on 512-bit vectors (the `avx512` and `avx512vnni` tokens).
macro_rules! avx512_q4 {
    ($token:ty) => {
        impl $crate::x86::drive::q4::Q4 for $token {
            type F = std::arch::x86_64::__m512;
            const LANES: usize = 16;

            #[inline(always)]
            fn fzero(self) -> Self::F {
                // SAFETY: the token proves the features.
                unsafe { std::arch::x86_64::_mm512_setzero_ps() }
            }

            #[inline(always)]
            fn cvt(self, v: std::arch::x86_64::__m512i) -> Self::F {
                // SAFETY: the token proves the features.
                unsafe { std::arch::x86_64::_mm512_cvtepi32_ps(v) }
            }

            #[inline(always)]
            fn fmac(self, acc: Self::F, x: Self::F, d: f32) -> Self::F {
                use std::arch::x86_64::*;
                // SAFETY: the token proves the features.
                unsafe { _mm512_fmadd_ps(x, _mm512_set1_ps(d), acc) }
            }

            #[inline(always)]
            fn fmul_add(self, acc: Self::F, x: Self::F, y: Self::F) -> Self::F {
                // SAFETY: the token proves the features.
                unsafe { std::arch::x86_64::_mm512_fmadd_ps(x, y, acc) }
            }

            #[inline(always)]
            unsafe fn loadf(self, p: *const f32) -> Self::F {
                // SAFETY: readable (caller); the token proves the features.
                unsafe { std::arch::x86_64::_mm512_loadu_ps(p) }
            }

            #[inline(always)]
            fn fsum(self, v: Self::F) -> f32 {
                // SAFETY: the token proves the features.
                unsafe { std::arch::x86_64::_mm512_reduce_add_ps(v) }
            }

            #[inline(always)]
            unsafe fn widen_scales(self, src: *const u16, dst: *mut f32, n: usize) {
                use std::arch::x86_64::*;
                for i in (0..n).step_by(16) {
                    // SAFETY: i + 16 <= n (a multiple of 16): inside both (caller); the token
                    // proves the features.
                    unsafe {
                        let h = _mm256_loadu_si256(src.add(i).cast());
                        _mm512_storeu_ps(dst.add(i), _mm512_cvtph_ps(h));
                    }
                }
            }
        }
    };
}
pub(crate) use avx512_q4;

avx512_q4!(Avx512);
