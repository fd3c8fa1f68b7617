//! `tl` kernels at the `sse41` level: exact pair-table lookups with `pshufb`, one column pair per
//! 128-bit vector. This file also holds what every x86 level shares: the [`Level`] trait (a
//! level's table builder and lookup loop), the [`gemv`] and [`gemm`] drivers generic over it, and
//! the plain-Rust helpers (per-thread table scratch, output rows). `avx2` and `avx512` implement
//! [`Level`] on 2 and 4 pairs per vector (one per 128-bit lane, since `pshufb` looks up within a
//! lane).
//!
//! **Tables.** For every activation pair `p` of a token the kernel builds the 16-entry table
//! `T[i] = w0·a0 + w1·a1` of [`crate::format::tl::table`] exactly in i16 (one `pmaddubsw` of the
//! constant bytes `(w0+1, w1+1)` with the broadcast pair `(a0, a1)`, in [-512, 508] so nothing
//! saturates, minus `a0 + a1`) and splits each entry into two bytes, `l = T & 31` in [0, 31] and
//! `h = (T >> 5) + 8` in [0, 16], with `l + 32·h = T + 256`. A pair's tables take 32 bytes:
//! 16 of `l`, then 16 of `h` (for `V` pairs per vector: `16·V` bytes of `l`, then of `h`).
//!
//! **Lookups.** A 16-byte chunk holds the 4-bit indices of a group's 32 rows for one pair:
//! `c & 15` indexes rows `0..16`, `(c >> 4) & 15` rows `16..32`. Four `pshufb` (`l` and `h` table
//! × low and high nibbles) give one byte per row each, added into four u8 accumulators. Per
//! vector: 1 load, 3 index ops, 4 shuffles, 4 byte adds, 1.5 ops of widening (below), 2 table
//! loads and a prefetch: about 12.5 ALU ops per 16 bytes of weights here, per 32 or 64 bytes at
//! the wider levels.
//!
//! **Why it is exact.** Byte sums stay in range: [`INNER`] = 8 vectors add at most 8·31 = 248 to
//! an `l` accumulator and 8·16 = 128 to an `h` accumulator. Every 8 vectors the `l` and `h` bytes
//! of each row are interleaved (`punpck{l,h}bw`) and `pmaddubsw` with the bytes `(1, 32)` gives
//! the u16 `Σl + 32·Σh = Σ(T + 256)` ≤ 4096 (no saturation: ≤ 248 + 32·128). Those are added
//! into u16 accumulators, which take at most [`OUTER`] = 120 vectors, i.e. 120 pairs per row and
//! lane (≤ 120·512 = 61 440 < 65 536), before being zero-extended and added into i32. Finally the
//! lanes are summed and the bias `256 · pairs` subtracted: `d = Σ T` exactly, for every int8
//! activation including -128 (`|T| ≤ 256`). Outputs go through the shared
//! [`crate::kernel::ternary_out`] epilogue, bit-identical to [`crate::scalar::dot_tl`].
//!
//! **gemv** ([`gemv`]) takes tokens one at a time and walks the thread's row groups in order:
//! one contiguous stream, prefetched into L2 [`PREFETCH`] bytes ahead. Measured on Zen 4, the
//! hardware prefetchers alone fed the lookup loop at well under half the read bandwidth; the
//! software prefetch roughly doubles it. (Sweeping column blocks so the tables stay in L1 was
//! slower: the shorter runs of weights cost more than the table misses.)
//! **gemm** ([`gemm`]) builds the tables of up to [`GEMM_TOKENS`] tokens, then per block of row
//! groups small enough to stay in L2 runs tiles of `Level::NT` tokens over each group, reusing
//! each loaded chunk and its index vectors across the tile's tables.

use std::arch::x86_64::*;
use std::cell::Cell;

use crate::act::ActQ8;
use crate::format::tl::{TlMatrix, CHUNK, ROW_GROUP};
use crate::kernel::{out_factor, ternary_out, Ops, Out};

