//! Checkpoints written from a known tiny model load back to the same model: Hugging Face
//! directories (packed autobitlinear / bitlinear, 1bitLLM master weights, Llama + bitnet,
//! sharded) and GGUF files (I2_S, TQ1_0, TQ2_0, F16 + scale; F16 and Q8_0 embeddings; tied and untied heads). Logits must equal those of the model built directly,
//! bit for bit where the stored values are exact, and the ternary formats must agree.

mod load_util;

use ternbench_engine::kernels::Format;
use ternbench_engine::load::ggml::{self, id};
use ternbench_engine::load::{self, LoadOptions};
use ternbench_engine::weights::EmbedRows;
use ternbench_engine::Activation;

use load_util::*;

fn opts(linear: Format) -> LoadOptions {
    LoadOptions {
        linear,
        head: Format::F16,
        sample_layers: None,
    }
}

fn assert_same(got: &[f32], want: &[f32], what: &str) {
    assert_eq!(got.len(), want.len());
    for (i, (a, b)) in got.iter().zip(want).enumerate() {
        assert!(a == b, "{what}: logit {i}: {a} vs {b}");
    }
}

#[test]
fn hf_packed_both_conventions_and_llama() {
    for (style, act, subs, untied) in [
        (HfStyle::AutoBitLinear, Activation::Relu2, true, false),
        (HfStyle::BitLinear, Activation::Relu2, true, true),
        (HfStyle::Llama, Activation::Silu, false, false),
    ] {
        let t = Tiny::new(act, subs, untied, 7);
        let dir = tempfile::tempdir().unwrap();
        write_hf(dir.path(), &t, style);
        let cfg = load::load_config(dir.path()).unwrap();
        assert_eq!((cfg.hidden, cfg.act, cfg.kv_heads), (256, act, 2));
        let want = logits(t.weights(Format::I2));
        for f in [Format::I2, Format::Tq1, Format::Tl] {
            let w = load::load(dir.path(), &opts(f)).unwrap();
            assert!(w.embed_rows.is_none(), "bf16 values k/64 are exact in f16");
            assert_eq!(w.linear_format(), f);
            assert_eq!(w.layers[0].attn_sub_norm.is_some(), subs);
            assert_same(&logits(w), &want, &format!("{style:?} {f}"));
        }
        // The FP16 twin is the same values dequantised.
        let twin = logits(load::load(dir.path(), &opts(Format::F16)).unwrap());
        assert_same(
            &twin,
            &logits(t.weights(Format::F16)),
            &format!("{style:?} f16 twin"),
        );
    }
}

#[test]
fn hf_master_weights_are_absmean_quantised() {
    let t = Tiny::new(Activation::Silu, true, false, 11);
    let dir = tempfile::tempdir().unwrap();
    write_hf(dir.path(), &t, HfStyle::Master);
    // Stored ±β: absmean gives β·(nonzero fraction) and recovers the ternary values.
    let mut expect = t.clone();
    for l in &mut expect.layers {
        for p in &mut l.proj {
            let mean =
                p.w.iter()
                    .map(|&x| (x as f64 * p.beta as f64).abs())
                    .sum::<f64>()
                    / p.w.len() as f64;
            p.beta = 1.0 / (1.0 / mean as f32);
        }
    }
    let got = logits(load::load(dir.path(), &opts(Format::I2)).unwrap());
    let want = logits(expect.weights(Format::I2));
    for (a, b) in got.iter().zip(&want) {
        assert!((a - b).abs() <= 1e-4 * (1.0 + b.abs()), "{a} vs {b}");
    }
}

#[test]
fn hf_sharded_checkpoint() {
    let t = Tiny::new(Activation::Relu2, true, false, 3);
    let dir = tempfile::tempdir().unwrap();
    let all = hf_tensors(&t, HfStyle::AutoBitLinear);
    let (a, b): (Vec<_>, Vec<_>) = all.into_iter().enumerate().partition(|(i, _)| i % 2 == 0);
    let mut map = serde_json::Map::new();
    for (file, part) in [
        ("model-00001-of-00002.safetensors", a),
        ("model-00002-of-00002.safetensors", b),
    ] {
        let part: Vec<_> = part.into_iter().map(|(_, t)| t).collect();
        for (n, _, _) in &part {
            map.insert(n.clone(), file.into());
        }
        std::fs::write(dir.path().join(file), safetensors_bytes(&part)).unwrap();
    }
    std::fs::write(
        dir.path().join("model.safetensors.index.json"),
        serde_json::to_vec(&serde_json::json!({"metadata": {}, "weight_map": map})).unwrap(),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("config.json"),
        serde_json::to_vec(&hf_config(&t, HfStyle::AutoBitLinear)).unwrap(),
    )
    .unwrap();
    let got = logits(load::load(dir.path(), &opts(Format::I2)).unwrap());
    assert_same(&got, &logits(t.weights(Format::I2)), "sharded");
    assert!(load::checkpoint_bytes(dir.path()).unwrap() > 0);
}

#[test]
fn gguf_every_projection_type() {
    for (arch, style, act, untied) in [
        ("bitnet-b1.58", GgufStyle::I2s, Activation::Relu2, false),
        ("bitnet-25", GgufStyle::Tq2, Activation::Relu2, false),
        ("bitnet-b1.58", GgufStyle::Tq1, Activation::Relu2, true),
        ("bitnet", GgufStyle::F16, Activation::Silu, false),
        ("bitnet", GgufStyle::I2s, Activation::Silu, false),
    ] {
        let t = Tiny::new(act, true, untied, 5);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.gguf");
        std::fs::write(&path, gguf_writer(&t, arch, style, id::F16).bytes()).unwrap();
        assert_eq!(load::load_config(&path).unwrap().act, act);
        let want = logits(t.weights(Format::I2));
        for f in [Format::I2, Format::Tq1, Format::Tl] {
            let got = logits(load::load(&path, &opts(f)).unwrap());
            assert_same(&got, &want, &format!("{arch} {style:?} {f}"));
        }
    }
}

#[test]
fn gguf_q8_0_embedding_and_q8_head() {
    let t = Tiny::new(Activation::Relu2, true, false, 9);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.gguf");
    std::fs::write(
        &path,
        gguf_writer(&t, "bitnet-b1.58", GgufStyle::I2s, id::Q8_0).bytes(),
    )
    .unwrap();
    // The tied head reads the dequantised values rounded to f16; the gather reads them exactly.
    let q8 = ggml::encode_q8_0(&t.embed);
    let mut expect = t.clone();
    expect.embed = ggml::q8_0(&q8);
    let mut w = expect.weights(Format::I2);
    w.embed_rows = Some(EmbedRows::new(t.cfg.hidden / 32 * 34, q8, ggml::q8_0));
    let loaded = load::load(&path, &opts(Format::I2)).unwrap();
    assert!(loaded.embed_rows.is_some());
    assert_same(&logits(loaded), &logits(w), "q8_0 embedding");
    // A q8 head loads and stays close to the f16 one.
    let q8 = load::load(
        &path,
        &LoadOptions {
            linear: Format::I2,
            head: Format::Q8,
            sample_layers: Some(1),
        },
    )
    .unwrap();
    assert_eq!(q8.head_format(), Format::Q8);
    assert_eq!(q8.layers.len(), 1);
    assert!(q8.is_sampled());
}
