//! `tl` kernels at the `avx512` level: the exact pair-table lookups of [`crate::x86::sse41::tl`]
//! (which explains the tables, the `l`/`h` byte split, why every sum is exact, and holds the
//! shared `gemv`/`gemm` drivers) on four column pairs per 512-bit vector, one per 128-bit lane.
//!
//! **Tables.** Built by [`crate::x86::avx2::tl::build_tables`] (this level includes the `avx2`
//! features) in the 4-pair layout: for vector `j`, 64 bytes of `l` tables (pairs `4j..4j+4`,
//! one per lane), then 64 bytes of `h` tables.
//!
//! **Lookups.** One 64-byte load holds the indices of a group's 32 rows for four pairs (256
//! weights); per vector: 3 index ops, 4 `vpshufb`, 4 byte adds, 1.5 ops of widening, 3 loads and
//! a prefetch. The four lanes' i32 sums are added at the end. On Zen 4, which runs 512-bit
//! operations as two 256-bit halves, this does the same work per byte as `avx2` with half the
//! instructions.
//!
//! **Registers.** One row group at a time (two side by side measured slower); `gemm` tiles are
//! [`Level::NT`] = 4 tokens (16 byte accumulators and 16 u16 accumulators fit 32 registers).

use std::arch::x86_64::*;

use crate::act::ActQ8;
use crate::format::tl::{TlMatrix, CHUNK};
use crate::kernel::Ops;
use crate::x86::avx2::tl::build_tables;
use crate::x86::sse41::tl::{gemm, gemv, Level, INNER, OUTER, PREFETCH, TABLE_BYTES};

pub(crate) const OPS: Option<Ops<TlMatrix, ActQ8>> = Some(Ops {
    gemv: gemv::<Avx512>,
    gemm: gemm::<Avx512>,
});

/// Column pairs per 512-bit vector (one per lane).
const V: usize = 4;

/// The `avx512` level.
struct Avx512;

impl Level for Avx512 {
    const V: usize = V;
    const NT: usize = 4;
    unsafe fn build(a: &[i8], pairs: usize, dst: &mut [u8]) {
        // SAFETY: forwarded to the caller; this level includes the avx2 features.
        unsafe { build_tables::<V>(a, pairs, dst) }
    }
    unsafe fn dot(w: &[u8], tabs: &[&[u8]], d: &mut [[i32; 32]]) {
        match *tabs {
            [a, b, c, e] => {
                // SAFETY: the caller guarantees the level's features.
                let r = unsafe { dot_group::<4>(w, [a, b, c, e]) };
                d.copy_from_slice(&r);
            }
            [a, b, c] => {
                // SAFETY: the caller guarantees the level's features.
                let r = unsafe { dot_group::<3>(w, [a, b, c]) };
                d.copy_from_slice(&r);
            }
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

/// Exact dot products of one row group's chunk run `w` with `T` tokens (`tab[t]`: the token's
/// tables for the same pairs, 4-pair layout): `d[t][i]` for row `32g + i`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c")]
fn dot_group<const T: usize>(w: &[u8], tab: [&[u8]; T]) -> [[i32; 32]; T] {
    let nvec = w.len() / (V * CHUNK);
    assert!(nvec.is_multiple_of(INNER) && w.len() == nvec * V * CHUNK);
    for tt in &tab {
        assert!(tt.len() >= nvec * V * TABLE_BYTES);
    }
    let m0f = _mm512_set1_epi8(0x0F);
    let c132 = _mm512_set1_epi16(0x2001); // bytes (1, 32)
    let z = _mm512_setzero_si512();
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
                let mut tl = [z; T];
                let mut th = [z; T];
                for t in 0..T {
                    // SAFETY: v < nvec and tab[t] holds nvec·128 bytes (asserted above).
                    unsafe {
                        let p = tab[t].as_ptr().add(v * V * TABLE_BYTES);
                        tl[t] = _mm512_loadu_si512(p.cast());
                        th[t] = _mm512_loadu_si512(p.add(V * CHUNK).cast());
                    }
                }
                // A hint: prefetching any address is harmless.
                _mm_prefetch::<_MM_HINT_T1>(
                    w.as_ptr().wrapping_add(v * V * CHUNK + PREFETCH).cast(),
                );
                // SAFETY: v < nvec and w holds nvec·64 bytes (asserted above).
                let c = unsafe { _mm512_loadu_si512(w.as_ptr().add(v * V * CHUNK).cast()) };
                let il = _mm512_and_si512(c, m0f);
                let ih = _mm512_and_si512(_mm512_srli_epi16::<4>(c), m0f);
                for t in 0..T {
                    al[t] = _mm512_add_epi8(al[t], _mm512_shuffle_epi8(tl[t], il));
                    ah[t] = _mm512_add_epi8(ah[t], _mm512_shuffle_epi8(tl[t], ih));
                    bl[t] = _mm512_add_epi8(bl[t], _mm512_shuffle_epi8(th[t], il));
                    bh[t] = _mm512_add_epi8(bh[t], _mm512_shuffle_epi8(th[t], ih));
                }
            }
            for t in 0..T {
                let s = [
                    _mm512_unpacklo_epi8(al[t], bl[t]),
                    _mm512_unpackhi_epi8(al[t], bl[t]),
                    _mm512_unpacklo_epi8(ah[t], bh[t]),
                    _mm512_unpackhi_epi8(ah[t], bh[t]),
                ];
                for i in 0..4 {
                    w16[t][i] = _mm512_add_epi16(w16[t][i], _mm512_maddubs_epi16(s[i], c132));
                }
            }
            j += INNER;
        }
        for t in 0..T {
            for i in 0..4 {
                let x = w16[t][i];
                let a = &mut acc[t];
                a[2 * i] = _mm512_add_epi32(a[2 * i], _mm512_unpacklo_epi16(x, z));
                a[2 * i + 1] = _mm512_add_epi32(a[2 * i + 1], _mm512_unpackhi_epi16(x, z));
            }
        }
    }
    // Each pair added T + 256 to its row.
    let bias = _mm_set1_epi32((nvec * V * 256) as i32);
    let mut d = [[0i32; 32]; T];
    for (dt, at) in d.iter_mut().zip(&acc) {
        for (q, &x) in dt.chunks_exact_mut(4).zip(at) {
            let y = _mm256_add_epi32(_mm512_castsi512_si256(x), _mm512_extracti64x4_epi64::<1>(x));
            let s = _mm_add_epi32(_mm256_castsi256_si128(y), _mm256_extracti128_si256::<1>(y));
            // SAFETY: q is 4 i32, 16 writable bytes.
            unsafe { _mm_storeu_si128(q.as_mut_ptr().cast(), _mm_sub_epi32(s, bias)) };
        }
    }
    d
}
