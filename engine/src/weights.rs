//! Model weights, and the seeded synthetic generator.
//!
//! Synthetic weights follow BitNet's statistics: ternary values with the zero fraction of
//! absmean-quantised Gaussian weights (`P(|x| < 0.5·E|x|) = 2Φ(0.399) − 1 ≈ 0.31`, the rest
//! ±1 evenly), one scale β per tensor chosen so a projection keeps unit variance, unit norm
//! weights, and an f16 embedding of uniform values. Each tensor is drawn from its own seeded
//! stream (`seed`, layer, tensor), so the ternary model and its FP16 twin (the same values
//! dequantised, `w·β` in f16) are the same model, whatever the format or thread count.

use std::sync::Mutex;

use half::f16;
use ternbench_kernels::{F16Matrix, Format, ThreadPool};

use crate::config::ModelConfig;
use crate::error::EngineError;
use crate::linear::Linear;

/// One transformer block.
#[derive(Debug)]
pub struct Layer {
    /// RMSNorm before attention.
    pub attn_norm: Vec<f32>,
    /// Query projection (`hidden → hidden`).
    pub q: Linear,
    /// Key projection (`hidden → kv_dim`).
    pub k: Linear,
    /// Value projection (`hidden → kv_dim`).
    pub v: Linear,
    /// RMSNorm on the attention output, before `o` (BitNet's `attn_sub_norm`); `None` for
    /// checkpoints without one (Llama-architecture BitNet conversions), where the graph skips it.
    pub attn_sub_norm: Option<Vec<f32>>,
    /// Output projection.
    pub o: Linear,
    /// RMSNorm before the FFN.
    pub ffn_norm: Vec<f32>,
    /// Gate projection (`hidden → intermediate`).
    pub gate: Linear,
    /// Up projection.
    pub up: Linear,
    /// RMSNorm on `act(gate)·up`, before `down` (BitNet's `ffn_sub_norm`); `None` to skip it.
    pub ffn_sub_norm: Option<Vec<f32>>,
    /// Down projection (`intermediate → hidden`).
    pub down: Linear,
}

impl Layer {
    /// The seven linear layers in forward order.
    pub fn linears(&self) -> [&Linear; 7] {
        [
            &self.q, &self.k, &self.v, &self.o, &self.gate, &self.up, &self.down,
        ]
    }
}

/// Embedding rows kept in their stored encoding (f32, bf16, Q8_0, Q6_K ...) and decoded exactly
/// to f32 at the gather, for checkpoints whose embedding values f16 cannot hold exactly: the
/// token's input to the first layer then equals the reference's (as llama.cpp's `get_rows`
/// dequantises), while the tied LM head still reads the f16 copy in [`Weights::embed`].
#[derive(Clone)]
pub struct EmbedRows {
    row_bytes: usize,
    data: Vec<u8>,
    decode: fn(&[u8]) -> Vec<f32>,
}

impl std::fmt::Debug for EmbedRows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbedRows")
            .field("row_bytes", &self.row_bytes)
            .field("bytes", &self.data.len())
            .finish()
    }
}

impl EmbedRows {
    /// Rows of `row_bytes` bytes each in `data`, decoded by `decode` (bytes of one row → its
    /// values).
    pub fn new(row_bytes: usize, data: Vec<u8>, decode: fn(&[u8]) -> Vec<f32>) -> Self {
        EmbedRows {
            row_bytes,
            data,
            decode,
        }
    }

    /// The values of row `r`.
    pub fn row(&self, r: usize) -> Vec<f32> {
        (self.decode)(&self.data[r * self.row_bytes..(r + 1) * self.row_bytes])
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.data.len()
    }
}

