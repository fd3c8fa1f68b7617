//! Corrupt and contradictory checkpoints: each is a clear error naming the file and the tensor
//! or key at fault — never a panic, never a huge allocation.

mod load_util;

use std::path::Path;

use ternbench_engine::kernels::Format;
use ternbench_engine::load::ggml::id;
use ternbench_engine::load::gguf::{self, Value, Writer};
use ternbench_engine::load::{self, LoadError, LoadOptions};
use ternbench_engine::Activation;

use load_util::*;

fn err(path: &Path) -> String {
    match load::load(path, &LoadOptions::default()) {
        Ok(_) => panic!("{} loaded", path.display()),
        Err(e) => e.to_string(),
    }
}

fn expect(msg: &str, parts: &[&str]) {
    for p in parts {
        assert!(msg.contains(p), "{msg:?} should mention {p:?}");
    }
}

/// Writes an HF dir after `edit` changes its tensors and config.
fn hf_with(
    edit: impl FnOnce(&mut Vec<(String, Vec<usize>, Data)>, &mut serde_json::Value),
) -> tempfile::TempDir {
    let t = Tiny::new(Activation::Relu2, true, false, 1);
    let mut tensors = hf_tensors(&t, HfStyle::AutoBitLinear);
    let mut cfg = hf_config(&t, HfStyle::AutoBitLinear);
    edit(&mut tensors, &mut cfg);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("config.json"),
        serde_json::to_vec(&cfg).unwrap(),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("model.safetensors"),
        safetensors_bytes(&tensors),
    )
    .unwrap();
    dir
}

#[test]
fn hf_missing_and_mismatched_tensors() {
    let d = hf_with(|t, _| t.retain(|(n, _, _)| n != "model.layers.1.self_attn.k_proj.weight"));
    expect(
        &err(d.path()),
        &["model.layers.1.self_attn.k_proj.weight", "missing"],
    );

    let d = hf_with(|t, _| t.retain(|(n, _, _)| n != "model.layers.0.mlp.down_proj.weight_scale"));
    expect(
        &err(d.path()),
        &["model.layers.0.mlp.down_proj.weight_scale", "missing"],
    );

    let d = hf_with(|t, _| t.retain(|(n, _, _)| !n.contains("ffn_sub_norm")));
    expect(&err(d.path()), &["ffn_sub_norm", "BitNetForCausalLM"]);

    // config and weights disagree on the FFN width.
    let d = hf_with(|_, c| c["intermediate_size"] = 768.into());
    expect(
        &err(d.path()),
        &["mlp.gate_proj.weight", "[192, 256]", "config.json"],
    );

    // A norm stored as bytes.
    let d = hf_with(|t, _| {
        for (n, s, data) in t.iter_mut() {
            if n == "model.norm.weight" {
                *data = Data::U8(vec![0; s[0]]);
            }
        }
    });
    expect(&err(d.path()), &["model.norm.weight", "dtype U8"]);

    // A packed byte with code 3.
    let d = hf_with(|t, _| {
        for (n, _, data) in t.iter_mut() {
            if n == "model.layers.0.self_attn.q_proj.weight" {
                if let Data::U8(b) = data {
                    b[5] = 0xff;
                }
            }
        }
    });
    expect(&err(d.path()), &["self_attn.q_proj.weight", "code 3"]);

    // weight_scale with two elements.
    let d = hf_with(|t, _| {
        for (n, s, data) in t.iter_mut() {
            if n.ends_with("o_proj.weight_scale") {
                *s = vec![2];
                *data = Data::Bf16(vec![1.0, 1.0]);
            }
        }
    });
    expect(&err(d.path()), &["o_proj.weight_scale", "one float"]);
}

#[test]
fn hf_wrong_scale_convention_is_implausible() {
    // β = 1/64 stored as 1/β (bitlinear) but declared autobitlinear: gain 64·√256 = 1024.
    let mut t = Tiny::new(Activation::Relu2, true, false, 2);
    for l in &mut t.layers {
        for p in &mut l.proj {
            p.beta = 1.0 / 64.0;
        }
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("config.json"),
        serde_json::to_vec(&hf_config(&t, HfStyle::AutoBitLinear)).unwrap(),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("model.safetensors"),
        safetensors_bytes(&hf_tensors(&t, HfStyle::BitLinear)),
    )
    .unwrap();
    expect(
        &err(dir.path()),
        &[
            "model.layers.0.self_attn.q_proj.weight",
            "implausible",
            "convention",
        ],
    );
}

