//! Named model shapes for synthetic weights.
//!
//! * `bitnet-2b4t`: BitNet b1.58 2B4T exactly (anchors §2): relu², GQA 20/5, vocab 128256.
//! * `bitnet-700m`: 1bitLLM/bitnet_b1_58-large (1536/4096/24 layers/16 heads), SiLU.
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

/// Every zoo name, smallest first (2B4T and 700M first).
pub fn names() -> Vec<&'static str> {
    let mut v = vec!["bitnet-2b4t", "bitnet-700m"];
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
}
