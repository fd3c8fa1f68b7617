//! The `tq1` driver (base 3, five weights per byte) for every x86 level.
//!
//! **Layout recap** ([`crate::format::tq1`]): byte `j` of a 64-byte block holds the codes
//! `c_d = w + 1 ∈ {0, 1, 2}` of weights `d*64 + j`, `d = 0..5`, stored so that
//! `c_d = ⌊3·x_d / 256⌋ = (x_d ≥ 86) + (x_d ≥ 171)` with `x_d = q·3^d mod 256`. The dot
//! product is `Σ w·a = Σ c·a − Σ a` (`Σ a` = [`ActQ8::sum`]); a vector of `VW` bytes of a block
//! gives `VW` consecutive weights per digit.
//!
//! **gemv (decode): the F identity, no digit extraction** (the default [`Tq1::dot_rows`],
//! [`dot_rows_f`]; the `vpdpbusd` level has the x identity of `x86/avx512vnni/tq1.rs`). With
//! `F_d = ⌊q·3^d / 256⌋` (`F_0 = 0`, `F_5 = ⌊243·q/256⌋ ≤ 242`), `3·q·3^d = 256·(3·F_d + c_d)
//! + x_{d+1}` gives `c_d = F_{d+1} − 3·F_d`, and the sum telescopes:
//!
//! ```text
//! Σ_{d=0..4} c_d·a_d = Σ_{d=1..5} F_d·e_d,    e_d = a_{d−1} − 3·a_d   (a_5 = 0).
//! ```
//!
//! `e_d ∈ [−512, 512]` is computed once per token as i16 ([`prep_e`], a scratch of `2·cols`
//! bytes), split into even and odd bytes. Per vector of weight bytes: `Q_even = q << 8` and
//! `Q_odd = q & 0xFF00` in 16-bit lanes (2 ops), then per digit and parity
//! `F_d = pmulhuw(Q, 3^d)` (exactly `⌊q·3^d/256⌋`), `pmaddwd(F_d, e_d)` into i32 and an add:
//! 33 instructions per vector. Exact: `F_d·e_d ≤ 242·512`, a `pmaddwd` pair sum is below
//! 2.5·10⁵, and per i32 lane the sum over a whole block telescopes to `Σ c·a` of its bytes
//! (`|·| ≤ 512`), so nothing overflows for any realistic column count.
//!
//! **Streaming.** gemv takes `GR` rows at a time, one from each of `GR` contiguous sub-ranges of
//! `r0..r1`, so each row pointer walks a long sequential stream the hardware prefetcher follows,
//! with a software prefetch [`crate::tune::gemv_prefetch`] bytes ahead (with 2 KiB two threads
//! reached the read bandwidth on Zen 4 at the `avx512vnni` level, 34.3 GB/s vs 31.5 without;
//! 1 KiB and 4 KiB did about as well, 512 B less); a block's `e` (or activation) vectors are
//! loaded once for the `GR` rows. Interleaving *neighbouring* rows block by block instead makes
//! one-row streams (512 bytes at 2560 columns) that it does not follow: on Zen 4 that ran 3×
//! slower out of cache (6.2 vs 18.4 GB/s at one thread) at the same in-cache speed.
//!
//! **gemm (prefill).** A row tile of [`GEMM_ROWS`] rows is decoded once into codes
//! `c ∈ {0,1,2}` ([`Tq1::decode`]) in an L1-sized scratch laid out like the activations, `KC`
//! blocks at a time; then a micro-kernel of [`GEMM_ROWS`] rows × `GT` tokens does
//! [`Simd::dot_codes`] per row, token and vector, so each decoded block is reused by every
//! token. With `pmaddubsw` a pair sum is at most `2·2·128 = 512`, and a K-chunk of `KC` blocks
//! adds at most `60·512 < 2¹⁵` to an i16 lane (`KC · 320 / VW ≤ 60` steps) before it is
//! widened; with `vpdpbusd` the sums are dwords and cannot overflow.

