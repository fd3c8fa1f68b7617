//! Hugging Face checkpoint directories: `config.json` → [`ModelConfig`], safetensors tensors →
//! [`Weights`].
//!
//! Architectures (`architectures[0]`):
//! * `BitNetForCausalLM` (transformers `models/bitnet`, BitNet b1.58 2B4T): relu², sub-norms
//!   `self_attn.attn_sub_norm` / `mlp.ffn_sub_norm`, packed weights with `weight_scale`.
//! * `BitnetForCausalLM` (1bitLLM `bitnet_b1_58-*`, remote code): master weights quantised at
//!   load (absmean), SiLU; sub-norms `self_attn.inner_attn_ln` / `mlp.ffn_layernorm` when present.
//! * `LlamaForCausalLM` with `quantization_config.quant_method == "bitnet"` (e.g.
//!   HF1BitLLM/Llama3-8B-1.58): Llama graph with BitLinear projections, no sub-norms.
//!
//! Projection tensors (`model.layers.N.{self_attn.{q,k,v,o}_proj, mlp.{gate,up,down}_proj}`) may
//! be packed `uint8 [out/4, in]` with a `weight_scale` (convention from
//! `quantization_config.linear_class`, see [`super::ternary`]), or float master weights
//! `[out, in]` quantised at load. Shapes are checked against the config, every contradiction
//! names the tensor. Defaults for keys a config omits follow the transformers config classes.

use std::path::{Path, PathBuf};

use super::assemble::{self, LoadOptions, RawLayer, TernarySource, TernaryTensor};
use super::error::LoadError;
use super::ggml;
use super::safetensors::{is_float, Checkpoint, Dtype, TensorRef};
use super::ternary::{absmean, exact_ternary, ScaleConvention};
use crate::config::{Activation, ModelConfig};
use crate::weights::Weights;
use serde_json::{Map, Value};

/// The checkpoint family, from `architectures`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// transformers `BitNetForCausalLM` (2B4T).
    BitNet,
    /// 1bitLLM `BitnetForCausalLM`.
    OneBitLlm,
    /// `LlamaForCausalLM` quantised with `quant_method: bitnet`.
    LlamaBitNet,
}

/// What `config.json` says beyond the shape.
#[derive(Clone, Debug)]
pub struct HfConfig {
    /// The validated shape.
    pub cfg: ModelConfig,
    /// The family.
    pub family: Family,
    /// How `weight_scale` applies, when the config says.
    pub convention: Option<ScaleConvention>,
    /// `tie_word_embeddings`, when the config says.
    pub tie: Option<bool>,
}

struct Keys<'a> {
    path: &'a Path,
    obj: &'a Map<String, Value>,
}

impl Keys<'_> {
    fn get(&self, key: &str) -> Option<&Value> {
        self.obj.get(key).filter(|v| !v.is_null())
    }
    fn usize_opt(&self, key: &str) -> Result<Option<usize>, LoadError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .map(Some)
                .ok_or_else(|| {
                    LoadError::key(self.path, key, format!("{v} is not a non-negative integer"))
                }),
        }
    }
    fn usize(&self, key: &str) -> Result<usize, LoadError> {
        self.usize_opt(key)?
            .ok_or_else(|| LoadError::key(self.path, key, "missing from config.json"))
    }
    fn f32_or(&self, key: &str, default: f32) -> Result<f32, LoadError> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v
                .as_f64()
                .map(|x| x as f32)
                .ok_or_else(|| LoadError::key(self.path, key, format!("{v} is not a number"))),
        }
    }
    fn str_opt(&self, key: &str) -> Result<Option<&str>, LoadError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_str()
                .map(Some)
                .ok_or_else(|| LoadError::key(self.path, key, format!("{v} is not a string"))),
        }
    }
    fn bool_opt(&self, key: &str) -> Result<Option<bool>, LoadError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_bool()
                .map(Some)
                .ok_or_else(|| LoadError::key(self.path, key, format!("{v} is not true or false"))),
        }
    }
    /// An id or a list of ids.
    fn ids(&self, key: &str) -> Result<Vec<u32>, LoadError> {
        let bad = |v: &Value| {
            LoadError::key(
                self.path,
                key,
                format!("{v} is not a token id or a list of them"),
            )
        };
        let one = |v: &Value| v.as_u64().and_then(|n| u32::try_from(n).ok());
        match self.get(key) {
            None => Ok(Vec::new()),
            Some(Value::Array(a)) => a.iter().map(|v| one(v).ok_or_else(|| bad(v))).collect(),
            Some(v) => Ok(vec![one(v).ok_or_else(|| bad(v))?]),
        }
    }
}

