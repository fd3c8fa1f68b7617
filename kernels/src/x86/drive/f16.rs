//! The `f16` driver: half weights widened to f32, f32 activations, f32 accumulation, for every
//! x86 level (the `sse41` level, without F16C or FMA, runs its own gemm: see
//! `x86/sse41/f16.rs`).
//!
//! **gemv** (decode, memory-bound). One token at a time. The thread's row range is cut into
//! `GR` contiguous parts walked in step: each step takes one row of every part, so the rows
//! share each activation load while their weight streams stay far apart. Groups of *adjacent*
//! rows (streams one row, a few KB, apart) measured at half the bandwidth of a single sequential
//! stream on Zen 4, far-apart streams at full bandwidth. A step reads [`F16::PAIRS`] pairs of
//! weight vectors per row into two accumulators per row (the first of each pair into one, the
//! second into the other), each stream prefetched [`crate::tune::gemv_prefetch`] bytes ahead
//! where the level does ([`F16::GEMV_PREFETCH`]). The group's sums are reduced together;
//! leftover rows run alone.
//!
//! **gemm** (prefill, compute-bound; [`F16Gemm`]). A register tile of `TR` rows × `TT` tokens
//! of vector accumulators (dot-product form: lane `l` of `acc[i][j]` sums
//! `w[r+i][k+l]·x[t+j][k+l]` over all `k`): each step widens one weight vector per row once and
//! reuses it for every token of the tile, and loads each activation vector once for all rows.
//! Loop order: row blocks of about [`ROW_BLOCK_BYTES`] of weights (kept in L2) × token tiles ×
//! row groups, so a tile's activation rows stay in L1 while the block's weights stream from L2
//! as halves (the narrower operand: with the other order the f32 activations streaming from L2
//! limit the FMA rate). Token remainders use narrower tiles, row remainders single-row tiles;
//! every tile runs over all columns, so each output is written once.
//!
//! Exactness: within the crate's f16 bound (lane partial sums, then a pairwise tree).

use crate::act::ActF32;
use crate::format::f16::F16Matrix;
use crate::kernel::Out;
use crate::x86::drive::by_width;
use crate::x86::simd::prefetch_t0;

/// Weight bytes of one gemm row block (kept in L2 while every token tile passes over it).
pub(crate) const ROW_BLOCK_BYTES: usize = 256 << 10;

/// A level's f32 arithmetic and half widening for the gemv driver.
pub(crate) trait F16: Copy {
    /// The f32 vector.
    type F: Copy;
    /// Floats per vector.
    const LANES: usize;
    /// Pairs of weight vectors per row and gemv step (a step is `2·PAIRS·LANES` halves).
    const PAIRS: usize;
    /// Whether gemv prefetches each row stream in software ([`crate::tune::gemv_prefetch`]
    /// bytes ahead).
    const GEMV_PREFETCH: bool;
    /// All zeros.
    fn fzero(self) -> Self::F;
    /// `a + b`.
    fn fadd(self, a: Self::F, b: Self::F) -> Self::F;
    /// `acc + w·x` (fused where the level has FMA).
    fn mac(self, acc: Self::F, w: Self::F, x: Self::F) -> Self::F;
    /// `LANES` activations at `p`.
    ///
    /// # Safety
    /// `p` valid for `LANES` floats (16-byte aligned at the `sse41` level).
    unsafe fn load_x(self, p: *const f32) -> Self::F;
    /// `2·LANES` halves at `p`, widened: (first `LANES`, next `LANES`).
    ///
    /// # Safety
    /// `p` valid for `2·LANES` halves (16-byte aligned at the `sse41` level).
    unsafe fn load_w2(self, p: *const u16) -> (Self::F, Self::F);
    /// `[Σa, Σb, Σc, Σd]`.
    fn hsum4(self, v: [Self::F; 4]) -> [f32; 4];
}

/// What the gemm driver needs besides [`F16`].
pub(crate) trait F16Gemm: F16 {
    /// `LANES` halves at `p`, widened.
    ///
    /// # Safety
    /// `p` valid for `LANES` halves.
    unsafe fn load_w(self, p: *const u16) -> Self::F;
}

