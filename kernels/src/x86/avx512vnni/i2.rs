//! `i2` kernels at the `avx512vnni` level (AVX-512 F/BW/VL + VNNI `vpdpbusd`): the
//! [`crate::x86::drive::i2`] driver, with this level's own gemv block.
//!
//! **Accumulation (exact).** `vpdpbusd(acc, codes_u8, act_i8)` adds four u8×i8 products
//! straight into each i32 lane, so nothing is ever held in i16; the driver subtracts `Σq`
//! (`code = w + 1`).
//! * gemv ([`I2::gemv_rows`] here) does not shift at all: `w & 0x03`, `w & 0x0C`, `w & 0x30`,
//!   `w & 0xC0` are `4^d · code_d`, each ≤ 128, so a product is ≤ 128·128 in magnitude and every
//!   block adds at most 4·16384 to a lane of the `d = 3` sum: i32 holds 32768 blocks (8.4 M
//!   columns). Each of the four sums per row stays a multiple of `4^d` lane by lane, so
//!   `s0 + (s1 >> 2) + (s2 >> 4) + (s3 >> 6)` (arithmetic shifts) is exactly `Σ code·q`.
//!   A row-block thus costs one load, four `vpandd` and four `vpdpbusd`, and the four sums are
//!   independent dependency chains.
//! * gemm unpacks plain codes once per row-block (shift by `2d`, mask 3) and reuses each for
//!   every token of the tile, one `vpdpbusd` per (row, token, digit).
//!
//! **Tiling.** gemv runs 4 rows at a time: 16 sums, four activation vectors loaded once per
//! block for the four rows, a quarter of the row range apart (four consecutive rows would be
//! four short interleaved streams that the prefetchers do not follow: measured 0.75-0.8 of read
//! bandwidth on one core, against 0.9-1.1). gemm computes 4 rows × 4 tokens per tile: per block
//! 4 weight loads, 28 unpack operations, 16 activation loads and 64 `vpdpbusd` into 16
//! independent sums.

use crate::act::ActQ8;
use crate::format::i2::{I2Matrix, BLOCK, BLOCK_BYTES};
use crate::x86::avx512vnni::Avx512Vnni;
use crate::x86::drive::i2::{prefetch_ahead, I2};
use crate::x86::drive::{self, entries};
use crate::x86::simd::Simd;

entries! {
    features: "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c",
    token: Avx512Vnni,
    matrix: I2Matrix,
    act: ActQ8,
    gemv: drive::i2::gemv::<_, 4>,
    gemm: drive::i2::gemm::<_, 4, 4>,
}

impl I2 for Avx512Vnni {
    const GEMV_WIDEN: usize = usize::MAX;
    const GEMM_WIDEN: usize = usize::MAX;

    /// Four `4^d`-scaled sums per row (module doc).
    #[inline(always)]
    unsafe fn gemv_rows<const R: usize>(
        self,
        w: *const u8,
        rs: usize,
        a: *const u8,
        nblk: usize,
        pf: usize,
    ) -> [i32; R] {
        let masks = [0x03u8, 0x0C, 0x30, 0xC0].map(|m| self.splat8(m as i8));
        let mut acc = [[self.zero(); 4]; R];
        for b in 0..nblk {
            prefetch_ahead::<R>(w, rs, b, pf);
            let mut av = [self.zero(); 4];
            for (d, v) in av.iter_mut().enumerate() {
                // SAFETY: b < nblk: inside the activation row's nblk*256 bytes.
                *v = unsafe { self.load(a.add(b * BLOCK + d * 64)) };
            }
            for (r, acc) in acc.iter_mut().enumerate() {
                // SAFETY: row r < R, block b < nblk.
                let wv = unsafe { self.load(w.add(r * rs + b * BLOCK_BYTES)) };
                for d in 0..4 {
                    acc[d] = self.dpbusd(acc[d], self.and(wv, masks[d]), av[d]);
                }
            }
        }
        // Undo the 4^d scales lane by lane (exact: each lane is a multiple of its scale).
        let mut s = [self.zero(); R];
        for (s, &[s0, s1, s2, s3]) in s.iter_mut().zip(&acc) {
            *s = self.add32(
                self.add32(s0, self.srai32::<2>(s1)),
                self.add32(self.srai32::<4>(s2), self.srai32::<6>(s3)),
            );
        }
        self.hsum(&s)
    }
}
