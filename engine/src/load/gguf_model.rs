//! GGUF files → [`ModelConfig`] and [`Weights`].
//!
//! Architectures (`general.architecture`), after llama.cpp and bitnet.cpp:
//! * `bitnet-b1.58`, `bitnet-25` (bitnet.cpp, `build_bitnet_158`): relu², sub-norms.
//! * `bitnet` (llama.cpp `build_bitnet`, 1bitLLM models): SiLU-gated, sub-norms, optional
//!   per-projection scale tensors `blk.N.attn_q.scale` (weight × scale).
//!
//! Q and K rows are read in Hugging Face order for every arch: llama.cpp lists `LLM_ARCH_BITNET`
//! among the NeoX (rotate-half) RoPE models and its `BitnetModel` converter does not permute, and
//! bitnet.cpp's `convert-ms-to-gguf-bitnet.py` (the 2B4T path) has the llama-style
//! `permute_lazy` of q/k commented out.
//!
//! Keys: `{arch}.embedding_length`, `.feed_forward_length`, `.block_count`,
//! `.attention.head_count`, `.attention.head_count_kv` (default: head count),
//! `.context_length`, `.rope.freq_base` (default 10000), `.attention.layer_norm_rms_epsilon`,
//! `.rope.dimension_count` (must equal the head dimension), `.vocab_size` (else the token list
//! or the embedding), `tokenizer.ggml.{bos,eos,eot}_token_id`.
//!
//! Tensors: `token_embd` (F32/F16/BF16/Q8_0/Q6_K, kept as f16), `output` (optional: absent means
//! tied), `output_norm`, and per block `attn_norm`, `attn_{q,k,v,output}`, `attn_sub_norm`,
//! `ffn_norm`, `ffn_{gate,up,down}`, `ffn_sub_norm`. Projections are I2_S (one f32 scale),
//! TQ1_0/TQ2_0 (one f16 scale per block of 256, which must agree across the tensor, as ternbench
//! keeps one β per tensor), or F16/F32/BF16 (already ternary `0, ±β`, or master weights quantised
//! at load by absmean).

use std::path::{Path, PathBuf};

use super::assemble::{self, LoadOptions, RawLayer, TernarySource, TernaryTensor};
use super::error::LoadError;
use super::ggml::{self, id};
use super::gguf::{self, Header, TensorInfo, Value};
use super::map_file;
use super::ternary::{absmean, exact_ternary};
use crate::config::{Activation, ModelConfig};
use crate::weights::Weights;

/// A memory-mapped GGUF file with its parsed header.
#[derive(Debug)]
pub struct GgufModel {
    path: PathBuf,
    map: memmap2::Mmap,
    header: Header,
}

/// The config plus what the loader needs to know about the architecture.
#[derive(Clone, Debug)]
pub struct GgufConfig {
    /// The validated shape.
    pub cfg: ModelConfig,
    /// `general.architecture`.
    pub arch: String,
}

impl GgufModel {
    /// Maps and parses `path`.
    pub fn open(path: &Path) -> Result<Self, LoadError> {
        let map = map_file(path, 24, "GGUF")?;
        let header = gguf::parse(&map, path)?;
        Ok(GgufModel {
            path: path.to_path_buf(),
            map,
            header,
        })
    }