/// Every tensor of a model.
#[derive(Debug)]
pub struct Weights {
    /// The shape.
    pub cfg: ModelConfig,
    /// Token embedding (`vocab × hidden`, f16), also the tied LM head when `head` is `None`.
    pub embed: F16Matrix,
    /// LM head in another format than the f16 embedding (e.g. `q8`), or `None` (tied, f16).
    pub head: Option<Linear>,
    /// Exact embedding rows for the gather when `embed` rounds the stored values (see
    /// [`EmbedRows`]); `None` when the f16 embedding is exact.
    pub embed_rows: Option<EmbedRows>,
    /// Final RMSNorm.
    pub final_norm: Vec<f32>,
    /// The blocks actually built (fewer than `cfg.layers` when sampled).
    pub layers: Vec<Layer>,
}

impl Weights {
    /// Whether only some layers were built (`--sample-layers`).
    pub fn is_sampled(&self) -> bool {
        self.layers.len() < self.cfg.layers
    }

    /// The linear layers' format (of the first layer).
    pub fn linear_format(&self) -> Format {
        self.layers
            .first()
            .map(|l| l.q.format())
            .unwrap_or(Format::I2)
    }

    /// The LM head's format.
    pub fn head_format(&self) -> Format {
        self.head
            .as_ref()
            .map(|h| h.format())
            .unwrap_or(Format::F16)
    }

    /// Bytes one decode step reads from weights, for the built layers plus the head (the
    /// roofline numerator; the embedding row gather is negligible).
    pub fn decode_bytes(&self) -> u64 {
        let layers: u64 = self
            .layers
            .iter()
            .flat_map(|l| l.linears())
            .map(|m| m.weight_bytes() as u64)
            .sum();
        let head = match &self.head {
            Some(h) => h.weight_bytes() as u64,
            None => self.embed.weight_bytes() as u64,
        };
        layers + head
    }

    /// Bytes per decode step scaled to the full depth (equal to [`Self::decode_bytes`] unless
    /// sampled).
    pub fn decode_bytes_full_depth(&self) -> u64 {
        let per_layer: u64 = self
            .layers
            .first()
            .map(|l| l.linears().iter().map(|m| m.weight_bytes() as u64).sum())
            .unwrap_or(0);
        let head = self.decode_bytes() - per_layer * self.layers.len() as u64;
        head + per_layer * self.cfg.layers as u64
    }
}

/// Bytes the weights of `cfg` occupy in memory with linear layers in `linear` and the head in
/// `head` (`layers` of them built), before any KV cache: what a fit check compares with the
/// memory available.
pub fn estimate_bytes(cfg: &ModelConfig, linear: Format, head: Format, layers: usize) -> u64 {
    let per_weight = |f: Format| -> f64 {
        match f {
            Format::I2 | Format::Tl => 0.25,
            Format::Tq1 => 0.2,
            Format::Q8 => 1.0,
            Format::F16 => 2.0,
        }
    };
    let lin = cfg.linear_params() as f64 / cfg.layers as f64 * layers as f64 * per_weight(linear);
    let emb = cfg.embedding_params() as f64 * 2.0;
    let head = if head == Format::F16 {
        0.0
    } else {
        cfg.embedding_params() as f64 * per_weight(head)
    };
    (lin + emb + head) as u64
}

/// How to build synthetic weights.
#[derive(Debug, Clone)]
pub struct SynthOptions {
    /// Format of the seven linear layers (`f16` for the FP16 twin).
    pub linear: Format,
    /// LM head format: `f16` (tied to the embedding) or `q8`.
    pub head: Format,
    /// Seed of every stream.
    pub seed: u64,
    /// Build only this many layers (sampled model).
    pub sample_layers: Option<usize>,
}