/// gemv: every token in turn; the row range cut into `GR` contiguous parts walked in step
/// (module doc); leftover rows run alone.
///
/// # Safety
/// Kernel contract ([`crate::kernel`]); `l` proves the level's features.
#[inline(always)]
pub(crate) unsafe fn gemv<L: F16, const GR: usize>(
    l: L,
    m: &F16Matrix,
    r0: usize,
    r1: usize,
    act: &ActF32,
    out: Out,
) {
    let h = (r1 - r0) / GR;
    for t in 0..act.batch() {
        for r in r0..r0 + h {
            // SAFETY: rows r + i·h (i < GR) lie in r0..r1, inside the matrix; token t is in the
            // batch; the caller owns outputs (t, r0..r1).
            unsafe { gemv_rows::<L, GR>(l, m, act, out, t, r, h) };
        }
        for r in r0 + GR * h..r1 {
            // SAFETY: as above, one row.
            unsafe { gemv_rows::<L, 1>(l, m, act, out, t, r, 0) };
        }
    }
}

/// Rows r + i·h (i < R ≤ 4) against token `t`, `2·PAIRS·LANES` weights per row and step into
/// two accumulators per row; writes outputs (t, r + i·h).
///
/// # Safety
/// The rows inside the matrix, the token inside the batch, the outputs valid.
#[inline(always)]
unsafe fn gemv_rows<L: F16, const R: usize>(
    l: L,
    m: &F16Matrix,
    act: &ActF32,
    out: Out,
    t: usize,
    r: usize,
    h: usize,
) {
    let step = 2 * L::PAIRS * L::LANES;
    let kp = m.padded_cols();
    let x = act.row(t).as_ptr();
    let mut w = [m.data().as_ptr(); R];
    for (i, p) in w.iter_mut().enumerate() {
        *p = p.wrapping_add((r + i * h) * kp);
    }
    let mut acc = [[l.fzero(); 2]; R];
    let pf = crate::tune::gemv_prefetch(crate::format::Format::F16) / 2;
    let mut k = 0;
    while k < kp {
        if L::GEMV_PREFETCH && pf != 0 {
            for p in &w {
                // A hint, never a fault: addresses past the row (or the matrix) are harmless.
                prefetch_t0(p.wrapping_add(k + pf).cast());
            }
        }
        // SAFETY: k + step <= kp (a multiple of 64, and of step) <= the activation stride:
        // inside every row (w[i] points at a row of the matrix) and the activation row; aligned
        // where the level needs it (64-byte aligned buffers and rows, k a multiple of step).
        unsafe {
            let mut xv = [l.fzero(); 4];
            for (c, v) in xv.iter_mut().enumerate().take(2 * L::PAIRS) {
                *v = l.load_x(x.add(k + c * L::LANES));
            }
            for (a, p) in acc.iter_mut().zip(&w) {
                for q in 0..L::PAIRS {
                    let (w0, w1) = l.load_w2(p.add(k + 2 * q * L::LANES));
                    a[0] = l.mac(a[0], w0, xv[2 * q]);
                    a[1] = l.mac(a[1], w1, xv[2 * q + 1]);
                }
            }
        }
        k += step;
    }
    let mut f = [l.fzero(); 4];
    for (fi, a) in f.iter_mut().zip(&acc) {
        *fi = l.fadd(a[0], a[1]);
    }
    let s = l.hsum4(f);
    for (i, v) in s.iter().enumerate().take(R) {
        // SAFETY: output (t, r + i·h) is valid (caller).
        unsafe { out.write(t, r + i * h, *v) };
    }
}