pub(crate) const OPS: Option<Ops<TlMatrix, ActQ8>> = Some(Ops {
    gemv: gemv::<Sse41>,
    gemm: gemm::<Sse41>,
});

/// Vectors (one column pair per 128-bit lane) per u8 accumulation block: 8·31 ≤ 255.
pub(crate) const INNER: usize = 8;
/// Vectors per u16 accumulation block (one pair per lane per vector; 120·512 < 65 536).
pub(crate) const OUTER: usize = 15 * INNER;
/// Table bytes per column pair (16 `l` bytes, 16 `h` bytes).
pub(crate) const TABLE_BYTES: usize = 32;
/// How far ahead of the lookups the weight stream is prefetched into L2, in bytes (a thread's
/// row groups are contiguous, so this runs on into the next group).
pub(crate) const PREFETCH: usize = 16 << 10;
/// Largest `gemm` tile of any level.
pub(crate) const MAX_NT: usize = 4;
/// Tokens whose tables `gemm` holds at once (bounds its scratch; weights are re-read per batch
/// of this many tokens).
pub(crate) const GEMM_TOKENS: usize = 64;
/// Weight bytes a `gemm` block of row groups aims to keep in L2.
pub(crate) const GEMM_BLOCK_BYTES: usize = 384 << 10;

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

/// Exact dot products of one row group (`w`: its chunks) with `T` tokens (`tab[t]`: the token's
/// tables): `d[t][i]` for row `32g + i`.
#[target_feature(enable = "sse4.1,ssse3")]
fn dot_group<const T: usize>(w: &[u8], tab: [&[u8]; T]) -> [[i32; 32]; T] {
    let nvec = w.len() / CHUNK;
    assert!(nvec.is_multiple_of(INNER) && w.len() == nvec * CHUNK);
    for tt in &tab {
        assert!(tt.len() >= nvec * TABLE_BYTES);
    }
    let m0f = _mm_set1_epi8(0x0F);
    let c132 = _mm_set1_epi16(0x2001); // bytes (1, 32)
    let z = _mm_setzero_si128();
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
                if v % 4 == 0 {
                    // A hint: prefetching any address is harmless.
                    _mm_prefetch::<_MM_HINT_T1>(
                        w.as_ptr().wrapping_add(v * CHUNK + PREFETCH).cast(),
                    );
                }
                // SAFETY: v < nvec and w holds nvec·16 bytes (asserted above).
                let c = unsafe { _mm_loadu_si128(w.as_ptr().add(v * CHUNK).cast()) };
                let il = _mm_and_si128(c, m0f);
                let ih = _mm_and_si128(_mm_srli_epi16::<4>(c), m0f);
                for t in 0..T {
                    // SAFETY: v < nvec and tab[t] holds nvec·32 bytes (asserted above).
                    let (tl, th) = unsafe {
                        let p = tab[t].as_ptr().add(v * TABLE_BYTES);
                        (
                            _mm_loadu_si128(p.cast()),
                            _mm_loadu_si128(p.add(CHUNK).cast()),
                        )
                    };
                    al[t] = _mm_add_epi8(al[t], _mm_shuffle_epi8(tl, il));
                    ah[t] = _mm_add_epi8(ah[t], _mm_shuffle_epi8(tl, ih));
                    bl[t] = _mm_add_epi8(bl[t], _mm_shuffle_epi8(th, il));
                    bh[t] = _mm_add_epi8(bh[t], _mm_shuffle_epi8(th, ih));
                }
            }
            for t in 0..T {
                let x = &mut w16[t];
                let s = [
                    _mm_unpacklo_epi8(al[t], bl[t]),
                    _mm_unpackhi_epi8(al[t], bl[t]),
                    _mm_unpacklo_epi8(ah[t], bh[t]),
                    _mm_unpackhi_epi8(ah[t], bh[t]),
                ];
                for i in 0..4 {
                    x[i] = _mm_add_epi16(x[i], _mm_maddubs_epi16(s[i], c132));
                }
            }
            j += INNER;
        }
        for t in 0..T {
            for i in 0..4 {
                let x = w16[t][i];
                acc[t][2 * i] = _mm_add_epi32(acc[t][2 * i], _mm_unpacklo_epi16(x, z));
                acc[t][2 * i + 1] = _mm_add_epi32(acc[t][2 * i + 1], _mm_unpackhi_epi16(x, z));
            }
        }
    }
    // Each pair added T + 256 to its row.
    let bias = _mm_set1_epi32((nvec * 256) as i32);
    let mut d = [[0i32; 32]; T];
    for (dt, at) in d.iter_mut().zip(&acc) {
        for (q, &x) in dt.chunks_exact_mut(4).zip(at) {
            // SAFETY: q is 4 i32, 16 writable bytes.
            unsafe { _mm_storeu_si128(q.as_mut_ptr().cast(), _mm_sub_epi32(x, bias)) };
        }
    }
    d
}