/// xoshiro-style stream seeded per tensor (splitmix64 state expansion + xorshift64*).
#[derive(Debug)]
struct Stream(u64);
impl Stream {
    fn new(seed: u64, layer: u64, tensor: u64) -> Self {
        let mut z = seed
            ^ (layer.wrapping_mul(0x9E37_79B9_7F4A_7C15))
            ^ (tensor.wrapping_mul(0xD1B5_4A32_D192_ED03));
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Stream((z ^ (z >> 31)) | 1)
    }
    #[inline]
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// Ternary values with ≈31% zeros (byte < 88 → −1, < 168 → 0, else +1: 34.4/31.3/34.4%).
fn ternary(n: usize, s: &mut Stream) -> Vec<i8> {
    let mut out = Vec::with_capacity(n + 8);
    while out.len() < n {
        let r = s.next();
        for b in r.to_le_bytes() {
            out.push(if b < 88 {
                -1
            } else if b < 168 {
                0
            } else {
                1
            });
        }
    }
    out.truncate(n);
    out
}

/// The β that keeps a projection's output at unit variance for unit-variance inputs, with a
/// small per-tensor jitter so tensors differ.
fn beta(cols: usize, s: &mut Stream) -> f32 {
    let jitter = 0.9 + 0.2 * ((s.next() >> 40) as f32 / (1u64 << 24) as f32);
    jitter / (0.69 * cols as f32).sqrt()
}

fn norm_weights(n: usize) -> Vec<f32> {
    vec![1.0; n]
}

/// The seeded values of projection `t` (0..7: q, k, v, o, gate, up, down, as
/// [`crate::load::assemble::shapes`]) of layer `layer`: `rows × cols` ternary values (row-major)
/// and the tensor's scale β. The same function of (seed, layer, tensor) whatever is built from it.
pub fn synthetic_projection(
    cfg: &ModelConfig,
    seed: u64,
    layer: usize,
    t: usize,
) -> (Vec<i8>, f32) {
    let (rows, cols) = crate::load::assemble::shapes(cfg)[t];
    let mut s = Stream::new(seed, layer as u64, t as u64);
    let b = beta(cols, &mut s);
    (ternary(rows * cols, &mut s), b)
}

/// The synthetic embedding (`vocab × hidden`, uniform in [−1, 1), as f16 bits), row by row:
/// [`SyntheticEmbedding::rows`] hands out consecutive rows, so a writer can stream it.
#[derive(Debug)]
pub struct SyntheticEmbedding {
    s: Stream,
    hidden: usize,
    left: usize,
    spare: Option<u16>,
}

impl SyntheticEmbedding {
    /// The embedding of `cfg` under `seed`, from its first row.
    pub fn new(cfg: &ModelConfig, seed: u64) -> Self {
        SyntheticEmbedding {
            s: Stream::new(seed, u64::MAX, 0),
            hidden: cfg.hidden,
            left: cfg.vocab * cfg.hidden,
            spare: None,
        }
    }