/// Reads and validates `config.json` of checkpoint directory `dir`.
pub fn read_config(dir: &Path) -> Result<HfConfig, LoadError> {
    let path = dir.join("config.json");
    let text = std::fs::read(&path).map_err(|e| LoadError::io(&path, e))?;
    parse_config(&text, &path, &dir.display().to_string())
}

/// Parses the text of a `config.json` (`path` names it in errors, `name` becomes the model name).
pub fn parse_config(text: &[u8], path: &Path, name: &str) -> Result<HfConfig, LoadError> {
    let v: Value = serde_json::from_slice(text)
        .map_err(|e| LoadError::header(path, format!("config.json is not valid JSON: {e}")))?;
    let obj = v
        .as_object()
        .ok_or_else(|| LoadError::header(path, "config.json is not a JSON object"))?;
    let k = Keys { path, obj };
    let arch = match k.get("architectures") {
        Some(Value::Array(a)) => a.first().and_then(Value::as_str).map(str::to_string),
        Some(other) => {
            return Err(LoadError::key(
                path,
                "architectures",
                format!("{other} is not a list of names"),
            ))
        }
        None => None,
    };
    let quant = match k.get("quantization_config") {
        None => None,
        Some(Value::Object(q)) => Some(q),
        Some(other) => {
            return Err(LoadError::key(
                path,
                "quantization_config",
                format!("{other} is not an object"),
            ))
        }
    };
    let q = quant.map(|q| Keys { path, obj: q });
    let quant_method = match &q {
        Some(q) => q.str_opt("quant_method")?,
        None => None,
    };
    let family = match (arch.as_deref(), k.str_opt("model_type")?) {
        (Some("BitNetForCausalLM"), _) | (None, Some("bitnet")) => Family::BitNet,
        (Some("BitnetForCausalLM"), _) => Family::OneBitLlm,
        (Some("LlamaForCausalLM"), _) | (None, Some("llama")) => {
            if quant_method != Some("bitnet") {
                return Err(LoadError::unsupported(
                    path,
                    "a Llama checkpoint without `quantization_config.quant_method: bitnet`",
                    "ternbench runs BitNet b1.58 models only",
                ));
            }
            Family::LlamaBitNet
        }
        (a, t) => {
            return Err(LoadError::unsupported(
                path,
                format!(
                    "architecture {}",
                    a.or(t).map(|s| format!("`{s}`")).unwrap_or_else(|| "(none given)".into())
                ),
                "ternbench reads BitNetForCausalLM, BitnetForCausalLM (1bitLLM) and LlamaForCausalLM with quant_method bitnet",
            ))
        }
    };
    if let Some(m) = quant_method {
        if m != "bitnet" {
            return Err(LoadError::key(
                path,
                "quantization_config.quant_method",
                format!("`{m}`: only `bitnet` is a ternary checkpoint"),
            ));
        }
    }
    let mut convention = None;
    if let Some(q) = &q {
        match q.str_opt("linear_class")? {
            Some("autobitlinear") => convention = Some(ScaleConvention::Multiply),
            Some("bitlinear") => convention = Some(ScaleConvention::Divide),
            // transformers' BitNetQuantConfig defaults linear_class to bitlinear.
            None if quant_method.is_some() => convention = Some(ScaleConvention::Divide),
            None => {}
            Some(other) => {
                return Err(LoadError::key(
                    path,
                    "quantization_config.linear_class",
                    format!("`{other}`: expected autobitlinear or bitlinear"),
                ))
            }
        }
        if q.bool_opt("use_rms_norm")? == Some(true) {
            return Err(LoadError::unsupported(
                path,
                "quantization_config.use_rms_norm",
                "a per-projection input RMSNorm inside BitLinear is not in ternbench's graph",
            ));
        }
    }
    // Defaults of the transformers config classes where a key is absent.
    let (def_act, def_theta, def_eps) = match family {
        Family::BitNet => ("relu2", 500_000.0, 1e-5),
        Family::OneBitLlm => ("silu", 10_000.0, 1e-6),
        Family::LlamaBitNet => ("silu", 10_000.0, 1e-6),
    };
    let act = match k.str_opt("hidden_act")?.unwrap_or(def_act) {
        "relu2" => Activation::Relu2,
        "silu" | "swish" => Activation::Silu,
        other => {
            return Err(LoadError::key(
                path,
                "hidden_act",
                format!("`{other}`: ternbench implements relu2 and silu"),
            ))
        }
    };
    if let Some(rs) = k.get("rope_scaling") {
        let t = rs
            .get("rope_type")
            .or_else(|| rs.get("type"))
            .and_then(Value::as_str)
            .unwrap_or("?");
        let factor_one = rs.get("factor").and_then(Value::as_f64) == Some(1.0);
        if !(t == "default" || (t == "linear" && factor_one)) {
            return Err(LoadError::unsupported(
                path,
                format!("rope_scaling `{t}`"),
                "ternbench's RoPE has no frequency scaling",
            ));
        }
    }
    for key in ["attention_bias", "mlp_bias"] {
        if k.bool_opt(key)? == Some(true) {
            return Err(LoadError::unsupported(
                path,
                key.to_string(),
                "BitNet projections have no biases",
            ));
        }
    }
    let hidden = k.usize("hidden_size")?;
    let heads = k.usize("num_attention_heads")?;
    let kv_heads = k.usize_opt("num_key_value_heads")?.unwrap_or(heads);
    if let Some(hd) = k.usize_opt("head_dim")? {
        if heads == 0 || hd * heads != hidden {
            return Err(LoadError::key(
                path,
                "head_dim",
                format!("{hd} × {heads} heads ≠ hidden_size {hidden}; ternbench needs head_dim = hidden_size / num_attention_heads"),
            ));
        }
    }
    let vocab = k.usize("vocab_size")?;
    let eos = k.ids("eos_token_id")?;
    // Absent: the config class's default (BitNet 128000, Llama 1) when it fits the vocabulary.
    let bos = match k.ids("bos_token_id")?.first() {
        Some(&b) => b,
        None => {
            let d = if family == Family::BitNet { 128_000 } else { 1 };
            if (d as usize) < vocab {
                d
            } else {
                0
            }
        }
    };
    let cfg = ModelConfig {
        name: name.to_string(),
        hidden,
        intermediate: k.usize("intermediate_size")?,
        layers: k.usize("num_hidden_layers")?,
        heads,
        kv_heads,
        vocab,
        max_positions: k.usize_opt("max_position_embeddings")?.unwrap_or(2048),
        rope_theta: k.f32_or("rope_theta", def_theta)?,
        rms_eps: k.f32_or("rms_norm_eps", def_eps)?,
        act,
        bos,
        eos,
    }
    .validate()
    .map_err(|e| LoadError::Config {
        path: path.to_path_buf(),
        source: e,
    })?;
    if let Some(&bad) = cfg.eos.iter().find(|&&e| e as usize >= cfg.vocab) {
        return Err(LoadError::key(
            path,
            "eos_token_id",
            format!("{bad} is not below vocab_size {}", cfg.vocab),
        ));
    }
    Ok(HfConfig {
        cfg,
        family,
        convention,
        tie: k.bool_opt("tie_word_embeddings")?,
    })
}

