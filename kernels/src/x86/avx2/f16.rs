//! `f16` kernels at the `avx2` level: the [`crate::x86::drive::f16`] driver with halves widened
//! by F16C `vcvtph2ps` (8 halves, 16 bytes, to one `ymm`) and f32 FMA accumulation.
//!
//! **gemv**: [`GEMV_ROWS`] row streams, each step a whole 64-byte line (32 weights) per row,
//! each stream prefetched [`crate::tune::gemv_prefetch`] bytes (2 KiB by default) ahead, as at the `avx512` level: on
//! the December 2026 Zen 4 host (`ternbench kernels --isa avx2 --weight-format f16 --op gemv --shapes
//! lm_head,stack`, two interleaved rounds, bandwidth read beside each cell) 1 thread went from
//! 0.83-0.85 of the read bandwidth to 0.89-0.93 on the LM head and from 0.93 to 0.97-0.98 on the
//! stack; 2 threads within noise (0.93-0.98 on the head either way). (On the November host no
//! prefetch had measured faster.)
//!
//! **gemm**: register tiles of [`TILE_R`] rows × [`TILE_T`] tokens, 12 of the 16 registers.
//!
//! Exactness: 8-lane partial sums, then a pairwise `hadd` tree; F16C converts every half exactly
//! (subnormals, ±inf, NaN included).

use std::arch::x86_64::*;

use crate::act::ActF32;
use crate::format::f16::F16Matrix;
use crate::x86::avx2::Avx2;
use crate::x86::drive::f16::{F16Gemm, F16};
use crate::x86::drive::{self, entries};

/// Rows sharing each activation load in gemv.
const GEMV_ROWS: usize = 4;
/// Rows of the gemm register tile.
const TILE_R: usize = 3;
/// Tokens of the gemm register tile.
const TILE_T: usize = 4;

entries! {
    features: "avx2,fma,f16c",
    token: Avx2,
    matrix: F16Matrix,
    act: ActF32,
    gemv: drive::f16::gemv::<_, GEMV_ROWS>,
    gemm: drive::f16::gemm::<_, TILE_R, TILE_T>,
}

impl F16 for Avx2 {
    type F = __m256;
    const LANES: usize = 8;
    const PAIRS: usize = 2;
    const GEMV_PREFETCH: bool = true;

    #[inline(always)]
    fn fzero(self) -> __m256 {
        // SAFETY: the token proves the features.
        unsafe { _mm256_setzero_ps() }
    }

    #[inline(always)]
    fn fadd(self, a: __m256, b: __m256) -> __m256 {
        // SAFETY: the token proves the features.
        unsafe { _mm256_add_ps(a, b) }
    }

    #[inline(always)]
    fn mac(self, acc: __m256, w: __m256, x: __m256) -> __m256 {
        // SAFETY: the token proves the features.
        unsafe { _mm256_fmadd_ps(w, x, acc) }
    }

    #[inline(always)]
    unsafe fn load_x(self, p: *const f32) -> __m256 {
        // SAFETY: readable (caller); the token proves the features.
        unsafe { _mm256_loadu_ps(p) }
    }

    #[inline(always)]
    unsafe fn load_w2(self, p: *const u16) -> (__m256, __m256) {
        // SAFETY: readable (caller).
        unsafe { (self.load_w(p), self.load_w(p.add(8))) }
    }

    #[inline(always)]
    fn hsum4(self, [a, b, c, d]: [__m256; 4]) -> [f32; 4] {
        // SAFETY: the token proves the features; `s` holds four floats.
        unsafe {
            let abcd = _mm256_hadd_ps(_mm256_hadd_ps(a, b), _mm256_hadd_ps(c, d));
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

impl F16Gemm for Avx2 {
    #[inline(always)]
    unsafe fn load_w(self, p: *const u16) -> __m256 {
        // SAFETY: readable (caller); the token proves the features.
        unsafe { _mm256_cvtph_ps(_mm_loadu_si128(p.cast())) }
    }
}
