//! The GGUF exporter: every weight type (F16, TQ2_0, TQ1_0, I2_S), both archs and both embedding
//! types written from a small synthetic model and read back by ternbench's own loader — the
//! same logits, bit for bit, as the model built in memory with the file's f16 scales; the
//! packed tensors byte-exact (decoded values equal the source's, re-encoding gives the same
//! bytes); the vocabulary one that loads; refusals named.

use std::path::Path;

use half::f16;
use ternbench_engine::export::gguf::{default_linear, EmbedType};
use ternbench_engine::export::{
    write_gguf, Arch, ExportError, ExportOptions, Synthetic, WeightType,
};
use ternbench_engine::kernels::{Format, KernelSet, Pinning, ThreadPool};
use ternbench_engine::load::ggml::{self, id};
use ternbench_engine::load::gguf::Value;
use ternbench_engine::load::gguf_model::GgufModel;
use ternbench_engine::load::{self, LoadOptions};
use ternbench_engine::weights::SyntheticEmbedding;
use ternbench_engine::{Activation, KvType, Logits, Model, ModelConfig, SynthOptions, Weights};

const TOKENS: [u32; 6] = [1, 300, 7, 299, 0, 42];

/// A small model; `llama3` puts BOS/EOS/EOT at high ids as 2B4T does.
fn tiny(act: Activation, llama3: bool) -> Synthetic {
    let (vocab, bos, eos) = if llama3 {
        (400, 390, vec![391, 399])
    } else {
        (320, 1, vec![2])
    };
    let cfg = ModelConfig {
        name: "tiny".into(),
        hidden: 256,
        intermediate: 512,
        layers: 2,
        heads: 4,
        kv_heads: 2,
        vocab,
        max_positions: 64,
        rope_theta: 500_000.0,
        rms_eps: 1e-5,
        act,
        bos,
        eos,
    }
    .validate()
    .unwrap();
    Synthetic { cfg, seed: 9 }
}

fn logits(w: Weights) -> Vec<f32> {
    let pool = ThreadPool::new(1, Pinning::None);
    let model = Model::new(w);
    let ex = ternbench_engine::model::exec(KernelSet::best(), &pool, 1);
    let mut s = model.session(TOKENS.len(), KvType::F32).unwrap();
    model.forward(ex, &mut s, &TOKENS, Logits::All).unwrap()
}

fn in_memory(src: &Synthetic, arch: Arch, linear: Format) -> Weights {
    let pool = ThreadPool::new(1, Pinning::None);
    let opts = SynthOptions {
        linear,
        head: Format::F16,
        seed: 0,
        sample_layers: None,
    };
    src.weights(arch, &opts, &pool, 1).unwrap()
}

fn load_as(path: &Path, linear: Format) -> Weights {
    load::load(
        path,
        &LoadOptions {
            linear,
            head: Format::F16,
            sample_layers: None,
        },
    )
    .unwrap()
}

fn opts(arch: Arch, weights: WeightType, embed: EmbedType) -> ExportOptions {
    ExportOptions {
        arch,
        weights,
        embed,
    }
}