use crate::act::ActQ8;
use crate::buf::ABuf;
use crate::format::tq1::{Tq1Matrix, BLOCK, BLOCK_BYTES, TRITS};
use crate::kernel::{out_factor, ternary_out, Out};
use crate::x86::drive::{by_width, reduce_tile};
use crate::x86::simd::{prefetch_t0, Simd};

/// Rows of one gemm tile (decoded together).
pub(crate) const GEMM_ROWS: usize = 4;

/// What a `tq1` level supplies beyond [`Simd`] (module doc).
pub(crate) trait Tq1: Simd {
    /// Whether [`Tq1::dot_rows`] reads the `e` scratch of [`prep_e`] (the F identity) rather
    /// than the activations.
    const USES_E: bool = true;

    /// `Σ c·a` of the `R` rows starting at `w[i]` with one activation row `a` (its `e` scratch
    /// at `e` when [`Tq1::USES_E`]), each row prefetched `pf` bytes ahead; by default
    /// [`dot_rows_f`].
    ///
    /// # Safety
    /// Each `w[i]` must hold `nb` readable blocks, `a` `nb·320` readable bytes, `e` (when used)
    /// `nb·640` readable i16.
    #[inline(always)]
    unsafe fn dot_rows<const R: usize>(
        self,
        w: [*const u8; R],
        a: *const u8,
        e: *const u8,
        nb: usize,
        pf: usize,
    ) -> [i32; R] {
        let _ = a;
        // SAFETY: forwarded.
        unsafe { dot_rows_f(self, w, e, nb, pf) }
    }

    /// Decodes `nblocks` packed blocks at `src` into `nblocks·320` codes (0, 1, 2) at `dst`, in
    /// column order (the activation layout); by default [`decode_cmp`].
    ///
    /// # Safety
    /// `src` must hold `nblocks·64` readable bytes and `dst` `nblocks·320` writable ones.
    #[inline(always)]
    unsafe fn decode(self, src: *const u8, dst: *mut u8, nblocks: usize) {
        // SAFETY: forwarded.
        unsafe { decode_cmp(self, src, dst, nblocks) }
    }
}

/// Fills `e` for one activation row: for block `b`, part `h` (of `64/VW`), digit `d = 1..5` and
/// parity `p`, vector `((b·parts + h)·5 + d−1)·2 + p` holds the `VW/2` i16 `e_d[h·VW + 2k + p]`,
/// `e_d = a_{d−1} − 3·a_d` (`a_5 = 0`), `k = 0..VW/2`.
///
/// # Safety
/// `a` must hold `nb·320` readable bytes and `e` `nb·640` writable i16.
#[inline(always)]
pub(crate) unsafe fn prep_e<L: Simd>(l: L, a: *const u8, e: *mut u8, nb: usize) {
    let mut k = 0;
    for b in 0..nb {
        for h in (0..BLOCK_BYTES).step_by(L::VW) {
            let mut prev = [l.zero(); 2];
            for d in 0..=TRITS {
                let cur = if d < TRITS {
                    // SAFETY: b < nb: inside the row.
                    let v = unsafe { l.load(a.add(b * BLOCK + d * 64 + h)) };
                    // Sign-extended even and odd bytes.
                    [l.srai16::<8>(l.slli16::<8>(v)), l.srai16::<8>(v)]
                } else {
                    [l.zero(); 2]
                };
                if d > 0 {
                    for (&pv, &cv) in prev.iter().zip(&cur) {
                        let c3 = l.add16(l.add16(cv, cv), cv);
                        // SAFETY: k < nb*10*parts vectors of VW bytes = nb*640 i16.
                        unsafe { l.store(e.add(k * L::VW), l.sub16(pv, c3)) };
                        k += 1;
                    }
                }
                prev = cur;
            }
        }
    }
}