    /// The next `n` rows (fewer at the end), as f16 bits.
    pub fn rows(&mut self, n: usize) -> Vec<u16> {
        let want = (n * self.hidden).min(self.left);
        let mut out = Vec::with_capacity(want);
        if want > 0 {
            if let Some(b) = self.spare.take() {
                out.push(b);
            }
        }
        while out.len() < want {
            let r = self.s.next();
            for half in [r as u32, (r >> 32) as u32] {
                let u = (half >> 8) as f32 / (1u32 << 24) as f32; // [0, 1)
                let b = f16::from_f32(u * 2.0 - 1.0).to_bits();
                if out.len() < want {
                    out.push(b);
                } else {
                    self.spare = Some(b);
                }
            }
        }
        self.left -= want;
        out
    }
}

/// Builds synthetic weights for `cfg`, using up to `threads` participants of `pool`.
pub fn synthetic(
    cfg: &ModelConfig,
    opts: &SynthOptions,
    pool: &ThreadPool,
    threads: usize,
) -> Result<Weights, EngineError> {
    synthetic_with(cfg, opts, pool, threads, &|layer, t| {
        synthetic_projection(cfg, opts.seed, layer, t)
    })
}

/// [`synthetic`] with the projections' values and β from `projection(layer, t)` (for a model
/// derived from the seeded one, e.g. with its scales rounded as a file format stores them).
pub fn synthetic_with(
    cfg: &ModelConfig,
    opts: &SynthOptions,
    pool: &ThreadPool,
    threads: usize,
    projection: &(dyn Fn(usize, usize) -> (Vec<i8>, f32) + Sync),
) -> Result<Weights, EngineError> {
    let built = opts
        .sample_layers
        .unwrap_or(cfg.layers)
        .clamp(1, cfg.layers);
    let h = cfg.hidden;
    let i = cfg.intermediate;
    let shapes = crate::load::assemble::shapes(cfg);
    let jobs = built * shapes.len();
    let slots: Vec<Mutex<Option<Result<Linear, EngineError>>>> =
        (0..jobs).map(|_| Mutex::new(None)).collect();
    pool.run(threads.clamp(1, pool.size()), |p, n| {
        let mut j = p;
        while j < jobs {
            let (layer, t) = (j / shapes.len(), j % shapes.len());
            let (rows, cols) = shapes[t];
            let (w, b) = projection(layer, t);
            let lin = Linear::from_ternary(opts.linear, rows, cols, &w, b);
            *slots[j].lock().unwrap_or_else(|e| e.into_inner()) = Some(lin);
            j += n;
        }
    });
    let mut lins = slots.into_iter().map(|m| {
        m.into_inner()
            .unwrap_or_else(|e| e.into_inner())
            .expect("every job ran")
    });
    let mut layers = Vec::with_capacity(built);
    for _ in 0..built {
        let mut next = || lins.next().expect("seven per layer");
        let (q, k, v, o, gate, up, down) = (
            next()?,
            next()?,
            next()?,
            next()?,
            next()?,
            next()?,
            next()?,
        );
        layers.push(Layer {
            attn_norm: norm_weights(h),
            q,
            k,
            v,
            attn_sub_norm: Some(norm_weights(h)),
            o,
            ffn_norm: norm_weights(h),
            gate,
            up,
            ffn_sub_norm: Some(norm_weights(i)),
            down,
        });
    }
    let emb = SyntheticEmbedding::new(cfg, opts.seed).rows(cfg.vocab);
    let embed = F16Matrix::from_bits(cfg.vocab, h, &emb)?;
    let head = match opts.head {
        Format::F16 => None,
        Format::Q8 => {
            let f: Vec<f32> = emb.iter().map(|&b| f16::from_bits(b).to_f32()).collect();
            Some(Linear::Q8(ternbench_kernels::Q8Matrix::from_f32(
                cfg.vocab, h, &f,
            )?))
        }
        other => {
            return Err(EngineError::BadConfig {
                model: cfg.name.clone(),
                key: "head format",
                value: other.name().to_string(),
                reason: "the LM head can be f16 (tied embedding) or q8".to_string(),
            })
        }
    };
    Ok(Weights {
        cfg: cfg.clone(),
        embed,
        head,
        embed_rows: None,
        final_norm: norm_weights(h),
        layers,
    })
}

/// The synthetic norm weights (every norm of a synthetic model: ones).
pub fn synthetic_norm(n: usize) -> Vec<f32> {
    norm_weights(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_fraction_is_about_a_third() {
        let mut s = Stream::new(1, 2, 3);
        let w = ternary(1 << 20, &mut s);
        let zeros = w.iter().filter(|&&v| v == 0).count() as f64 / w.len() as f64;
        assert!((zeros - 0.3125).abs() < 0.005, "{zeros}");
        let pos = w.iter().filter(|&&v| v == 1).count() as f64 / w.len() as f64;
        assert!((pos - 0.34375).abs() < 0.005, "{pos}");
    }

    #[test]
    fn the_embedding_streams_as_it_is_drawn_whole() {
        let cfg = crate::zoo::config("bitnet-125m").unwrap();
        let cfg = ModelConfig {
            vocab: 300,
            hidden: 7 * 2 + 1,
            heads: 3,
            kv_heads: 3,
            ..cfg
        };
        let whole = SyntheticEmbedding::new(&cfg, 5).rows(cfg.vocab);
        assert_eq!(whole.len(), 300 * 15);
        let mut e = SyntheticEmbedding::new(&cfg, 5);
        let mut parts = Vec::new();
        for n in [1, 2, 7, 100, 1000] {
            parts.extend(e.rows(n));
        }
        assert_eq!(parts, whole);
        assert!(e.rows(3).is_empty());
    }
}
