//! `tq1` kernels at the `avx512vnni` level (AVX-512 F/BW/VL + VNNI `vpdpbusd`): the
//! [`crate::x86::drive::tq1`] driver, with this level's own gemv identity.
//!
//! **Layout recap** ([`crate::format::tq1`]): byte `j` of a 64-byte block holds the codes
//! `c_d = w + 1 ∈ {0, 1, 2}` of weights `d*64 + j`, `d = 0..5`, stored so that
//! `c_d = ⌊3·x_d / 256⌋ = (x_d ≥ 86) + (x_d ≥ 171)` with `x_d = q·3^d mod 256`. The dot
//! product is `Σ w·a = Σ c·a − Σ a` (`Σ a` = [`ActQ8::sum`]).
//!
//! **gemv (decode): the x identity, no digit extraction at all.** Because
//! `3·x_d = 256·c_d + x_{d+1}` exactly (`x_{d+1} = 3·x_d mod 256`),
//!
//! ```text
//! 256 · Σ_d c_d·a_d = Σ_d (3·x_d − x_{d+1})·a_d = 3·P − N,
//!     P = Σ_{d=0..4} x_d·a_d,   N = Σ_{d=0..4} x_{d+1}·a_d.
//! ```
//!
//! The `x_d` are plain unsigned bytes and the `a_d` signed bytes: exactly `vpdpbusd`'s
//! operands. One 64-byte block of 320 weights costs the load, 5 triplings `x_{d+1} = x_d + x_d
//! + x_d` (10 `vpaddb`) and 10 `vpdpbusd` (5 into `P`, 5 into `N`): 21 instructions, where
//! extracting the codes (two `vpcmpub` and two masked moves per digit) and 5 `vpdpbusd` would
//! take 33. The 5 activation vectors of a block are loaded once for [`GEMV_ROWS`] rows. On
//! Zen 4 (one core at ~3.6 GHz, weights in L2) this runs at 20.8 GB/s of weights, ~11 cycles
//! per block against the 10 its `vpdpbusd` need at one per cycle (out of cache, one thread:
//! ~18 GB/s; two threads reach the read bandwidth, ~33 GB/s). Extracting some digits with
//! compares to save their second `vpdpbusd` was slower (last digit: 19.5, last two: 17.1, all
//! five: 12.4 GB/s), and so was the last digit with AVX2-style `vpcmpgtb` on halves (14.9).
//!
//! *Why exact.* Each i32 lane of `P` and `N` collects the same four byte positions of every
//! block, so `3·P − N` in one lane is `256 · Σ c·a` over those positions: a multiple of 256 of
//! magnitude at most `4·5·256·256 ≈ 1.3·10⁶` per block. Lanes may wrap while accumulating
//! (`vpdpbusd` and `vpaddd` wrap, never saturate), but the true lane value of `3·P − N` fits
//! in i32 for up to [`CHUNK_BLOCKS`] blocks, so the wrapped result *is* the true value; an
//! arithmetic shift right by 8 then divides exactly, and the per-chunk sums
//! (`|Σ c·a| ≤ 256·cols`) are added in i32 like the scalar reference.
//!
//! **Streaming.** gemv takes [`GEMV_ROWS`] rows at a time, one from each of [`GEMV_ROWS`]
//! contiguous sub-ranges of `r0..r1`, so each row pointer walks a long sequential stream the
//!
//! **gemm**: codes by mask compares (the `avx512` level's
//! [`decode_mask`]), then one `vpdpbusd(c, a)` per row, token and 64
//! columns: half the multiply work of the x identity. Micro-tiles of 4 rows × 4 tokens, 16
//! blocks (20 KiB of codes) per decoded chunk.

use std::arch::x86_64::*;

use crate::act::ActQ8;
use crate::format::tq1::{Tq1Matrix, BLOCK, BLOCK_BYTES, TRITS};
use crate::x86::avx512::Avx512;
use crate::x86::avx512vnni::Avx512Vnni;
use crate::x86::drive::tq1::Tq1;
use crate::x86::drive::{self, entries};
use crate::x86::simd::{prefetch_t0, Simd};