/// `Σ c·a` of the `R` rows starting at `w[i]` through the F identity (module doc). One row
/// keeps two sums (even and odd bytes) so two add chains overlap; several rows keep one each.
///
/// # Safety
/// Each `w[i]` must hold `nb` readable blocks and `e` `nb·640` readable i16.
#[inline(always)]
pub(crate) unsafe fn dot_rows_f<L: Simd, const R: usize>(
    l: L,
    w: [*const u8; R],
    e: *const u8,
    nb: usize,
    pf: usize,
) -> [i32; R] {
    let hi = l.splat16(0xFF00u16 as i16);
    let pow3 = [3, 9, 27, 81, 243].map(|p| l.splat16(p));
    let split = R == 1;
    let mut se = [l.zero(); R];
    let mut so = [l.zero(); R];
    for b in 0..nb {
        for h in (0..BLOCK_BYTES).step_by(L::VW) {
            let ep = e.wrapping_add((b * BLOCK_BYTES + h) / L::VW * TRITS * 2 * L::VW);
            let mut ev = [l.zero(); 2 * TRITS];
            for (k, v) in ev.iter_mut().enumerate() {
                // SAFETY: b < nb; each part of a block has 10 vectors in `e`.
                *v = unsafe { l.load(ep.add(k * L::VW)) };
            }
            for ((se, so), &wi) in se.iter_mut().zip(so.iter_mut()).zip(&w) {
                if h == 0 && pf != 0 {
                    prefetch_t0(wi.wrapping_add(b * BLOCK_BYTES + pf));
                }
                // SAFETY: block b < nb of row i.
                let q = unsafe { l.load(wi.add(b * BLOCK_BYTES + h)) };
                let qe = l.slli16::<8>(q);
                let qo = l.and(q, hi);
                for (d, &p3) in pow3.iter().enumerate() {
                    let fe = l.mulhi_u16(qe, p3);
                    let fo = l.mulhi_u16(qo, p3);
                    *se = l.add32(*se, l.madd16(fe, ev[2 * d]));
                    if split {
                        *so = l.add32(*so, l.madd16(fo, ev[2 * d + 1]));
                    } else {
                        *se = l.add32(*se, l.madd16(fo, ev[2 * d + 1]));
                    }
                }
            }
        }
    }
    let mut out = [0i32; R];
    for (o, (&se, &so)) in out.iter_mut().zip(se.iter().zip(&so)) {
        *o = l.reduce(if split { l.add32(se, so) } else { se });
    }
    out
}

/// Decodes blocks into codes with byte compares (no mask registers): per vector
/// `y_0 = q ^ 0x80` (`x` minus 128 as a signed byte; `y_{d+1} = 3·y_d mod 256` still, since
/// `3·128 ≡ 128`), `x ≥ 86 ⇔ y > −43`, `x ≥ 171 ⇔ y > 42`, `c = |m₁ + m₂|`. Each tripling is
/// made opaque ([`Simd::opaque`]) so LLVM cannot fold the chain into byte multiplies by 9, 27,
/// 81, which x86 lacks and LLVM would emulate on the multiply ports.
///
/// # Safety
/// As [`Tq1::decode`].
#[inline(always)]
pub(crate) unsafe fn decode_cmp<L: Simd>(l: L, src: *const u8, dst: *mut u8, nblocks: usize) {
    let flip = l.splat8(-128);
    let (lo, hi) = (l.splat8(-43), l.splat8(42));
    for b in 0..nblocks {
        for h in (0..BLOCK_BYTES).step_by(L::VW) {
            // SAFETY: b < nblocks.
            let q = unsafe { l.load(src.add(b * BLOCK_BYTES + h)) };
            let mut y = l.xor(q, flip);
            for d in 0..TRITS {
                let m = l.add8(l.cmpgt8(y, lo), l.cmpgt8(y, hi));
                // SAFETY: b*320 + d*64 + h + VW <= nblocks*320.
                unsafe { l.store(dst.add(b * BLOCK + d * 64 + h), l.abs8(m)) };
                y = l.opaque(l.add8(l.add8(y, y), y));
            }
        }
    }
}

