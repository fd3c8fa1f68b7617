//! Activations as the kernels take them.
//!
//! * [`ActQ8`]: BitNet's per-token absmax int8 quantisation, exactly as the reference
//!   (Hugging Face `transformers` `integrations/bitnet.py`, `ActQuant`):
//!   `s = 127 / max(max|x|, 1e-5)`, `q = clamp(round_half_even(x * s), -128, 127)`.
//!   `torch.round` rounds half to even, so we do too (as [`f32::round_ties_even`]).
//! * [`ActF32`]: plain f32 activations for the FP16 baseline (f16 weights, f32 activations).
//!
//! **Padding rule.** Every token's row is stored with a stride of `cols` rounded up to
//! [`ACT_ALIGN`] (1280 = lcm of the 256-weight `i2` block and the 320-weight `tq1` block), and the
//! padding is zero. Each packed weight format pads its rows to its own block with weights whose
//! contribution is zero, so kernels run over whole blocks and never need a column tail.

use crate::buf::ABuf;

/// Activation row stride unit, in elements.
pub const ACT_ALIGN: usize = 1280;

/// Smallest absmax the quantiser divides by (the reference's `clamp(min=1e-5)`).
pub const ACT_EPS: f32 = 1e-5;

/// Rounds `n` up to a multiple of `m`.
pub const fn round_up(n: usize, m: usize) -> usize {
    n.div_ceil(m) * m
}

/// Quantises one token: writes `q` (length = `x.len()`) and returns `(s, Σq)`.
///
/// This is the reference definition; every kernel consumes its output. It is written so the
/// compiler vectorises it at any target level: a lane-wise absmax, and round-half-to-even by the
/// `1.5·2²³` shift ([`round_half_even_small`]), which equals [`f32::round_ties_even`] here because
/// `|x·s| ≤ 127·(1 + ε)` (a library call per element before: 6% of 2B4T decode).
///
/// [`crate::KernelSet::quantize_row`] runs the same code compiled for a SIMD level.
pub fn quantize_row(x: &[f32], q: &mut [i8]) -> (f32, i32) {
    assert_eq!(x.len(), q.len());
    quantize_row_body(x, q)
}

/// [`quantize_row`] without the length check, inlined into each level's compiled copy (the
/// `vecops` `quantize` primitives): the same operations in the same order, so every copy gives
/// the same bits.
#[inline(always)]
pub(crate) fn quantize_row_body(x: &[f32], q: &mut [i8]) -> (f32, i32) {
    let s = 127.0 / absmax(x).max(ACT_EPS);
    let mut sum = 0i32;
    for (o, &v) in q.iter_mut().zip(x) {
        let r = round_half_even_small(v * s);
        // NaN gives 0 (as `as i8` would); the rest is clamped into i8's range first, so the
        // conversion below needs no saturation and vectorises (a saturating `as` did not).
        let r = if r.is_nan() {
            0.0
        } else {
            r.clamp(-128.0, 127.0)
        };
        // SAFETY: `r` is finite and within -128..=127.
        let i = unsafe { r.to_int_unchecked::<i32>() };
        *o = i as i8;
        sum += i;
    }
    (s, sum)
}

/// `max |x|` (NaN ignored, as [`f32::max`] does), in 16 independent lanes.
#[inline(always)]
fn absmax(x: &[f32]) -> f32 {
    const L: usize = 16;
    let mut m = [0f32; L];
    let chunks = x.chunks_exact(L);
    let tail = chunks.remainder();
    for c in chunks {
        for i in 0..L {
            m[i] = m[i].max(c[i].abs());
        }
    }
    let mut r = m.iter().fold(0f32, |a, &b| a.max(b));
    for &v in tail {
        r = r.max(v.abs());
    }
    r
}

/// Round half to even for `|v| < 2²²` (NaN stays NaN): adding `1.5·2²³` moves `v` to where the
/// float spacing is 1, so the addition itself rounds (to nearest, ties to even); subtracting
/// it back is exact.
#[inline(always)]
pub fn round_half_even_small(v: f32) -> f32 {
    const SHIFT: f32 = 12_582_912.0;
    (v + SHIFT) - SHIFT
}

/// A batch of int8-quantised activation rows (one per token), zero-padded to [`ACT_ALIGN`].
#[derive(Clone, Debug)]
pub struct ActQ8 {
    cols: usize,
    stride: usize,
    batch: usize,
    data: ABuf<i8>,
    scale: Vec<f32>,
    sum: Vec<i32>,
}

impl ActQ8 {
    /// An all-zero batch (scale 127/1e-5, as the quantiser gives for a zero row).
    pub fn zeros(batch: usize, cols: usize) -> Self {
        let stride = round_up(cols.max(1), ACT_ALIGN);
        ActQ8 {
            cols,
            stride,
            batch,
            data: ABuf::zeroed(batch * stride),
            scale: vec![127.0 / ACT_EPS; batch],
            sum: vec![0; batch],
        }
    }