    /// The parsed header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    fn key_err(&self, key: &str, reason: impl Into<String>) -> LoadError {
        LoadError::key(&self.path, key, reason)
    }

    fn uint(&self, key: &str) -> Result<Option<u64>, LoadError> {
        match self.header.get(key) {
            None => Ok(None),
            Some(v) => v.as_u64().map(Some).ok_or_else(|| {
                self.key_err(
                    key,
                    format!(
                        "expected a non-negative integer, found {} {v:?}",
                        v.type_name()
                    ),
                )
            }),
        }
    }

    fn usize_req(&self, key: &str) -> Result<usize, LoadError> {
        let v = self
            .uint(key)?
            .ok_or_else(|| self.key_err(key, "missing from the metadata"))?;
        usize::try_from(v).map_err(|_| self.key_err(key, format!("{v} is too large")))
    }

    fn float(&self, key: &str, default: f32) -> Result<f32, LoadError> {
        match self.header.get(key) {
            None => Ok(default),
            Some(v) => v.as_f64().map(|x| x as f32).ok_or_else(|| {
                self.key_err(key, format!("expected a number, found {}", v.type_name()))
            }),
        }
    }

    /// Reads and validates the config from the metadata and the embedding's shape.
    pub fn config(&self) -> Result<GgufConfig, LoadError> {
        let ak = "general.architecture";
        let arch = self
            .header
            .get(ak)
            .ok_or_else(|| self.key_err(ak, "missing"))?
            .as_str()
            .ok_or_else(|| self.key_err(ak, "not a string"))?
            .to_string();
        let act = match arch.as_str() {
            "bitnet-b1.58" | "bitnet-25" => Activation::Relu2,
            "bitnet" => Activation::Silu,
            other => {
                return Err(LoadError::unsupported(
                    &self.path,
                    format!("architecture `{other}`"),
                    "ternbench reads bitnet-b1.58, bitnet-25 and bitnet GGUF files",
                ))
            }
        };
        let k = |s: &str| format!("{arch}.{s}");
        for key in [
            k("attention.head_count"),
            k("attention.head_count_kv"),
            k("feed_forward_length"),
        ] {
            if let Some(Value::Array(_)) = self.header.get(&key) {
                return Err(LoadError::unsupported(
                    &self.path,
                    format!("per-layer `{key}`"),
                    "ternbench needs one value for every layer",
                ));
            }
        }
        let hidden = self.usize_req(&k("embedding_length"))?;
        let heads = self.usize_req(&k("attention.head_count"))?;
        let kv_heads = match self.uint(&k("attention.head_count_kv"))? {
            Some(v) => v as usize,
            None => heads,
        };
        let embd = self.info("token_embd.weight")?;
        if embd.dims.len() != 2 || embd.dims[0] != hidden as u64 {
            return Err(LoadError::tensor(
                &self.path,
                "token_embd.weight",
                format!(
                    "dims {:?} but {} is {hidden}",
                    embd.dims,
                    k("embedding_length")
                ),
            ));
        }
        let vocab = embd.dims[1] as usize;
        if let Some(v) = self.uint(&k("vocab_size"))? {
            if v != vocab as u64 {
                return Err(self.key_err(
                    &k("vocab_size"),
                    format!("{v} but token_embd.weight has {vocab} rows"),
                ));
            }
        }
        if let Some(Value::Array(toks)) = self.header.get("tokenizer.ggml.tokens") {
            if toks.len() > vocab {
                return Err(self.key_err(
                    "tokenizer.ggml.tokens",
                    format!(
                        "{} tokens but token_embd.weight has {vocab} rows",
                        toks.len()
                    ),
                ));
            }
        }
        if heads > 0 && hidden % heads == 0 {
            if let Some(rot) = self.uint(&k("rope.dimension_count"))? {
                if rot != (hidden / heads) as u64 {
                    return Err(self.key_err(
                        &k("rope.dimension_count"),
                        format!(
                            "{rot}, but ternbench rotates the whole head of {}",
                            hidden / heads
                        ),
                    ));
                }
            }
        }
        let mut eos = Vec::new();
        for key in ["tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id"] {
            if let Some(v) = self.uint(key)? {
                if v as usize >= vocab {
                    return Err(
                        self.key_err(key, format!("{v} is not below the vocabulary size {vocab}"))
                    );
                }
                if !eos.contains(&(v as u32)) {
                    eos.push(v as u32);
                }
            }
        }
        let bos = self.uint("tokenizer.ggml.bos_token_id")?.unwrap_or(1) as u32;
        let cfg = ModelConfig {
            name: self.path.display().to_string(),
            hidden,
            intermediate: self.usize_req(&k("feed_forward_length"))?,
            layers: self.usize_req(&k("block_count"))?,
            heads,
            kv_heads,
            vocab,
            max_positions: self.usize_req(&k("context_length"))?,
            rope_theta: self.float(&k("rope.freq_base"), 10_000.0)?,
            rms_eps: self.float(&k("attention.layer_norm_rms_epsilon"), 1e-5)?,
            act,
            bos,
            eos,
        }
        .validate()
        .map_err(|e| LoadError::Config {
            path: self.path.clone(),
            source: e,
        })?;
        Ok(GgufConfig { cfg, arch })
    }

    fn info(&self, name: &str) -> Result<&TensorInfo, LoadError> {
        self.header
            .tensor(name)
            .ok_or_else(|| LoadError::missing(&self.path, name, ""))
    }

    /// A tensor's bytes, refusing types ternbench does not read.
    fn data(&self, t: &TensorInfo) -> Result<&[u8], LoadError> {
        let n = t.bytes.ok_or_else(|| {
            LoadError::tensor(
                &self.path,
                &t.name,
                format!(
                    "ggml type {} ({}) is not one ternbench reads (F32, F16, BF16, Q8_0, Q6_K, TQ1_0, TQ2_0, I2_S)",
                    t.ggml_type,
                    ggml::type_name(t.ggml_type)
                ),
            )
        })?;
        let a = t.offset as usize;
        Ok(&self.map[a..a + n as usize])
    }

    /// Checks `dims` (innermost first) of tensor `name`.
    fn shaped(&self, name: &str, dims: &[usize]) -> Result<&TensorInfo, LoadError> {
        let t = self.info(name)?;
        let want: Vec<u64> = dims.iter().map(|&d| d as u64).collect();
        if t.dims != want {
            return Err(LoadError::tensor(
                &self.path,
                name,
                format!(
                    "dims {:?} (innermost first) but the metadata implies {want:?}",
                    t.dims
                ),
            ));
        }
        Ok(t)
    }

    /// A float-valued tensor (F32, F16, BF16, Q8_0, Q6_K) decoded to f32.
    fn floats(&self, name: &str, dims: &[usize]) -> Result<Vec<f32>, LoadError> {
        let t = self.shaped(name, dims)?;
        let b = self.data(t)?;
        Ok(match t.ggml_type {
            id::F32 => ggml::f32s(b),
            id::F16 => ggml::f16s(b),
            id::BF16 => ggml::bf16s(b),
            id::Q8_0 => ggml::q8_0(b),
            id::Q6_K => ggml::q6_k(b),
            other => {
                return Err(LoadError::tensor(
                    &self.path,
                    name,
                    format!(
                        "type {} where a float or Q8_0/Q6_K tensor was expected",
                        ggml::type_name(other)
                    ),
                ))
            }
        })
    }

    fn norm(&self, name: &str, len: usize) -> Result<Vec<f32>, LoadError> {
        let v = self.floats(name, &[len])?;
        assemble::norm(&self.path, name, v, len)
    }

    fn optional_norm(&self, name: &str, len: usize) -> Result<Option<Vec<f32>>, LoadError> {
        if self.header.tensor(name).is_some() {
            Ok(Some(self.norm(name, len)?))
        } else {
            Ok(None)
        }
    }

    /// One projection `name` of `rows × cols`.
    fn projection(
        &self,
        name: &str,
        rows: usize,
        cols: usize,
    ) -> Result<TernaryTensor<'_>, LoadError> {
        let t = self.shaped(name, &[cols, rows])?;
        let raw = self.data(t)?;
        let terr = |r: String| LoadError::tensor(&self.path, name, r);
        let (src, mut beta) = match t.ggml_type {
            id::I2_S => {
                let n = rows * cols;
                let scale = f32::from_le_bytes(raw[n / 4..n / 4 + 4].try_into().expect("4 bytes"));
                if !cols.is_multiple_of(ternbench_kernels::format::i2::I2S_BLOCK) {
                    return Err(terr(format!(
                        "I2_S row length {cols} is not a multiple of 128"
                    )));
                }
                (TernarySource::I2s(&raw[..n / 4]), scale)
            }
            id::TQ1_0 | id::TQ2_0 => {
                let (w, d) = if t.ggml_type == id::TQ1_0 {
                    ggml::tq1_0(raw)
                } else {
                    ggml::tq2_0(raw)
                };
                let beta = common_scale(&d, &w).map_err(terr)?;
                (TernarySource::Values(w), beta)
            }
            id::F32 | id::F16 | id::BF16 => {
                let v = match t.ggml_type {
                    id::F32 => ggml::f32s(raw),
                    id::F16 => ggml::f16s(raw),
                    _ => ggml::bf16s(raw),
                };
                if let Some(i) = v.iter().position(|x| !x.is_finite()) {
                    return Err(terr(format!("element {i} is {}", v[i])));
                }
                let (q, b) = exact_ternary(&v).unwrap_or_else(|| absmean(&v));
                (TernarySource::Values(q), b)
            }
            other => {
                return Err(terr(format!(
                "type {} is not a ternary projection format (I2_S, TQ1_0, TQ2_0, or F16/F32/BF16)",
                ggml::type_name(other)
            )))
            }
        };
        // llama.cpp `bitnet`: an optional scale tensor multiplies the projection's output.
        let sname = name.replace(".weight", ".scale");
        if let Some(st) = self.header.tensor(&sname) {
            if st.elements() != 1 || st.ggml_type != id::F32 {
                return Err(LoadError::tensor(
                    &self.path,
                    &sname,
                    format!(
                        "a projection scale must be one F32, found {} {:?}",
                        ggml::type_name(st.ggml_type),
                        st.dims
                    ),
                ));
            }
            beta *= ggml::f32s(self.data(st)?)[0];
        }
        Ok(TernaryTensor {
            name: name.to_string(),
            rows,
            cols,
            src,
            beta,
        })
    }

    fn layer(&self, g: &GgufConfig, i: usize) -> Result<RawLayer<'_>, LoadError> {
        let cfg = &g.cfg;
        let names = [
            "attn_q",
            "attn_k",
            "attn_v",
            "attn_output",
            "ffn_gate",
            "ffn_up",
            "ffn_down",
        ];
        let mut proj = Vec::with_capacity(7);
        for (n, (rows, cols)) in names.iter().zip(assemble::shapes(cfg)) {
            proj.push(self.projection(&format!("blk.{i}.{n}.weight"), rows, cols)?);
        }
        let attn_sub_norm =
            self.optional_norm(&format!("blk.{i}.attn_sub_norm.weight"), cfg.hidden)?;
        let ffn_sub_norm =
            self.optional_norm(&format!("blk.{i}.ffn_sub_norm.weight"), cfg.intermediate)?;
        for (got, n) in [
            (&attn_sub_norm, "attn_sub_norm"),
            (&ffn_sub_norm, "ffn_sub_norm"),
        ] {
            if got.is_none() {
                return Err(LoadError::missing(
                    &self.path,
                    &format!("blk.{i}.{n}.weight"),
                    format!("; architecture `{}` applies it in every layer", g.arch),
                ));
            }
        }
        Ok(RawLayer {
            attn_norm: self.norm(&format!("blk.{i}.attn_norm.weight"), cfg.hidden)?,
            proj: proj.try_into().expect("seven projections"),
            attn_sub_norm,
            ffn_norm: self.norm(&format!("blk.{i}.ffn_norm.weight"), cfg.hidden)?,
            ffn_sub_norm,
        })
    }
}

