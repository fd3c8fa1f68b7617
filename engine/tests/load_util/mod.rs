//! Shared by the loader tests: a tiny ternary model with exactly representable values, and
//! writers that store it as Hugging Face safetensors directories and GGUF files, so a loaded
//! checkpoint can be compared with the model it was written from.
#![allow(dead_code)]

use std::path::Path;

use half::f16;
use ternbench_engine::kernels::format::i2::{encode_hf_packed, encode_i2s};
use ternbench_engine::kernels::{F16Matrix, Format, KernelSet, Pinning, ThreadPool};
use ternbench_engine::load::ggml::{self, id};
use ternbench_engine::load::gguf::{Value, Writer};
use ternbench_engine::weights::Layer;
use ternbench_engine::{Activation, KvType, Linear, Logits, Model, ModelConfig, Weights};

/// One projection: row-major ternary values and β.
#[derive(Clone)]
pub struct Proj {
    pub rows: usize,
    pub cols: usize,
    pub w: Vec<i8>,
    pub beta: f32,
}

#[derive(Clone)]
pub struct TinyLayer {
    pub attn_norm: Vec<f32>,
    pub proj: [Proj; 7],
    pub attn_sub: Option<Vec<f32>>,
    pub ffn_norm: Vec<f32>,
    pub ffn_sub: Option<Vec<f32>>,
}

/// A tiny model whose every value is exact in f16 and bf16 (norms k/8, embedding k/64, β powers
/// of two), so every storage format reproduces it bit for bit.
#[derive(Clone)]
pub struct Tiny {
    pub cfg: ModelConfig,
    pub embed: Vec<f32>,
    pub head: Option<Vec<f32>>,
    pub final_norm: Vec<f32>,
    pub layers: Vec<TinyLayer>,
}

struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn tern(&mut self, n: usize) -> Vec<i8> {
        (0..n).map(|_| (self.next() % 3) as i8 - 1).collect()
    }
    fn grid(&mut self, n: usize, lo: i64, hi: i64, den: f32) -> Vec<f32> {
        (0..n)
            .map(|_| (lo + (self.next() % (hi - lo + 1) as u64) as i64) as f32 / den)
            .collect()
    }
}

pub const NAMES_HF: [&str; 7] = [
    "self_attn.q_proj",
    "self_attn.k_proj",
    "self_attn.v_proj",
    "self_attn.o_proj",
    "mlp.gate_proj",
    "mlp.up_proj",
    "mlp.down_proj",
];
pub const NAMES_GGUF: [&str; 7] = [
    "attn_q",
    "attn_k",
    "attn_v",
    "attn_output",
    "ffn_gate",
    "ffn_up",
    "ffn_down",
];

pub fn config(act: Activation) -> ModelConfig {
    ModelConfig {
        name: "tiny".into(),
        hidden: 256,
        intermediate: 512,
        layers: 2,
        heads: 4,
        kv_heads: 2,
        vocab: 64,
        max_positions: 64,
        rope_theta: 10_000.0,
        rms_eps: 1e-5,
        act,
        bos: 1,
        eos: vec![2],
    }
    .validate()
    .unwrap()
}

impl Tiny {
    pub fn new(act: Activation, sub_norms: bool, untied: bool, seed: u64) -> Self {
        let cfg = config(act);
        let mut g = Lcg(seed);
        let (h, i, kv) = (cfg.hidden, cfg.intermediate, cfg.kv_dim());
        let shapes = [(h, h), (kv, h), (kv, h), (h, h), (i, h), (i, h), (h, i)];
        let layers = (0..cfg.layers)
            .map(|_| TinyLayer {
                attn_norm: g.grid(h, 4, 12, 8.0),
                proj: shapes.map(|(rows, cols)| Proj {
                    rows,
                    cols,
                    w: g.tern(rows * cols),
                    beta: [0.0625f32, 0.125, 0.03125][(g.next() % 3) as usize],
                }),
                attn_sub: sub_norms.then(|| g.grid(h, 4, 12, 8.0)),
                ffn_norm: g.grid(h, 4, 12, 8.0),
                ffn_sub: sub_norms.then(|| g.grid(i, 4, 12, 8.0)),
            })
            .collect();
        Tiny {
            embed: g.grid(cfg.vocab * h, -64, 64, 64.0),
            head: untied.then(|| g.grid(cfg.vocab * h, -64, 64, 64.0)),
            final_norm: g.grid(h, 4, 12, 8.0),
            layers,
            cfg,
        }
    }

