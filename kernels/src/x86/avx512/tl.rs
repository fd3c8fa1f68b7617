//! `tl` kernels at the `avx512` level: the [`crate::x86::drive::tl`] lookups on four column pairs
//! per 512-bit vector, one per 128-bit lane.
//!
//! **Tables.** Built by [`crate::x86::avx2::tl::build_tables`] (this level includes the `avx2`
//! features) in the 4-pair layout: for vector `j`, 64 bytes of `l` tables (pairs `4j..4j+4`,
//! one per lane), then 64 bytes of `h` tables.
//!
//! **Lookups.** One 64-byte load holds the indices of a group's 32 rows for four pairs (256
//! weights). On Zen 4, which runs 512-bit operations as two 256-bit halves, this does the same
//! work per byte as `avx2` with half the instructions.
//!
//! **Registers.** One row group at a time (two side by side measured slower); `gemm` tiles are
//! 4 tokens (16 byte accumulators and 16 u16 accumulators fit 32 registers).

use crate::act::ActQ8;
use crate::format::tl::TlMatrix;
use crate::x86::avx2::tl::build_tables;
use crate::x86::avx512::Avx512;
use crate::x86::drive::tl::Tl;
use crate::x86::drive::{self, entries};

entries! {
    features: "avx512f,avx512bw,avx512vl,avx2,fma,f16c",
    token: Avx512,
    matrix: TlMatrix,
    act: ActQ8,
    gemv: drive::tl::gemv::<_>,
    gemm: drive::tl::gemm::<_, 4>,
}

impl Tl for Avx512 {
    #[inline(always)]
    fn build(self, a: &[i8], pairs: usize, dst: &mut [u8]) {
        // SAFETY: the token proves the avx2 features this builder needs.
        unsafe { build_tables::<4>(a, pairs, dst) }
    }
}