/// The weight bytes one decode step of a GGUF file's model reads, from its tensor infos alone
/// (the file's own types and sizes: what every engine running this file streams per token).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeBytes {
    /// Every block's 2-D weight tensors (`blk.N.*.weight`), all layers.
    pub projections: u64,
    /// The LM head: `output.weight`, else the tied `token_embd.weight`.
    pub head: u64,
    /// The head's ggml type name (`F16`, `Q6_K`, ...).
    pub head_type: String,
    /// Whether the head is the tied embedding.
    pub tied: bool,
    /// The projections' ggml type names, most bytes first, without repeats.
    pub projection_types: Vec<String>,
}

impl DecodeBytes {
    /// Projections plus head.
    pub fn total(&self) -> u64 {
        self.projections + self.head
    }
}

impl GgufModel {
    /// The weight bytes a decode step reads (see [`DecodeBytes`]); an error names a tensor whose
    /// type ternbench cannot size.
    pub fn decode_bytes(&self) -> Result<DecodeBytes, LoadError> {
        let sized = |t: &TensorInfo| {
            t.bytes.ok_or_else(|| {
                LoadError::tensor(
                    &self.path,
                    &t.name,
                    format!(
                        "ggml type {} is not one ternbench can size",
                        ggml::type_name(t.ggml_type)
                    ),
                )
            })
        };
        let mut projections = 0;
        let mut by_type: Vec<(String, u64)> = Vec::new();
        for t in &self.header.tensors {
            if t.name.starts_with("blk.") && t.name.ends_with(".weight") && t.dims.len() >= 2 {
                let b = sized(t)?;
                projections += b;
                let name = ggml::type_name(t.ggml_type);
                match by_type.iter_mut().find(|e| e.0 == name) {
                    Some(e) => e.1 += b,
                    None => by_type.push((name, b)),
                }
            }
        }
        by_type.sort_by_key(|e| std::cmp::Reverse(e.1));
        let (head, tied) = match self.header.tensor("output.weight") {
            Some(t) => (t, false),
            None => (self.info("token_embd.weight")?, true),
        };
        Ok(DecodeBytes {
            projections,
            head: sized(head)?,
            head_type: ggml::type_name(head.ggml_type),
            tied,
            projection_types: by_type.into_iter().map(|e| e.0).collect(),
        })
    }
}