/// Blocks per exact `3·P − N` chunk: `1024 · 1.3·10⁶ < 2³¹`.
const CHUNK_BLOCKS: usize = 1024;

entries! {
    features: "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c",
    token: Avx512Vnni,
    matrix: Tq1Matrix,
    act: ActQ8,
    gemv: drive::tq1::gemv::<_, 4>,
    gemm: drive::tq1::gemm::<_, 4, 16>,
}

/// `3·x mod 256` per byte: two wrapping byte adds, made opaque so LLVM cannot fold a chain of
/// triplings into a byte multiply by 9, 27 or 81, which x86 lacks and LLVM would emulate with
/// `vpmullw` and `vpmaddubsw` on the ports `vpdpbusd` needs.
#[inline(always)]
fn triple(l: Avx512Vnni, x: <Avx512Vnni as Simd>::I) -> <Avx512Vnni as Simd>::I {
    l.opaque(l.add8(l.add8(x, x), x))
}

impl Tq1 for Avx512Vnni {
    const USES_E: bool = false;

    /// `Σ c·a` through the x identity (module doc).
    #[inline(always)]
    unsafe fn dot_rows<const R: usize>(
        self,
        w: [*const u8; R],
        a: *const u8,
        _e: *const u8,
        nb: usize,
        pf: usize,
    ) -> [i32; R] {
        let mut tot = [0i32; R];
        let mut b0 = 0;
        while b0 < nb {
            let b1 = nb.min(b0 + CHUNK_BLOCKS);
            let mut p = [self.zero(); R];
            let mut n = [self.zero(); R];
            for b in b0..b1 {
                let mut av = [self.zero(); TRITS];
                for (d, v) in av.iter_mut().enumerate() {
                    // SAFETY: b < nb: inside the activation row.
                    *v = unsafe { self.load(a.add(b * BLOCK + d * 64)) };
                }
                for ((p, n), &wi) in p.iter_mut().zip(n.iter_mut()).zip(&w) {
                    prefetch_t0(wi.wrapping_add(b * BLOCK_BYTES + pf));
                    // SAFETY: block b < nb of row i.
                    let x0 = unsafe { self.load(wi.add(b * BLOCK_BYTES)) };
                    let x1 = triple(self, x0);
                    let x2 = triple(self, x1);
                    let x3 = triple(self, x2);
                    let x4 = triple(self, x3);
                    let x5 = triple(self, x4);
                    let mut pi = self.dpbusd(*p, x0, av[0]);
                    let mut ni = self.dpbusd(*n, x1, av[0]);
                    pi = self.dpbusd(pi, x1, av[1]);
                    ni = self.dpbusd(ni, x2, av[1]);
                    pi = self.dpbusd(pi, x2, av[2]);
                    ni = self.dpbusd(ni, x3, av[2]);
                    pi = self.dpbusd(pi, x3, av[3]);
                    ni = self.dpbusd(ni, x4, av[3]);
                    pi = self.dpbusd(pi, x4, av[4]);
                    ni = self.dpbusd(ni, x5, av[4]);
                    *p = pi;
                    *n = ni;
                }
            }
            for (t, (&p, &n)) in tot.iter_mut().zip(p.iter().zip(&n)) {
                let p3 = self.add32(self.add32(p, p), p);
                let s = self.srai32::<8>(self.sub32(p3, n));
                *t = t.wrapping_add(self.reduce(s));
            }
            b0 = b1;
        }
        tot
    }

    #[inline(always)]
    unsafe fn decode(self, src: *const u8, dst: *mut u8, nblocks: usize) {
        // SAFETY: forwarded.
        unsafe { decode_mask(Avx512::from(self), src, dst, nblocks) }
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
unsafe fn decode_mask(l: Avx512, src: *const u8, dst: *mut u8, nblocks: usize) {
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