    /// The engine's weights, built directly.
    pub fn weights(&self, linear: Format) -> Weights {
        let c = &self.cfg;
        let lin = |p: &Proj| Linear::from_ternary(linear, p.rows, p.cols, &p.w, p.beta).unwrap();
        Weights {
            cfg: c.clone(),
            embed: F16Matrix::from_f32(c.vocab, c.hidden, &self.embed).unwrap(),
            head: self
                .head
                .as_ref()
                .map(|v| Linear::F16(F16Matrix::from_f32(c.vocab, c.hidden, v).unwrap())),
            embed_rows: None,
            final_norm: self.final_norm.clone(),
            layers: self
                .layers
                .iter()
                .map(|l| Layer {
                    attn_norm: l.attn_norm.clone(),
                    q: lin(&l.proj[0]),
                    k: lin(&l.proj[1]),
                    v: lin(&l.proj[2]),
                    attn_sub_norm: l.attn_sub.clone(),
                    o: lin(&l.proj[3]),
                    ffn_norm: l.ffn_norm.clone(),
                    gate: lin(&l.proj[4]),
                    up: lin(&l.proj[5]),
                    ffn_sub_norm: l.ffn_sub.clone(),
                    down: lin(&l.proj[6]),
                })
                .collect(),
        }
    }
}

pub const TOKENS: [u32; 6] = [1, 17, 3, 49, 0, 25];

/// All-position logits of `w` for [`TOKENS`].
pub fn logits(w: Weights) -> Vec<f32> {
    let pool = ThreadPool::new(1, Pinning::None);
    let model = Model::new(w);
    let ex = ternbench_engine::model::exec(KernelSet::best(), &pool, 1);
    let mut s = model.session(TOKENS.len(), KvType::F32).unwrap();
    model.forward(ex, &mut s, &TOKENS, Logits::All).unwrap()
}

// ---------------------------------------------------------------- safetensors

pub enum Data {
    F32(Vec<f32>),
    F16(Vec<f32>),
    Bf16(Vec<f32>),
    U8(Vec<u8>),
}

pub fn safetensors_bytes(tensors: &[(String, Vec<usize>, Data)]) -> Vec<u8> {
    let mut header = serde_json::Map::new();
    let mut data = Vec::new();
    for (name, shape, d) in tensors {
        let (dtype, bytes): (&str, Vec<u8>) = match d {
            Data::F32(v) => ("F32", v.iter().flat_map(|x| x.to_le_bytes()).collect()),
            Data::F16(v) => (
                "F16",
                v.iter()
                    .flat_map(|x| f16::from_f32(*x).to_le_bytes())
                    .collect(),
            ),
            Data::Bf16(v) => (
                "BF16",
                v.iter()
                    .flat_map(|x| half::bf16::from_f32(*x).to_le_bytes())
                    .collect(),
            ),
            Data::U8(v) => ("U8", v.clone()),
        };
        let start = data.len();
        data.extend_from_slice(&bytes);
        header.insert(
            name.clone(),
            serde_json::json!({"dtype": dtype, "shape": shape, "data_offsets": [start, data.len()]}),
        );
    }
    header.insert("__metadata__".into(), serde_json::json!({"format": "pt"}));
    let mut h = serde_json::to_vec(&header).unwrap();
    while !h.len().is_multiple_of(8) {
        h.push(b' ');
    }
    let mut out = (h.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&h);
    out.extend_from_slice(&data);
    out
}

/// How the HF checkpoint stores its projections.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum HfStyle {
    /// transformers BitNet 2B4T: packed + weight_scale = β.
    AutoBitLinear,
    /// packed + weight_scale = 1/β.
    BitLinear,
    /// 1bitLLM: float master weights (here w·β·(1/frac) so absmean returns w).
    Master,
    /// LlamaForCausalLM with quant_method bitnet (bitlinear, no sub-norms).
    Llama,
}