#[test]
fn hf_bad_configs() {
    let d = hf_with(|_, c| {
        c.as_object_mut().unwrap().remove("hidden_size");
    });
    expect(&err(d.path()), &["config.json", "hidden_size", "missing"]);
    let d = hf_with(|_, c| c["architectures"] = serde_json::json!(["GPT2LMHeadModel"]));
    expect(&err(d.path()), &["GPT2LMHeadModel", "not supported"]);
    let d = hf_with(|_, c| c["num_key_value_heads"] = 3.into());
    expect(&err(d.path()), &["num_key_value_heads"]);
    let d = hf_with(|_, c| c["quantization_config"]["linear_class"] = "fancy".into());
    expect(&err(d.path()), &["linear_class", "fancy"]);
    let d = hf_with(|_, c| c["tie_word_embeddings"] = false.into());
    expect(&err(d.path()), &["lm_head.weight", "tie_word_embeddings"]);
    let d = hf_with(|_, _| {});
    std::fs::write(d.path().join("config.json"), b"{not json").unwrap();
    expect(&err(d.path()), &["config.json", "JSON"]);
    let d = tempfile::tempdir().unwrap();
    expect(&err(d.path()), &["config.json"]);
}

#[test]
fn hf_corrupt_safetensors() {
    let d = hf_with(|_, _| {});
    let f = d.path().join("model.safetensors");
    let bytes = std::fs::read(&f).unwrap();
    // Truncated in the data.
    std::fs::write(&f, &bytes[..bytes.len() - 10]).unwrap();
    expect(&err(d.path()), &["model.safetensors", "past the end"]);
    // Absurd header length.
    let mut b = bytes.clone();
    b[..8].copy_from_slice(&(1u64 << 50).to_le_bytes());
    std::fs::write(&f, &b).unwrap();
    expect(&err(d.path()), &["model.safetensors", "exceeds"]);
    // Empty file.
    std::fs::write(&f, b"").unwrap();
    expect(&err(d.path()), &["model.safetensors", "0 bytes"]);
    // A sharded index naming a missing shard, and one escaping the directory.
    std::fs::write(&f, &bytes).unwrap();
    let idx = d.path().join("model.safetensors.index.json");
    std::fs::write(
        &idx,
        br#"{"weight_map":{"model.norm.weight":"nope.safetensors"}}"#,
    )
    .unwrap();
    expect(&err(d.path()), &["nope.safetensors"]);
    std::fs::write(
        &idx,
        br#"{"weight_map":{"model.norm.weight":"../x.safetensors"}}"#,
    )
    .unwrap();
    expect(
        &err(d.path()),
        &["weight_map.model.norm.weight", "plain file name"],
    );
    std::fs::write(
        &idx,
        br#"{"weight_map":{"model.layers.0.ghost":"model.safetensors"}}"#,
    )
    .unwrap();
    expect(&err(d.path()), &["model.layers.0.ghost", "missing"]);
}

fn gguf_file(edit: impl FnOnce(&mut Writer)) -> (tempfile::TempDir, std::path::PathBuf) {
    let t = Tiny::new(Activation::Relu2, true, false, 4);
    let mut w = gguf_writer(&t, "bitnet-b1.58", GgufStyle::I2s, id::F16);
    edit(&mut w);
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("m.gguf");
    std::fs::write(&p, w.bytes()).unwrap();
    (d, p)
}