#[test]
fn every_type_and_arch_reads_back_with_identical_logits() {
    let dir = tempfile::tempdir().unwrap();
    // The 2B4T-like relu² model in both graphs, the ladder-like SiLU model in its own.
    for (act, llama3, arch) in [
        (Activation::Relu2, true, Arch::Bitnet25),
        (Activation::Relu2, true, Arch::Bitnet),
        (Activation::Silu, false, Arch::Bitnet),
    ] {
        let src = tiny(act, llama3);
        {
            // The ternary model and the FP16 twin the file's graph describes.
            let want_i2 = logits(in_memory(&src, arch, Format::I2));
            let want_f16 = logits(in_memory(&src, arch, Format::F16));
            for wt in WeightType::ALL {
                let path = dir
                    .path()
                    .join(format!("{}-{}.gguf", arch.name(), wt.name()));
                let sum = write_gguf(&src, &opts(arch, wt, EmbedType::F16), &path).unwrap();
                assert_eq!(sum.file_bytes, std::fs::metadata(&path).unwrap().len());
                assert!(!path.with_extension("gguf.part").exists());
                assert_eq!(sum.graph_note.is_some(), arch.activation() != act);
                let cfg = load::load_config(&path).unwrap();
                assert_eq!(
                    ModelConfig {
                        name: "tiny".into(),
                        ..cfg
                    },
                    src.graph_config(arch),
                    "{} {}",
                    arch.name(),
                    wt.name()
                );
                let what = format!("{act:?} model as {} {}", arch.name(), wt.name());
                let mut formats = vec![Format::I2, default_linear(wt)];
                formats.dedup();
                for f in formats {
                    let w = load_as(&path, f);
                    assert!(w.embed_rows.is_none(), "{what}: an F16 embedding is exact");
                    assert!(w.decode_bytes() > 0);
                    let want = if f == Format::F16 {
                        &want_f16
                    } else {
                        &want_i2
                    };
                    assert_eq!(&logits(w), want, "{what} loaded as {f}");
                }
            }
        }
    }
}

#[test]
fn packed_tensors_are_byte_exact() {
    let dir = tempfile::tempdir().unwrap();
    let src = tiny(Activation::Relu2, true);
    for wt in WeightType::ALL {
        let path = dir.path().join(format!("{}.gguf", wt.name()));
        let sum = write_gguf(&src, &opts(Arch::Bitnet25, wt, EmbedType::F16), &path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let m = GgufModel::open(&path).unwrap();
        let h = m.header();
        let mut proj_bytes = 0;
        for layer in 0..src.cfg.layers {
            for (t, name) in [
                "attn_q",
                "attn_k",
                "attn_v",
                "attn_output",
                "ffn_gate",
                "ffn_up",
                "ffn_down",
            ]
            .iter()
            .enumerate()
            {
                let info = h.tensor(&format!("blk.{layer}.{name}.weight")).unwrap();
                assert_eq!(info.ggml_type, wt.ggml_type());
                let n = info.elements() as usize;
                let raw =
                    &bytes[info.offset as usize..(info.offset + info.bytes.unwrap()) as usize];
                proj_bytes += raw.len() as u64;
                let (w, beta) = src.projection(layer, t);
                assert_eq!(
                    beta,
                    f16::from_f32(beta).to_f32(),
                    "β is stored at f16 precision"
                );
                let what = format!("{} blk.{layer}.{name}", wt.name());
                match wt {
                    WeightType::F16 => {
                        let v = ggml::f16s(raw);
                        let expect: Vec<f32> = w.iter().map(|&x| x as f32 * beta).collect();
                        assert_eq!(v, expect, "{what}");
                    }
                    WeightType::Tq2_0 | WeightType::Tq1_0 => {
                        let (v, d) = if wt == WeightType::Tq2_0 {
                            ggml::tq2_0(raw)
                        } else {
                            ggml::tq1_0(raw)
                        };
                        assert_eq!(v, w, "{what}");
                        assert!(d.iter().all(|&x| x == beta), "{what}: block scales");
                        let again = if wt == WeightType::Tq2_0 {
                            ggml::encode_tq2_0(&v, beta)
                        } else {
                            ggml::encode_tq1_0(&v, beta)
                        };
                        assert_eq!(again, raw, "{what}: re-encoded");
                    }
                    WeightType::I2s => {
                        let (v, s) = ggml::i2s(raw, n);
                        assert_eq!((v.as_slice(), s), (w.as_slice(), beta), "{what}");
                        assert_eq!(ggml::encode_i2s(&v, s), raw, "{what}: re-encoded");
                    }
                }
            }
        }
        assert_eq!(proj_bytes, sum.projection_bytes);
        let e = h.tensor("token_embd.weight").unwrap();
        assert_eq!(e.bytes.unwrap(), sum.embedding_bytes);
        assert_eq!(
            h.get("general.file_type").and_then(Value::as_u64),
            Some(wt.file_type() as u64)
        );
    }
}

#[test]
fn a_q6_k_embedding_holds_the_quantised_embedding() {
    let dir = tempfile::tempdir().unwrap();
    let src = tiny(Activation::Silu, false);
    let path = dir.path().join("q6k.gguf");
    let sum = write_gguf(
        &src,
        &opts(Arch::Bitnet, WeightType::Tq2_0, EmbedType::Q6K),
        &path,
    )
    .unwrap();
    assert_eq!(sum.embedding_bytes, (320 * 256 / 256 * 210) as u64);
    let m = GgufModel::open(&path).unwrap();
    let e = m.header().tensor("token_embd.weight").unwrap();
    assert_eq!(e.ggml_type, id::Q6_K);
    let bytes = std::fs::read(&path).unwrap();
    let raw = &bytes[e.offset as usize..(e.offset + e.bytes.unwrap()) as usize];
    let exact: Vec<f32> = SyntheticEmbedding::new(&src.cfg, src.seed)
        .rows(src.cfg.vocab)
        .iter()
        .map(|&b| f16::from_bits(b).to_f32())
        .collect();
    assert_eq!(raw, ggml::encode_q6_k(&exact).as_slice());
    // The loader keeps the exact Q6_K rows for the gather.
    let w = load_as(&path, Format::I2);
    let rows = w
        .embed_rows
        .as_ref()
        .expect("Q6_K values are not all f16-exact");
    let decoded = ggml::q6_k(raw);
    assert_eq!(rows.row(5), decoded[5 * 256..6 * 256].to_vec());
    let worst = exact
        .iter()
        .zip(&decoded)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(worst < 0.04, "Q6_K error {worst} on values in [-1, 1)");
    // Same projections as the F16-embedding file: logits differ only through the embedding.
    let a = logits(w);
    let b = logits(in_memory(&src, Arch::Bitnet, Format::I2));
    let rel = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0f32, f32::max)
        / b.iter().fold(0f32, |m, v| m.max(v.abs()));
    assert!(rel < 0.1, "relative logit change {rel}");
}

