//! From decoded tensors to the engine's [`Weights`]: ternary projections packed into the format
//! the caller picked (the FP16 twin gets `w·β` in f16 from the same ternary values), the
//! embedding as f16, norms as f32, and the LM head (tied, or its own tensor) as f16 or q8.
//!
//! The embedding is stored as IEEE half for the tied LM head: sources with more precision (f32,
//! bf16, Q8_0, Q6_K) are rounded to nearest f16 there, a relative error of at most 2⁻¹¹ (a value
//! beyond the f16 range is an error, not an infinity). When any value rounds, the stored bytes
//! are kept too ([`EmbedRows`]) and the gather decodes them exactly, so the first layer sees the
//! checkpoint's values: rounding them moved activations across int8 quantisation boundaries and
//! logits by 0.26 in the golden Q6_K fixture.

use std::path::Path;

use half::f16;
use ternbench_kernels::{F16Matrix, Format, I2Matrix, Q4Matrix, Q8Matrix};

use super::error::LoadError;
use super::ternary::{check_codes, check_scale, unpack_hf};
use crate::config::ModelConfig;
use crate::linear::Linear;
use crate::weights::{EmbedRows, Layer, Weights};

/// What to build from a checkpoint.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Format of the seven linear layers (`i2`, `tq1`, `tl`; `f16` for the FP16 twin).
    pub linear: Format,
    /// LM head format: `f16` (tied embedding, or the checkpoint's own head in f16), `q8` or `q4`.
    pub head: Format,
    /// Load only the first K layers (sampled model).
    pub sample_layers: Option<usize>,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            linear: Format::I2,
            head: Format::F16,
            sample_layers: None,
        }
    }
}

impl LoadOptions {
    /// Layers to build for a model of `layers`.
    pub fn built_layers(&self, layers: usize) -> usize {
        self.sample_layers.unwrap_or(layers).clamp(1, layers)
    }
}

/// Where a projection's ternary values come from.
#[derive(Debug)]
pub enum TernarySource<'a> {
    /// Row-major values in {-1, 0, +1}.
    Values(Vec<i8>),
    /// Hugging Face packed `uint8 [rows/4, cols]`.
    HfPacked(&'a [u8]),
    /// bitnet.cpp I2_S bytes (packed part only).
    I2s(&'a [u8]),
}

/// One projection ready to pack.
#[derive(Debug)]
pub struct TernaryTensor<'a> {
    /// Tensor name (for errors).
    pub name: String,
    /// Output features.
    pub rows: usize,
    /// Input features.
    pub cols: usize,
    /// The values.
    pub src: TernarySource<'a>,
    /// The per-tensor scale β (real weight = ternary × β).
    pub beta: f32,
}

impl TernaryTensor<'_> {
    /// Packs into `format`, checking β's plausibility first.
    pub fn into_linear(self, path: &Path, format: Format) -> Result<Linear, LoadError> {
        let TernaryTensor {
            name,
            rows,
            cols,
            src,
            beta,
        } = self;
        check_scale(path, &name, beta, cols)?;
        let kerr = |e| LoadError::kernel(path, &name, e);
        let values = match src {
            TernarySource::Values(v) => v,
            TernarySource::HfPacked(p) => {
                if format == Format::I2 {
                    check_codes(path, &name, p)?;
                    return Ok(Linear::I2(
                        I2Matrix::from_hf_packed(rows, cols, p, beta).map_err(kerr)?,
                    ));
                }
                unpack_hf(path, &name, rows, cols, p)?
            }
            TernarySource::I2s(p) => {
                check_codes(path, &name, p)?;
                let m = I2Matrix::from_i2s(rows, cols, p, beta).map_err(kerr)?;
                if format == Format::I2 {
                    return Ok(Linear::I2(m));
                }
                let mut v = vec![0i8; rows * cols];
                for (r, row) in v.chunks_exact_mut(cols).enumerate() {
                    m.unpack_row(r, row);
                }
                v
            }
        };
        Linear::from_ternary(format, rows, cols, &values, beta).map_err(|e| match e {
            crate::EngineError::Kernel(k) => LoadError::kernel(path, &name, k),
            other => LoadError::tensor(path, &name, other.to_string()),
        })
    }
}

/// f32 values → f16 bits, refusing values beyond the f16 range.
pub fn to_f16_bits(path: &Path, name: &str, v: &[f32]) -> Result<Vec<u16>, LoadError> {
    let mut out = Vec::with_capacity(v.len());
    for (i, &x) in v.iter().enumerate() {
        let h = f16::from_f32(x);
        if !h.is_finite() {
            return Err(LoadError::tensor(
                path,
                name,
                format!(
                    "value {x} at element {i} does not fit in f16 (the embedding is kept as f16)"
                ),
            ));
        }
        out.push(h.to_bits());
    }
    Ok(out)
}

/// The token embedding (`vocab × hidden`) as f16.
pub fn embedding(
    path: &Path,
    name: &str,
    cfg: &ModelConfig,
    bits: &[u16],
) -> Result<F16Matrix, LoadError> {
    F16Matrix::from_bits(cfg.vocab, cfg.hidden, bits).map_err(|e| LoadError::kernel(path, name, e))
}