/// gemv: every token in turn, `GR` row streams (module doc).
///
/// # Safety
/// Kernel contract ([`crate::kernel`]); `l` proves the level's features.
#[inline(always)]
pub(crate) unsafe fn gemv<L: Tq1, const GR: usize>(
    l: L,
    m: &Tq1Matrix,
    r0: usize,
    r1: usize,
    act: &ActQ8,
    out: Out,
) {
    let nb = m.padded_cols() / BLOCK;
    let rb = m.row_bytes();
    let w = m.data();
    assert!(r1 <= m.rows() && act.stride() >= m.padded_cols());
    let mut e = ABuf::<i16>::zeroed(if L::USES_E { nb * BLOCK * 2 } else { 0 });
    let pf = crate::tune::gemv_prefetch(crate::format::Format::Tq1);
    for t in 0..act.batch() {
        let a = act.row(t).as_ptr().cast::<u8>();
        let f = out_factor(m.scale(), act.scale(t));
        let sa = act.sum(t);
        if L::USES_E {
            // SAFETY: the activation row holds stride >= nb*320 bytes, `e` nb*640 i16.
            unsafe { prep_e(l, a, e.as_mut_ptr().cast(), nb) };
        }
        let ep = e.as_ptr().cast::<u8>();
        // GR streams, each a contiguous run of `per` rows read front to back.
        let per = (r1 - r0) / GR;
        for k in 0..per {
            let rr: [usize; GR] = std::array::from_fn(|i| r0 + i * per + k);
            let ptrs = rr.map(|r| w[r * rb..(r + 1) * rb].as_ptr());
            // SAFETY: each row holds rb = nb*64 bytes; the activation row nb*320 bytes; `e`
            // nb*640 i16 when used.
            let d = unsafe { l.dot_rows::<GR>(ptrs, a, ep, nb, pf) };
            for (&r, &di) in rr.iter().zip(&d) {
                // SAFETY: (t, r) is inside the caller's output region (kernel contract).
                unsafe { out.write(t, r, ternary_out(di.wrapping_sub(sa), f)) };
            }
        }
        for r in r0 + GR * per..r1 {
            let ptr = w[r * rb..(r + 1) * rb].as_ptr();
            // SAFETY: as above, one row.
            let [d] = unsafe { l.dot_rows::<1>([ptr], a, ep, nb, pf) };
            // SAFETY: (t, r) is inside the caller's output region (kernel contract).
            unsafe { out.write(t, r, ternary_out(d.wrapping_sub(sa), f)) };
        }
    }
}

