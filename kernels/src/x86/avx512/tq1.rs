//! `tq1` kernels at the `avx512` level (AVX-512 F/BW/VL, no VNNI).
//!
//! **Layout recap** ([`crate::format::tq1`]): byte `j` of a 64-byte block holds the codes
//! `c_d = w + 1 ∈ {0, 1, 2}` of weights `d*64 + j`, `d = 0..5`, stored so that
//! `c_d = ⌊3·x_d / 256⌋ = (x_d ≥ 86) + (x_d ≥ 171)` with `x_d = q·3^d mod 256`. The dot
//! product is `Σ w·a = Σ c·a − Σ a` (`Σ a` = [`ActQ8::sum`]); one 64-byte load gives 64
//! consecutive weights per digit.
//!
//! **gemv (decode): the F identity, no digit extraction.** With `F_d = ⌊q·3^d / 256⌋`
//! (`F_0 = 0`, `F_5 = ⌊243·q/256⌋ ≤ 242`), `3·q·3^d = 256·(3·F_d + c_d) + x_{d+1}` gives
//! `c_d = F_{d+1} − 3·F_d`, and the sum telescopes:
//!
//! ```text
//! Σ_{d=0..4} c_d·a_d = Σ_{d=1..5} F_d·e_d,    e_d = a_{d−1} − 3·a_d   (a_5 = 0).
//! ```
//!
//! `e_d ∈ [−512, 512]` is computed once per token as i16 (a scratch of `2·cols` bytes), split
//! into even and odd bytes, and each block's 10 `e` vectors are loaded once for
//! [`GEMV_ROWS`] rows. Per 64-byte block of 320 weights: `Q_even = q << 8`,
//! `Q_odd = q & 0xFF00` in 16-bit lanes (2 ops), then per digit and parity
//! `F_d = vpmulhuw(Q, 3^d)` (exactly `⌊q·3^d/256⌋`), `vpmaddwd(F_d, e_d)` and `vpaddd`:
//! 33 instructions with the load. Exact: `F_d·e_d ≤ 242·512`, a `vpmaddwd` pair sum is below
//! 2.5·10⁵, and per i32 lane a whole block telescopes to `Σ c·a` of its bytes (`|·| ≤ 512`),
//! so nothing overflows for any realistic column count.
//!
//! The alternative, extracting codes with two `vpcmpub` into masks and two masked moves
//! (`c = k₂ ? 2 : k₁ ? 1 : 0`), then `vpmaddubsw(c, a)` + `vpaddw`, costs 2 (advance, `3·x` as
//! two byte adds) + 6 = 8 instructions per digit, 39 per block; on Zen 4 it ran ~6 % slower in
//! cache (10.3 vs 10.9 GB/s per core). Without VNNI the "x identity" of the `avx512vnni` level
//! cannot be used: `vpmaddubsw` on full-range bytes `x_d·a_d` saturates. Zen 4 splits 512-bit
//! operations in two, so this level is no faster than `avx2` there (both compute-bound at about
//! 0.55-0.6 of read bandwidth at 2 threads).
//!
//! **Streaming.** gemv takes [`GEMV_ROWS`] rows at a time, one from each of [`GEMV_ROWS`]
//! contiguous sub-ranges of `r0..r1`, so each row pointer walks a long sequential stream the
//! hardware prefetcher follows. Interleaving *neighbouring* rows block by block instead makes
//! one-row streams (512 bytes at 2560 columns) that it does not follow: on Zen 4 that ran 3×
//! slower out of cache (6.2 vs 18.4 GB/s at one thread) at the same in-cache speed.
//!
//! **gemm (prefill).** A row tile is decoded once into codes `c ∈ {0,1,2}` with the mask
//! sequence above (an L1-sized scratch laid out like the activations), then a micro-kernel of
//! [`GEMM_ROWS`] rows × [`GEMM_TOKENS`] tokens does `vpmaddubsw(c, a)` + `vpaddw` per row,
//! token and 64 columns, so each decoded block is reused by every token. A pair sum is at most
//! `2·2·128 = 512`, and a K-chunk of [`GEMM_KC`] blocks adds at most 60 of them to an i16
//! lane (`60·512 < 2¹⁵`) before it is widened with `vpmaddwd(·, 1)`.

use std::arch::x86_64::*;

use crate::act::ActQ8;
use crate::buf::ABuf;
use crate::format::tq1::{Tq1Matrix, BLOCK, BLOCK_BYTES, TRITS};
use crate::kernel::{out_factor, ternary_out, Ops, Out};

pub(crate) const OPS: Option<Ops<Tq1Matrix, ActQ8>> = Some(Ops { gemv, gemm });