    /// Quantises `x`, `batch` rows of `cols` floats, token-major.
    pub fn quantize(x: &[f32], batch: usize, cols: usize) -> Self {
        let mut a = Self::zeros(batch, cols);
        a.requantize(x);
        a
    }

    /// Re-quantises into the existing buffers (same shape), for decode loops.
    pub fn requantize(&mut self, x: &[f32]) {
        self.requantize_by(x, quantize_row);
    }

    /// [`Self::requantize`] with `ks`'s compiled copy of the quantiser (the same bits, faster).
    pub fn requantize_with(&mut self, ks: &crate::KernelSet, x: &[f32]) {
        self.requantize_by(x, |x, q| ks.quantize_row(x, q));
    }

    fn requantize_by(&mut self, x: &[f32], f: impl Fn(&[f32], &mut [i8]) -> (f32, i32)) {
        assert_eq!(x.len(), self.batch * self.cols, "ActQ8::requantize: shape");
        for t in 0..self.batch {
            let row = &mut self.data[t * self.stride..t * self.stride + self.cols];
            let (s, sum) = f(&x[t * self.cols..(t + 1) * self.cols], row);
            self.scale[t] = s;
            self.sum[t] = sum;
        }
    }

    /// Builds a batch from already-quantised values (any int8, including -128) with given
    /// scales; used by tests and benches to hit every input.
    pub fn from_quantized(q: &[i8], batch: usize, cols: usize, scale: &[f32]) -> Self {
        assert_eq!(q.len(), batch * cols);
        assert_eq!(scale.len(), batch);
        let mut a = Self::zeros(batch, cols);
        for t in 0..batch {
            let src = &q[t * cols..(t + 1) * cols];
            a.data[t * a.stride..t * a.stride + cols].copy_from_slice(src);
            a.sum[t] = src.iter().map(|&v| v as i32).sum();
            a.scale[t] = scale[t];
        }
        a
    }

    /// Logical columns per token.
    pub fn cols(&self) -> usize {
        self.cols
    }
    /// Padded row stride (a multiple of [`ACT_ALIGN`]).
    pub fn stride(&self) -> usize {
        self.stride
    }
    /// Number of tokens.
    pub fn batch(&self) -> usize {
        self.batch
    }
    /// Token `t`'s padded row.
    pub fn row(&self, t: usize) -> &[i8] {
        &self.data[t * self.stride..(t + 1) * self.stride]
    }
    /// Token `t`'s quantisation scale `s` (the float value is `q / s`).
    pub fn scale(&self, t: usize) -> f32 {
        self.scale[t]
    }
    /// Σq over token `t`'s row.
    pub fn sum(&self, t: usize) -> i32 {
        self.sum[t]
    }
    /// All rows, token-major with [`Self::stride`].
    pub fn data(&self) -> &[i8] {
        &self.data
    }
}

/// A batch of f32 activation rows, zero-padded to [`ACT_ALIGN`].
#[derive(Clone, Debug)]
pub struct ActF32 {
    cols: usize,
    stride: usize,
    batch: usize,
    data: ABuf<f32>,
}

impl ActF32 {
    /// Copies `x` (`batch` rows of `cols`, token-major) into a padded batch.
    pub fn new(x: &[f32], batch: usize, cols: usize) -> Self {
        let stride = round_up(cols.max(1), ACT_ALIGN);
        let mut a = ActF32 {
            cols,
            stride,
            batch,
            data: ABuf::zeroed(batch * stride),
        };
        a.set(x);
        a
    }

    /// Overwrites the values (same shape).
    pub fn set(&mut self, x: &[f32]) {
        assert_eq!(x.len(), self.batch * self.cols, "ActF32::set: shape");
        for t in 0..self.batch {
            self.data[t * self.stride..t * self.stride + self.cols]
                .copy_from_slice(&x[t * self.cols..(t + 1) * self.cols]);
        }
    }

