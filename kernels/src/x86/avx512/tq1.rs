//! `tq1` kernels at the `avx512` level (AVX-512 F/BW/VL, no VNNI): the
//! [`crate::x86::drive::tq1`] driver on 64-byte vectors.
//!
//! **gemv**: the F identity, 33 instructions per 64-byte block with the load; each block's 10
//! `e` vectors are loaded once for 4 rows (streams). The alternative, extracting codes with two
//! `vpcmpub` into masks and two masked moves, then `vpmaddubsw(c, a)` + `vpaddw`, costs 39
//! instructions per block; on Zen 4 it ran ~6 % slower in cache (10.3 vs 10.9 GB/s per core).
//! Without VNNI the "x identity" of the `avx512vnni` level cannot be used: `vpmaddubsw` on
//! full-range bytes `x_d·a_d` saturates. Zen 4 splits 512-bit operations in two, so this level
//! is no faster than `avx2` there (both compute-bound at about 0.55-0.6 of read bandwidth at
//! 2 threads).
//!
//! **gemm**: codes by mask compares ([`decode_mask`], shared with `avx512vnni`), micro-tiles of
//! 4 rows × 4 tokens, 12 blocks (60 steps of 64 columns) per decoded chunk.

use std::arch::x86_64::*;

use crate::act::ActQ8;
use crate::format::tq1::{Tq1Matrix, BLOCK, BLOCK_BYTES, TRITS};
use crate::x86::avx512::Avx512;
use crate::x86::drive::tq1::Tq1;
use crate::x86::drive::{self, entries};
use crate::x86::simd::Simd;

entries! {
    features: "avx512f,avx512bw,avx512vl,avx2,fma,f16c",
    token: Avx512,
    matrix: Tq1Matrix,
    act: ActQ8,
    gemv: drive::tq1::gemv::<_, 4>,
    gemm: drive::tq1::gemm::<_, 4, 12>,
}

impl Tq1 for Avx512 {
    #[inline(always)]
    unsafe fn decode(self, src: *const u8, dst: *mut u8, nblocks: usize) {
        // SAFETY: forwarded.
        unsafe { decode_mask(self, src, dst, nblocks) }
    }
}

/// Decodes `nblocks` packed blocks at `src` into `nblocks·320` codes (0, 1, 2) at `dst`, in
/// column order: `k₁ = x ≥ 86`, `k₂ = x ≥ 171` (unsigned compares into masks),
/// `c = k₂ ? 2 : k₁ ? 1 : 0` (two masked moves), `x ← 3·x` (two byte adds, made opaque so LLVM
/// cannot fold the chain into emulated byte multiplies).
///
/// # Safety
/// `src` must hold `nblocks·64` readable bytes and `dst` `nblocks·320` writable ones.
#[inline(always)]
pub(crate) unsafe fn decode_mask(l: Avx512, src: *const u8, dst: *mut u8, nblocks: usize) {
    let (t1, t2) = (l.splat8(86), l.splat8(171u8 as i8));
    let (one, two) = (l.splat8(1), l.splat8(2));
    for b in 0..nblocks {
        // SAFETY: b < nblocks.
        let mut x = unsafe { l.load(src.add(b * BLOCK_BYTES)) };
        for d in 0..TRITS {
            // SAFETY: the token proves AVX-512 BW.
            let c = unsafe {
                let k1 = _mm512_cmpge_epu8_mask(x, t1);
                let k2 = _mm512_cmpge_epu8_mask(x, t2);
                _mm512_mask_mov_epi8(_mm512_maskz_mov_epi8(k1, one), k2, two)
            };
            // SAFETY: b*320 + d*64 + 64 <= nblocks*320.
            unsafe { l.store(dst.add(b * BLOCK + d * 64), c) };
            x = l.opaque(l.add8(l.add8(x, x), x));
        }
    }
}
