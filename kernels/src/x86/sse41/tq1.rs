//! `tq1` kernels at the `sse41` level (SSE4.1 + SSSE3: `pmaddubsw`, `pabsb`; SSE2 `pmulhuw`,
//! `pmaddwd`).
//!
//! The algorithms are those of the `avx2` level (`x86/avx2/tq1.rs`) on 16-byte vectors; in short:
//!
//! **Layout recap** ([`crate::format::tq1`]): byte `j` of a 64-byte block holds the codes
//! `c_d = w + 1 ∈ {0, 1, 2}` of weights `d*64 + j`, `d = 0..5`, stored so that
//! `c_d = ⌊3·x_d / 256⌋` with `x_d = q·3^d mod 256`. The dot product is `Σ w·a = Σ c·a − Σ a`
//! (`Σ a` = [`ActQ8::sum`]); a 16-byte quarter of a block gives 16 consecutive weights per digit.
//!
//! **gemv (decode): the F identity, no digit extraction.** With `F_d = ⌊q·3^d / 256⌋`
//! (`F_0 = 0`, `F_5 ≤ 242`), `c_d = F_{d+1} − 3·F_d` and the sum telescopes:
//!
//! ```text
//! Σ_{d=0..4} c_d·a_d = Σ_{d=1..5} F_d·e_d,    e_d = a_{d−1} − 3·a_d   (a_5 = 0).
//! ```
//!
//! `e_d ∈ [−512, 512]` is computed once per token as i16, split into even and odd bytes. Per
//! 16 weight bytes: `Q_even = q << 8`, `Q_odd = q & 0xFF00` (2 ops), then per digit and parity
//! `F_d = pmulhuw(Q, 3^d)`, `pmaddwd(F_d, e_d)`, `paddd`: 33 instructions per 16 bytes, 132 per
//! 64-byte block. Exact: products `≤ 242·512`, pair sums below 2.5·10⁵, and per i32 lane a whole
//! block telescopes to `Σ c·a` of its bytes, so nothing overflows. The compare-and-`pmaddubsw`
//! alternative (160 instructions per block) measured ~7 % slower on Zen 4 (4.9 vs 5.2 GB/s).
//!
//! **Streaming.** gemv takes one row at a time, so `r0..r1` is one sequential stream, with
//! a software prefetch [`crate::tune::gemv_prefetch`] bytes ahead (2 KiB by default; 0: none; calibrated per host by the harness); the `e` vectors are memory operands (they stay
//! in L1). On Zen 4 this beat computing 4 rows together from 4 streams with shared `e` loads by
//! ~5 % (16 vector registers are too few to keep the 10 `e` vectors and the row state). Rows
//! must not be interleaved block by block: one-row streams defeat the hardware prefetcher
//! (3× slower out of cache at the `avx512vnni` level).
//!
//! **gemm (prefill).** A row tile is decoded once into codes `c ∈ {0,1,2}` (`y = q ^ 0x80`,
//! `c = |pcmpgtb(y, −43) + pcmpgtb(y, 42)|`, `y ← 3·y` by two byte adds), then a micro-kernel
//! of [`GEMM_ROWS`] rows × [`GEMM_TOKENS`] tokens does `pmaddubsw(c, a)` + `paddw` per row,
//! token and 16 columns. A pair sum is at most `2·2·128 = 512`; a K-chunk of [`GEMM_KC`]
//! blocks adds at most 60 of them to an i16 lane (`60·512 < 2¹⁵`) before `pmaddwd(·, 1)`
//! widens it.

use std::arch::x86_64::*;

use crate::act::ActQ8;
use crate::buf::ABuf;
use crate::format::tq1::{Tq1Matrix, BLOCK, BLOCK_BYTES, TRITS};
use crate::kernel::{out_factor, ternary_out, Ops, Out};

pub(crate) const OPS: Option<Ops<Tq1Matrix, ActQ8>> = Some(Ops { gemv, gemm });

/// Bytes per vector.
const VW: usize = 16;
/// Vectors per 64-byte block.
const PARTS: usize = BLOCK_BYTES / VW;
/// Rows of one gemm tile (decoded together).
const GEMM_ROWS: usize = 4;
/// Tokens of one gemm micro-tile.
const GEMM_TOKENS: usize = 2;
/// Blocks decoded at a time in gemm: `3 · 20 = 60` steps of 16 columns (see the module doc).
const GEMM_KC: usize = 3;

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
#[target_feature(enable = "sse4.1,ssse3")]
unsafe fn load(p: *const u8) -> __m128i {
    // SAFETY: forwarded to the caller; unaligned load.
    unsafe { _mm_loadu_si128(p as *const __m128i) }
}