/// gemm: row blocks × token tiles × row groups (module doc).
///
/// # Safety
/// Kernel contract ([`crate::kernel`]); `l` proves the level's features.
#[inline(always)]
pub(crate) unsafe fn gemm<L: F16Gemm, const TR: usize, const TT: usize>(
    l: L,
    m: &F16Matrix,
    r0: usize,
    r1: usize,
    act: &ActF32,
    out: Out,
) {
    const { assert!(TT <= 8, "gemm dispatches remainders up to 7 tokens") };
    let kp = m.padded_cols();
    let g = Gemm {
        l,
        w: m.data().as_ptr(),
        kp,
        x: act.data().as_ptr(),
        xs: act.stride(),
        out,
    };
    let batch = act.batch();
    let mc = (ROW_BLOCK_BYTES / (2 * kp) / TR).max(1) * TR;
    let mut rb = r0;
    while rb < r1 {
        let rb1 = (rb + mc).min(r1);
        let mut t = 0;
        while t + TT <= batch {
            // SAFETY: rows rb..rb1 inside the matrix, tokens t..t+TT inside the batch.
            unsafe { g.block::<TR, TT>(rb, rb1, t) };
            t += TT;
        }
        if t < batch {
            let b = &g;
            // SAFETY: the remaining tokens t..batch (fewer than TT); rows as above.
            unsafe { by_width!(batch - t, block_of::<L, TR>(b, rb, rb1, t)) };
        }
        rb = rb1;
    }
}

/// Operands of one gemm call.
struct Gemm<L> {
    l: L,
    w: *const u16,
    kp: usize,
    x: *const f32,
    xs: usize,
    out: Out,
}

/// [`Gemm::block`] as a free function (for [`by_width!`]).
///
/// # Safety
/// As [`Gemm::block`].
#[inline(always)]
unsafe fn block_of<L: F16Gemm, const TR: usize, const T: usize>(
    g: &Gemm<L>,
    rb: usize,
    rb1: usize,
    t: usize,
) {
    // SAFETY: forwarded.
    unsafe { g.block::<TR, T>(rb, rb1, t) }
}

impl<L: F16Gemm> Gemm<L> {
    /// Rows rb..rb1 (groups of `TR`, then single rows) × tokens t..t+T.
    ///
    /// # Safety
    /// Rows inside the matrix, tokens inside the batch, outputs valid.
    #[inline(always)]
    unsafe fn block<const TR: usize, const T: usize>(&self, rb: usize, rb1: usize, t: usize) {
        let mut r = rb;
        while r + TR <= rb1 {
            // SAFETY: rows r..r+TR inside rb..rb1; tokens from the caller.
            unsafe { self.tile::<TR, T>(r, t) };
            r += TR;
        }
        while r < rb1 {
            // SAFETY: as above, one row.
            unsafe { self.tile::<1, T>(r, t) };
            r += 1;
        }
    }

    /// One register tile: rows r..r+R × tokens t..t+T over every column.
    ///
    /// # Safety
    /// As [`Self::block`].
    #[inline(always)]
    unsafe fn tile<const R: usize, const T: usize>(&self, r: usize, t: usize) {
        let l = self.l;
        let mut acc = [[l.fzero(); T]; R];
        let mut k = 0;
        while k < self.kp {
            // SAFETY: k + LANES <= kp <= stride: inside every row of W and of x.
            unsafe {
                let mut wv = [l.fzero(); R];
                for (i, v) in wv.iter_mut().enumerate() {
                    *v = l.load_w(self.w.add((r + i) * self.kp + k));
                }
                for j in 0..T {
                    let xv = l.load_x(self.x.add((t + j) * self.xs + k));
                    for (a, &wi) in acc.iter_mut().zip(&wv) {
                        a[j] = l.mac(a[j], wi, xv);
                    }
                }
            }
            k += L::LANES;
        }
        // Reduce four at a time, token-major (a partial last group reduces stale vectors,
        // whose sums are dropped).
        let mut quad = [l.fzero(); 4];
        let mut n = 0;
        for j in 0..T {
            for row in &acc {
                quad[n % 4] = row[j];
                n += 1;
                if n % 4 == 0 || n == R * T {
                    let s = l.hsum4(quad);
                    let base = (n - 1) / 4 * 4;
                    for (q, &v) in s.iter().enumerate().take(n - base) {
                        let idx = base + q;
                        // SAFETY: output (t + idx/R, r + idx%R) is valid (caller).
                        unsafe { self.out.write(t + idx / R, r + idx % R, v) };
                    }
                }
            }
        }
    }
}