/// Loads a checkpoint directory.
pub fn load(dir: &Path, opts: &LoadOptions) -> Result<Weights, LoadError> {
    let hc = read_config(dir)?;
    let ck = Checkpoint::open_dir(dir)?;
    let cfg = hc.cfg.clone();
    let l = Loader { ck: &ck, hc: &hc };
    let embed_name = "model.embed_tokens.weight";
    let emb = l.float(embed_name, &[cfg.vocab, cfg.hidden])?;
    let decode: fn(&[u8]) -> Vec<f32> = match emb.dtype {
        Dtype::F32 => ggml::f32s,
        Dtype::F16 => ggml::f16s,
        _ => ggml::bf16s,
    };
    let (embed, embed_rows) = assemble::embedding_from(
        emb.path,
        embed_name,
        &cfg,
        emb.data,
        cfg.hidden * emb.dtype.bitsize() / 8,
        decode,
    )?;
    let head_name = "lm_head.weight";
    let untied = match (hc.tie, ck.contains(head_name)) {
        (Some(true), _) | (None, false) => None,
        (Some(false), false) => {
            return Err(LoadError::missing(
                ck.dir(),
                head_name,
                "; config.json says tie_word_embeddings: false, so the LM head must be stored",
            ))
        }
        (_, true) => Some((
            head_name,
            l.float(head_name, &[cfg.vocab, cfg.hidden])?.to_f32()?,
        )),
    };
    let head = assemble::head(ck.dir(), &cfg, opts.head, untied, &embed)?;
    let final_norm = l.norm("model.norm.weight", cfg.hidden)?;
    let mut layers = Vec::new();
    for i in 0..opts.built_layers(cfg.layers) {
        layers.push(l.layer(i)?.build(ck.dir(), opts.linear)?);
    }
    Ok(assemble::weights(
        cfg,
        (embed, embed_rows),
        head,
        final_norm,
        layers,
    ))
}

