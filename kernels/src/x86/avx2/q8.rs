//! `q8` kernels at the `avx2` level: the [`crate::x86::drive::q8`] driver on 32-byte vectors,
//! products as `madd(maddubs(|a|, sign(w, a)), 1)` (eight i32 lanes).
//!
//! gemv walks [`GEMV_ROWS`] row streams (each step: two 32-byte loads per row); gemm register
//! tiles are [`TILE_R`] rows × [`TILE_T`] tokens.

use std::arch::x86_64::*;

use crate::act::ActQ8;
use crate::format::q8::Q8Matrix;
use crate::x86::avx2::Avx2;
use crate::x86::drive::{self, entries, q8::Q8};
use crate::x86::simd::Simd;

/// Rows sharing each activation load in gemv.
const GEMV_ROWS: usize = 4;
/// Rows of the gemm register tile.
const TILE_R: usize = 3;
/// Tokens of the gemm register tile.
const TILE_T: usize = 4;

entries! {
    features: "avx2,fma,f16c",
    token: Avx2,
    matrix: Q8Matrix,
    act: ActQ8,
    gemv: drive::q8::gemv::<_, GEMV_ROWS>,
    gemm: drive::q8::gemm::<_, TILE_R, TILE_T>,
}

impl Q8 for Avx2 {
    /// `(|a|, a)`.
    type A = (__m256i, __m256i);
    const BIASED: bool = false;

    #[inline(always)]
    fn prep(self, a: __m256i) -> Self::A {
        (self.abs8(a), a)
    }

    #[inline(always)]
    fn dot(self, (abs, a): Self::A, w: __m256i) -> __m256i {
        // SAFETY: the token proves the features.
        let ws = unsafe { _mm256_sign_epi8(w, a) };
        self.madd16(self.maddubs(abs, ws), self.splat16(1))
    }
}
