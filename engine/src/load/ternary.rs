//! Turning stored projection weights into ternary values and one scale β, whatever the source:
//!
//! * **Hugging Face packed** `uint8 [out/4, in]`: packed row `r`, bits `2i+1..2i` hold original
//!   row `r + i·out/4` as `w + 1` (transformers `integrations/bitnet.py`, `unpack_weights`).
//!   Code 3 is not a ternary value and is an error.
//! * **`weight_scale`** in two conventions (transformers `integrations/bitnet.py`):
//!   `autobitlinear` (`AutoBitLinear.forward`: `output * weight_scale`) stores β, the real weight
//!   is `ternary × weight_scale`; `bitlinear` (`BitLinear.post_quant_process`:
//!   `y / (input_scale * weight_scale)`) stores 1/β, the real weight is `ternary / weight_scale`.
//! * **Master weights** (bf16/f16/f32) quantised at load as BitNet b1.58 does (transformers
//!   `WeightQuant`, 1bitLLM `weight_quant`): `s = 1 / max(mean|W|, 1e-5)`,
//!   `q = clamp(round_half_even(W·s), −1, 1)`, β = 1/s — `torch.round` rounds half to even.
//! * **Already-ternary floats** (llama.cpp's `bitnet` converter writes `q/s` as F16): every
//!   value is 0 or ±β, read back exactly.
//!
//! [`check_scale`] rejects a β that would make a layer's gain absurd — the symptom of a scale
//! stored in the wrong convention.

use std::path::Path;

use super::error::LoadError;

/// How a stored `weight_scale` relates to β.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScaleConvention {
    /// `linear_class: autobitlinear`: weight = ternary × weight_scale (β = weight_scale).
    Multiply,
    /// `linear_class: bitlinear`: weight = ternary / weight_scale (β = 1/weight_scale).
    Divide,
}

impl ScaleConvention {
    /// β from a stored `weight_scale`.
    pub fn beta(self, weight_scale: f32) -> f32 {
        match self {
            ScaleConvention::Multiply => weight_scale,
            ScaleConvention::Divide => 1.0 / weight_scale,
        }
    }
}

/// Unpacks the Hugging Face packed layout into row-major ternary values (`rows × cols`).
pub fn unpack_hf(
    path: &Path,
    name: &str,
    rows: usize,
    cols: usize,
    packed: &[u8],
) -> Result<Vec<i8>, LoadError> {
    check_codes(path, name, packed)?;
    let q = rows / 4;
    debug_assert_eq!(packed.len(), q * cols);
    let mut w = vec![0i8; rows * cols];
    for (r, out) in w.chunks_exact_mut(cols).enumerate() {
        let (i, pr) = (r / q, r % q);
        let src = &packed[pr * cols..(pr + 1) * cols];
        for (o, &b) in out.iter_mut().zip(src) {
            *o = ((b >> (2 * i)) & 3) as i8 - 1;
        }
    }
    Ok(w)
}

/// Errors if any 2-bit code of `packed` is 3 (not a ternary value).
pub fn check_codes(path: &Path, name: &str, packed: &[u8]) -> Result<(), LoadError> {
    if let Some(i) = packed.iter().position(|&b| b & (b >> 1) & 0x55 != 0) {
        return Err(LoadError::tensor(
            path,
            name,
            format!(
                "byte {i} (0x{:02x}) holds the 2-bit code 3, which is not a ternary value (codes are w+1 in 0..=2)",
                packed[i]
            ),
        ));
    }
    Ok(())
}

/// BitNet b1.58 absmean quantisation of master weights: (ternary values, β).
pub fn absmean(w: &[f32]) -> (Vec<i8>, f32) {
    let mean = (w.iter().map(|v| v.abs() as f64).sum::<f64>() / w.len().max(1) as f64) as f32;
    let s = 1.0 / mean.max(1e-5);
    let q = w
        .iter()
        .map(|&v| (v * s).round_ties_even().clamp(-1.0, 1.0) as i8)
        .collect();
    (q, 1.0 / s)
}

