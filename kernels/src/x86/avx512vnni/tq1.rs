//! `tq1` kernels at the `avx512vnni` level (AVX-512 F/BW/VL + VNNI `vpdpbusd`).
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
//! hardware prefetcher follows. Interleaving *neighbouring* rows block by block instead makes
//! one-row streams (512 bytes at 2560 columns) that it does not follow: on Zen 4 that ran 3×
//! slower out of cache (6.2 vs 18.4 GB/s at one thread) at the same in-cache speed.
//!
//! **gemm (prefill).** A row tile is decoded once into codes `c ∈ {0,1,2}` (two `vpcmpub` into
//! masks, two masked moves per digit) in an L1-sized scratch laid out like the activations,
//! then a micro-kernel of [`GEMM_ROWS`] rows × [`GEMM_TOKENS`] tokens does one `vpdpbusd(c, a)`
//! per row, token and 64 columns, so each decoded block is reused by every token: half the
//! multiply work of the x identity. A lane adds four products of at most `2·128` per step, so
//! i32 cannot overflow for any realistic column count.

use std::arch::x86_64::*;

use crate::act::ActQ8;
use crate::buf::ABuf;
use crate::format::tq1::{Tq1Matrix, BLOCK, BLOCK_BYTES, TRITS};
use crate::kernel::{out_factor, ternary_out, Ops, Out};

pub(crate) const OPS: Option<Ops<Tq1Matrix, ActQ8>> = Some(Ops { gemv, gemm });

/// Bytes per vector.
const VW: usize = 64;
/// Rows (streams) one gemv pass computes together, sharing each activation load.
const GEMV_ROWS: usize = 4;
/// Blocks per exact `3·P − N` chunk: `1024 · 1.3·10⁶ < 2³¹`.
const CHUNK_BLOCKS: usize = 1024;
/// Rows of one gemm tile (decoded together).
const GEMM_ROWS: usize = 4;
/// Tokens of one gemm micro-tile.
const GEMM_TOKENS: usize = 4;
/// Blocks decoded at a time in gemm (`GEMM_ROWS · 16 · 320` bytes = 20 KiB of codes).
const GEMM_KC: usize = 16;

/// gemv entry point (see the module doc).
///
/// # Safety
/// Kernel contract of [`crate::kernel`]; the CPU must have this level's features.
unsafe fn gemv(m: &Tq1Matrix, r0: usize, r1: usize, act: &ActQ8, out: Out) {
    // SAFETY: this level's KernelSet is only handed out by KernelSet::get after it checked every
    // feature enabled below; the output contract is the caller's.
    unsafe { gemv_tf(m, r0, r1, act, out) }
}

/// gemm entry point (see the module doc).
///
/// # Safety
/// As [`gemv`].
unsafe fn gemm(m: &Tq1Matrix, r0: usize, r1: usize, act: &ActQ8, out: Out) {
    // SAFETY: as in `gemv`.
    unsafe { gemm_tf(m, r0, r1, act, out) }
}

/// Loads one vector.
///
/// # Safety
/// `p..p+VW` must be readable.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn load(p: *const u8) -> __m512i {
    // SAFETY: forwarded to the caller; unaligned load.
    unsafe { _mm512_loadu_si512(p as *const __m512i) }
}

/// Stores one vector.
///
/// # Safety
/// `p..p+VW` must be writable.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn store(p: *mut u8, v: __m512i) {
    // SAFETY: forwarded to the caller; unaligned store.
    unsafe { _mm512_storeu_si512(p as *mut __m512i, v) }
}

/// `3·x mod 256` per byte: two wrapping byte adds. The result passes through an empty `asm!`
/// so LLVM cannot fold a chain of triplings into a byte multiply by 9, 27 or 81, which x86
/// lacks and LLVM would emulate with `vpmullw` and `vpmaddubsw` on the ports `vpdpbusd` needs.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
fn triple(x: __m512i) -> __m512i {
    let mut y = _mm512_add_epi8(_mm512_add_epi8(x, x), x);
    // SAFETY: an empty template: no instruction, no memory access, the value is unchanged.
    unsafe {
        std::arch::asm!("/* {y} */", y = inout(zmm_reg) y, options(pure, nomem, nostack, preserves_flags))
    };
    y
}