/// One SIMD level's table builder and lookup loop, driven by the shared [`gemv`] and [`gemm`].
pub(crate) trait Level {
    /// Column pairs per vector (one per 128-bit lane); the table layout is per vector of `V`
    /// pairs: `16·V` bytes of `l` tables, then `16·V` bytes of `h` tables.
    const V: usize;
    /// Tokens per `gemm` tile.
    const NT: usize;
    /// Builds one token's tables (`a`: its padded row) for `pairs` pairs into `dst`.
    ///
    /// # Safety
    /// The CPU must have the level's features.
    unsafe fn build(a: &[i8], pairs: usize, dst: &mut [u8]);
    /// Exact dot products `d[t][i]` of the 32 rows of one row group (`w`: its chunks, a multiple
    /// of `V·INNER` pairs) with each token's tables `tabs[t]` (`tabs.len()` ≤ `NT`), prefetching
    /// the weights [`PREFETCH`] bytes ahead into L2.
    ///
    /// # Safety
    /// The CPU must have the level's features.
    unsafe fn dot(w: &[u8], tabs: &[&[u8]], d: &mut [[i32; 32]]);
}

/// `gemv` of every level: tokens one at a time, row group after row group (the groups of a
/// thread's rows are one contiguous stream, prefetched into L2 [`PREFETCH`] bytes ahead).
///
/// # Safety
/// The CPU must have `L`'s features; `out` must be valid for rows `r0..r1` of every token
/// (kernel contract); `r0` is a multiple of 32.
pub(crate) unsafe fn gemv<L: Level>(m: &TlMatrix, r0: usize, r1: usize, act: &ActQ8, out: Out) {
    let pairs = m.padded_cols() / 2;
    let tb = pairs * TABLE_BYTES;
    // Every group is whole vectors of whole u8 blocks (pairs are a multiple of 64).
    assert!(pairs.is_multiple_of(L::V * INNER));
    let mut scratch = Scratch::take(tb);
    let tab = scratch.bytes(tb);
    for t in 0..act.batch() {
        // SAFETY: the caller guarantees L's features.
        unsafe { L::build(act.row(t), pairs, tab) };
        for g in r0 / ROW_GROUP..r1.div_ceil(ROW_GROUP) {
            let mut d = [[0i32; 32]];
            // SAFETY: the caller guarantees L's features.
            unsafe { L::dot(m.group(g), &[tab], &mut d) };
            // SAFETY: kernel contract; rows of group g below r1, token t.
            unsafe { write_group(m, act, out, g, r1, t, &d) };
        }
    }
}

