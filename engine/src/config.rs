//! Model configuration: the validated shape of a BitNet b1.58 transformer.
//!
//! Field names follow Hugging Face `config.json` (`hidden_size`, `intermediate_size`, ...). The
//! 2B4T values and the graph they describe come from the model's own `config.json`
//! (microsoft/bitnet-b1.58-2B-4T on Hugging Face) and huggingface/transformers
//! `src/transformers/models/bitnet/`.

use crate::error::EngineError;

/// The FFN's gate activation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    /// `relu(x)²` (BitNet b1.58 2B4T, `hidden_act: relu2`).
    Relu2,
    /// `x · sigmoid(x)` (1bitLLM bitnet_b1_58 models, Llama3-8B-1.58).
    Silu,
}

impl Activation {
    /// Name as in `hidden_act`.
    pub fn name(self) -> &'static str {
        match self {
            Activation::Relu2 => "relu2",
            Activation::Silu => "silu",
        }
    }
}

/// A validated model shape.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelConfig {
    /// Name (zoo name or checkpoint path).
    pub name: String,
    /// `hidden_size`.
    pub hidden: usize,
    /// `intermediate_size`.
    pub intermediate: usize,
    /// `num_hidden_layers`.
    pub layers: usize,
    /// `num_attention_heads`.
    pub heads: usize,
    /// `num_key_value_heads` (GQA when below `heads`).
    pub kv_heads: usize,
    /// `vocab_size`.
    pub vocab: usize,
    /// `max_position_embeddings`: the context limit.
    pub max_positions: usize,
    /// `rope_theta`.
    pub rope_theta: f32,
    /// `rms_norm_eps`.
    pub rms_eps: f32,
    /// `hidden_act`.
    pub act: Activation,
    /// Beginning-of-sequence token id.
    pub bos: u32,
    /// End-of-sequence token ids.
    pub eos: Vec<u32>,
}

impl ModelConfig {
    /// Per-head dimension.
    pub fn head_dim(&self) -> usize {
        self.hidden / self.heads
    }

    /// Width of the K and V projections.
    pub fn kv_dim(&self) -> usize {
        self.kv_heads * self.head_dim()
    }

    /// Ternary (BitLinear) parameters: q, k, v, o, gate, up, down of every layer.
    pub fn linear_params(&self) -> u64 {
        let (h, i, kv) = (
            self.hidden as u64,
            self.intermediate as u64,
            self.kv_dim() as u64,
        );
        self.layers as u64 * (2 * h * h + 2 * h * kv + 3 * h * i)
    }

    /// Embedding parameters (also the tied LM head).
    pub fn embedding_params(&self) -> u64 {
        self.vocab as u64 * self.hidden as u64
    }

    /// Checks every invariant the graph relies on.
    pub fn validate(self) -> Result<Self, EngineError> {
        let bad = |key: &'static str, value: String, reason: &str| EngineError::BadConfig {
            model: self.name.clone(),
            key,
            value,
            reason: reason.to_string(),
        };
        for (key, v) in [
            ("hidden_size", self.hidden),
            ("intermediate_size", self.intermediate),
            ("num_hidden_layers", self.layers),
            ("num_attention_heads", self.heads),
            ("num_key_value_heads", self.kv_heads),
            ("vocab_size", self.vocab),
            ("max_position_embeddings", self.max_positions),
        ] {
            if v == 0 {
                return Err(bad(key, v.to_string(), "must be positive"));
            }
        }
        if !self.hidden.is_multiple_of(self.heads) {
            return Err(bad(
                "num_attention_heads",
                self.heads.to_string(),
                "must divide hidden_size",
            ));
        }
        if !self.head_dim().is_multiple_of(2) {
            return Err(bad(
                "hidden_size",
                self.hidden.to_string(),
                "head dimension must be even for RoPE",
            ));
        }
        if !self.heads.is_multiple_of(self.kv_heads) {
            return Err(bad(
                "num_key_value_heads",
                self.kv_heads.to_string(),
                "must divide num_attention_heads",
            ));
        }
        if !(self.rope_theta.is_finite() && self.rope_theta > 1.0) {
            return Err(bad(
                "rope_theta",
                self.rope_theta.to_string(),
                "must be a finite number above 1",
            ));
        }
        if !(self.rms_eps.is_finite() && self.rms_eps > 0.0) {
            return Err(bad(
                "rms_norm_eps",
                self.rms_eps.to_string(),
                "must be a small positive number",
            ));
        }
        if self.bos as usize >= self.vocab {
            return Err(bad(
                "bos_token_id",
                self.bos.to_string(),
                "must be below vocab_size",
            ));
        }
        Ok(self)
    }
}