#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn gemv_tf(m: &Tq1Matrix, r0: usize, r1: usize, act: &ActQ8, out: Out) {
    let nb = m.padded_cols() / BLOCK;
    let rb = m.row_bytes();
    let w = m.data();
    assert!(r1 <= m.rows() && act.stride() >= m.padded_cols());
    for t in 0..act.batch() {
        let a = act.row(t).as_ptr() as *const u8;
        let f = out_factor(m.scale(), act.scale(t));
        let sa = act.sum(t);
        // GEMV_ROWS streams, each a contiguous run of `per` rows read front to back (long
        // sequential streams the hardware prefetcher follows; interleaving neighbouring rows
        // block by block made 512-byte streams it did not, and ran 3x slower out of cache).
        let per = (r1 - r0) / GEMV_ROWS;
        for k in 0..per {
            let rr: [usize; GEMV_ROWS] = std::array::from_fn(|i| r0 + i * per + k);
            let ptrs = rr.map(|r| w[r * rb..(r + 1) * rb].as_ptr());
            // SAFETY: rows r..r+R exist, each rb = nb*64 bytes; the activation row holds
            // stride >= nb*320 bytes.
            let d = unsafe { dot_rows::<GEMV_ROWS>(ptrs, a, nb) };
            for (&r, &di) in rr.iter().zip(&d) {
                // SAFETY: (t, r) is inside the caller's output region (kernel contract).
                unsafe { out.write(t, r, ternary_out(di.wrapping_sub(sa), f)) };
            }
        }
        for r in r0 + GEMV_ROWS * per..r1 {
            let ptr = w[r * rb..(r + 1) * rb].as_ptr();
            // SAFETY: as above, one row.
            let [d] = unsafe { dot_rows::<1>([ptr], a, nb) };
            // SAFETY: (t, r) is inside the caller's output region (kernel contract).
            unsafe { out.write(t, r, ternary_out(d.wrapping_sub(sa), f)) };
        }
    }
}

/// `Σ c·a` of the `R` rows starting at `w[i]` with one activation row, through the x
/// identity.
///
/// # Safety
/// Each `w[i]` must hold `nb` readable blocks and `a` `nb·320` readable bytes.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn dot_rows<const R: usize>(w: [*const u8; R], a: *const u8, nb: usize) -> [i32; R] {
    // The prefetch distance of each row stream, bytes (0: no software prefetch).
    let pf = crate::tune::gemv_prefetch(crate::format::Format::Tq1);
    let mut tot = [0i32; R];
    let mut b0 = 0;
    while b0 < nb {
        let b1 = nb.min(b0 + CHUNK_BLOCKS);
        let mut p = [_mm512_setzero_si512(); R];
        let mut n = [_mm512_setzero_si512(); R];
        for b in b0..b1 {
            let mut av = [_mm512_setzero_si512(); TRITS];
            for (d, v) in av.iter_mut().enumerate() {
                // SAFETY: b < nb: inside the activation row.
                *v = unsafe { load(a.add(b * BLOCK + d * 64)) };
            }
            for ((p, n), &wi) in p.iter_mut().zip(n.iter_mut()).zip(&w) {
                if pf != 0 {
                    _mm_prefetch::<_MM_HINT_T0>(wi.wrapping_add(b * BLOCK_BYTES + pf) as *const i8);
                }
                // SAFETY: block b < nb of row i.
                let x0 = unsafe { load(wi.add(b * BLOCK_BYTES)) };
                let x1 = triple(x0);
                let x2 = triple(x1);
                let x3 = triple(x2);
                let x4 = triple(x3);
                let x5 = triple(x4);
                let mut pi = _mm512_dpbusd_epi32(*p, x0, av[0]);
                let mut ni = _mm512_dpbusd_epi32(*n, x1, av[0]);
                pi = _mm512_dpbusd_epi32(pi, x1, av[1]);
                ni = _mm512_dpbusd_epi32(ni, x2, av[1]);
                pi = _mm512_dpbusd_epi32(pi, x2, av[2]);
                ni = _mm512_dpbusd_epi32(ni, x3, av[2]);
                pi = _mm512_dpbusd_epi32(pi, x3, av[3]);
                ni = _mm512_dpbusd_epi32(ni, x4, av[3]);
                pi = _mm512_dpbusd_epi32(pi, x4, av[4]);
                ni = _mm512_dpbusd_epi32(ni, x5, av[4]);
                *p = pi;
                *n = ni;
            }
        }
        for (t, (&p, &n)) in tot.iter_mut().zip(p.iter().zip(&n)) {
            let p3 = _mm512_add_epi32(_mm512_add_epi32(p, p), p);
            let s = _mm512_srai_epi32::<8>(_mm512_sub_epi32(p3, n));
            *t = t.wrapping_add(_mm512_reduce_add_epi32(s));
        }
        b0 = b1;
    }
    tot
}