/// Stores one vector.
///
/// # Safety
/// `p..p+VW` must be writable.
#[inline]
#[target_feature(enable = "sse4.1,ssse3")]
unsafe fn store(p: *mut u8, v: __m128i) {
    // SAFETY: forwarded to the caller; unaligned store.
    unsafe { _mm_storeu_si128(p as *mut __m128i, v) }
}

/// Horizontal sum of four i32.
#[inline]
#[target_feature(enable = "sse4.1,ssse3")]
fn hsum(s: __m128i) -> i32 {
    let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b01_00_11_10>(s));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b10_11_00_01>(s));
    _mm_cvtsi128_si32(s)
}

#[target_feature(enable = "sse4.1,ssse3")]
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
        // One row at a time: the rows r0..r1 are one long sequential stream.
        for r in r0..r1 {
            let ptr = w[r * rb..(r + 1) * rb].as_ptr();
            // SAFETY: the row holds rb = nb*64 bytes; `e` holds nb*640 i16.
            let d = unsafe { dot_row(ptr, e, nb) };
            // SAFETY: (t, r) is inside the caller's output region (kernel contract).
            unsafe { out.write(t, r, ternary_out(d.wrapping_sub(sa), f)) };
        }
    }
}

/// Fills `e` for one activation row: for block `b`, part `h`, digit `d = 1..5` and parity `p`,
/// vector `((b*PARTS + h)*5 + d−1)*2 + p` holds the `VW/2` i16 `e_d[h*VW + 2k + p]`,
/// `e_d = a_{d−1} − 3·a_d` (`a_5 = 0`), `k = 0..VW/2`.
///
/// # Safety
/// `a` must hold `nb·320` readable bytes and `e` `nb·640` writable i16.
#[inline]
#[target_feature(enable = "sse4.1,ssse3")]
unsafe fn prep_e(a: *const i8, e: *mut i16, nb: usize) {
    let (ab, eb) = (a as *const u8, e as *mut u8);
    let mut k = 0;
    for b in 0..nb {
        for h in 0..PARTS {
            let mut prev = [_mm_setzero_si128(); 2];
            for d in 0..=TRITS {
                let cur = if d < TRITS {
                    // SAFETY: b < nb: inside the row.
                    let v = unsafe { load(ab.add(b * BLOCK + d * 64 + h * VW)) };
                    // Sign-extended even and odd bytes.
                    [
                        _mm_srai_epi16::<8>(_mm_slli_epi16::<8>(v)),
                        _mm_srai_epi16::<8>(v),
                    ]
                } else {
                    [_mm_setzero_si128(); 2]
                };
                if d > 0 {
                    for (&pv, &cv) in prev.iter().zip(&cur) {
                        let c3 = _mm_add_epi16(_mm_add_epi16(cv, cv), cv);
                        // SAFETY: k < nb*10 vectors of VW bytes = nb*640 i16.
                        unsafe { store(eb.add(k * VW), _mm_sub_epi16(pv, c3)) };
                        k += 1;
                    }
                }
                prev = cur;
            }
        }
    }
}

/// `Σ c·a` of the row at `w` through the F identity, with two accumulators (even and odd
/// bytes) and every `e` vector a memory operand.
///
/// # Safety
/// `w` must hold `nb` readable blocks and `e` `nb·640` readable i16.
#[inline]
#[target_feature(enable = "sse4.1,ssse3")]
unsafe fn dot_row(w: *const u8, e: *const i16, nb: usize) -> i32 {
    // The prefetch distance of each row stream, bytes (0: no software prefetch).
    let pf = crate::tune::gemv_prefetch(crate::format::Format::Tq1);
    let hi = _mm_set1_epi16(0xFF00u16 as i16);
    let pow3 = [
        _mm_set1_epi16(3),
        _mm_set1_epi16(9),
        _mm_set1_epi16(27),
        _mm_set1_epi16(81),
        _mm_set1_epi16(243),
    ];
    let eb = e as *const u8;
    let (mut se, mut so) = (_mm_setzero_si128(), _mm_setzero_si128());
    for b in 0..nb {
        if pf != 0 {
            _mm_prefetch::<_MM_HINT_T0>(w.wrapping_add(b * BLOCK_BYTES + pf) as *const i8);
        }
        for h in 0..PARTS {
            let ep = eb.wrapping_add((b * PARTS + h) * TRITS * 2 * VW);
            // SAFETY: block b < nb.
            let q = unsafe { load(w.add(b * BLOCK_BYTES + h * VW)) };
            let qe = _mm_slli_epi16::<8>(q);
            let qo = _mm_and_si128(q, hi);
            for (d, &p3) in pow3.iter().enumerate() {
                // SAFETY: vectors 2d, 2d+1 of this part's 10 lie inside `e`.
                let (ee, eo) =
                    unsafe { (load(ep.add(2 * d * VW)), load(ep.add((2 * d + 1) * VW))) };
                se = _mm_add_epi32(se, _mm_madd_epi16(_mm_mulhi_epu16(qe, p3), ee));
                so = _mm_add_epi32(so, _mm_madd_epi16(_mm_mulhi_epu16(qo, p3), eo));
            }
        }
    }
    hsum(_mm_add_epi32(se, so))
}

