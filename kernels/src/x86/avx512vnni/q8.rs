//! `q8` kernels at the `avx512vnni` level: the [`crate::x86::drive::q8`] driver with
//! `vpdpbusd`, which multiplies unsigned by signed bytes, four products per i32 lane.
//!
//! **Products.** Activations are made unsigned by flipping their top bit, `u = a ^ 0x80 =
//! a + 128` (once per activation vector, shared by every row), so the instruction sums
//! `(a + 128)·w`, and the driver subtracts `128·Σw` stored per row ([`Q8::BIASED`]): one
//! instruction per 64 products.
//!
//! gemv walks [`GEMV_ROWS`] row streams (one `zmm` per row per step); gemm register tiles are
//! [`TILE_R`] rows × [`TILE_T`] tokens, one `vpdpbusd` per (row, token) pair and step.

use std::arch::x86_64::*;

use crate::act::ActQ8;
use crate::format::q8::Q8Matrix;
use crate::x86::avx512vnni::Avx512Vnni;
use crate::x86::drive::{self, entries, q8::Q8};
use crate::x86::simd::Simd;

/// Rows sharing each activation load in gemv.
const GEMV_ROWS: usize = 4;
/// Rows of the gemm register tile.
const TILE_R: usize = 3;
/// Tokens of the gemm register tile.
const TILE_T: usize = 8;

entries! {
    features: "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c",
    token: Avx512Vnni,
    matrix: Q8Matrix,
    act: ActQ8,
    gemv: drive::q8::gemv::<_, GEMV_ROWS>,
    gemm: drive::q8::gemm::<_, TILE_R, TILE_T>,
}

impl Q8 for Avx512Vnni {
    /// `a ^ 0x80`.
    type A = __m512i;
    const BIASED: bool = true;

    #[inline(always)]
    fn prep(self, a: __m512i) -> __m512i {
        self.xor(a, self.splat8(-128))
    }

    #[inline(always)]
    fn dot(self, a: __m512i, w: __m512i) -> __m512i {
        self.dpbusd(self.zero(), a, w)
    }

    #[inline(always)]
    fn mac(self, acc: __m512i, a: __m512i, w: __m512i) -> __m512i {
        self.dpbusd(acc, a, w)
    }
}
