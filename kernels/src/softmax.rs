//! Softmax over attention scores, written so the compiler vectorises it at any target level:
//! the maximum and the sum in [`LANES`] independent lanes, and `exp` as a polynomial
//! ([`exp_le0`]) instead of a library call per element, in a loop of its own (inside the lane
//! loop it stayed scalar). Softmax went from 10% to 4% of the matrix time of 2B4T prefill at
//! 512 positions.
//!
//! [`softmax`] is the portable definition; each SIMD level's [`crate::vecops::VecOps`] carries
//! a copy of the same code compiled with that level's features (AVX2: 8 lanes, AVX-512: 16,
//! against SSE2's 4 in a default build), reached through [`crate::KernelSet::softmax`]. The
//! operations and their order are the same (no contraction into FMA), so every copy gives the
//! same bits.

/// Independent lanes of the maximum and the sum.
const LANES: usize = 8;

/// In place: `s = exp(s - max) / Σ exp(s - max)` (NaN in, NaN out, as the plain definition).
pub fn softmax(s: &mut [f32]) {
    softmax_body(s)
}

/// [`softmax`]'s code, inlined into each level's compiled copy.
#[inline(always)]
pub(crate) fn softmax_body(s: &mut [f32]) {
    let mut m = [f32::NEG_INFINITY; LANES];
    let mut chunks = s.chunks_exact(LANES);
    for c in &mut chunks {
        for (m, &v) in m.iter_mut().zip(c) {
            *m = m.max(v);
        }
    }
    let max = chunks
        .remainder()
        .iter()
        .chain(&m)
        .fold(f32::NEG_INFINITY, |a, &v| a.max(v));
    for v in s.iter_mut() {
        *v = exp_le0(*v - max);
    }
    let mut acc = [0f32; LANES];
    let mut chunks = s.chunks_exact(LANES);
    for c in &mut chunks {
        for (a, &v) in acc.iter_mut().zip(c) {
            *a += v;
        }
    }
    let sum = acc.iter().sum::<f32>() + chunks.remainder().iter().sum::<f32>();
    let inv = 1.0 / sum;
    s.iter_mut().for_each(|v| *v *= inv);
}

/// `eˣ` for `x ≤ 0` (0 below -87, where the true value is under 2⁻¹²⁵ and adds nothing to a
/// softmax), within 2 ulp of the exact value; NaN stays NaN. Cephes' `expf` method:
/// `x = n·ln2 + r` with `|r| ≤ ln2/2`, a degree-6 polynomial for `eʳ`, and `2ⁿ` built from its
/// exponent bits. `n` comes out of the rounding shift's low bits, so no float-to-int conversion is
/// needed (that would not vectorise, or would be undefined on NaN).
#[inline(always)]
pub fn exp_le0(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // ln 2 split so that n·LN2_HI is exact for |n| < 2⁹.
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // 1.5·2²³: adding it rounds to an integer (ties to even), held in the low mantissa bits.
    const SHIFT: f32 = 12_582_912.0;
    let v = x * LOG2E + SHIFT;
    let nf = v - SHIFT;
    let n = (v.to_bits() as i32).wrapping_sub(SHIFT.to_bits() as i32);
    let r = (x - nf * LN2_HI) - nf * LN2_LO;
    let mut p = 1.987_569_1e-4f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 0.166_666_65;
    p = p * r + 0.5;
    let er = p * r * r + r + 1.0;
    // 2ⁿ for -126 ≤ n ≤ 127 (x ≥ -87 gives n ≥ -126).
    let scale = f32::from_bits((n.wrapping_add(127) as u32) << 23);
    if x < -87.0 {
        0.0
    } else {
        er * scale
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_within_two_ulp_over_the_softmax_range() {
        let mut worst = 0f64;
        let n = 200_000;
        for i in 0..=n {
            let x = -87.0 * i as f32 / n as f32;
            let got = exp_le0(x) as f64;
            let want = (x as f64).exp();
            // One ulp of the exact value, in f32.
            let ulp = f32::EPSILON as f64 * want;
            worst = worst.max((got - want).abs() / ulp);
        }
        assert!(worst <= 2.0, "worst error {worst} ulp");
        assert_eq!(exp_le0(0.0), 1.0);
        assert_eq!(exp_le0(-100.0), 0.0);
        assert_eq!(exp_le0(f32::NEG_INFINITY), 0.0);
        assert!(exp_le0(f32::NAN).is_nan());
    }

    #[test]
    fn softmax_matches_f64_at_awkward_lengths() {
        for n in [1usize, 2, 7, 8, 9, 15, 16, 17, 63, 100, 513] {
            let s0: Vec<f32> = (0..n)
                .map(|i| ((i * 7919 % 211) as f32 - 105.0) / 9.0)
                .collect();
            let mut s = s0.clone();
            softmax(&mut s);
            let max = s0.iter().fold(f64::NEG_INFINITY, |a, &v| a.max(v as f64));
            let e: Vec<f64> = s0.iter().map(|&v| (v as f64 - max).exp()).collect();
            let sum: f64 = e.iter().sum();
            for (i, (&got, &want)) in s.iter().zip(&e).enumerate() {
                let want = want / sum;
                // `s - max` rounded to f32 (as in any f32 softmax) moves exp by up to
                // |s - max|·ε/2 relative: here under 2e-6; the rest is a few ulp.
                assert!(
                    (got as f64 - want).abs() <= 4e-6 * want + 1e-30,
                    "n={n} i={i}: {got} vs {want}"
                );
            }
        }
        let mut s = vec![1.0, f32::NAN, 2.0];
        softmax(&mut s);
        assert!(s.iter().all(|v| v.is_nan()));
    }

    #[test]
    fn every_level_gives_the_reference_bits() {
        for n in [0usize, 1, 7, 8, 9, 15, 16, 17, 31, 33, 100, 513, 2048] {
            let s0: Vec<f32> = (0..n)
                .map(|i| ((i * 7919 % 211) as f32 - 105.0) / 3.0)
                .collect();
            let mut want = s0.clone();
            softmax(&mut want);
            for ks in crate::KernelSet::available() {
                let mut got = s0.clone();
                ks.softmax(&mut got);
                let (g, w): (Vec<u32>, Vec<u32>) = (
                    got.iter().map(|v| v.to_bits()).collect(),
                    want.iter().map(|v| v.to_bits()).collect(),
                );
                assert_eq!(g, w, "{} n={n}", ks.isa);
            }
        }
    }
}