/// gemm: row tiles decoded `KC` blocks at a time, then micro-tiles of [`GEMM_ROWS`] rows × `GT`
/// tokens (module doc).
///
/// # Safety
/// Kernel contract ([`crate::kernel`]); `l` proves the level's features.
#[inline(always)]
pub(crate) unsafe fn gemm<L: Tq1, const GT: usize, const KC: usize>(
    l: L,
    m: &Tq1Matrix,
    r0: usize,
    r1: usize,
    act: &ActQ8,
    out: Out,
) {
    const { assert!(GT <= 8, "tiles are 1 to 8 tokens wide") };
    let nb = m.padded_cols() / BLOCK;
    let rb = m.row_bytes();
    let batch = act.batch();
    let stride = act.stride();
    assert!(r1 <= m.rows() && stride >= m.padded_cols());
    let kc = nb.min(KC);
    let kcw = kc * BLOCK;
    // Codes of GEMM_ROWS rows x kc blocks; rows past r1 stay zero (they add nothing and are
    // never written out).
    let mut codes = ABuf::<u8>::zeroed(GEMM_ROWS * kcw);
    let mut acc = vec![0i32; GEMM_ROWS * batch];
    let data = act.data().as_ptr();
    let w = m.data();
    let mut r = r0;
    while r < r1 {
        let rn = (r1 - r).min(GEMM_ROWS);
        acc.fill(0);
        let mut kb0 = 0;
        while kb0 < nb {
            let kb1 = nb.min(kb0 + kc);
            for i in 0..rn {
                let src = &w[(r + i) * rb + kb0 * BLOCK_BYTES..(r + i) * rb + kb1 * BLOCK_BYTES];
                let dst = &mut codes[i * kcw..i * kcw + (kb1 - kb0) * BLOCK];
                // SAFETY: `src` holds kb1-kb0 blocks and `dst` 320 bytes for each.
                unsafe { l.decode(src.as_ptr(), dst.as_mut_ptr(), kb1 - kb0) };
            }
            let steps = (kb1 - kb0) * BLOCK / L::VW;
            let mut t = 0;
            while t < batch {
                let tn = (batch - t).min(GT);
                let c = codes.as_ptr();
                // SAFETY: tokens t..t+tn exist and each row holds stride >= kb1*320 bytes;
                // `codes` holds GEMM_ROWS rows of kcw >= steps*VW bytes.
                let ap = unsafe { data.add(t * stride + kb0 * BLOCK) }.cast::<u8>();
                // SAFETY: as above.
                let tile = unsafe { by_width!(tn, micro::<L>(l, c, kcw, ap, stride, steps)) };
                for (i, row) in tile.iter().enumerate().take(rn) {
                    for (j, &v) in row.iter().enumerate().take(tn) {
                        let s = &mut acc[i * batch + t + j];
                        *s = s.wrapping_add(v);
                    }
                }
                t += tn;
            }
            kb0 = kb1;
        }
        for t in 0..batch {
            let f = out_factor(m.scale(), act.scale(t));
            for i in 0..rn {
                let d = acc[i * batch + t].wrapping_sub(act.sum(t));
                // SAFETY: (t, r+i) is inside the caller's output region (kernel contract).
                unsafe { out.write(t, r + i, ternary_out(d, f)) };
            }
        }
        r += rn;
    }
}

/// `Σ c·a` for [`GEMM_ROWS`] code rows (`kcw` bytes apart) × `T` tokens (`stride` apart) over
/// `steps` vectors (module doc); the first `T` columns of the result are set.
///
/// # Safety
/// Every code row and token must hold `steps·VW` readable bytes.
#[inline(always)]
unsafe fn micro<L: Simd, const T: usize>(
    l: L,
    c: *const u8,
    kcw: usize,
    a: *const u8,
    stride: usize,
    steps: usize,
) -> [[i32; 8]; GEMM_ROWS] {
    let mut acc = [[l.zero(); T]; GEMM_ROWS];
    for s in 0..steps {
        let mut cv = [l.zero(); GEMM_ROWS];
        for (i, v) in cv.iter_mut().enumerate() {
            // SAFETY: code row i, s < steps.
            *v = unsafe { l.load(c.add(i * kcw + s * L::VW)) };
        }
        for j in 0..T {
            // SAFETY: token j < T, s < steps.
            let av = unsafe { l.load(a.add(j * stride + s * L::VW)) };
            for (row, &ci) in acc.iter_mut().zip(&cv) {
                row[j] = l.dot_codes(row[j], ci, av);
            }
        }
    }
    for row in &mut acc {
        for v in row.iter_mut() {
            *v = l.widen_codes(l.zero(), *v);
        }
    }
    let sums = reduce_tile(l, &acc);
    let mut res = [[0i32; 8]; GEMM_ROWS];
    for (j, s) in sums.iter().enumerate() {
        for (i, &v) in s.iter().enumerate() {
            res[i][j] = v;
        }
    }
    res
}