/// Bytes per vector.
const VW: usize = 64;
/// Rows (streams) one gemv pass computes together, sharing the `e` loads.
const GEMV_ROWS: usize = 4;
/// Rows of one gemm tile (decoded together).
const GEMM_ROWS: usize = 4;
/// Tokens of one gemm micro-tile.
const GEMM_TOKENS: usize = 4;
/// Blocks decoded at a time in gemm: `12 · 5 = 60` steps of 64 columns (see the module doc).
const GEMM_KC: usize = 12;

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
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c")]
unsafe fn load(p: *const u8) -> __m512i {
    // SAFETY: forwarded to the caller; unaligned load.
    unsafe { _mm512_loadu_si512(p as *const __m512i) }
}

/// Stores one vector.
///
/// # Safety
/// `p..p+VW` must be writable.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c")]
unsafe fn store(p: *mut u8, v: __m512i) {
    // SAFETY: forwarded to the caller; unaligned store.
    unsafe { _mm512_storeu_si512(p as *mut __m512i, v) }
}

#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c")]
unsafe fn gemv_tf(m: &Tq1Matrix, r0: usize, r1: usize, act: &ActQ8, out: Out) {
    let nb = m.padded_cols() / BLOCK;
    let rb = m.row_bytes();
    let w = m.data();
    assert!(r1 <= m.rows() && act.stride() >= m.padded_cols());
    let mut e = ABuf::<i16>::zeroed(nb * BLOCK * 2);
    for t in 0..act.batch() {
        let f = out_factor(m.scale(), act.scale(t));
        let sa = act.sum(t);
        // SAFETY: the activation row holds stride >= nb*320 bytes, `e` nb*640 i16.
        unsafe { prep_e(act.row(t).as_ptr(), e.as_mut_ptr(), nb) };
        let e = e.as_ptr();
        // GEMV_ROWS streams, each a contiguous run of `per` rows read front to back (long
        // sequential streams the hardware prefetcher follows; interleaving neighbouring rows
        // block by block made 512-byte streams it did not, and ran 3x slower out of cache).
        let per = (r1 - r0) / GEMV_ROWS;
        for k in 0..per {
            let rr: [usize; GEMV_ROWS] = std::array::from_fn(|i| r0 + i * per + k);
            let ptrs = rr.map(|r| w[r * rb..(r + 1) * rb].as_ptr());
            // SAFETY: each row holds rb = nb*64 bytes; `e` holds nb*640 i16.
            let d = unsafe { dot_rows::<GEMV_ROWS>(ptrs, e, nb) };
            for (&r, &di) in rr.iter().zip(&d) {
                // SAFETY: (t, r) is inside the caller's output region (kernel contract).
                unsafe { out.write(t, r, ternary_out(di.wrapping_sub(sa), f)) };
            }
        }
        for r in r0 + GEMV_ROWS * per..r1 {
            let ptr = w[r * rb..(r + 1) * rb].as_ptr();
            // SAFETY: as above, one row.
            let [d] = unsafe { dot_rows::<1>([ptr], e, nb) };
            // SAFETY: (t, r) is inside the caller's output region (kernel contract).
            unsafe { out.write(t, r, ternary_out(d.wrapping_sub(sa), f)) };
        }
    }
}

/// Fills `e` for one activation row: for block `b`, digit `d = 1..5` and parity `p`, vector
/// `(b*5 + d−1)*2 + p` holds the 32 i16 `e_d[2k + p]`, `e_d = a_{d−1} − 3·a_d` (`a_5 = 0`).
///
/// # Safety
/// `a` must hold `nb·320` readable bytes and `e` `nb·640` writable i16.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c")]
unsafe fn prep_e(a: *const i8, e: *mut i16, nb: usize) {
    let (ab, eb) = (a as *const u8, e as *mut u8);
    let mut k = 0;
    for b in 0..nb {
        let mut prev = [_mm512_setzero_si512(); 2];
        for d in 0..=TRITS {
            let cur = if d < TRITS {
                // SAFETY: b < nb: inside the row.
                let v = unsafe { load(ab.add(b * BLOCK + d * 64)) };
                // Sign-extended even and odd bytes.
                [
                    _mm512_srai_epi16::<8>(_mm512_slli_epi16::<8>(v)),
                    _mm512_srai_epi16::<8>(v),
                ]
            } else {
                [_mm512_setzero_si512(); 2]
            };
            if d > 0 {
                for (&pv, &cv) in prev.iter().zip(&cur) {
                    let c3 = _mm512_add_epi16(_mm512_add_epi16(cv, cv), cv);
                    // SAFETY: k < nb*10 vectors of 64 bytes = nb*640 i16.
                    unsafe { store(eb.add(k * VW), _mm512_sub_epi16(pv, c3)) };
                    k += 1;
                }
            }
            prev = cur;
        }
    }
}

