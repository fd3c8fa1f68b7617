//! Named model shapes for synthetic weights.
//!
//! * `bitnet-2b4t`: BitNet b1.58 2B4T exactly (anchors §2): relu², GQA 20/5, vocab 128256.
//! * `bitnet-700m`: 1bitLLM/bitnet_b1_58-large (1536/4096/24 layers/16 heads), SiLU.
//! * `bitnet-8b`: Llama 3 8B's shape, as HF1BitLLM/Llama3-8B-1.58-100B-tokens (its
//!   `config.json`): hidden 4096, FFN 14336, 32 layers, 32 heads, 8 KV heads, vocab 128256,
//!   SiLU, RoPE θ 500000, 8192 positions. The GPU rows of the cost catalogue are Llama 3.1 8B,
//!   so CPU and GPU are compared at one model size. That checkpoint's LM head is untied and has
//!   no BitNet sub-norms; the synthetic model ties the head to the embedding (the same
//!   128256 × 4096 f16 bytes and multiply-adds per token) and keeps the sub-norms (two RMSNorms
//!   per layer, well under 0.1% of the work).
//! * The ladder bitnet.cpp used for its published speedups (`utils/generate-dummy-bitnet-model.py`,
//!   anchors §3): KV heads = heads, vocab 32002, and — as the 1bitLLM models it derives from —
//!   a SiLU-gated FFN, RoPE θ 10000, 2048 positions.

use crate::config::{Activation, ModelConfig};
use crate::error::EngineError;

/// (name, hidden, intermediate, layers, heads) of the ladder.
const LADDER: &[(&str, usize, usize, usize, usize)] = &[
    ("bitnet-125m", 768, 3072, 11, 12),
    ("bitnet-350m", 1024, 3072, 24, 16),
    ("bitnet-1b", 2048, 3584, 24, 32),
    ("bitnet-1.5b", 1536, 9216, 28, 32),
    ("bitnet-2.7b", 3072, 7680, 24, 32),
    ("bitnet-3.8b", 3840, 8192, 24, 32),
    ("bitnet-7b", 4096, 12032, 32, 32),
    ("bitnet-13b", 5120, 13824, 40, 40),
    ("bitnet-30b", 6656, 16384, 60, 52),
    ("bitnet-70b", 8192, 24576, 80, 64),
    ("bitnet-100b", 8192, 45568, 72, 64),
];

/// Every zoo name: 2B4T, 700M and 8B first, then the ladder smallest first.
pub fn names() -> Vec<&'static str> {
    let mut v = vec!["bitnet-2b4t", "bitnet-700m", "bitnet-8b"];
    v.extend(LADDER.iter().map(|l| l.0));
    v
}

fn ladder_config(
    name: &str,
    hidden: usize,
    inter: usize,
    layers: usize,
    heads: usize,
) -> ModelConfig {
    ModelConfig {
        name: name.to_string(),
        hidden,
        intermediate: inter,
        layers,
        heads,
        kv_heads: heads,
        vocab: 32002,
        max_positions: 2048,
        rope_theta: 10_000.0,
        rms_eps: 1e-5,
        act: Activation::Silu,
        bos: 1,
        eos: vec![2],
    }
}

/// The shape of a zoo model.
pub fn config(name: &str) -> Result<ModelConfig, EngineError> {
    let cfg = match name {
        "bitnet-2b4t" => ModelConfig {
            name: name.to_string(),
            hidden: 2560,
            intermediate: 6912,
            layers: 30,
            heads: 20,
            kv_heads: 5,
            vocab: 128_256,
            max_positions: 4096,
            rope_theta: 500_000.0,
            rms_eps: 1e-5,
            act: Activation::Relu2,
            bos: 128_000,
            eos: vec![128_001, 128_009],
        },
        "bitnet-700m" => ladder_config(name, 1536, 4096, 24, 16),
        "bitnet-8b" => ModelConfig {
            name: name.to_string(),
            hidden: 4096,
            intermediate: 14336,
            layers: 32,
            heads: 32,
            kv_heads: 8,
            vocab: 128_256,
            max_positions: 8192,
            rope_theta: 500_000.0,
            rms_eps: 1e-5,
            act: Activation::Silu,
            bos: 128_000,
            eos: vec![128_001, 128_009],
        },
        _ => match LADDER.iter().find(|l| l.0 == name) {
            Some(&(n, h, i, l, hd)) => ladder_config(n, h, i, l, hd),
            None => {
                return Err(EngineError::UnknownModel {
                    name: name.to_string(),
                    known: names().join(", "),
                })
            }
        },
    };
    cfg.validate()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_zoo_shape_is_valid() {
        for n in names() {
            config(n).unwrap();
        }
        assert!(config("bitnet-3b").is_err());
    }

    #[test]
    fn b2b4t_parameter_counts_match_the_report() {
        let c = config("bitnet-2b4t").unwrap();
        // anchors §2: 2.084 B ternary parameters; embedding 128256 x 2560.
        assert_eq!(c.linear_params(), 2_084_044_800);
        assert_eq!(c.embedding_params(), 328_335_360);
        assert_eq!(c.head_dim(), 128);
        assert_eq!(c.kv_dim(), 640);
    }

    #[test]
    fn b8_has_llama3_8b_parameter_counts() {
        let c = config("bitnet-8b").unwrap();
        // 32 x (2·4096² + 2·4096·1024 + 3·4096·14336) and 128256 x 4096: with an untied head
        // and Llama's two norms per layer plus the final one, 8 030 261 248 parameters: Llama 3
        // 8B's count (meta-llama/Meta-Llama-3-8B's safetensors index: total_size 16 060 522 496
        // bytes of bf16).
        assert_eq!(c.linear_params(), 6_979_321_856);
        assert_eq!(c.embedding_params(), 525_336_576);
        assert_eq!((c.head_dim(), c.kv_dim()), (128, 1024));
        let norms = (2 * c.layers as u64 + 1) * c.hidden as u64;
        let total = c.linear_params() + 2 * c.embedding_params() + norms;
        assert_eq!(total, 8_030_261_248);
    }
}
