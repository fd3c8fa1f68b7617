//! `i2` kernels at the `avx512` level (AVX-512 F/BW/VL, no VNNI): the
//! [`crate::x86::drive::i2`] driver with one 64-byte register per block.
//!
//! gemv keeps `lo`/`hi` word sums per row (`vpmaddubsw`, no VNNI here): a block adds at most
//! 2 × 2048 to a `hi` lane, widened every 4 blocks (≤ 16384, [`GEMV_WIDEN`]); gemm's plain
//! codes add at most 4 × 512 = 2048 per block and lane, widened every 8 blocks (≤ 16384).
//!
//! **Tiling.** gemv runs 4 rows at a time (four shared activation loads per block; 12 sums
//! live in the 32 registers), a quarter of the row range apart; gemm computes 2 rows × 6 tokens
//! per tile, each unpacked code vector feeding 6 `vpmaddubsw` (measured faster here than 4 × 4,
//! whose 16 i16 and 16 i32 sums do not fit the registers together).

use crate::act::ActQ8;
use crate::format::i2::I2Matrix;
use crate::x86::avx512::Avx512;
use crate::x86::drive::i2::I2;
use crate::x86::drive::{self, entries};

/// Blocks between widenings in gemv (≤ 4 × 4096 per `hi` lane).
const GEMV_WIDEN: usize = 4;

entries! {
    features: "avx512f,avx512bw,avx512vl,avx2,fma,f16c",
    token: Avx512,
    matrix: I2Matrix,
    act: ActQ8,
    gemv: drive::i2::gemv::<_, 4>,
    gemm: drive::i2::gemm::<_, 2, 6>,
}

impl I2 for Avx512 {
    const GEMV_WIDEN: usize = GEMV_WIDEN;
    const GEMM_WIDEN: usize = 8;
}