#[test]
fn gguf_contradictions_and_unknowns() {
    // Metadata contradicting the embedding.
    let (_d, p) = gguf_file(|w| {
        w.kv("bitnet-b1.58.vocab_size", Value::U32(99));
    });
    expect(
        &err(&p),
        &["m.gguf", "bitnet-b1.58.vocab_size", "token_embd.weight"],
    );
    // A tensor listed twice.
    let (_d, p) = gguf_file(|w| {
        w.tensor(
            "blk.0.attn_q.weight",
            &[256, 256],
            id::F32,
            vec![0; 256 * 256 * 4],
        );
    });
    expect(&err(&p), &["blk.0.attn_q.weight", "twice"]);
    // A projection in a type we do not read (Q4_K, 144-byte blocks of 256).
    let t = Tiny::new(Activation::Relu2, true, false, 4);
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("m.gguf");
    std::fs::write(
        &p,
        retyped(&t, "blk.1.ffn_up.weight", 12, 144 * 512).bytes(),
    )
    .unwrap();
    expect(&err(&p), &["blk.1.ffn_up.weight", "Q4_K"]);
    // A projection whose dims contradict the metadata.
    std::fs::write(&p, retyped(&t, "blk.0.ffn_down.weight", id::F16, 0).bytes()).unwrap();
    expect(&err(&p), &["blk.0.ffn_down.weight", "dims"]);
    // An architecture we do not run.
    std::fs::write(
        &p,
        gguf_writer(&t, "llama", GgufStyle::I2s, id::F16).bytes(),
    )
    .unwrap();
    expect(&err(&p), &["architecture `llama`", "not supported"]);
}

/// The tiny model's GGUF with `name` stored as `ggml_type` holding `bytes` zero bytes (`bytes`
/// 0: an F16 tensor of transposed dims instead).
fn retyped(t: &Tiny, name: &str, ggml_type: u32, bytes: usize) -> Writer {
    let raw = gguf_writer(t, "bitnet-b1.58", GgufStyle::I2s, id::F16).bytes();
    let parsed = gguf::parse(&raw, Path::new("x")).unwrap();
    let mut w = Writer::new();
    for (k, v) in &parsed.metadata {
        w.kv(k, v.clone());
    }
    for ti in &parsed.tensors {
        if ti.name == name && bytes > 0 {
            w.tensor(&ti.name, &ti.dims, ggml_type, vec![0; bytes]);
        } else if ti.name == name {
            let dims = [ti.dims[1], ti.dims[0]];
            w.tensor(
                &ti.name,
                &dims,
                ggml_type,
                vec![0; (dims[0] * dims[1] * 2) as usize],
            );
        } else {
            let a = ti.offset as usize;
            w.tensor(
                &ti.name,
                &ti.dims,
                ti.ggml_type,
                raw[a..a + ti.bytes.unwrap() as usize].to_vec(),
            );
        }
    }
    w
}

#[test]
fn gguf_missing_and_truncated() {
    let t = Tiny::new(Activation::Relu2, true, false, 4);
    let full = gguf_writer(&t, "bitnet-b1.58", GgufStyle::I2s, id::F16).bytes();
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("m.gguf");
    // Truncated anywhere: an error naming the file (a few cut points, including mid-tensor-data).
    for cut in [3, 10, 30, 200, full.len() / 2, full.len() - 1] {
        std::fs::write(&p, &full[..cut]).unwrap();
        let e = load::load(&p, &LoadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("m.gguf"), "{e}");
    }
    // A missing sub-norm.
    let parsed = gguf::parse(&full, Path::new("x")).unwrap();
    let mut w = Writer::new();
    for (k, v) in &parsed.metadata {
        w.kv(k, v.clone());
    }
    for ti in parsed
        .tensors
        .iter()
        .filter(|t| t.name != "blk.1.attn_sub_norm.weight")
    {
        let a = ti.offset as usize;
        w.tensor(
            &ti.name,
            &ti.dims,
            ti.ggml_type,
            full[a..a + ti.bytes.unwrap() as usize].to_vec(),
        );
    }
    std::fs::write(&p, w.bytes()).unwrap();
    expect(&err(&p), &["blk.1.attn_sub_norm.weight", "missing"]);
    // Not a GGUF at all.
    std::fs::write(&p, b"PK\x03\x04 not a model").unwrap();
    expect(&err(&p), &["m.gguf", "not a GGUF"]);
    assert!(matches!(
        load::load(&d.path().join("absent.gguf"), &LoadOptions::default()),
        Err(LoadError::Io { .. })
    ));
}

#[test]
fn mismatched_formats_for_the_head() {
    let (_d, p) = gguf_file(|_| {});
    let e = load::load(
        &p,
        &LoadOptions {
            linear: Format::I2,
            head: Format::Tq1,
            sample_layers: None,
        },
    )
    .unwrap_err()
    .to_string();
    expect(&e, &["head format", "tq1"]);
}