/// `Σ c·a` of the `R` rows starting at `w[i]` through the F identity.
///
/// # Safety
/// Each `w[i]` must hold `nb` readable blocks and `e` `nb·640` readable i16.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c")]
unsafe fn dot_rows<const R: usize>(w: [*const u8; R], e: *const i16, nb: usize) -> [i32; R] {
    // The prefetch distance of each row stream, bytes (0: no software prefetch).
    let pf = crate::tune::gemv_prefetch(crate::format::Format::Tq1);
    let hi = _mm512_set1_epi16(0xFF00u16 as i16);
    let pow3 = [
        _mm512_set1_epi16(3),
        _mm512_set1_epi16(9),
        _mm512_set1_epi16(27),
        _mm512_set1_epi16(81),
        _mm512_set1_epi16(243),
    ];
    let eb = e as *const u8;
    let mut acc = [_mm512_setzero_si512(); R];
    for b in 0..nb {
        let mut ev = [_mm512_setzero_si512(); 2 * TRITS];
        for (k, v) in ev.iter_mut().enumerate() {
            // SAFETY: b < nb; each block has 10 vectors in `e`.
            *v = unsafe { load(eb.add((b * 2 * TRITS + k) * VW)) };
        }
        for (acc, &wi) in acc.iter_mut().zip(&w) {
            if pf != 0 {
                _mm_prefetch::<_MM_HINT_T0>(wi.wrapping_add(b * BLOCK_BYTES + pf) as *const i8);
            }
            // SAFETY: block b < nb of row i.
            let q = unsafe { load(wi.add(b * BLOCK_BYTES)) };
            let qe = _mm512_slli_epi16::<8>(q);
            let qo = _mm512_and_si512(q, hi);
            let mut s = *acc;
            for (d, &p3) in pow3.iter().enumerate() {
                let fe = _mm512_mulhi_epu16(qe, p3);
                let fo = _mm512_mulhi_epu16(qo, p3);
                s = _mm512_add_epi32(s, _mm512_madd_epi16(fe, ev[2 * d]));
                s = _mm512_add_epi32(s, _mm512_madd_epi16(fo, ev[2 * d + 1]));
            }
            *acc = s;
        }
    }
    acc.map(|v| _mm512_reduce_add_epi32(v))
}

#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c")]
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

/// Hides a value from LLVM's optimiser (no instruction is emitted).
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c")]
fn opaque(mut y: __m512i) -> __m512i {
    // SAFETY: an empty template: no instruction, no memory access, the value is unchanged.
    unsafe {
        std::arch::asm!("/* {y} */", y = inout(zmm_reg) y, options(pure, nomem, nostack, preserves_flags))
    };
    y
}

/// Decodes `nblocks` packed blocks at `src` into `nblocks·320` codes (0, 1, 2) at `dst`, in
/// column order (the activation layout): `k₁ = x ≥ 86`, `k₂ = x ≥ 171` (unsigned compares into
/// masks), `c = k₂ ? 2 : k₁ ? 1 : 0` (two masked moves), `x ← x + x + x`. Each tripling is made
/// opaque so LLVM cannot fold the chain into byte multiplies by 9, 27, 81, which x86 lacks and
/// LLVM would emulate on the multiply ports.
///
/// # Safety
/// `src` must hold `nblocks·64` readable bytes and `dst` `nblocks·320` writable ones.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c")]
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
            x = opaque(_mm512_add_epi8(_mm512_add_epi8(x, x), x));
        }
    }
}

/// Horizontal sums of four i32 vectors at once (a transposing add tree: about 5 instructions
/// per sum instead of 8 or 9 one at a time).
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c")]
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
/// (`stride` apart) over `steps ≤ 60` vectors, accumulated in i16 (see the module doc); the
/// first `T` columns of the result are set.
///
/// # Safety
/// Every code row and token must hold `steps·VW` readable bytes.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c")]
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
                row[j] = _mm512_add_epi16(row[j], _mm512_maddubs_epi16(ci, av));
            }
        }
    }
    let ones = _mm512_set1_epi16(1);
    // Reduce in groups of four (GEMM_ROWS·T is a multiple of 4: GEMM_ROWS = 4).
    let mut flat = [_mm512_setzero_si512(); GEMM_ROWS * GEMM_TOKENS];
    for (f, &v) in flat.iter_mut().zip(acc.iter().flatten()) {
        *f = _mm512_madd_epi16(v, ones);
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