#[test]
fn the_vocabulary_loads_and_names_the_special_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let src = tiny(Activation::Relu2, true);
    let path = dir.path().join("v.gguf");
    write_gguf(
        &src,
        &opts(Arch::Bitnet25, WeightType::I2s, EmbedType::F16),
        &path,
    )
    .unwrap();
    let m = GgufModel::open(&path).unwrap();
    let h = m.header();
    let toks = h
        .get("tokenizer.ggml.tokens")
        .and_then(Value::as_array)
        .unwrap();
    let types = h
        .get("tokenizer.ggml.token_type")
        .and_then(Value::as_array)
        .unwrap();
    assert_eq!(toks.len(), 400);
    let names: Vec<&str> = toks.iter().map(|t| t.as_str().unwrap()).collect();
    let mut unique = names.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), names.len(), "token strings are unique");
    assert_eq!(names[3 + 0x0A], "<0x0A>");
    assert_eq!(names[390], "<|begin_of_text|>");
    assert_eq!(names[391], "<|end_of_text|>");
    assert_eq!(names[399], "<|eot_id|>");
    for i in [390, 391, 399] {
        assert_eq!(types[i], Value::I32(3), "token {i} is a control token");
    }
    let id = |k: &str| h.get(k).and_then(Value::as_u64);
    assert_eq!(id("tokenizer.ggml.bos_token_id"), Some(390));
    assert_eq!(id("tokenizer.ggml.eos_token_id"), Some(391));
    assert_eq!(id("tokenizer.ggml.eot_token_id"), Some(399));
    let cfg = load::load_config(&path).unwrap();
    assert_eq!((cfg.bos, cfg.eos.clone()), (390, vec![391, 399]));
    // ternbench rebuilds a tokenizer from it: text round-trips through the byte fallback.
    let tok = load::tokenizer::Tokenizer::from_gguf(&path).unwrap();
    let ids = tok.encode("hi\n").unwrap();
    assert_eq!(ids[0], 390, "BOS first");
    assert_eq!(tok.decode(&ids[1..]).unwrap(), "hi\n");
}