pub fn hf_tensors(t: &Tiny, style: HfStyle) -> Vec<(String, Vec<usize>, Data)> {
    let c = &t.cfg;
    let mut v: Vec<(String, Vec<usize>, Data)> = vec![
        (
            "model.embed_tokens.weight".into(),
            vec![c.vocab, c.hidden],
            Data::Bf16(t.embed.clone()),
        ),
        (
            "model.norm.weight".into(),
            vec![c.hidden],
            Data::Bf16(t.final_norm.clone()),
        ),
    ];
    if let Some(hd) = &t.head {
        v.push((
            "lm_head.weight".into(),
            vec![c.vocab, c.hidden],
            Data::F32(hd.clone()),
        ));
    }
    for (i, l) in t.layers.iter().enumerate() {
        let p = format!("model.layers.{i}");
        v.push((
            format!("{p}.input_layernorm.weight"),
            vec![c.hidden],
            Data::Bf16(l.attn_norm.clone()),
        ));
        v.push((
            format!("{p}.post_attention_layernorm.weight"),
            vec![c.hidden],
            Data::Bf16(l.ffn_norm.clone()),
        ));
        let (an, fname) = if style == HfStyle::Master {
            ("self_attn.inner_attn_ln", "mlp.ffn_layernorm")
        } else {
            ("self_attn.attn_sub_norm", "mlp.ffn_sub_norm")
        };
        if let Some(s) = &l.attn_sub {
            v.push((
                format!("{p}.{an}.weight"),
                vec![c.hidden],
                Data::Bf16(s.clone()),
            ));
        }
        if let Some(s) = &l.ffn_sub {
            v.push((
                format!("{p}.{fname}.weight"),
                vec![c.intermediate],
                Data::Bf16(s.clone()),
            ));
        }
        for (n, pr) in NAMES_HF.iter().zip(&l.proj) {
            let name = format!("{p}.{n}.weight");
            match style {
                HfStyle::Master => {
                    // Values q·m with m = mean-normaliser: absmean gives mean = β exactly when
                    // every nonzero is ±β/frac; keep it simple: store ±β and check the loader's
                    // own β (frac·β) in the test instead.
                    let f: Vec<f32> = pr.w.iter().map(|&x| x as f32 * pr.beta).collect();
                    v.push((name, vec![pr.rows, pr.cols], Data::F32(f)));
                }
                _ => {
                    let ws = if style == HfStyle::AutoBitLinear {
                        pr.beta
                    } else {
                        1.0 / pr.beta
                    };
                    v.push((
                        name,
                        vec![pr.rows / 4, pr.cols],
                        Data::U8(encode_hf_packed(pr.rows, pr.cols, &pr.w)),
                    ));
                    v.push((
                        format!("{p}.{n}.weight_scale"),
                        vec![1],
                        Data::Bf16(vec![ws]),
                    ));
                }
            }
        }
    }
    v
}

pub fn hf_config(t: &Tiny, style: HfStyle) -> serde_json::Value {
    let c = &t.cfg;
    let (arch, model_type) = match style {
        HfStyle::AutoBitLinear | HfStyle::BitLinear => ("BitNetForCausalLM", "bitnet"),
        HfStyle::Master => ("BitnetForCausalLM", "llama"),
        HfStyle::Llama => ("LlamaForCausalLM", "llama"),
    };
    let mut v = serde_json::json!({
        "architectures": [arch],
        "model_type": model_type,
        "hidden_size": c.hidden,
        "intermediate_size": c.intermediate,
        "num_hidden_layers": c.layers,
        "num_attention_heads": c.heads,
        "num_key_value_heads": c.kv_heads,
        "vocab_size": c.vocab,
        "max_position_embeddings": c.max_positions,
        "rope_theta": c.rope_theta,
        "rms_norm_eps": c.rms_eps,
        "hidden_act": c.act.name(),
        "bos_token_id": c.bos,
        "eos_token_id": c.eos[0],
        "tie_word_embeddings": t.head.is_none(),
        "torch_dtype": "bfloat16",
    });
    match style {
        HfStyle::AutoBitLinear => {
            v["quantization_config"] = serde_json::json!({"quant_method": "bitnet", "linear_class": "autobitlinear", "quantization_mode": "offline"})
        }
        HfStyle::BitLinear | HfStyle::Llama => {
            v["quantization_config"] =
                serde_json::json!({"quant_method": "bitnet", "linear_class": "bitlinear"})
        }
        HfStyle::Master => {}
    }
    v
}

pub fn write_hf(dir: &Path, t: &Tiny, style: HfStyle) {
    std::fs::write(
        dir.join("config.json"),
        serde_json::to_vec_pretty(&hf_config(t, style)).unwrap(),
    )
    .unwrap();
    std::fs::write(
        dir.join("model.safetensors"),
        safetensors_bytes(&hf_tensors(t, style)),
    )
    .unwrap();
}

// ---------------------------------------------------------------- GGUF

/// How the GGUF stores its projections.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum GgufStyle {
    I2s,
    Tq1,
    Tq2,
    F16,
}