    /// Logical columns per token.
    pub fn cols(&self) -> usize {
        self.cols
    }
    /// Padded row stride.
    pub fn stride(&self) -> usize {
        self.stride
    }
    /// Number of tokens.
    pub fn batch(&self) -> usize {
        self.batch
    }
    /// Token `t`'s padded row.
    pub fn row(&self, t: usize) -> &[f32] {
        &self.data[t * self.stride..(t + 1) * self.stride]
    }
    /// All rows, token-major with [`Self::stride`].
    pub fn data(&self) -> &[f32] {
        &self.data
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantize_matches_definition() {
        let x = [0.5f32, -1.0, 0.25, 0.0, 1.0 / 254.0];
        let mut q = [0i8; 5];
        let (s, sum) = quantize_row(&x, &mut q);
        assert_eq!(s, 127.0);
        // 0.5*127 = 63.5 -> 64 (half to even), 0.25*127 = 31.75 -> 32, 1/254*127 = 0.5 -> 0.
        assert_eq!(q, [64, -127, 32, 0, 0]);
        assert_eq!(sum, 64 - 127 + 32);
    }

    #[test]
    fn zero_row_uses_epsilon() {
        let mut q = [1i8; 3];
        let (s, sum) = quantize_row(&[0.0; 3], &mut q);
        assert_eq!(s, 127.0 / ACT_EPS);
        assert_eq!((q, sum), ([0; 3], 0));
    }

    #[test]
    fn padding_is_zero_and_stride_aligned() {
        let x: Vec<f32> = (0..2 * 7).map(|i| i as f32 - 6.0).collect();
        let a = ActQ8::quantize(&x, 2, 7);
        assert_eq!(a.stride(), ACT_ALIGN);
        for t in 0..2 {
            assert!(a.row(t)[7..].iter().all(|&v| v == 0));
        }
    }

    /// The straightforward definition the fast one must equal bit for bit.
    fn quantize_naive(x: &[f32], q: &mut [i8]) -> (f32, i32) {
        let amax = x.iter().fold(0.0f32, |m, &v| m.max(v.abs()));
        let s = 127.0 / amax.max(ACT_EPS);
        let mut sum = 0i32;
        for (o, &v) in q.iter_mut().zip(x) {
            let r = (v * s).round_ties_even().clamp(-128.0, 127.0);
            *o = r as i8;
            sum += r as i32;
        }
        (s, sum)
    }

    #[test]
    fn shift_rounding_is_round_ties_even_on_the_quantiser_range() {
        // Every half-integer and its float neighbours in [-130, 130], plus NaN.
        for k in -260..=260 {
            let h = k as f32 * 0.5;
            for v in [h, h.next_up(), h.next_down()] {
                assert_eq!(round_half_even_small(v), v.round_ties_even(), "{v}");
            }
        }
        assert!(round_half_even_small(f32::NAN).is_nan());
    }

    proptest::proptest! {
        #[test]
        fn quantize_equals_the_naive_definition(
            x in proptest::collection::vec(
                proptest::prop_oneof![
                    -1e6f32..1e6,
                    -1.0f32..1.0,
                    proptest::num::f32::ANY,
                    proptest::strategy::Strategy::prop_map(-64i32..64, |k| k as f32 * 0.5),
                ],
                0..300,
            )
        ) {
            let (mut a, mut b) = (vec![0i8; x.len()], vec![0i8; x.len()]);
            let (sa, ua) = quantize_row(&x, &mut a);
            let (sb, ub) = quantize_naive(&x, &mut b);
            proptest::prop_assert_eq!(sa.to_bits(), sb.to_bits());
            proptest::prop_assert_eq!(ua, ub);
            proptest::prop_assert_eq!(&a, &b);
            // Every level's compiled copy gives the same bits.
            for ks in crate::KernelSet::available() {
                let mut c = vec![0i8; x.len()];
                let (sc, uc) = ks.quantize_row(&x, &mut c);
                proptest::prop_assert_eq!(sc.to_bits(), sb.to_bits(), "{}", ks.isa);
                proptest::prop_assert_eq!(uc, ub, "{}", ks.isa);
                proptest::prop_assert_eq!(&c, &b, "{}", ks.isa);
            }
        }
    }

    #[test]
    fn every_level_quantises_model_rows_as_the_reference() {
        // 2B4T's hidden and FFN widths and a ragged length; ActQ8 through a level equals the
        // reference's.
        for n in [2560, 6912, 2563] {
            let x: Vec<f32> = (0..n)
                .map(|i| ((i * 7919 % 1000) as f32 - 500.0) * 0.013)
                .collect();
            let want = ActQ8::quantize(&x, 1, n);
            for ks in crate::KernelSet::available() {
                let mut got = ActQ8::zeros(1, n);
                got.requantize_with(ks, &x);
                assert_eq!(got.row(0), want.row(0), "{} n={n}", ks.isa);
                assert_eq!(
                    got.scale(0).to_bits(),
                    want.scale(0).to_bits(),
                    "{}",
                    ks.isa
                );
                assert_eq!(got.sum(0), want.sum(0), "{}", ks.isa);
            }
        }
        let mut q = [0i8; 2];
        let r = std::panic::catch_unwind(move || {
            crate::KernelSet::available()[0].quantize_row(&[1.0; 3], &mut q)
        });
        assert!(r.is_err(), "a length mismatch must panic");
    }
}
