//! `tl` kernels at the `sse41` level: the [`crate::x86::drive::tl`] lookups on one column pair
//! per 128-bit vector; the tables of one pair per 32 bytes (16 of `l`, then 16 of `h`), built
//! with one `pmaddubsw` per half-table.

use std::arch::x86_64::*;

use crate::act::ActQ8;
use crate::format::tl::{TlMatrix, CHUNK};
use crate::x86::drive::tl::{weight_bytes, Tl, TABLE_BYTES};
use crate::x86::drive::{self, entries};
use crate::x86::sse41::Sse41;

entries! {
    features: "sse4.1,ssse3",
    token: Sse41,
    matrix: TlMatrix,
    act: ActQ8,
    gemv: drive::tl::gemv::<_>,
    gemm: drive::tl::gemm::<_, 2>,
}

impl Tl for Sse41 {
    #[inline(always)]
    fn build(self, a: &[i8], pairs: usize, dst: &mut [u8]) {
        // SAFETY: the token proves the features.
        unsafe { build_tables(a, pairs, dst) }
    }
}

/// Builds the `l`/`h` tables of one token (`a`: its padded row, at least `2 * pairs` values),
/// 32 bytes per pair.
#[target_feature(enable = "sse4.1,ssse3")]
fn build_tables(a: &[i8], pairs: usize, dst: &mut [u8]) {
    assert!(a.len() >= 2 * pairs && dst.len() >= pairs * TABLE_BYTES);
    let [wc0, wc1] = weight_bytes();
    // SAFETY: each half is 16 readable bytes.
    let (wc0, wc1) = unsafe {
        (
            _mm_loadu_si128(wc0.as_ptr().cast()),
            _mm_loadu_si128(wc1.as_ptr().cast()),
        )
    };
    let ones = _mm_set1_epi8(1);
    let m31 = _mm_set1_epi16(31);
    let eight = _mm_set1_epi16(8);
    for p in 0..pairs {
        // SAFETY: p < pairs, so bytes 2p and 2p+1 are inside `a` (asserted above).
        let b = _mm_set1_epi16(unsafe { a.as_ptr().add(2 * p).cast::<i16>().read_unaligned() });
        let s = _mm_maddubs_epi16(ones, b);
        let t0 = _mm_sub_epi16(_mm_maddubs_epi16(wc0, b), s);
        let t1 = _mm_sub_epi16(_mm_maddubs_epi16(wc1, b), s);
        let l = _mm_packus_epi16(_mm_and_si128(t0, m31), _mm_and_si128(t1, m31));
        let h = _mm_packus_epi16(
            _mm_add_epi16(_mm_srai_epi16::<5>(t0), eight),
            _mm_add_epi16(_mm_srai_epi16::<5>(t1), eight),
        );
        // SAFETY: p·32 + 32 ≤ pairs·32 ≤ dst.len().
        unsafe {
            let q = dst.as_mut_ptr().add(p * TABLE_BYTES);
            _mm_storeu_si128(q.cast(), l);
            _mm_storeu_si128(q.add(CHUNK).cast(), h);
        }
    }
}