/// The one scale shared by every TQ block that holds a nonzero weight.
fn common_scale(d: &[f32], w: &[i8]) -> Result<f32, String> {
    let mut beta: Option<f32> = None;
    for (b, (&db, blk)) in d.iter().zip(w.chunks_exact(256)).enumerate() {
        if blk.iter().all(|&x| x == 0) {
            continue;
        }
        match beta {
            None => beta = Some(db),
            Some(s) if s == db => {}
            Some(s) => {
                return Err(format!(
                    "block {b} has scale {db} but earlier blocks {s}: ternbench keeps one scale per tensor (a BitNet model has one)"
                ))
            }
        }
    }
    Ok(beta.unwrap_or(1.0))
}

/// Decodes a run of whole blocks to f32.
type Decode = fn(&[u8]) -> Vec<f32>;

/// Loads a GGUF file.
pub fn load(path: &Path, opts: &LoadOptions) -> Result<Weights, LoadError> {
    let m = GgufModel::open(path)?;
    let g = m.config()?;
    let cfg = g.cfg.clone();
    let en = "token_embd.weight";
    let (embed, embed_rows) = {
        let t = m.shaped(en, &[cfg.hidden, cfg.vocab])?;
        let h = cfg.hidden;
        let (row, decode): (usize, Decode) = match t.ggml_type {
            id::F32 => (h * 4, ggml::f32s),
            id::F16 => (h * 2, ggml::f16s),
            id::BF16 => (h * 2, ggml::bf16s),
            id::Q8_0 => (h / 32 * 34, ggml::q8_0),
            id::Q6_K => (h / 256 * 210, ggml::q6_k),
            other => {
                return Err(LoadError::tensor(
                    path,
                    en,
                    format!(
                    "type {} is not an embedding type ternbench reads (F32, F16, BF16, Q8_0, Q6_K)",
                    ggml::type_name(other)
                ),
                ))
            }
        };
        assemble::embedding_from(path, en, &cfg, m.data(t)?, row, decode)?
    };
    let untied = match m.header.tensor("output.weight") {
        None => None,
        Some(_) => Some((
            "output.weight",
            m.floats("output.weight", &[cfg.hidden, cfg.vocab])?,
        )),
    };
    let head = assemble::head(path, &cfg, opts.head, untied, &embed)?;
    let final_norm = m.norm("output_norm.weight", cfg.hidden)?;
    let mut layers = Vec::new();
    for i in 0..opts.built_layers(cfg.layers) {
        layers.push(m.layer(&g, i)?.build(path, opts.linear)?);
    }
    Ok(assemble::weights(
        cfg,
        (embed, embed_rows),
        head,
        final_norm,
        layers,
    ))
}
