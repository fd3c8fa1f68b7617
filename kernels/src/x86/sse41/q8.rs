//! `q8` kernels at the `sse41` level: the [`crate::x86::drive::q8`] driver on 16-byte vectors,
//! products as `madd(maddubs(|a|, sign(w, a)), 1)` (SSSE3; four i32 lanes).
//!
//! gemv walks [`GEMV_ROWS`] row streams (each step: four 16-byte loads per row); gemm register
//! tiles are [`TILE_R`] rows × [`TILE_T`] tokens.

use std::arch::x86_64::*;

use crate::act::ActQ8;
use crate::format::q8::Q8Matrix;
use crate::x86::drive::{self, entries, q8::Q8};
use crate::x86::simd::Simd;
use crate::x86::sse41::Sse41;

/// Rows sharing each activation load in gemv.
const GEMV_ROWS: usize = 4;
/// Rows of the gemm register tile.
const TILE_R: usize = 2;
/// Tokens of the gemm register tile.
const TILE_T: usize = 4;

entries! {
    features: "sse4.1,ssse3",
    token: Sse41,
    matrix: Q8Matrix,
    act: ActQ8,
    gemv: drive::q8::gemv::<_, GEMV_ROWS>,
    gemm: drive::q8::gemm::<_, TILE_R, TILE_T>,
}

impl Q8 for Sse41 {
    /// `(|a|, a)`.
    type A = (__m128i, __m128i);
    const BIASED: bool = false;

    #[inline(always)]
    fn prep(self, a: __m128i) -> Self::A {
        (self.abs8(a), a)
    }

    #[inline(always)]
    fn dot(self, (abs, a): Self::A, w: __m128i) -> __m128i {
        // SAFETY: the token proves the features.
        let ws = unsafe { _mm_sign_epi8(w, a) };
        self.madd16(self.maddubs(abs, ws), self.splat16(1))
    }
}
