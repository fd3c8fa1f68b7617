//! `tl` kernels at the `avx2` level: the [`crate::x86::drive::tl`] lookups on two column pairs
//! per 256-bit vector, one per 128-bit lane.
//!
//! **Tables.** Laid out per vector of the weight stream: for vector `j` (pairs `2j`, `2j+1`),
//! 32 bytes of `l` tables (pair `2j` in the low lane, `2j+1` in the high lane), then 32 bytes of
//! `h` tables. [`build_tables`] makes two pairs at a time: one `vpmaddubsw` per pair gives its 16
//! entries as i16 lanes, then `vpackuswb` of the two pairs' `l` (and `h`) bytes and a `vpermq`
//! put each pair in its lane. The `avx512` level uses it too, with 4 pairs per vector.
//!
//! **Registers.** One row group at a time (two side by side would share the table loads but
//! spill accumulators out of the 16 registers); `gemm` tiles are 2 tokens (4 byte accumulators
//! and 4 u16 accumulators each).

use std::arch::x86_64::*;

use crate::act::ActQ8;
use crate::format::tl::{TlMatrix, CHUNK};
use crate::x86::avx2::Avx2;
use crate::x86::drive::tl::{weight_bytes, Tl, TABLE_BYTES};
use crate::x86::drive::{self, entries};

entries! {
    features: "avx2,fma,f16c",
    token: Avx2,
    matrix: TlMatrix,
    act: ActQ8,
    gemv: drive::tl::gemv::<_>,
    gemm: drive::tl::gemm::<_, 2>,
}

impl Tl for Avx2 {
    #[inline(always)]
    fn build(self, a: &[i8], pairs: usize, dst: &mut [u8]) {
        // SAFETY: the token proves the features.
        unsafe { build_tables::<2>(a, pairs, dst) }
    }
}

/// Builds the `l`/`h` tables of one token (`a`: its padded row, at least `2 * pairs` values) in
/// the layout of a stream of `VL`-pair vectors (`VL` = 2 or 4): for vector `j`, `16·VL` bytes of
/// `l` tables (pair `VL·j + k` at offset `16k`), then `16·VL` bytes of `h` tables.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn build_tables<const VL: usize>(a: &[i8], pairs: usize, dst: &mut [u8]) {
    assert!(VL == 2 || VL == 4);
    assert!(pairs.is_multiple_of(VL) && a.len() >= 2 * pairs);
    assert!(dst.len() >= pairs * TABLE_BYTES);
    let wc = weight_bytes();
    // SAFETY: wc is 32 contiguous readable bytes.
    let wc = unsafe { _mm256_loadu_si256(wc.as_ptr().cast()) };
    let ones = _mm256_set1_epi8(1);
    let m31 = _mm256_set1_epi16(31);
    let eight = _mm256_set1_epi16(8);
    for p in (0..pairs).step_by(2) {
        let mut t = [_mm256_setzero_si256(); 2];
        for (k, tk) in t.iter_mut().enumerate() {
            // SAFETY: p + k < pairs, so bytes 2(p+k) and 2(p+k)+1 are inside `a` (asserted).
            let b = unsafe { a.as_ptr().add(2 * (p + k)).cast::<i16>().read_unaligned() };
            let b = _mm256_set1_epi16(b);
            // (w0+1)·a0 + (w1+1)·a1 − (a0 + a1): every term ≤ 512 in magnitude, no saturation.
            *tk = _mm256_sub_epi16(_mm256_maddubs_epi16(wc, b), _mm256_maddubs_epi16(ones, b));
        }
        let l = _mm256_packus_epi16(_mm256_and_si256(t[0], m31), _mm256_and_si256(t[1], m31));
        let h = _mm256_packus_epi16(
            _mm256_add_epi16(_mm256_srai_epi16::<5>(t[0]), eight),
            _mm256_add_epi16(_mm256_srai_epi16::<5>(t[1]), eight),
        );
        // packus interleaves per lane: [p 0..8, q 0..8 | p 8..16, q 8..16] -> [p | q].
        let l = _mm256_permute4x64_epi64::<0b11_01_10_00>(l);
        let h = _mm256_permute4x64_epi64::<0b11_01_10_00>(h);
        let off = (p / VL) * VL * TABLE_BYTES + (p % VL) * CHUNK;
        // SAFETY: p % VL ≤ VL − 2, so off + 16·VL + 32 ≤ (p/VL + 1)·VL·32 ≤ pairs·32 ≤ dst.len().
        unsafe {
            _mm256_storeu_si256(dst.as_mut_ptr().add(off).cast(), l);
            _mm256_storeu_si256(dst.as_mut_ptr().add(off + VL * CHUNK).cast(), h);
        }
    }
}
