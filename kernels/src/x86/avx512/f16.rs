//! `f16` kernels at the `avx512` level: the [`crate::x86::drive::f16`] driver with halves
//! widened by F16C `vcvtph2ps` (16 halves, 32 bytes, to one `zmm`) and f32 FMA accumulation.
//!
//! **gemv**: [`GEMV_ROWS`] row streams, each step a whole 64-byte line (32 weights) per row,
//! each stream prefetched [`crate::tune::gemv_prefetch`] bytes (2 KiB by default) ahead: on the December 2026 Zen 4
//! host, 1 thread, three interleaved rounds of `ternbench kernels` (bandwidth read beside each
//! cell), the 0.66 GB LM head went from 0.65-0.75 of the read bandwidth without prefetch to
//! 0.89-1.09 (1 KiB ahead: 0.80-0.84; 4 KiB: 0.78-0.82), the out-of-cache stack from 0.71-0.84
//! to 0.89-1.06. (On the November host of the same kind no prefetch had measured faster.)
//!
//! **gemm**: register tiles of [`TILE_R`] rows × [`TILE_T`] tokens, 24 of the 32 registers.
//!
//! Exactness: 16-lane partial sums, then a pairwise tree; F16C converts every half exactly
//! (subnormals, ±inf, NaN included).

use std::arch::x86_64::*;

use crate::act::ActF32;
use crate::format::f16::F16Matrix;
use crate::x86::avx512::Avx512;
use crate::x86::drive::f16::{F16Gemm, F16};
use crate::x86::drive::{self, entries};

/// Rows sharing each activation load in gemv.
const GEMV_ROWS: usize = 4;
/// Rows of the gemm register tile.
const TILE_R: usize = 4;
/// Tokens of the gemm register tile.
const TILE_T: usize = 6;

entries! {
    features: "avx512f,avx512bw,avx512vl,avx2,fma,f16c",
    token: Avx512,
    matrix: F16Matrix,
    act: ActF32,
    gemv: drive::f16::gemv::<_, GEMV_ROWS>,
    gemm: drive::f16::gemm::<_, TILE_R, TILE_T>,
}

/// Lane sum of the low and high 256-bit halves.
#[inline(always)]
fn fold256(_: Avx512, v: __m512) -> __m256 {
    // SAFETY: the token proves the features.
    unsafe {
        let hi = _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(v)));
        _mm256_add_ps(_mm512_castps512_ps256(v), hi)
    }
}

impl F16 for Avx512 {
    type F = __m512;
    const LANES: usize = 16;
    const PAIRS: usize = 1;
    const GEMV_PREFETCH: bool = true;

    #[inline(always)]
    fn fzero(self) -> __m512 {
        // SAFETY: the token proves the features.
        unsafe { _mm512_setzero_ps() }
    }

    #[inline(always)]
    fn fadd(self, a: __m512, b: __m512) -> __m512 {
        // SAFETY: the token proves the features.
        unsafe { _mm512_add_ps(a, b) }
    }

    #[inline(always)]
    fn mac(self, acc: __m512, w: __m512, x: __m512) -> __m512 {
        // SAFETY: the token proves the features.
        unsafe { _mm512_fmadd_ps(w, x, acc) }
    }

    #[inline(always)]
    unsafe fn load_x(self, p: *const f32) -> __m512 {
        // SAFETY: readable (caller); the token proves the features.
        unsafe { _mm512_loadu_ps(p) }
    }

    #[inline(always)]
    unsafe fn load_w2(self, p: *const u16) -> (__m512, __m512) {
        // SAFETY: readable (caller).
        unsafe { (self.load_w(p), self.load_w(p.add(16))) }
    }

    #[inline(always)]
    fn hsum4(self, [a, b, c, d]: [__m512; 4]) -> [f32; 4] {
        // SAFETY: the token proves the features; `s` holds four floats.
        unsafe {
            let ab = _mm256_hadd_ps(fold256(self, a), fold256(self, b));
            let cd = _mm256_hadd_ps(fold256(self, c), fold256(self, d));
            let abcd = _mm256_hadd_ps(ab, cd);
            let v = _mm_add_ps(
                _mm256_castps256_ps128(abcd),
                _mm256_extractf128_ps::<1>(abcd),
            );
            let mut s = [0f32; 4];
            _mm_storeu_ps(s.as_mut_ptr(), v);
            s
        }
    }
}

impl F16Gemm for Avx512 {
    #[inline(always)]
    unsafe fn load_w(self, p: *const u16) -> __m512 {
        // SAFETY: readable (caller); the token proves the features.
        unsafe { _mm512_cvtph_ps(_mm256_loadu_si256(p.cast())) }
    }
}