pub fn gguf_writer(t: &Tiny, arch: &str, style: GgufStyle, embed_type: u32) -> Writer {
    let c = &t.cfg;
    let mut w = Writer::new();
    let k = |s: &str| format!("{arch}.{s}");
    w.kv("general.architecture", Value::Str(arch.into()))
        .kv(&k("context_length"), Value::U32(c.max_positions as u32))
        .kv(&k("embedding_length"), Value::U32(c.hidden as u32))
        .kv(&k("feed_forward_length"), Value::U32(c.intermediate as u32))
        .kv(&k("block_count"), Value::U32(c.layers as u32))
        .kv(&k("attention.head_count"), Value::U32(c.heads as u32))
        .kv(&k("attention.head_count_kv"), Value::U32(c.kv_heads as u32))
        .kv(&k("rope.freq_base"), Value::F32(c.rope_theta))
        .kv(&k("rope.dimension_count"), Value::U32(c.head_dim() as u32))
        .kv(
            &k("attention.layer_norm_rms_epsilon"),
            Value::F32(c.rms_eps),
        )
        .kv("tokenizer.ggml.bos_token_id", Value::U32(c.bos))
        .kv("tokenizer.ggml.eos_token_id", Value::U32(c.eos[0]))
        .kv(
            "tokenizer.ggml.tokens",
            Value::Array((0..c.vocab).map(|i| Value::Str(format!("t{i}"))).collect()),
        );
    let f32b = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    let f16b = |v: &[f32]| {
        v.iter()
            .flat_map(|x| f16::from_f32(*x).to_le_bytes())
            .collect::<Vec<u8>>()
    };
    let emb = match embed_type {
        id::F16 => f16b(&t.embed),
        id::F32 => f32b(&t.embed),
        id::Q8_0 => ggml::encode_q8_0(&t.embed),
        other => panic!("embed type {other}"),
    };
    w.tensor(
        "token_embd.weight",
        &[c.hidden as u64, c.vocab as u64],
        embed_type,
        emb,
    );
    if let Some(hd) = &t.head {
        w.tensor(
            "output.weight",
            &[c.hidden as u64, c.vocab as u64],
            id::F32,
            f32b(hd),
        );
    }
    w.tensor(
        "output_norm.weight",
        &[c.hidden as u64],
        id::F32,
        f32b(&t.final_norm),
    );
    for (i, l) in t.layers.iter().enumerate() {
        let b = format!("blk.{i}");
        w.tensor(
            &format!("{b}.attn_norm.weight"),
            &[c.hidden as u64],
            id::F32,
            f32b(&l.attn_norm),
        );
        w.tensor(
            &format!("{b}.ffn_norm.weight"),
            &[c.hidden as u64],
            id::F32,
            f32b(&l.ffn_norm),
        );
        if let Some(s) = &l.attn_sub {
            w.tensor(
                &format!("{b}.attn_sub_norm.weight"),
                &[c.hidden as u64],
                id::F32,
                f32b(s),
            );
        }
        if let Some(s) = &l.ffn_sub {
            w.tensor(
                &format!("{b}.ffn_sub_norm.weight"),
                &[c.intermediate as u64],
                id::F32,
                f32b(s),
            );
        }
        for (n, p) in NAMES_GGUF.iter().zip(&l.proj) {
            let vals = &p.w;
            let dims = [p.cols as u64, p.rows as u64];
            let name = format!("{b}.{n}.weight");
            match style {
                GgufStyle::I2s => {
                    let mut d = encode_i2s(p.rows, p.cols, vals);
                    d.extend_from_slice(&p.beta.to_le_bytes());
                    d.resize(d.len() + 28, 0);
                    w.tensor(&name, &dims, id::I2_S, d);
                }
                GgufStyle::Tq1 => {
                    w.tensor(&name, &dims, id::TQ1_0, ggml::encode_tq1_0(vals, p.beta));
                }
                GgufStyle::Tq2 => {
                    w.tensor(&name, &dims, id::TQ2_0, ggml::encode_tq2_0(vals, p.beta));
                }
                GgufStyle::F16 => {
                    // llama.cpp `bitnet`: ternary values in F16 with a separate scale tensor.
                    let half: Vec<f32> = vals.iter().map(|&x| x as f32 * 0.5).collect();
                    w.tensor(&name, &dims, id::F16, f16b(&half));
                    w.tensor(
                        &format!("{b}.{n}.scale"),
                        &[1],
                        id::F32,
                        f32b(&[p.beta * 2.0]),
                    );
                }
            }
        }
    }
    w
}