#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn gemm_tf(m: &Tq1Matrix, r0: usize, r1: usize, act: &ActQ8, out: Out) {
    let nb = m.padded_cols() / BLOCK;
    let rb = m.row_bytes();
    let batch = act.batch();
    let stride = act.stride();
    assert!(r1 <= m.rows() && stride >= m.padded_cols());
    let kc = nb.min(GEMM_KC);
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
                unsafe { decode(src.as_ptr(), dst.as_mut_ptr(), kb1 - kb0) };
            }
            let steps = (kb1 - kb0) * BLOCK / VW;
            let mut t = 0;
            while t < batch {
                let tn = (batch - t).min(GEMM_TOKENS);
                // SAFETY: tokens t..t+tn exist and each row holds stride >= kb1*320 bytes;
                // `codes` holds GEMM_ROWS rows of kcw >= steps*VW bytes.
                let tile = unsafe {
                    let ap = data.add(t * stride + kb0 * BLOCK) as *const u8;
                    match tn {
                        4 => micro::<4>(codes.as_ptr(), kcw, ap, stride, steps),
                        3 => micro::<3>(codes.as_ptr(), kcw, ap, stride, steps),
                        2 => micro::<2>(codes.as_ptr(), kcw, ap, stride, steps),
                        _ => micro::<1>(codes.as_ptr(), kcw, ap, stride, steps),
                    }
                };
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

/// Decodes `nblocks` packed blocks at `src` into `nblocks·320` codes (0, 1, 2) at `dst`, in
/// column order (the activation layout): `k₁ = x ≥ 86`, `k₂ = x ≥ 171` (unsigned compares into
/// masks), `c = k₂ ? 2 : k₁ ? 1 : 0` (two masked moves), `x ←` [`triple`]`(x)`.
///
/// # Safety
/// `src` must hold `nblocks·64` readable bytes and `dst` `nblocks·320` writable ones.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn decode(src: *const u8, dst: *mut u8, nblocks: usize) {
    let (t1, t2) = (_mm512_set1_epi8(86), _mm512_set1_epi8(171u8 as i8));
    let (one, two) = (_mm512_set1_epi8(1), _mm512_set1_epi8(2));
    for b in 0..nblocks {
        // SAFETY: b < nblocks.
        let mut x = unsafe { load(src.add(b * BLOCK_BYTES)) };
        for d in 0..TRITS {
            let k1 = _mm512_cmpge_epu8_mask(x, t1);
            let k2 = _mm512_cmpge_epu8_mask(x, t2);
            let c = _mm512_mask_mov_epi8(_mm512_maskz_mov_epi8(k1, one), k2, two);
            // SAFETY: b*320 + d*64 + 64 <= nblocks*320.
            unsafe { store(dst.add(b * BLOCK + d * 64), c) };
            x = triple(x);
        }
    }
}

/// Horizontal sums of four i32 vectors at once (a transposing add tree: about 5 instructions
/// per sum instead of 8 or 9 one at a time).
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
fn hsum4(v: [__m512i; 4]) -> [i32; 4] {
    let f =
        |x: __m512i| _mm256_add_epi32(_mm512_castsi512_si256(x), _mm512_extracti64x4_epi64::<1>(x));
    let [a, b, cc, d] = v.map(f);
    let ab = _mm256_add_epi32(_mm256_unpacklo_epi32(a, b), _mm256_unpackhi_epi32(a, b));
    let cd = _mm256_add_epi32(_mm256_unpacklo_epi32(cc, d), _mm256_unpackhi_epi32(cc, d));
    let s = _mm256_add_epi32(_mm256_unpacklo_epi64(ab, cd), _mm256_unpackhi_epi64(ab, cd));
    let s = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256::<1>(s));
    let mut r = [0i32; 4];
    // SAFETY: `r` is 16 writable bytes.
    unsafe { _mm_storeu_si128(r.as_mut_ptr() as *mut __m128i, s) };
    r
}

/// `Σ c·a` for [`GEMM_ROWS`] code rows (`kcw` bytes apart) × `T ≤ GEMM_TOKENS` tokens
/// (`stride` apart) over `steps` vectors, one `vpdpbusd` per row, token and vector; the first
/// `T` columns of the result are set.
///
/// # Safety
/// Every code row and token must hold `steps·VW` readable bytes.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn micro<const T: usize>(
    c: *const u8,
    kcw: usize,
    a: *const u8,
    stride: usize,
    steps: usize,
) -> [[i32; GEMM_TOKENS]; GEMM_ROWS] {
    let mut acc = [[_mm512_setzero_si512(); T]; GEMM_ROWS];
    for s in 0..steps {
        let mut cv = [_mm512_setzero_si512(); GEMM_ROWS];
        for (i, v) in cv.iter_mut().enumerate() {
            // SAFETY: code row i, s < steps.
            *v = unsafe { load(c.add(i * kcw + s * VW)) };
        }
        for j in 0..T {
            // SAFETY: token j < T, s < steps.
            let av = unsafe { load(a.add(j * stride + s * VW)) };
            for (row, &ci) in acc.iter_mut().zip(&cv) {
                row[j] = _mm512_dpbusd_epi32(row[j], ci, av);
            }
        }
    }
    // Reduce in groups of four (GEMM_ROWS·T is a multiple of 4: GEMM_ROWS = 4).
    let mut flat = [_mm512_setzero_si512(); GEMM_ROWS * GEMM_TOKENS];
    for (f, &v) in flat.iter_mut().zip(acc.iter().flatten()) {
        *f = v;
    }
    let mut sums = [0i32; GEMM_ROWS * GEMM_TOKENS];
    for (o, g) in sums
        .chunks_exact_mut(4)
        .zip(flat.chunks_exact(4))
        .take(GEMM_ROWS * T / 4)
    {
        o.copy_from_slice(&hsum4([g[0], g[1], g[2], g[3]]));
    }
    let mut res = [[0i32; GEMM_TOKENS]; GEMM_ROWS];
    for (i, r) in res.iter_mut().enumerate() {
        r[..T].copy_from_slice(&sums[i * T..(i + 1) * T]);
    }
    res
}
