//! The `q4` driver (4-bit codes in blocks of 64, one f16 scale each; [`crate::format::q4`]) for
//! every x86 level.
//!
//! **Per 64-byte chunk** (two blocks, 128 weights): one load per row, `lo = v & 15` and
//! `hi = (v >> 4) & 15` are the unsigned codes of the two blocks in activation order; each is
//! multiplied with its 64 activations by [`Simd::dot_codes`] (`pmaddubsw` into words: a pair is
//! at most 2·15·128 = 3840, and at most 4 parts add into a word lane, below 2¹⁵; or `vpdpbusd`
//! into dwords), widened to dwords, converted to f32 and added times the block's scale into the
//! row's f32 accumulator. The scale correction `8·Σ_b d_b·A_b` (`A_b` the activation block
//! sums, computed once per token) is one short vector dot product per row over the row's scales,
//! which are widened to f32 once per row ([`Q4::widen_scales`]).
//!
//! **gemv** runs `GR` rows at a time, one from each of `GR` contiguous parts of the row range
//! (long sequential streams the hardware prefetchers follow, each also prefetched
//! [`crate::tune::gemv_prefetch`] bytes ahead), sharing each chunk's activation loads. **gemm** runs tiles of `MR` rows × `MT`
//! tokens over every column, so each unpacked chunk serves the whole tile.

use crate::act::ActQ8;
use crate::format::q4::{Q4Matrix, BLOCK, CHUNK_BYTES, COL_BLOCK};
use crate::kernel::{q4_out, Out};
use crate::x86::drive::by_width;
use crate::x86::simd::{prefetch_t0, Simd};

/// A level's f32 arithmetic for the block scales.
pub(crate) trait Q4: Simd {
    /// The f32 vector.
    type F: Copy;
    /// Floats per vector.
    const LANES: usize;
    /// All zeros.
    fn fzero(self) -> Self::F;
    /// Dwords to floats.
    fn cvt(self, v: Self::I) -> Self::F;
    /// `acc + x·d`, `d` broadcast.
    fn fmac(self, acc: Self::F, x: Self::F, d: f32) -> Self::F;
    /// `acc + x·y`.
    fn fmul_add(self, acc: Self::F, x: Self::F, y: Self::F) -> Self::F;
    /// `LANES` floats at `p`.
    ///
    /// # Safety
    /// `p` valid for `LANES` floats.
    unsafe fn loadf(self, p: *const f32) -> Self::F;
    /// The lane sum.
    fn fsum(self, v: Self::F) -> f32;
    /// Widens `n` f16 scales at `src` into f32 at `dst` (`n` a multiple of 16).
    ///
    /// # Safety
    /// `src` valid for `n` halves, `dst` for `n` floats.
    unsafe fn widen_scales(self, src: *const u16, dst: *mut f32, n: usize);
}

/// The activation block sums `A_b` of one padded row (`nbp` values, zero past the blocks).
fn block_sums(a: &[i8], nb: usize, nbp: usize) -> Vec<f32> {
    let mut s = vec![0f32; nbp];
    for (b, s) in s.iter_mut().enumerate().take(nb) {
        *s = a[b * BLOCK..(b + 1) * BLOCK]
            .iter()
            .map(|&v| v as i32)
            .sum::<i32>() as f32;
    }
    s
}

/// gemv: every token in turn, `GR` row streams (module doc).
///
/// # Safety
/// Kernel contract ([`crate::kernel`]); `l` proves the level's features.
#[inline(always)]
pub(crate) unsafe fn gemv<L: Q4, const GR: usize>(
    l: L,
    m: &Q4Matrix,
    r0: usize,
    r1: usize,
    act: &ActQ8,
    out: Out,
) {
    let nbp = m.scales_per_row();
    let mut ds = vec![0f32; GR * nbp];
    let h = (r1 - r0) / GR;
    for t in 0..act.batch() {
        let sums = [block_sums(act.row(t), m.blocks(), nbp)];
        for r in r0..r0 + h {
            // SAFETY: rows r + i·h (i < GR) lie in r0..r1; token t exists; outputs are the
            // caller's.
            unsafe { tile::<L, GR, 1>(l, m, act, &sums, &mut ds, out, r, h, t) };
        }
        for r in r0 + GR * h..r1 {
            // SAFETY: as above, one row.
            unsafe { tile::<L, 1, 1>(l, m, act, &sums, &mut ds, out, r, 0, t) };
        }
    }
}