/// `gemm` of every level: tables of up to [`GEMM_TOKENS`] tokens at a time; row groups in blocks
/// small enough to stay in L2; tiles of `L::NT` tokens per group, so every loaded chunk and its
/// index vectors serve the whole tile.
///
/// # Safety
/// As [`gemv`].
pub(crate) unsafe fn gemm<L: Level>(m: &TlMatrix, r0: usize, r1: usize, act: &ActQ8, out: Out) {
    let pairs = m.padded_cols() / 2;
    let tb = pairs * TABLE_BYTES;
    let batch = act.batch();
    let groups = r0 / ROW_GROUP..r1.div_ceil(ROW_GROUP);
    let block = (GEMM_BLOCK_BYTES / m.group(0).len()).max(1);
    let mut scratch = Scratch::take(batch.min(GEMM_TOKENS) * tb);
    let tabs = scratch.bytes(batch.min(GEMM_TOKENS) * tb);
    for ts in (0..batch).step_by(GEMM_TOKENS) {
        let te = (ts + GEMM_TOKENS).min(batch);
        for t in ts..te {
            let dst = &mut tabs[(t - ts) * tb..(t - ts + 1) * tb];
            // SAFETY: the caller guarantees L's features.
            unsafe { L::build(act.row(t), pairs, dst) };
        }
        let tab = |t: usize| &tabs[(t - ts) * tb..(t - ts + 1) * tb];
        for gb in groups.clone().step_by(block) {
            let gs = gb..(gb + block).min(groups.end);
            for t0 in (ts..te).step_by(L::NT) {
                let n = L::NT.min(te - t0);
                let tile: [&[u8]; MAX_NT] = std::array::from_fn(|k| tab(t0 + k.min(n - 1)));
                for g in gs.clone() {
                    let w = m.group(g);
                    let mut d = [[0i32; 32]; MAX_NT];
                    // SAFETY: the caller guarantees L's features.
                    unsafe { L::dot(w, &tile[..n], &mut d[..n]) };
                    // SAFETY: kernel contract; tokens t0..t0+n ≤ batch, rows below r1.
                    unsafe { write_group(m, act, out, g, r1, t0, &d[..n]) };
                }
            }
        }
    }
}

/// The `sse41` level.
struct Sse41;

