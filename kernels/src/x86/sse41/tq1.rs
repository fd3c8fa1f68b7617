//! `tq1` kernels at the `sse41` level (SSE4.1 + SSSE3: `pmaddubsw`, `pabsb`; SSE2 `pmulhuw`,
//! `pmaddwd`): the [`crate::x86::drive::tq1`] driver on 16-byte vectors.
//!
//! gemv uses the F identity at 33 instructions per 16 bytes, one row (stream) at a time with
//! every `e` vector a memory operand (they stay in L1); the compare-and-`pmaddubsw` alternative
//! (160 instructions per block) measured ~7 % slower on Zen 4 (4.9 vs 5.2 GB/s). gemm decodes
//! with byte compares into 4-row tiles, micro-tiles of 4 rows × 2 tokens, 3 blocks (60 steps of
//! 16 columns) per decoded chunk.

use crate::act::ActQ8;
use crate::format::tq1::Tq1Matrix;
use crate::x86::drive::tq1::Tq1;
use crate::x86::drive::{self, entries};
use crate::x86::sse41::Sse41;

entries! {
    features: "sse4.1,ssse3",
    token: Sse41,
    matrix: Tq1Matrix,
    act: ActQ8,
    gemv: drive::tq1::gemv::<_, 1>,
    gemm: drive::tq1::gemm::<_, 2, 3>,
}

impl Tq1 for Sse41 {}