/// The LM head: `untied` is the checkpoint's own head (`vocab × hidden` f32 values and its
/// name), else the head is tied to `embed`.
pub fn head(
    path: &Path,
    cfg: &ModelConfig,
    format: Format,
    untied: Option<(&str, Vec<f32>)>,
    embed: &F16Matrix,
) -> Result<Option<Linear>, LoadError> {
    let (name, values) = match untied {
        Some((n, v)) => (n.to_string(), Some(v)),
        None => ("(tied embedding)".to_string(), None),
    };
    let kerr = |e| LoadError::kernel(path, &name, e);
    match (format, values) {
        (Format::F16, None) => Ok(None),
        (Format::F16, Some(v)) => Ok(Some(Linear::F16(
            F16Matrix::from_bits(cfg.vocab, cfg.hidden, &to_f16_bits(path, &name, &v)?)
                .map_err(kerr)?,
        ))),
        (Format::Q8 | Format::Q4, v) => {
            let v = v.unwrap_or_else(|| {
                (0..cfg.vocab)
                    .flat_map(|r| (0..cfg.hidden).map(move |k| (r, k)))
                    .map(|(r, k)| embed.get(r, k))
                    .collect()
            });
            Ok(Some(if format == Format::Q8 {
                Linear::Q8(Q8Matrix::from_f32(cfg.vocab, cfg.hidden, &v).map_err(kerr)?)
            } else {
                Linear::Q4(Q4Matrix::from_f32(cfg.vocab, cfg.hidden, &v).map_err(kerr)?)
            }))
        }
        (other, _) => Err(LoadError::unsupported(
            path,
            format!("head format `{other}`"),
            "the LM head can be f16, q8 or q4",
        )),
    }
}

/// A norm vector, checked for length and finiteness.
pub fn norm(path: &Path, name: &str, v: Vec<f32>, len: usize) -> Result<Vec<f32>, LoadError> {
    if v.len() != len {
        return Err(LoadError::tensor(
            path,
            name,
            format!(
                "norm weight has {} elements, the config says {len}",
                v.len()
            ),
        ));
    }
    if let Some(i) = v.iter().position(|x| !x.is_finite()) {
        return Err(LoadError::tensor(
            path,
            name,
            format!("element {i} is {}", v[i]),
        ));
    }
    Ok(v)
}

/// Everything one layer needs, before packing.
#[derive(Debug)]
pub struct RawLayer<'a> {
    /// `attn_norm`.
    pub attn_norm: Vec<f32>,
    /// q, k, v, o, gate, up, down.
    pub proj: [TernaryTensor<'a>; 7],
    /// `attn_sub_norm`, if the checkpoint has one.
    pub attn_sub_norm: Option<Vec<f32>>,
    /// `ffn_norm`.
    pub ffn_norm: Vec<f32>,
    /// `ffn_sub_norm`, if the checkpoint has one.
    pub ffn_sub_norm: Option<Vec<f32>>,
}

impl RawLayer<'_> {
    /// Packs the projections into `format`.
    pub fn build(self, path: &Path, format: Format) -> Result<Layer, LoadError> {
        let [q, k, v, o, gate, up, down] = self.proj.map(|t| t.into_linear(path, format));
        Ok(Layer {
            attn_norm: self.attn_norm,
            q: q?,
            k: k?,
            v: v?,
            attn_sub_norm: self.attn_sub_norm,
            o: o?,
            ffn_norm: self.ffn_norm,
            gate: gate?,
            up: up?,
            ffn_sub_norm: self.ffn_sub_norm,
            down: down?,
        })
    }
}

/// Assembles [`Weights`].
pub fn weights(
    cfg: ModelConfig,
    embed: (F16Matrix, Option<EmbedRows>),
    head: Option<Linear>,
    final_norm: Vec<f32>,
    layers: Vec<Layer>,
) -> Weights {
    Weights {
        cfg,
        embed: embed.0,
        head,
        embed_rows: embed.1,
        final_norm,
        layers,
    }
}

/// The embedding from its stored bytes (`vocab` rows of `row_bytes`, decoded by `decode`): an
/// f16 matrix for the tied head, plus the exact rows for the gather when some value is not
/// exact in f16 (see [`EmbedRows`]).
pub fn embedding_from(
    path: &Path,
    name: &str,
    cfg: &ModelConfig,
    bytes: &[u8],
    row_bytes: usize,
    decode: fn(&[u8]) -> Vec<f32>,
) -> Result<(F16Matrix, Option<EmbedRows>), LoadError> {
    let mut exact = true;
    let mut bits = Vec::with_capacity(cfg.vocab * cfg.hidden);
    for (r, chunk) in bytes.chunks(row_bytes * 256).enumerate() {
        let v = decode(chunk);
        let b = to_f16_bits(path, name, &v).map_err(|e| match e {
            LoadError::Tensor {
                path,
                tensor,
                reason,
            } => LoadError::Tensor {
                path,
                tensor,
                reason: format!("{reason} (in rows from {})", r * 256),
            },
            other => other,
        })?;
        exact &= v
            .iter()
            .zip(&b)
            .all(|(&x, &h)| f16::from_bits(h).to_f32() == x);
        bits.extend_from_slice(&b);
    }
    let m = embedding(path, name, cfg, &bits)?;
    let rows = (!exact).then(|| EmbedRows::new(row_bytes, bytes.to_vec(), decode));
    Ok((m, rows))
}

/// The (rows, cols) of q, k, v, o, gate, up, down for `cfg`.
pub fn shapes(cfg: &ModelConfig) -> [(usize, usize); 7] {
    let (h, i, kv) = (cfg.hidden, cfg.intermediate, cfg.kv_dim());
    [(h, h), (kv, h), (kv, h), (h, h), (i, h), (i, h), (h, i)]
}