#[test]
fn shapes_and_paths_it_cannot_write_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let mut src = tiny(Activation::Silu, false);
    src.cfg.intermediate = 384; // a multiple of 128, not of 256
    let p = dir.path().join("x.gguf");
    let e = write_gguf(
        &src,
        &opts(Arch::Bitnet, WeightType::Tq2_0, EmbedType::F16),
        &p,
    )
    .unwrap_err();
    assert!(matches!(e, ExportError::Shape { .. }));
    let msg = e.to_string();
    assert!(
        msg.contains("intermediate_size = 384") && msg.contains("256"),
        "{msg}"
    );
    // I2_S's block of 128 fits, F16 fits anything.
    write_gguf(
        &src,
        &opts(Arch::Bitnet, WeightType::I2s, EmbedType::F16),
        &p,
    )
    .unwrap();
    write_gguf(
        &src,
        &opts(Arch::Bitnet, WeightType::F16, EmbedType::F16),
        &p,
    )
    .unwrap();

    let mut src = tiny(Activation::Silu, false);
    src.cfg.vocab = 200;
    src.cfg = src.cfg.clone().validate().unwrap();
    let e = write_gguf(
        &src,
        &opts(Arch::Bitnet, WeightType::F16, EmbedType::F16),
        &p,
    )
    .unwrap_err();
    assert!(e.to_string().contains("vocab_size 200"), "{e}");

    let mut src = tiny(Activation::Silu, false);
    src.cfg.bos = 100;
    let e = write_gguf(
        &src,
        &opts(Arch::Bitnet, WeightType::F16, EmbedType::F16),
        &p,
    )
    .unwrap_err();
    assert!(e.to_string().contains("token id 100"), "{e}");

    let src = tiny(Activation::Silu, false);
    let missing = dir.path().join("no/such/dir/x.gguf");
    let e = write_gguf(
        &src,
        &opts(Arch::Bitnet, WeightType::F16, EmbedType::F16),
        &missing,
    )
    .unwrap_err();
    assert!(matches!(e, ExportError::Io { .. }));
    assert!(e.to_string().contains("no/such/dir/x.gguf.part"), "{e}");
}

#[test]
fn decode_bytes_are_read_from_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let src = tiny(Activation::Relu2, true);
    for (wt, et) in [
        (WeightType::I2s, EmbedType::F16),
        (WeightType::Tq1_0, EmbedType::Q6K),
    ] {
        let path = dir.path().join("b.gguf");
        let sum = write_gguf(&src, &opts(Arch::Bitnet25, wt, et), &path).unwrap();
        let b = GgufModel::open(&path).unwrap().decode_bytes().unwrap();
        assert_eq!(b.projections, sum.projection_bytes);
        assert_eq!(b.head, sum.embedding_bytes);
        assert_eq!(b.total(), sum.decode_bytes());
        assert!(b.tied);
        assert_eq!(b.projection_types, vec![wt.name().to_uppercase()]);
        assert_eq!(b.head_type, et.name().to_uppercase());
        // I2_S: n/4 + 32 bytes per tensor (bitnet.cpp's own llama-bench reports another size).
        if wt == WeightType::I2s {
            let c = &src.cfg;
            let per_layer = [c.hidden * c.hidden * 2
                + c.hidden * c.kv_dim() * 2
                + 3 * c.hidden * c.intermediate][0] as u64
                / 4
                + 7 * 32;
            assert_eq!(b.projections, per_layer * c.layers as u64);
        }
    }
}
