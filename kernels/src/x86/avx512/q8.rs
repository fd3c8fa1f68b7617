//! `q8` kernels at the `avx512` level (AVX-512 F/BW/VL, no VNNI): the
//! [`crate::x86::drive::q8`] driver on 64-byte vectors.
//!
//! **Products.** AVX-512 has no `vpsignb`, so the sign of `a` moves onto `w` with a mask:
//! `neg = movepi8_mask(a)` (the sign bits, once per activation vector), `w' = neg ? −w : w` (one
//! masked subtract), then `maddubs(|a|, w')` and `madd(·, 1)` into sixteen i32 lanes. Lanes with
//! `a = 0` give 0 whatever `w'` is.
//!
//! gemv walks [`GEMV_ROWS`] row streams (one `zmm` per row per step); gemm register tiles are
//! [`TILE_R`] rows × [`TILE_T`] tokens.

use std::arch::x86_64::*;

use crate::act::ActQ8;
use crate::format::q8::Q8Matrix;
use crate::x86::avx512::Avx512;
use crate::x86::drive::{self, entries, q8::Q8};
use crate::x86::simd::Simd;

/// Rows sharing each activation load in gemv.
const GEMV_ROWS: usize = 4;
/// Rows of the gemm register tile.
const TILE_R: usize = 4;
/// Tokens of the gemm register tile.
const TILE_T: usize = 4;

entries! {
    features: "avx512f,avx512bw,avx512vl,avx2,fma,f16c",
    token: Avx512,
    matrix: Q8Matrix,
    act: ActQ8,
    gemv: drive::q8::gemv::<_, GEMV_ROWS>,
    gemm: drive::q8::gemm::<_, TILE_R, TILE_T>,
}

impl Q8 for Avx512 {
    /// `(|a|, sign mask of a)`.
    type A = (__m512i, __mmask64);
    const BIASED: bool = false;

    #[inline(always)]
    fn prep(self, a: __m512i) -> Self::A {
        // SAFETY: the token proves the features.
        (self.abs8(a), unsafe { _mm512_movepi8_mask(a) })
    }

    #[inline(always)]
    fn dot(self, (abs, neg): Self::A, w: __m512i) -> __m512i {
        // SAFETY: the token proves the features.
        let ws = unsafe { _mm512_mask_sub_epi8(w, neg, _mm512_setzero_si512(), w) };
        self.madd16(self.maddubs(abs, ws), self.splat16(1))
    }
}