impl Level for Sse41 {
    const V: usize = 1;
    const NT: usize = 2;
    unsafe fn build(a: &[i8], pairs: usize, dst: &mut [u8]) {
        // SAFETY: forwarded to the caller.
        unsafe { build_tables(a, pairs, dst) }
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

/// A per-thread table buffer of 64-byte lines, reused across calls (kernels run on persistent
/// pool threads); returned to the thread's cache on drop.
pub(crate) struct Scratch(Vec<Line>);

/// One 64-byte-aligned line of table scratch.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
pub(crate) struct Line([u8; 64]);

thread_local! {
    static SCRATCH: Cell<Vec<Line>> = const { Cell::new(Vec::new()) };
}

impl Scratch {
    /// This thread's buffer, grown to at least `bytes`.
    pub(crate) fn take(bytes: usize) -> Self {
        let mut v = SCRATCH.with(|s| s.take());
        let lines = bytes.div_ceil(64);
        if v.len() < lines {
            v = vec![Line([0; 64]); lines];
        }
        Scratch(v)
    }

    /// The first `bytes` bytes (at most the size asked of [`Scratch::take`]).
    pub(crate) fn bytes(&mut self, bytes: usize) -> &mut [u8] {
        assert!(bytes <= self.0.len() * 64);
        // SAFETY: Line is a plain 64-byte array (no padding); `bytes` is within the buffer, which
        // this borrow holds exclusively.
        unsafe { std::slice::from_raw_parts_mut(self.0.as_mut_ptr().cast::<u8>(), bytes) }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let v = std::mem::take(&mut self.0);
        SCRATCH.with(|s| s.set(v));
    }
}

/// The constant bytes `(w0 + 1, w1 + 1)` of table entry `e = 3(w0+1) + (w1+1)` (i16 lane `e`),
/// `(1, 1)` for the unused entries 9..16 (which then hold `T = 0`): entries 0..8 and 8..16.
pub(crate) fn weight_bytes() -> [[u8; 16]; 2] {
    let mut wc = [1u8; 32];
    for e in 0..9 {
        wc[2 * e] = (e / 3) as u8;
        wc[2 * e + 1] = (e % 3) as u8;
    }
    let mut h = [[0u8; 16]; 2];
    h[0].copy_from_slice(&wc[..16]);
    h[1].copy_from_slice(&wc[16..]);
    h
}

/// Writes the rows `< r1` of row group `g` for tokens `t0..t0 + d.len()` from their dot products
/// through the shared epilogue.
///
/// # Safety
/// `out` must be valid for those tokens and rows (kernel contract).
#[inline]
pub(crate) unsafe fn write_group(
    m: &TlMatrix,
    act: &ActQ8,
    out: Out,
    g: usize,
    r1: usize,
    t0: usize,
    d: &[[i32; 32]],
) {
    let rows = (r1 - g * ROW_GROUP).min(ROW_GROUP);
    for (t, dt) in d.iter().enumerate() {
        let f = out_factor(m.scale(), act.scale(t0 + t));
        for (i, &v) in dt[..rows].iter().enumerate() {
            // SAFETY: row 32g + i < r1 and token t0 + t < batch: inside the caller's region.
            unsafe { out.write(t0 + t, g * ROW_GROUP + i, ternary_out(v, f)) };
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::act::ActQ8;
    use crate::format::tl::TlMatrix;
    use crate::kernel::Out;
    use crate::{Format, Isa, KernelSet};

    /// Runs `kernel` on rows `r0..r1` of every token into a NaN-filled buffer.
    fn run(
        kernel: crate::Kernel<TlMatrix, ActQ8>,
        m: &TlMatrix,
        a: &ActQ8,
        r0: usize,
        r1: usize,
    ) -> Vec<f32> {
        let mut out = vec![f32::NAN; a.batch() * m.rows()];
        let dst = Out {
            ptr: out.as_mut_ptr(),
            ld: m.rows(),
        };
        // SAFETY: the set came from KernelSet::get (CPU checked); `out` holds batch x rows.
        unsafe { kernel(m, r0, r1, a, dst) };
        out
    }

    /// Every level against the scalar reference, bit for bit: batches past the gemm table block
    /// (64 tokens) with tile remainders, row ranges starting inside the matrix and ending off a
    /// group boundary, and the table extremes T = ±256 (activations -128 under weights all -1 or
    /// all +1) over enough columns to fill the u16 accumulators.
    #[test]
    fn levels_match_scalar_on_ranges_batches_and_extremes() {
        let mut s = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        let scalar = KernelSet::get(Isa::Scalar).unwrap().tl.as_ref().unwrap();
        let sets: Vec<_> = KernelSet::available()
            .into_iter()
            .filter(|k| k.isa != Isa::Scalar && k.has(Format::Tl))
            .collect();
        let cases: [(usize, usize, usize, i8, Option<i8>); 4] = [
            (70, 300, 67, 0, None),
            (97, 1000, 5, 0, None),
            (40, 2000, 3, -128, Some(-1)),
            (40, 2000, 3, -128, Some(1)),
        ];
        for (rows, cols, batch, fill, wfix) in cases {
            let w: Vec<i8> = (0..rows * cols)
                .map(|_| wfix.unwrap_or((next() % 3) as i8 - 1))
                .collect();
            let q: Vec<i8> = (0..batch * cols)
                .map(|_| if fill != 0 { fill } else { next() as i8 })
                .collect();
            let scales: Vec<f32> = (0..batch).map(|t| 1.0 + t as f32 * 0.25).collect();
            let m = TlMatrix::from_ternary(rows, cols, &w, 0.37).unwrap();
            let a = ActQ8::from_quantized(&q, batch, cols, &scales);
            for (r0, r1) in [(0, rows), (32, rows.min(50)), (0, 7)] {
                let want = run(scalar.gemv, &m, &a, r0, r1);
                for ks in &sets {
                    let ops = ks.tl.as_ref().unwrap();
                    for (name, k) in [("gemv", ops.gemv), ("gemm", ops.gemm)] {
                        let got = run(k, &m, &a, r0, r1);
                        let same = got
                            .iter()
                            .zip(&want)
                            .all(|(x, y)| x.to_bits() == y.to_bits());
                        assert!(
                            same,
                            "{name}/{} {rows}x{cols} batch {batch} rows {r0}..{r1}",
                            ks.isa
                        );
                    }
                }
            }
        }
    }
}
