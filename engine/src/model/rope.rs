//! Rotary position embedding in the rotate-half (GPT-NeoX / Hugging Face Llama) pairing:
//! element `i` rotates with element `i + d/2`, not with its neighbour. Frequencies
//! `θ^(-2i/d)` for `i < d/2` (`rope_theta` from the config; 500 000 for 2B4T).

/// Precomputed cos/sin per position and frequency.
#[derive(Debug, Clone)]
pub struct Rope {
    half: usize,
    cos: Vec<f32>,
    sin: Vec<f32>,
}

impl Rope {
    /// Tables for `positions` positions of head dimension `head_dim`.
    pub fn new(head_dim: usize, theta: f32, positions: usize) -> Self {
        let half = head_dim / 2;
        let mut cos = Vec::with_capacity(positions * half);
        let mut sin = Vec::with_capacity(positions * half);
        for p in 0..positions {
            for i in 0..half {
                // As HF: inv_freq = 1 / theta^(2i/d) in f32, angle = p * inv_freq.
                let inv = 1.0 / (theta as f64).powf((2 * i) as f64 / head_dim as f64);
                let ang = (p as f64 * (inv as f32) as f64) as f32;
                cos.push(ang.cos());
                sin.push(ang.sin());
            }
        }
        Rope { half, cos, sin }
    }

    /// Positions covered.
    pub fn positions(&self) -> usize {
        self.cos.len() / self.half.max(1)
    }

    /// Rotates every head of `x` (`heads × head_dim`) for position `pos`.
    pub fn apply(&self, x: &mut [f32], pos: usize) {
        let h = self.half;
        let (c, s) = (
            &self.cos[pos * h..(pos + 1) * h],
            &self.sin[pos * h..(pos + 1) * h],
        );
        for head in x.chunks_exact_mut(2 * h) {
            let (a, b) = head.split_at_mut(h);
            for i in 0..h {
                let (x0, x1) = (a[i], b[i]);
                a[i] = x0 * c[i] - x1 * s[i];
                b[i] = x1 * c[i] + x0 * s[i];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn position_zero_is_identity_and_norm_is_kept() {
        let r = Rope::new(8, 10000.0, 4);
        let mut x = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0];
        let orig = x;
        r.apply(&mut x, 0);
        assert_eq!(x, orig);
        r.apply(&mut x, 3);
        for i in 0..4 {
            let n0 = orig[i].hypot(orig[i + 4]);
            let n1 = x[i].hypot(x[i + 4]);
            assert!((n0 - n1).abs() < 1e-5);
        }
    }
}