/// gemm: tiles of `MR` rows × `MT` tokens over every column (module doc).
///
/// # Safety
/// Kernel contract ([`crate::kernel`]); `l` proves the level's features.
#[inline(always)]
pub(crate) unsafe fn gemm<L: Q4, const MR: usize, const MT: usize>(
    l: L,
    m: &Q4Matrix,
    r0: usize,
    r1: usize,
    act: &ActQ8,
    out: Out,
) {
    const { assert!(MT <= 8, "tiles are 1 to 8 tokens wide") };
    let nbp = m.scales_per_row();
    let sums: Vec<Vec<f32>> = (0..act.batch())
        .map(|t| block_sums(act.row(t), m.blocks(), nbp))
        .collect();
    let mut ds = vec![0f32; MR * nbp];
    let mut t = 0;
    while t < act.batch() {
        let n = (act.batch() - t).min(MT);
        let tok = &sums[t..t + n];
        let mut r = r0;
        while r < r1 {
            let rn = if r1 - r >= MR { MR } else { 1 };
            // SAFETY: rows r..r+rn below r1, tokens t..t+n in the batch; outputs the caller's.
            unsafe {
                if rn == MR {
                    by_width!(n, tile::<L, MR>(l, m, act, tok, &mut ds, out, r, 1, t));
                } else {
                    by_width!(n, tile::<L, 1>(l, m, act, tok, &mut ds, out, r, 1, t));
                }
            }
            r += rn;
        }
        t += n;
    }
}

/// Rows `r + i·h` (`i < R`) × tokens `t..t+T` over every column; writes their outputs.
/// `sums[j]` are token `t + j`'s block sums; `ds` is scratch for `R` rows of f32 scales.
///
/// # Safety
/// The rows and tokens exist; outputs valid (caller).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
unsafe fn tile<L: Q4, const R: usize, const T: usize>(
    l: L,
    m: &Q4Matrix,
    act: &ActQ8,
    sums: &[Vec<f32>],
    ds: &mut [f32],
    out: Out,
    r: usize,
    h: usize,
    t: usize,
) {
    let nbp = m.scales_per_row();
    let rb = m.padded_cols() / 2;
    let chunks = m.padded_cols() / COL_BLOCK;
    let parts = CHUNK_BYTES / L::VW;
    // Row scales as f32, and the corrections Σ_b d_b·A_b per (row, token).
    let mut corr = [[0f32; T]; R];
    for i in 0..R {
        let d = ds[i * nbp..(i + 1) * nbp].as_mut_ptr();
        // SAFETY: the row's scales hold nbp halves; `ds` holds R rows of nbp floats.
        unsafe { l.widen_scales(m.row_scales(r + i * h).as_ptr(), d, nbp) };
        for (j, c) in corr[i].iter_mut().enumerate() {
            let a = sums[j].as_ptr();
            let mut v = l.fzero();
            for b in (0..nbp).step_by(L::LANES) {
                // SAFETY: b + LANES <= nbp (a multiple of 16 >= LANES).
                v = unsafe { l.fmul_add(v, l.loadf(d.add(b)), l.loadf(a.add(b))) };
            }
            *c = l.fsum(v);
        }
    }
    let m0f = l.splat8(0x0F);
    let pf = crate::tune::gemv_prefetch(crate::format::Format::Q4);
    let w = m.data().as_ptr();
    let xs = act.stride();
    let x = act.data().as_ptr().cast::<u8>();
    let mut acc = [[l.fzero(); T]; R];
    for p in 0..chunks {
        // The chunk's activations: block 2p (low nibbles) and 2p + 1 (high), by parts.
        let mut av = [[[l.zero(); 4]; 2]; T];
        for (j, [lo, hi]) in av.iter_mut().enumerate() {
            for (q, (lo, hi)) in lo.iter_mut().zip(hi.iter_mut()).enumerate().take(parts) {
                let k = (t + j) * xs + p * COL_BLOCK + q * L::VW;
                // SAFETY: token t + j's row holds stride >= padded_cols bytes.
                unsafe {
                    *lo = l.load(x.add(k));
                    *hi = l.load(x.add(k + BLOCK));
                }
            }
        }
        for i in 0..R {
            let wr = w.wrapping_add((r + i * h) * rb + p * CHUNK_BYTES);
            if pf != 0 {
                prefetch_t0(wr.wrapping_add(pf));
            }
            let mut lo = [l.zero(); 4];
            let mut hi = [l.zero(); 4];
            for (q, (lo, hi)) in lo.iter_mut().zip(hi.iter_mut()).enumerate().take(parts) {
                // SAFETY: chunk p of row r + i·h.
                let v = unsafe { l.load(wr.add(q * L::VW)) };
                *lo = l.and(v, m0f);
                *hi = l.and(l.srli16::<4>(v), m0f);
            }
            let (d0, d1) = (ds[i * nbp + 2 * p], ds[i * nbp + 2 * p + 1]);
            for j in 0..T {
                let (mut s0, mut s1) = (l.zero(), l.zero());
                for q in 0..parts {
                    s0 = l.dot_codes(s0, lo[q], av[j][0][q]);
                    s1 = l.dot_codes(s1, hi[q], av[j][1][q]);
                }
                let a = l.fmac(acc[i][j], l.cvt(l.widen_codes(l.zero(), s0)), d0);
                acc[i][j] = l.fmac(a, l.cvt(l.widen_codes(l.zero(), s1)), d1);
            }
        }
    }
    for (i, (acc, corr)) in acc.iter().zip(&corr).enumerate() {
        for (j, (&a, &c)) in acc.iter().zip(corr).enumerate() {
            let y = q4_out(l.fsum(a) - 8.0 * c, act.scale(t + j));
            // SAFETY: output (t + j, r + i·h) is valid (caller).
            unsafe { out.write(t + j, r + i * h, y) };
        }
    }
}
