//! `tq1` kernels at the `avx2` level (only AVX2 integer ops are used): the
//! [`crate::x86::drive::tq1`] driver on 32-byte vectors.
//!
//! **gemv**: the F identity, 66 instructions per 64-byte block of 320 weights. The obvious
//! alternative, extracting codes with compares (`y = x ^ 0x80`, which triples like `x`;
//! `c = |cmpgt(y, −43) + cmpgt(y, 42)|`) and `vpmaddubsw(c, a)`, costs 8 instructions per
//! digit, 80 per block; on Zen 4 it ran ~12 % slower in cache than the F identity (9.1 vs
//! 10.4 GB/s of weights per core), and mixes of the two (one half of each block, or some rows,
//! each way) were in between (9.0-9.4 GB/s), so the multiply ports are not the only limit.
//! One row (stream) at a time with the `e` vectors as memory operands: on Zen 4 this beat
//! computing 4 rows together from 4 streams with shared `e` loads by ~5 % (16 vector registers
//! are too few to keep the 10 `e` vectors and the row state).
//!
//! *Where this level stands.* At 66 instructions per 320 weights the unpack, not memory, limits
//! this level: ~10 GB/s per Zen 4 core, about 0.55 of read bandwidth at 2 threads, where `i2`
//! (about 32 instructions per 256 weights) is memory-bound. Only `vpdpbusd` (the `avx512vnni`
//! level) makes base-3 cheap enough to stream.
//!
//! **gemm**: codes by compares, micro-tiles of 4 rows × 2 tokens, 6 blocks (60 steps of 32
//! columns) per decoded chunk.

use crate::act::ActQ8;
use crate::format::tq1::Tq1Matrix;
use crate::x86::avx2::Avx2;
use crate::x86::drive::tq1::Tq1;
use crate::x86::drive::{self, entries};

entries! {
    features: "avx2,fma,f16c",
    token: Avx2,
    matrix: Tq1Matrix,
    act: ActQ8,
    gemv: drive::tq1::gemv::<_, 1>,
    gemm: drive::tq1::gemm::<_, 2, 6>,
}

impl Tq1 for Avx2 {}
