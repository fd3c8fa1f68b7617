//! `i2` kernels at the `avx2` level (AVX2, 256-bit): the [`crate::x86::drive::i2`] driver on
//! 32-byte halves of each 64-byte block.
//!
//! gemv keeps `lo`/`hi` word sums per row: a block adds at most 2 halves × 2 × 2048 = 8192 to a
//! `hi` lane, widened every 2 blocks (≤ 16384, [`GEMV_WIDEN`]); gemm's plain codes add at most
//! 2 × 4 × 512 = 4096 per block and lane, widened every 4 blocks (≤ 16384).
//!
//! **Tiling.** gemv runs 2 rows at a time (16 registers hold the `lo`, `hi` and i32 sums of two
//! rows plus four activation vectors), half the row range apart; gemm computes 2 rows × 4 tokens
//! per tile, each unpacked code vector feeding 4 `vpmaddubsw` (with the same 16 registers,
//! 2 × 4 measured fastest of 1 × 8, 2 × 3, 2 × 6, 3 × 4 and 4 × 2).

use crate::act::ActQ8;
use crate::format::i2::I2Matrix;
use crate::x86::avx2::Avx2;
use crate::x86::drive::i2::I2;
use crate::x86::drive::{self, entries};

/// Blocks between widenings in gemv (≤ 2 × 8192 per `hi` lane).
const GEMV_WIDEN: usize = 2;

entries! {
    features: "avx2,fma,f16c",
    token: Avx2,
    matrix: I2Matrix,
    act: ActQ8,
    gemv: drive::i2::gemv::<_, 2>,
    gemm: drive::i2::gemm::<_, 2, 4>,
}

impl I2 for Avx2 {
    const GEMV_WIDEN: usize = GEMV_WIDEN;
    const GEMM_WIDEN: usize = 4;
}
