//! `tl` kernels at the `avx2` level: the exact pair-table lookups of [`crate::x86::sse41::tl`]
//! (which explains the tables, the `l`/`h` byte split, why every sum is exact, and holds the
//! shared `gemv`/`gemm` drivers) on two column pairs per 256-bit vector, one per 128-bit lane.
//!
//! **Tables.** Laid out per vector of the weight stream: for vector `j` (pairs `2j`, `2j+1`),
//! 32 bytes of `l` tables (pair `2j` in the low lane, `2j+1` in the high lane), then 32 bytes of
//! `h` tables. [`build_tables`] makes two pairs at a time: one `vpmaddubsw` per pair gives its 16
//! entries as i16 lanes, then `vpackuswb` of the two pairs' `l` (and `h`) bytes and a `vpermq`
//! put each pair in its lane. The `avx512` level uses it too, with 4 pairs per vector.
//!
//! **Lookups.** One 32-byte load holds the indices of a group's 32 rows for two pairs (128
//! weights); per vector: 3 index ops, 4 `vpshufb`, 4 byte adds, 1.5 ops of widening, 3 loads and
//! half a prefetch. The two lanes' i32 sums are added at the end.
//!
//! **Registers.** One row group at a time (two side by side would share the table loads but
//! spill accumulators out of the 16 registers); `gemm` tiles are [`Level::NT`] = 2 tokens
//! (4 byte accumulators and 4 u16 accumulators each).

use std::arch::x86_64::*;

use crate::act::ActQ8;
use crate::format::tl::{TlMatrix, CHUNK};
use crate::kernel::Ops;
use crate::x86::sse41::tl::{gemm, gemv, weight_bytes, Level, INNER, OUTER, PREFETCH, TABLE_BYTES};

pub(crate) const OPS: Option<Ops<TlMatrix, ActQ8>> = Some(Ops {
    gemv: gemv::<Avx2>,
    gemm: gemm::<Avx2>,
});

/// Column pairs per 256-bit vector (one per lane).
const V: usize = 2;

/// The `avx2` level.
struct Avx2;

impl Level for Avx2 {
    const V: usize = V;
    const NT: usize = 2;
    unsafe fn build(a: &[i8], pairs: usize, dst: &mut [u8]) {
        // SAFETY: forwarded to the caller.
        unsafe { build_tables::<V>(a, pairs, dst) }
    }
    unsafe fn dot(w: &[u8], tabs: &[&[u8]], d: &mut [[i32; 32]]) {
        match *tabs {
            [a, b] => {
                // SAFETY: the caller guarantees the level's features.
                let r = unsafe { dot_group::<2>(w, [a, b]) };
                d.copy_from_slice(&r);
            }
            _ => {
                for (dt, tt) in d.iter_mut().zip(tabs) {
                    // SAFETY: the caller guarantees the level's features.
                    [*dt] = unsafe { dot_group::<1>(w, [tt]) };
                }
            }
        }
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

/// Exact dot products of one row group's chunk run `w` with `T` tokens (`tab[t]`: the token's
/// tables for the same pairs, layout of [`build_tables`] with `VL = 2`): `d[t][i]` for row
/// `32g + i`.
#[target_feature(enable = "avx2,fma,f16c")]
fn dot_group<const T: usize>(w: &[u8], tab: [&[u8]; T]) -> [[i32; 32]; T] {
    let nvec = w.len() / (V * CHUNK);
    assert!(nvec.is_multiple_of(INNER) && w.len() == nvec * V * CHUNK);
    for tt in &tab {
        assert!(tt.len() >= nvec * V * TABLE_BYTES);
    }
    let m0f = _mm256_set1_epi8(0x0F);
    let c132 = _mm256_set1_epi16(0x2001); // bytes (1, 32)
    let z = _mm256_setzero_si256();
    let mut acc = [[z; 8]; T];
    let mut j = 0;
    while j < nvec {
        let end = (j + OUTER).min(nvec);
        let mut w16 = [[z; 4]; T];
        while j < end {
            let mut al = [z; T];
            let mut ah = [z; T];
            let mut bl = [z; T];
            let mut bh = [z; T];
            for v in j..j + INNER {
                if v % 2 == 0 {
                    // A hint: prefetching any address is harmless.
                    _mm_prefetch::<_MM_HINT_T1>(
                        w.as_ptr().wrapping_add(v * V * CHUNK + PREFETCH).cast(),
                    );
                }
                // SAFETY: v < nvec and w holds nvec·32 bytes (asserted above).
                let c = unsafe { _mm256_loadu_si256(w.as_ptr().add(v * V * CHUNK).cast()) };
                let il = _mm256_and_si256(c, m0f);
                let ih = _mm256_and_si256(_mm256_srli_epi16::<4>(c), m0f);
                for t in 0..T {
                    // SAFETY: v < nvec and tab[t] holds nvec·64 bytes (asserted above).
                    let (tl, th) = unsafe {
                        let p = tab[t].as_ptr().add(v * V * TABLE_BYTES);
                        (
                            _mm256_loadu_si256(p.cast()),
                            _mm256_loadu_si256(p.add(V * CHUNK).cast()),
                        )
                    };
                    al[t] = _mm256_add_epi8(al[t], _mm256_shuffle_epi8(tl, il));
                    ah[t] = _mm256_add_epi8(ah[t], _mm256_shuffle_epi8(tl, ih));
                    bl[t] = _mm256_add_epi8(bl[t], _mm256_shuffle_epi8(th, il));
                    bh[t] = _mm256_add_epi8(bh[t], _mm256_shuffle_epi8(th, ih));
                }
            }
            for t in 0..T {
                let s = [
                    _mm256_unpacklo_epi8(al[t], bl[t]),
                    _mm256_unpackhi_epi8(al[t], bl[t]),
                    _mm256_unpacklo_epi8(ah[t], bh[t]),
                    _mm256_unpackhi_epi8(ah[t], bh[t]),
                ];
                for i in 0..4 {
                    w16[t][i] = _mm256_add_epi16(w16[t][i], _mm256_maddubs_epi16(s[i], c132));
                }
            }
            j += INNER;
        }
        for t in 0..T {
            for i in 0..4 {
                let x = w16[t][i];
                acc[t][2 * i] = _mm256_add_epi32(acc[t][2 * i], _mm256_unpacklo_epi16(x, z));
                acc[t][2 * i + 1] =
                    _mm256_add_epi32(acc[t][2 * i + 1], _mm256_unpackhi_epi16(x, z));
            }
        }
    }
    // Each pair added T + 256 to its row.
    let bias = _mm_set1_epi32((nvec * V * 256) as i32);
    let mut d = [[0i32; 32]; T];
    for (dt, at) in d.iter_mut().zip(&acc) {
        for (q, &x) in dt.chunks_exact_mut(4).zip(at) {
            let s = _mm_add_epi32(_mm256_castsi256_si128(x), _mm256_extracti128_si256::<1>(x));
            // SAFETY: q is 4 i32, 16 writable bytes.
            unsafe { _mm_storeu_si128(q.as_mut_ptr().cast(), _mm_sub_epi32(s, bias)) };
        }
    }
    d
}