struct Loader<'a> {
    ck: &'a Checkpoint,
    hc: &'a HfConfig,
}

impl<'a> Loader<'a> {
    fn path(&self) -> PathBuf {
        self.ck.dir().to_path_buf()
    }

    fn get(&self, name: &str) -> Result<TensorRef<'a>, LoadError> {
        self.ck
            .get(name)
            .ok_or_else(|| LoadError::missing(self.ck.dir(), name, ""))
    }

    /// A float tensor of exactly `shape`.
    fn float(&self, name: &str, shape: &[usize]) -> Result<TensorRef<'a>, LoadError> {
        let t = self.get(name)?;
        if !is_float(t.dtype) {
            return Err(LoadError::tensor(
                t.path,
                name,
                format!("dtype {} where F32, F16 or BF16 was expected", t.dtype),
            ));
        }
        if t.shape != shape {
            return Err(LoadError::tensor(
                t.path,
                name,
                format!("shape {:?} but config.json implies {:?}", t.shape, shape),
            ));
        }
        Ok(t)
    }

    fn norm(&self, name: &str, len: usize) -> Result<Vec<f32>, LoadError> {
        let t = self.float(name, &[len])?;
        assemble::norm(t.path, name, t.to_f32()?, len)
    }

    /// The first of `names` that exists, as a norm of `len`; `None` if none does.
    fn optional_norm(&self, names: &[String], len: usize) -> Result<Option<Vec<f32>>, LoadError> {
        match names.iter().find(|n| self.ck.contains(n)) {
            Some(n) => Ok(Some(self.norm(n, len)?)),
            None => Ok(None),
        }
    }

    fn layer(&self, i: usize) -> Result<RawLayer<'a>, LoadError> {
        let cfg = &self.hc.cfg;
        let p = format!("model.layers.{i}");
        let names = [
            "self_attn.q_proj",
            "self_attn.k_proj",
            "self_attn.v_proj",
            "self_attn.o_proj",
            "mlp.gate_proj",
            "mlp.up_proj",
            "mlp.down_proj",
        ];
        let shapes = assemble::shapes(cfg);
        let mut proj = Vec::with_capacity(7);
        for (n, (rows, cols)) in names.iter().zip(shapes) {
            proj.push(self.projection(&format!("{p}.{n}"), rows, cols)?);
        }
        let attn_sub = [
            format!("{p}.self_attn.attn_sub_norm.weight"),
            format!("{p}.self_attn.inner_attn_ln.weight"),
        ];
        let ffn_sub = [
            format!("{p}.mlp.ffn_sub_norm.weight"),
            format!("{p}.mlp.ffn_layernorm.weight"),
        ];
        let attn_sub_norm = self.optional_norm(&attn_sub, cfg.hidden)?;
        let ffn_sub_norm = self.optional_norm(&ffn_sub, cfg.intermediate)?;
        if self.hc.family == Family::BitNet {
            // transformers' BitNet graph always applies both sub-norms.
            for (got, want) in [(&attn_sub_norm, &attn_sub[0]), (&ffn_sub_norm, &ffn_sub[0])] {
                if got.is_none() {
                    return Err(LoadError::missing(
                        self.ck.dir(),
                        want,
                        "; BitNetForCausalLM applies it in every layer",
                    ));
                }
            }
        }
        if attn_sub_norm.is_some() != ffn_sub_norm.is_some() {
            return Err(LoadError::tensor(
                &self.path(),
                &p,
                "has one sub-norm (attention or FFN) but not the other",
            ));
        }
        let proj: [TernaryTensor<'a>; 7] = proj.try_into().expect("seven projections");
        Ok(RawLayer {
            attn_norm: self.norm(&format!("{p}.input_layernorm.weight"), cfg.hidden)?,
            proj,
            attn_sub_norm,
            ffn_norm: self.norm(&format!("{p}.post_attention_layernorm.weight"), cfg.hidden)?,
            ffn_sub_norm,
        })
    }

    /// One projection `prefix.weight` (+ `prefix.weight_scale`) of `rows × cols`.
    fn projection(
        &self,
        prefix: &str,
        rows: usize,
        cols: usize,
    ) -> Result<TernaryTensor<'a>, LoadError> {
        let name = format!("{prefix}.weight");
        if self.ck.contains(&format!("{prefix}.bias")) {
            return Err(LoadError::unsupported(
                self.ck.dir(),
                format!("bias `{prefix}.bias`"),
                "BitNet projections have no biases",
            ));
        }
        let t = self.get(&name)?;
        let scale_name = format!("{prefix}.weight_scale");
        let scale = match self.ck.get(&scale_name) {
            None => None,
            Some(s) => {
                if !is_float(s.dtype) || s.len() != 1 || s.shape.len() > 1 {
                    return Err(LoadError::tensor(
                        s.path,
                        &scale_name,
                        format!(
                            "weight_scale must be one float (shape [1] or []), found {} {:?}",
                            s.dtype, s.shape
                        ),
                    ));
                }
                Some(s.to_f32()?[0])
            }
        };
        let beta_from = |ws: f32| -> Result<f32, LoadError> {
            let conv = self.hc.convention.ok_or_else(|| {
                LoadError::key(
                    &self.path().join("config.json"),
                    "quantization_config.linear_class",
                    format!(
                        "`{scale_name}` exists but config.json does not say how it applies (autobitlinear multiplies, bitlinear divides)"
                    ),
                )
            })?;
            Ok(conv.beta(ws))
        };
        let src;
        let beta;
        match t.dtype {
            Dtype::U8 => {
                if t.shape != [rows / 4, cols] || !rows.is_multiple_of(4) {
                    return Err(LoadError::tensor(
                        t.path,
                        &name,
                        format!(
                            "packed uint8 shape {:?}, but a {rows}×{cols} projection packs to [{}, {cols}] (config.json)",
                            t.shape,
                            rows / 4
                        ),
                    ));
                }
                let ws = scale.ok_or_else(|| {
                    LoadError::missing(
                        self.ck.dir(),
                        &scale_name,
                        "; packed ternary weights need their scale",
                    )
                })?;
                beta = beta_from(ws)?;
                src = TernarySource::HfPacked(t.data);
            }
            d if is_float(d) => {
                if t.shape != [rows, cols] {
                    let hint = if t.shape == [cols, rows] {
                        " (transposed?)"
                    } else {
                        ""
                    };
                    return Err(LoadError::tensor(
                        t.path,
                        &name,
                        format!(
                            "shape {:?}, config.json implies [{rows}, {cols}]{hint}",
                            t.shape
                        ),
                    ));
                }
                let w = t.to_f32()?;
                if let Some(ws) = scale {
                    // Unpacked ternary values with their scale.
                    let Some((q, _)) = exact_ternary(&w).filter(|&(_, unit)| unit == 1.0) else {
                        return Err(LoadError::tensor(
                            t.path,
                            &name,
                            "has a weight_scale, so its values must be -1, 0 or +1, but they are not",
                        ));
                    };
                    beta = beta_from(ws)?;
                    src = TernarySource::Values(q);
                } else {
                    if let Some(i) = w.iter().position(|v| !v.is_finite()) {
                        return Err(LoadError::tensor(
                            t.path,
                            &name,
                            format!("element {i} is {}", w[i]),
                        ));
                    }
                    let (q, b) = absmean(&w);
                    beta = b;
                    src = TernarySource::Values(q);
                }
            }
            other => {
                return Err(LoadError::tensor(
                    t.path,
                    &name,
                    format!(
                        "dtype {} is neither packed uint8 nor a float master weight",
                        other
                    ),
                ))
            }
        }
        Ok(TernaryTensor {
            name,
            rows,
            cols,
            src,
            beta,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(extra: &str) -> Result<HfConfig, LoadError> {
        let text = format!(
            r#"{{"architectures":["BitNetForCausalLM"],"hidden_size":64,"intermediate_size":96,
            "num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":2,"vocab_size":50,
            "bos_token_id":1,"eos_token_id":[2,3],
            "quantization_config":{{"quant_method":"bitnet","linear_class":"autobitlinear"}}{extra}}}"#
        );
        parse_config(text.as_bytes(), Path::new("config.json"), "t")
    }

    #[test]
    fn bitnet_config_with_defaults() {
        let c = cfg("").unwrap();
        assert_eq!(c.family, Family::BitNet);
        assert_eq!(c.cfg.act, Activation::Relu2);
        assert_eq!(c.cfg.rope_theta, 500_000.0);
        assert_eq!(c.cfg.eos, vec![2, 3]);
        assert_eq!(c.convention, Some(ScaleConvention::Multiply));
    }

    #[test]
    fn linear_class_defaults_to_bitlinear() {
        let text = r#"{"architectures":["LlamaForCausalLM"],"hidden_size":64,"intermediate_size":96,
            "num_hidden_layers":1,"num_attention_heads":4,"vocab_size":50,
            "quantization_config":{"quant_method":"bitnet"}}"#;
        let c = parse_config(text.as_bytes(), Path::new("config.json"), "t").unwrap();
        assert_eq!(c.family, Family::LlamaBitNet);
        assert_eq!(c.convention, Some(ScaleConvention::Divide));
        assert_eq!(c.cfg.act, Activation::Silu);
    }

    #[test]
    fn config_errors_name_the_key() {
        for (extra, key) in [
            (r#","hidden_act":"gelu""#, "hidden_act"),
            (r#","head_dim":32"#, "head_dim"),
            (
                r#","rope_scaling":{"rope_type":"llama3","factor":8.0}"#,
                "rope_scaling",
            ),
            (r#","num_key_value_heads":3"#, "num_key_value_heads"),
            (r#","eos_token_id":99"#, "eos_token_id"),
            (r#","rms_norm_eps":"x""#, "rms_norm_eps"),
        ] {
            let e = cfg(extra).unwrap_err().to_string();
            assert!(e.contains(key), "{e}");
        }
    }
}
