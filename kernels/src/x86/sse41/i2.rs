//! `i2` kernels at the `sse41` level (SSE4.1 + SSSE3, 128-bit): the
//! [`crate::x86::drive::i2`] driver on four 16-byte parts per 64-byte block.
//!
//! gemv keeps `lo`/`hi` word sums per row: a block (4 parts × 2 products per `hi` pair) adds at
//! most 4 × 2 × 2048 = 16384 to a `hi` lane, so they are widened after every block
//! ([`GEMV_WIDEN`]); gemm's plain codes add at most 4 parts × 4 products × 512 = 8192 per block
//! and lane, widened every 2 blocks. gemv runs 2 rows (streams) at a time; gemm tiles are
//! 2 rows × 4 tokens.

use crate::act::ActQ8;
use crate::format::i2::I2Matrix;
use crate::x86::drive::i2::I2;
use crate::x86::drive::{self, entries};
use crate::x86::sse41::Sse41;

/// Blocks between widenings in gemv (≤ 16384 per `hi` lane).
const GEMV_WIDEN: usize = 1;

entries! {
    features: "sse4.1,ssse3",
    token: Sse41,
    matrix: I2Matrix,
    act: ActQ8,
    gemv: drive::i2::gemv::<_, 2>,
    gemm: drive::i2::gemm::<_, 2, 4>,
}

impl I2 for Sse41 {
    const GEMV_WIDEN: usize = GEMV_WIDEN;
    const GEMM_WIDEN: usize = 2;
}
