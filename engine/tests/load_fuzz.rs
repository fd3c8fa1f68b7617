//! The fuzz targets' entry points (`load::fuzz`, also run by cargo-fuzz from `fuzz/` on
//! nightly) under proptest on stable: random bytes, and random byte edits and truncations of
//! valid GGUF, safetensors and config.json inputs. None may panic.

use proptest::prelude::*;
use ternbench_engine::load::fuzz;
use ternbench_engine::load::ggml::id;
use ternbench_engine::load::gguf::{Value, Writer};

fn valid_gguf() -> Vec<u8> {
    let mut w = Writer::new();
    w.kv("general.architecture", Value::Str("bitnet-b1.58".into()))
        .kv("bitnet-b1.58.block_count", Value::U32(1))
        .kv(
            "tokenizer.ggml.tokens",
            Value::Array(vec![Value::Str("a".into()), Value::Str("bc".into())]),
        )
        .kv(
            "nested",
            Value::Array(vec![Value::Array(vec![Value::U8(1)])]),
        )
        .tensor("a.weight", &[8, 2], id::F32, vec![0; 64])
        .tensor("b.weight", &[256, 1], id::TQ2_0, vec![0; 66])
        .tensor("c.weight", &[128, 1], id::I2_S, vec![0; 64]);
    w.bytes()
}

fn valid_safetensors() -> Vec<u8> {
    let h = br#"{"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},"b":{"dtype":"U8","shape":[4],"data_offsets":[16,20]},"__metadata__":{"format":"pt"}}"#;
    let mut v = (h.len() as u64).to_le_bytes().to_vec();
    v.extend_from_slice(h);
    v.extend_from_slice(&[0; 20]);
    v
}

const CONFIG: &str = r#"{"architectures":["BitNetForCausalLM"],"hidden_size":64,"intermediate_size":96,"num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":2,"vocab_size":50,"max_position_embeddings":32,"quantization_config":{"quant_method":"bitnet","linear_class":"autobitlinear"}}"#;

fn mutate(mut b: Vec<u8>, edits: &[(usize, u8)], cut: usize) -> Vec<u8> {
    for &(i, v) in edits {
        if !b.is_empty() {
            let n = b.len();
            b[i % n] = v;
        }
    }
    b.truncate(cut % (b.len() + 1));
    b
}

#[test]
fn valid_inputs_parse() {
    // The seeds themselves must be accepted, or the mutations test nothing.
    let p = std::path::Path::new("x");
    assert!(ternbench_engine::load::gguf::parse(&valid_gguf(), p).is_ok());
    assert!(ternbench_engine::load::safetensors::parse_header(&valid_safetensors(), p).is_ok());
    assert!(ternbench_engine::load::hf::parse_config(CONFIG.as_bytes(), p, "x").is_ok());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_bytes(data in proptest::collection::vec(any::<u8>(), 0..512)) {
        fuzz::gguf_header(&data);
        fuzz::safetensors_header(&data);
        fuzz::hf_config(&data);
        let mut g = b"GGUF\x03\0\0\0".to_vec();
        g.extend_from_slice(&data);
        fuzz::gguf_header(&g);
    }

    #[test]
    fn mutated_gguf(edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..8), cut in any::<usize>()) {
        let b = valid_gguf();
        let len = b.len();
        fuzz::gguf_header(&mutate(b, &edits, cut % (2 * len)));
    }

    #[test]
    fn mutated_safetensors(edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..8), cut in any::<usize>()) {
        let b = valid_safetensors();
        let len = b.len();
        fuzz::safetensors_header(&mutate(b, &edits, cut % (2 * len)));
    }

    #[test]
    fn mutated_config(edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..4), cut in any::<usize>()) {
        let b = CONFIG.as_bytes().to_vec();
        let len = b.len();
        fuzz::hf_config(&mutate(b, &edits, cut % (2 * len)));
    }
}
