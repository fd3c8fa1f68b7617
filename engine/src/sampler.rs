//! Next-token choice: greedy (temperature 0) or temperature + top-k + top-p sampling with a
//! seeded generator, so a run is reproducible.

/// Sampling settings.
#[derive(Clone, Debug)]
pub struct Sampler {
    /// 0 = greedy.
    pub temperature: f32,
    /// Keep the k most likely tokens (0 = all).
    pub top_k: usize,
    /// Keep the smallest set whose probability reaches p (1.0 = all).
    pub top_p: f32,
    state: u64,
}

impl Sampler {
    /// Greedy decoding.
    pub fn greedy() -> Self {
        Self::new(0.0, 0, 1.0, 0)
    }

    /// A sampler with these settings and seed.
    pub fn new(temperature: f32, top_k: usize, top_p: f32, seed: u64) -> Self {
        Sampler {
            temperature,
            top_k,
            top_p,
            state: seed ^ 0x853C_49E6_748F_EA9B,
        }
    }

    fn uniform(&mut self) -> f32 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Chooses a token from `logits`.
    pub fn sample(&mut self, logits: &[f32]) -> u32 {
        if self.temperature <= 0.0 {
            return argmax(logits);
        }
        let mut idx: Vec<usize> = (0..logits.len()).collect();
        idx.sort_unstable_by(|&a, &b| logits[b].total_cmp(&logits[a]));
        if self.top_k > 0 {
            idx.truncate(self.top_k);
        }
        let max = logits[idx[0]];
        let mut p: Vec<f32> = idx
            .iter()
            .map(|&i| ((logits[i] - max) / self.temperature).exp())
            .collect();
        let sum: f32 = p.iter().sum();
        p.iter_mut().for_each(|v| *v /= sum);
        let mut keep = p.len();
        let mut acc = 0.0;
        for (j, &v) in p.iter().enumerate() {
            acc += v;
            if acc >= self.top_p {
                keep = j + 1;
                break;
            }
        }
        let total: f32 = p[..keep].iter().sum();
        let r = self.uniform() * total;
        let mut acc = 0.0;
        for j in 0..keep {
            acc += p[j];
            if r < acc {
                return idx[j] as u32;
            }
        }
        idx[keep - 1] as u32
    }
}

/// Index of the largest logit (the first on ties).
pub fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &v) in logits.iter().enumerate() {
        if v > logits[best] {
            best = i;
        }
    }
    best as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_and_seeded_sampling() {
        let l = [0.1f32, 3.0, 2.9, -1.0];
        assert_eq!(Sampler::greedy().sample(&l), 1);
        let draw = |seed| {
            let mut s = Sampler::new(1.0, 2, 1.0, seed);
            (0..50).map(|_| s.sample(&l)).collect::<Vec<_>>()
        };
        assert_eq!(draw(7), draw(7));
        assert!(draw(7).iter().all(|&t| t == 1 || t == 2));
        let mut s = Sampler::new(1.0, 0, 0.01, 3);
        assert_eq!(s.sample(&l), 1);
    }
}