/// If every value is 0 or ±β for one β > 0 (a tensor stored already quantised), returns the
/// ternary values and β; `None` otherwise (master weights) or when all values are zero.
pub fn exact_ternary(w: &[f32]) -> Option<(Vec<i8>, f32)> {
    let beta = w.iter().fold(0f32, |m, v| m.max(v.abs()));
    if !(beta > 0.0 && beta.is_finite()) {
        return None;
    }
    let mut q = Vec::with_capacity(w.len());
    for &v in w {
        q.push(if v == 0.0 {
            0
        } else if v == beta {
            1
        } else if v == -beta {
            -1
        } else {
            return None;
        });
    }
    Some((q, beta))
}

/// Largest plausible layer gain `β·√cols`. A trained BitNet layer's β is near the absmean of its
/// master weights (≈ 0.01–1 for the published models, gain ≈ 0.5–50); a `bitlinear` 1/β read as
/// β (or the reverse) moves it by β⁻², thousands of times.
pub const MAX_GAIN: f32 = 1000.0;

/// Rejects a β that is not finite and positive, or whose gain `β·√cols` exceeds [`MAX_GAIN`].
pub fn check_scale(path: &Path, name: &str, beta: f32, cols: usize) -> Result<(), LoadError> {
    if !(beta.is_finite() && beta > 0.0) {
        return Err(LoadError::tensor(
            path,
            name,
            format!("weight scale β = {beta} must be finite and positive"),
        ));
    }
    let gain = beta * (cols as f32).sqrt();
    if gain > MAX_GAIN {
        return Err(LoadError::tensor(
            path,
            name,
            format!(
                "implausible weight scale β = {beta}: the layer gain β·√{cols} = {gain:.0} is over {MAX_GAIN} \
                 (a normal absmean is 0.01-1); was weight_scale written in the other convention \
                 (autobitlinear multiplies by it, bitlinear divides)?"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ternbench_kernels::format::i2::encode_hf_packed;

    #[test]
    fn hf_unpack_inverts_the_encoder() {
        let (rows, cols) = (8, 5);
        let w: Vec<i8> = (0..rows * cols).map(|i| (i % 3) as i8 - 1).collect();
        let p = encode_hf_packed(rows, cols, &w);
        assert_eq!(unpack_hf(Path::new("f"), "t", rows, cols, &p).unwrap(), w);
        let mut bad = p.clone();
        bad[3] |= 0b11 << 4;
        assert!(unpack_hf(Path::new("f"), "t", rows, cols, &bad).is_err());
    }

    #[test]
    fn absmean_matches_the_definition() {
        let w = [0.5f32, -1.5, 0.1, 2.0, -0.2, 0.0];
        let (q, b) = absmean(&w);
        let mean = w.iter().map(|v| v.abs()).sum::<f32>() / 6.0;
        assert!((b - mean).abs() < 1e-6);
        assert_eq!(q, vec![1, -1, 0, 1, 0, 0]);
        // Half rounds to even: 0.5·s = 0.5 exactly → 0.
        let (q, _) = absmean(&[0.5, 3.5, 0.0, 0.0]);
        assert_eq!(q[0], 0);
    }

    #[test]
    fn exact_ternary_and_scales() {
        assert_eq!(
            exact_ternary(&[0.25, 0.0, -0.25]),
            Some((vec![1, 0, -1], 0.25))
        );
        assert_eq!(exact_ternary(&[0.25, 0.1]), None);
        assert!(check_scale(Path::new("f"), "t", 0.02, 2560).is_ok());
        assert!(check_scale(Path::new("f"), "t", 50.0, 2560).is_err());
        assert!(check_scale(Path::new("f"), "t", f32::NAN, 2560).is_err());
    }
}