#[target_feature(enable = "sse4.1,ssse3")]
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
#[target_feature(enable = "sse4.1,ssse3")]
fn opaque(mut y: __m128i) -> __m128i {
    // SAFETY: an empty template: no instruction, no memory access, the value is unchanged.
    unsafe {
        std::arch::asm!("/* {y} */", y = inout(xmm_reg) y, options(pure, nomem, nostack, preserves_flags))
    };
    y
}

/// Decodes `nblocks` packed blocks at `src` into `nblocks·320` codes (0, 1, 2) at `dst`, in
/// column order (the activation layout).
///
/// Per vector: `y_0 = q ^ 0x80` (`x` minus 128 as a signed byte; `y_{d+1} = 3·y_d mod 256`
/// still, since `3·128 ≡ 128`), `x ≥ 86 ⇔ y > −43`, `x ≥ 171 ⇔ y > 42`, `c = |m₁ + m₂|`.
/// Each tripling is made opaque so LLVM cannot fold the chain into byte multiplies by 9, 27,
/// 81, which x86 lacks and LLVM would emulate on the multiply ports.
///
/// # Safety
/// `src` must hold `nblocks·64` readable bytes and `dst` `nblocks·320` writable ones.
#[inline]
#[target_feature(enable = "sse4.1,ssse3")]
unsafe fn decode(src: *const u8, dst: *mut u8, nblocks: usize) {
    let flip = _mm_set1_epi8(-128);
    let (lo, hi) = (_mm_set1_epi8(-43), _mm_set1_epi8(42));
    for b in 0..nblocks {
        for h in 0..PARTS {
            // SAFETY: b < nblocks.
            let q = unsafe { load(src.add(b * BLOCK_BYTES + h * VW)) };
            let mut y = _mm_xor_si128(q, flip);
            for d in 0..TRITS {
                let m = _mm_add_epi8(_mm_cmpgt_epi8(y, lo), _mm_cmpgt_epi8(y, hi));
                // SAFETY: b*320 + d*64 + h*VW + VW <= nblocks*320.
                unsafe { store(dst.add(b * BLOCK + d * 64 + h * VW), _mm_abs_epi8(m)) };
                y = opaque(_mm_add_epi8(_mm_add_epi8(y, y), y));
            }
        }
    }
}

/// Horizontal sums of four i32 vectors at once (a transposing add tree: about 5 instructions
/// per sum instead of 8 or 9 one at a time).
#[inline]
#[target_feature(enable = "sse4.1,ssse3")]
fn hsum4(v: [__m128i; 4]) -> [i32; 4] {
    let [a, b, cc, d] = v;
    let ab = _mm_add_epi32(_mm_unpacklo_epi32(a, b), _mm_unpackhi_epi32(a, b));
    let cd = _mm_add_epi32(_mm_unpacklo_epi32(cc, d), _mm_unpackhi_epi32(cc, d));
    let s = _mm_add_epi32(_mm_unpacklo_epi64(ab, cd), _mm_unpackhi_epi64(ab, cd));
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
#[target_feature(enable = "sse4.1,ssse3")]
unsafe fn micro<const T: usize>(
    c: *const u8,
    kcw: usize,
    a: *const u8,
    stride: usize,
    steps: usize,
) -> [[i32; GEMM_TOKENS]; GEMM_ROWS] {
    let mut acc = [[_mm_setzero_si128(); T]; GEMM_ROWS];
    for s in 0..steps {
        let mut cv = [_mm_setzero_si128(); GEMM_ROWS];
        for (i, v) in cv.iter_mut().enumerate() {
            // SAFETY: code row i, s < steps.
            *v = unsafe { load(c.add(i * kcw + s * VW)) };
        }
        for j in 0..T {
            // SAFETY: token j < T, s < steps.
            let av = unsafe { load(a.add(j * stride + s * VW)) };
            for (row, &ci) in acc.iter_mut().zip(&cv) {
                row[j] = _mm_add_epi16(row[j], _mm_maddubs_epi16(ci, av));
            }
        }
    }
    let ones = _mm_set1_epi16(1);
    // Reduce in groups of four (GEMM_ROWS·T is a multiple of 4: GEMM_ROWS = 4).
    let mut flat = [_mm_setzero_si128(); GEMM_ROWS * GEMM_TOKENS];
    for (f, &v) in flat.iter_mut().zip(acc.iter().flatten()) {
        *f = _mm_madd_epi16(v, ones);
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
