//! A synthetic zoo model as a GGUF file in the formats llama.cpp and bitnet.cpp run, so that a
//! user puts one model through every engine without Python.
//!
//! What is written (layouts from ggml's `ggml-common.h`/`ggml-quants.c` and bitnet.cpp's
//! `quantize_i2_s`; the encoders are in [`crate::load::ggml`]):
//!
//! * Projections (`blk.N.attn_{q,k,v,output}`, `blk.N.ffn_{gate,up,down}`) as [`WeightType`]:
//!   F16 (the values `w·β`, what llama.cpp's F16 baseline runs), TQ2_0 or TQ1_0 (llama.cpp's
//!   ternary blocks of 256 with one f16 scale each), or I2_S (bitnet.cpp: 2-bit codes and one
//!   f32 scale per tensor).
//! * `token_embd` as [`EmbedType`]: F16, or Q6_K (what bitnet.cpp's `--quant-embd` and
//!   llama-quantize's default give a ternary file). Both architectures tie the LM head to it, so
//!   it is also the head every engine reads at each decode step.
//! * Norms as F32 ones (a synthetic model's norms).
//! * `general.architecture` = [`Arch`]: `bitnet` (llama.cpp's only BitNet graph; also read by
//!   bitnet.cpp and by ternbench, all three with a SiLU-gated FFN) or `bitnet-25` (bitnet.cpp's
//!   graph for BitNet b1.58 2B4T, relu²; ternbench reads it with relu² too; llama.cpp refuses it).
//!   A file's graph is its arch's, whatever the zoo model's own activation is:
//!   [`ExportSummary::graph_note`] says when the two differ.
//! * A vocabulary the peers accept: a SentencePiece (`llama`) token list of the model's size —
//!   `<unk>`, `<s>`, `</s>`, the 256 byte tokens `<0x00>`..`<0xFF>` (llama.cpp looks up
//!   `<0x0A>` for the newline), control tokens at the model's BOS/EOS ids, the word-start piece
//!   `▁`, then filler pieces `▁tok1`, `▁tok2`, … with falling scores. Synthetic weights make any text meaningless, so
//!   the vocabulary only has to load; benchmarks feed token ids.
//!
//! **One model in every file.** Each tensor's scale β is rounded to f16 before anything is
//! written, since F16 and TQ files can hold no more: the F16, TQ2_0, TQ1_0 and I2_S files of one
//! model and seed then hold exactly the same weights (`w·f16(β)`), bitnet.cpp's and llama.cpp's
//! `llama-quantize` turn the F16 file into the byte-identical TQ/I2_S tensors (when the model
//! has no all-zero 256-block, which a synthetic one never has), and ternbench reads every one of
//! them back as the zoo model with f16 scales ([`Synthetic::weights`]), logit for logit. The
//! Q6_K embedding is the one lossy choice: it holds the embedding quantised, as the peers' own
//! files do.
//!
//! Files are streamed tensor by tensor (the 2B4T F16 file is 4.8 GB) into `<path>.part`, renamed
//! to `<path>` only when complete.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use half::f16;
use ternbench_kernels::{Format, ThreadPool};
use thiserror::Error;

use crate::config::{Activation, ModelConfig};
use crate::error::EngineError;
use crate::load::assemble::shapes;
use crate::load::ggml::{self, id};
use crate::load::gguf::{Value, Writer, DEFAULT_ALIGNMENT, MAGIC};
use crate::weights::{
    synthetic_norm, synthetic_projection, synthetic_with, SynthOptions, SyntheticEmbedding, Weights,
};

/// The GGUF architecture written, which decides the graph every engine runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arch {
    /// `bitnet`: llama.cpp's BitNet graph (1bitLLM models), SiLU-gated FFN, sub-norms, tied head.
    Bitnet,
    /// `bitnet-25`: bitnet.cpp's BitNet b1.58 2B4T graph, relu² FFN, sub-norms, tied head.
    Bitnet25,
}

impl Arch {
    /// `general.architecture`.
    pub fn name(self) -> &'static str {
        match self {
            Arch::Bitnet => "bitnet",
            Arch::Bitnet25 => "bitnet-25",
        }
    }

    /// The FFN activation of this arch's graph (in llama.cpp, bitnet.cpp and ternbench alike).
    pub fn activation(self) -> Activation {
        match self {
            Arch::Bitnet => Activation::Silu,
            Arch::Bitnet25 => Activation::Relu2,
        }
    }

    /// Parses `bitnet` or `bitnet-25`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "bitnet" => Some(Arch::Bitnet),
            "bitnet-25" => Some(Arch::Bitnet25),
            _ => None,
        }
    }

    /// The arch whose graph is `act`'s (`bitnet` for SiLU, `bitnet-25` for relu²).
    pub fn for_activation(act: Activation) -> Self {
        match act {
            Activation::Silu => Arch::Bitnet,
            Activation::Relu2 => Arch::Bitnet25,
        }
    }
}

/// The projections' tensor type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WeightType {
    /// IEEE half of `w·β` (llama.cpp's FP16 baseline).
    F16,
    /// llama.cpp's 2-bit ternary blocks (2.0625 bits per weight).
    Tq2_0,
    /// llama.cpp's base-3 ternary blocks (1.6875 bits per weight).
    Tq1_0,
    /// bitnet.cpp's 2-bit ternary with one f32 scale per tensor.
    I2s,
}

impl WeightType {
    /// Every type, in the order users meet them.
    pub const ALL: [WeightType; 4] = [
        WeightType::F16,
        WeightType::Tq2_0,
        WeightType::Tq1_0,
        WeightType::I2s,
    ];

    /// Lower-case name (as `--type` takes it).
    pub fn name(self) -> &'static str {
        match self {
            WeightType::F16 => "f16",
            WeightType::Tq2_0 => "tq2_0",
            WeightType::Tq1_0 => "tq1_0",
            WeightType::I2s => "i2_s",
        }
    }

    /// Parses a name, case-insensitively (`i2s` too).
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "f16" => Some(WeightType::F16),
            "tq2_0" => Some(WeightType::Tq2_0),
            "tq1_0" => Some(WeightType::Tq1_0),
            "i2_s" | "i2s" => Some(WeightType::I2s),
            _ => None,
        }
    }

    /// The ggml type id.
    pub fn ggml_type(self) -> u32 {
        match self {
            WeightType::F16 => id::F16,
            WeightType::Tq2_0 => id::TQ2_0,
            WeightType::Tq1_0 => id::TQ1_0,
            WeightType::I2s => id::I2_S,
        }
    }

    /// `general.file_type` (llama.cpp's `llama_ftype`; I2_S's is bitnet.cpp's).
    pub fn file_type(self) -> u32 {
        match self {
            WeightType::F16 => 1,
            WeightType::Tq1_0 => 36,
            WeightType::Tq2_0 => 37,
            WeightType::I2s => 40,
        }
    }

    /// The row-length multiple the type needs.
    fn row_block(self) -> usize {
        match self {
            WeightType::F16 => 1,
            WeightType::Tq2_0 | WeightType::Tq1_0 => 256,
            WeightType::I2s => 128,
        }
    }

    /// The peers that run this type (for messages and docs).
    pub fn readers(self) -> &'static str {
        match self {
            WeightType::F16 => "llama.cpp, bitnet.cpp, ternbench",
            WeightType::Tq2_0 => "llama.cpp, bitnet.cpp, ternbench",
            WeightType::Tq1_0 => "llama.cpp, ternbench",
            WeightType::I2s => "bitnet.cpp, ternbench",
        }
    }
}

/// The embedding's (and so the tied head's) tensor type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EmbedType {
    /// IEEE half: the zoo model's embedding exactly.
    F16,
    /// ggml's 6-bit k-quant, 6.5625 bits per value.
    Q6K,
}

impl EmbedType {
    /// Lower-case name (as `--head` takes it).
    pub fn name(self) -> &'static str {
        match self {
            EmbedType::F16 => "f16",
            EmbedType::Q6K => "q6_k",
        }
    }

    /// Parses a name, case-insensitively (`q6k` too).
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "f16" => Some(EmbedType::F16),
            "q6_k" | "q6k" => Some(EmbedType::Q6K),
            _ => None,
        }
    }

    fn ggml_type(self) -> u32 {
        match self {
            EmbedType::F16 => id::F16,
            EmbedType::Q6K => id::Q6_K,
        }
    }
}

/// What to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExportOptions {
    /// The architecture (graph) the file declares.
    pub arch: Arch,
    /// The projections' type.
    pub weights: WeightType,
    /// The embedding's (tied head's) type.
    pub embed: EmbedType,
}

/// Everything the exporter can refuse.
#[derive(Debug, Error)]
pub enum ExportError {
    /// The model's shape does not fit the format.
    #[error("cannot write `{model}` as {what}: {reason}")]
    Shape {
        /// The model.
        model: String,
        /// The format asked for.
        what: String,
        /// Why not, and what would do.
        reason: String,
    },
    /// Writing the file failed.
    #[error("writing {}: {cause}{hint}", .path.display())]
    Io {
        /// The file being written.
        path: PathBuf,
        /// What the OS said (in the message itself, not as a source, so a chain prints it once).
        cause: std::io::Error,
        /// A fix, when the error suggests one.
        hint: &'static str,
    },
    /// Building the in-memory model failed.
    #[error(transparent)]
    Engine(#[from] EngineError),
}

fn io_err(path: &Path, e: std::io::Error) -> ExportError {
    let hint = match e.raw_os_error() {
        Some(28) => " (the disk is full: free space or write elsewhere with --out)",
        Some(13) => " (permission denied: write elsewhere with --out)",
        Some(2) => " (its folder does not exist: create it or give another --out)",
        _ => "",
    };
    ExportError::Io {
        path: path.to_path_buf(),
        cause: e,
        hint,
    }
}

/// A seeded synthetic model: a zoo shape (or any valid shape) and the seed of its streams, the
/// same values `weights::synthetic` builds.
#[derive(Clone, Debug)]
pub struct Synthetic {
    /// The shape (its activation is the zoo model's own).
    pub cfg: ModelConfig,
    /// The seed of every stream.
    pub seed: u64,
}

impl Synthetic {
    /// Projection `t` of `layer`: its ternary values and β rounded to f16, as every exported
    /// file stores them.
    pub fn projection(&self, layer: usize, t: usize) -> (Vec<i8>, f32) {
        let (w, b) = synthetic_projection(&self.cfg, self.seed, layer, t);
        (w, f16_scale(b))
    }

    /// The model a file exported with `arch` holds, built in memory for ternbench (linear
    /// layers in `opts.linear`, head in `opts.head`; `opts.seed` is ignored for this model's
    /// own): the zoo model with f16 scales and the arch's activation. Reading the file back
    /// gives these weights exactly (with an F16 embedding).
    pub fn weights(
        &self,
        arch: Arch,
        opts: &SynthOptions,
        pool: &ThreadPool,
        threads: usize,
    ) -> Result<Weights, EngineError> {
        let cfg = self.graph_config(arch);
        let opts = SynthOptions {
            seed: self.seed,
            ..opts.clone()
        };
        synthetic_with(&cfg, &opts, pool, threads, &|l, t| self.projection(l, t))
    }

    /// The config of the graph a file with `arch` runs.
    pub fn graph_config(&self, arch: Arch) -> ModelConfig {
        ModelConfig {
            act: arch.activation(),
            ..self.cfg.clone()
        }
    }
}

/// β as the f16 every exported format can hold.
fn f16_scale(b: f32) -> f32 {
    f16::from_f32(b).to_f32()
}

/// What was written.
#[derive(Clone, Debug, PartialEq)]
pub struct ExportSummary {
    /// The file.
    pub path: PathBuf,
    /// Its size in bytes.
    pub file_bytes: u64,
    /// Tensors written.
    pub tensors: usize,
    /// Bytes of the projections (every layer).
    pub projection_bytes: u64,
    /// Bytes of the embedding, which is also the tied LM head.
    pub embedding_bytes: u64,
    /// When the file's graph differs from the zoo model's: what that means.
    pub graph_note: Option<String>,
}

impl ExportSummary {
    /// Weight bytes one decode step reads: every projection plus the tied head.
    pub fn decode_bytes(&self) -> u64 {
        self.projection_bytes + self.embedding_bytes
    }
}

/// Checks that `src` can be written with `opts`.
fn check(src: &Synthetic, opts: &ExportOptions) -> Result<(), ExportError> {
    let cfg = &src.cfg;
    let shape = |what: String, reason: String| ExportError::Shape {
        model: cfg.name.clone(),
        what,
        reason,
    };
    let block = opts.weights.row_block();
    for (len, key) in [
        (cfg.hidden, "hidden_size"),
        (cfg.intermediate, "intermediate_size"),
    ] {
        if !len.is_multiple_of(block) {
            return Err(shape(
                opts.weights.name().to_uppercase(),
                format!(
                    "its rows of {key} = {len} are not a multiple of the {block}-value block; pick a type whose block divides it (F16 takes any)"
                ),
            ));
        }
    }
    if opts.embed == EmbedType::Q6K && !cfg.hidden.is_multiple_of(256) {
        return Err(shape(
            "a Q6_K embedding".into(),
            format!(
                "hidden_size = {} is not a multiple of Q6_K's 256-value block; use --head f16",
                cfg.hidden
            ),
        ));
    }
    let specials = vocab_specials(cfg);
    let first_free = 3 + 256;
    for &(tok, name) in &specials {
        if tok >= 3 && tok < first_free {
            return Err(shape(
                "a GGUF vocabulary".into(),
                format!("the {name} token id {tok} falls among the byte tokens (ids 3..258)"),
            ));
        }
    }
    if cfg.vocab < first_free + 1 {
        return Err(shape(
            "a GGUF vocabulary".into(),
            format!(
                "vocab_size {} is below the {} ids a SentencePiece vocabulary with byte fallback needs",
                cfg.vocab,
                first_free + 1
            ),
        ));
    }
    Ok(())
}

/// (id, name) of the BOS/EOS/EOT tokens beyond `<s>`/`</s>`.
fn vocab_specials(cfg: &ModelConfig) -> Vec<(usize, &'static str)> {
    let mut v = Vec::new();
    if cfg.bos != 1 {
        v.push((cfg.bos as usize, "<|begin_of_text|>"));
    }
    for (k, &e) in cfg.eos.iter().enumerate() {
        if e != 2 {
            v.push((
                e as usize,
                if k == 0 {
                    "<|end_of_text|>"
                } else {
                    "<|eot_id|>"
                },
            ));
        }
    }
    v
}

/// The metadata of the file.
fn metadata(src: &Synthetic, opts: &ExportOptions) -> Vec<(String, Value)> {
    let cfg = &src.cfg;
    let a = opts.arch.name();
    let k = |s: &str| format!("{a}.{s}");
    let u32v = |x: usize| Value::U32(x as u32);
    let mut kv = vec![
        ("general.architecture".to_string(), Value::Str(a.into())),
        (
            "general.name".into(),
            Value::Str(format!(
                "ternbench {} (synthetic, seed {}, {})",
                cfg.name,
                src.seed,
                opts.weights.name()
            )),
        ),
        (
            "general.file_type".into(),
            Value::U32(opts.weights.file_type()),
        ),
    ];
    if opts.weights != WeightType::F16 || opts.embed != EmbedType::F16 {
        kv.push(("general.quantization_version".into(), Value::U32(2)));
    }
    kv.extend([
        (k("context_length"), u32v(cfg.max_positions)),
        (k("embedding_length"), u32v(cfg.hidden)),
        (k("block_count"), u32v(cfg.layers)),
        (k("feed_forward_length"), u32v(cfg.intermediate)),
        (k("rope.dimension_count"), u32v(cfg.head_dim())),
        (k("attention.head_count"), u32v(cfg.heads)),
        (k("attention.head_count_kv"), u32v(cfg.kv_heads)),
        (
            k("attention.layer_norm_rms_epsilon"),
            Value::F32(cfg.rms_eps),
        ),
        (k("rope.freq_base"), Value::F32(cfg.rope_theta)),
        (k("vocab_size"), u32v(cfg.vocab)),
    ]);
    // The vocabulary (see the module doc).
    let (mut toks, mut scores, mut types) = (Vec::new(), Vec::new(), Vec::new());
    let mut push = |t: String, s: f32, ty: i32| {
        toks.push(Value::Str(t));
        scores.push(Value::F32(s));
        types.push(Value::I32(ty));
    };
    push("<unk>".into(), 0.0, 2);
    push("<s>".into(), 0.0, 3);
    push("</s>".into(), 0.0, 3);
    for b in 0..256 {
        push(format!("<0x{b:02X}>"), 0.0, 6);
    }
    let specials = vocab_specials(cfg);
    let mut filler = 0usize;
    for i in 3 + 256..cfg.vocab {
        match specials.iter().find(|s| s.0 == i) {
            Some(&(_, name)) => push(name.into(), 0.0, 3),
            // The word-start piece `▁` alone first (every SentencePiece vocabulary has it, so
            // a space never falls back to its bytes), then the fillers.
            None if filler == 0 => {
                push("\u{2581}".into(), 0.0, 1);
                filler += 1;
            }
            None => {
                push(format!("\u{2581}tok{filler}"), -(filler as f32), 1);
                filler += 1;
            }
        }
    }
    kv.extend([
        ("tokenizer.ggml.model".into(), Value::Str("llama".into())),
        ("tokenizer.ggml.tokens".into(), Value::Array(toks)),
        ("tokenizer.ggml.scores".into(), Value::Array(scores)),
        ("tokenizer.ggml.token_type".into(), Value::Array(types)),
        ("tokenizer.ggml.bos_token_id".into(), Value::U32(cfg.bos)),
        (
            "tokenizer.ggml.eos_token_id".into(),
            Value::U32(cfg.eos.first().copied().unwrap_or(2)),
        ),
        ("tokenizer.ggml.unknown_token_id".into(), Value::U32(0)),
        ("tokenizer.ggml.add_bos_token".into(), Value::Bool(true)),
        ("tokenizer.ggml.add_eos_token".into(), Value::Bool(false)),
    ]);
    if let Some(&eot) = cfg.eos.get(1) {
        kv.push(("tokenizer.ggml.eot_token_id".into(), Value::U32(eot)));
    }
    kv
}

/// One tensor to write: what it is and how to make its bytes.
#[derive(Debug)]
enum Part {
    Embedding,
    Norm(usize),
    Projection { layer: usize, t: usize },
}

#[derive(Debug)]
struct Planned {
    name: String,
    dims: Vec<u64>,
    ggml_type: u32,
    bytes: u64,
    part: Part,
}

/// The tensors in file order (llama.cpp's converter order: embedding, final norm, then each
/// block's norms and projections).
fn plan(src: &Synthetic, opts: &ExportOptions) -> Vec<Planned> {
    let cfg = &src.cfg;
    let (h, v) = (cfg.hidden as u64, cfg.vocab as u64);
    let size = |t: u32, dims: &[u64]| {
        ggml::tensor_bytes(t, dims[0], dims.iter().product())
            .expect("a type ggml.rs knows")
            .expect("checked shape")
    };
    let et = opts.embed.ggml_type();
    let mut out = vec![
        Planned {
            name: "token_embd.weight".into(),
            dims: vec![h, v],
            ggml_type: et,
            bytes: size(et, &[h, v]),
            part: Part::Embedding,
        },
        Planned {
            name: "output_norm.weight".into(),
            dims: vec![h],
            ggml_type: id::F32,
            bytes: h * 4,
            part: Part::Norm(cfg.hidden),
        },
    ];
    let wt = opts.weights.ggml_type();
    let proj_names = [
        "attn_q",
        "attn_k",
        "attn_v",
        "attn_output",
        "ffn_gate",
        "ffn_up",
        "ffn_down",
    ];
    let sh = shapes(cfg);
    for layer in 0..cfg.layers {
        let norm = |n: &str, len: usize| Planned {
            name: format!("blk.{layer}.{n}.weight"),
            dims: vec![len as u64],
            ggml_type: id::F32,
            bytes: len as u64 * 4,
            part: Part::Norm(len),
        };
        let proj = |t: usize| {
            let (rows, cols) = sh[t];
            let dims = vec![cols as u64, rows as u64];
            Planned {
                name: format!("blk.{layer}.{}.weight", proj_names[t]),
                bytes: size(wt, &dims),
                dims,
                ggml_type: wt,
                part: Part::Projection { layer, t },
            }
        };
        out.push(norm("attn_norm", cfg.hidden));
        for t in 0..4 {
            out.push(proj(t));
        }
        out.push(norm("attn_sub_norm", cfg.hidden));
        out.push(norm("ffn_norm", cfg.hidden));
        for t in 4..7 {
            out.push(proj(t));
        }
        out.push(norm("ffn_sub_norm", cfg.intermediate));
    }
    out
}

/// The encoded bytes of one projection.
fn encode_projection(w: &[i8], beta: f32, t: WeightType) -> Vec<u8> {
    match t {
        WeightType::F16 => {
            let bits = [
                f16::from_f32(-beta).to_le_bytes(),
                f16::from_f32(0.0).to_le_bytes(),
                f16::from_f32(beta).to_le_bytes(),
            ];
            let mut out = Vec::with_capacity(w.len() * 2);
            for &x in w {
                out.extend_from_slice(&bits[(x + 1) as usize]);
            }
            out
        }
        WeightType::Tq2_0 | WeightType::Tq1_0 => {
            let per = if t == WeightType::Tq2_0 { 66 } else { 54 };
            let mut out = Vec::with_capacity(w.len() / 256 * per);
            for blk in w.chunks_exact(256) {
                // ggml's block scale is the block's largest magnitude: 0 for an all-zero block.
                let d = if blk.iter().any(|&x| x != 0) {
                    beta
                } else {
                    0.0
                };
                if t == WeightType::Tq2_0 {
                    ggml::encode_tq2_0_block(blk, d, &mut out);
                } else {
                    ggml::encode_tq1_0_block(blk, d, &mut out);
                }
            }
            out
        }
        WeightType::I2s => ggml::encode_i2s(w, beta),
    }
}

/// Writes `src` to `path` as a GGUF file in `opts`' formats.
pub fn write_gguf(
    src: &Synthetic,
    opts: &ExportOptions,
    path: &Path,
) -> Result<ExportSummary, ExportError> {
    check(src, opts)?;
    let cfg = &src.cfg;
    let tensors = plan(src, opts);

    // Header: metadata, then tensor infos with offsets aligned in the data section.
    let mut head = MAGIC.to_vec();
    head.extend_from_slice(&3u32.to_le_bytes());
    head.extend_from_slice(&(tensors.len() as u64).to_le_bytes());
    let kv = metadata(src, opts);
    head.extend_from_slice(&(kv.len() as u64).to_le_bytes());
    for (key, v) in &kv {
        Writer::put_str(&mut head, key);
        head.extend_from_slice(&Writer::type_id(v).to_le_bytes());
        Writer::put_value(&mut head, v);
    }
    let align = DEFAULT_ALIGNMENT;
    let mut offset = 0u64;
    let mut offsets = Vec::with_capacity(tensors.len());
    for t in &tensors {
        offsets.push(offset);
        Writer::put_str(&mut head, &t.name);
        head.extend_from_slice(&(t.dims.len() as u32).to_le_bytes());
        for d in &t.dims {
            head.extend_from_slice(&d.to_le_bytes());
        }
        head.extend_from_slice(&t.ggml_type.to_le_bytes());
        head.extend_from_slice(&offset.to_le_bytes());
        offset = (offset + t.bytes).div_ceil(align) * align;
    }
    head.resize(head.len().div_ceil(align as usize) * align as usize, 0);

    let mut part = path.as_os_str().to_owned();
    part.push(".part");
    let part = PathBuf::from(part);
    let file = File::create(&part).map_err(|e| io_err(&part, e))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let result = (|| {
        out.write_all(&head).map_err(|e| io_err(&part, e))?;
        let mut written = 0u64;
        let mut embed = SyntheticEmbedding::new(cfg, src.seed);
        for (t, &off) in tensors.iter().zip(&offsets) {
            let pad = off - written;
            out.write_all(&vec![0u8; pad as usize])
                .map_err(|e| io_err(&part, e))?;
            written += pad;
            let n = match t.part {
                Part::Embedding => write_embedding(&mut out, &mut embed, cfg, opts.embed)
                    .map_err(|e| io_err(&part, e))?,
                Part::Norm(len) => {
                    let b: Vec<u8> = synthetic_norm(len)
                        .iter()
                        .flat_map(|x| x.to_le_bytes())
                        .collect();
                    out.write_all(&b).map_err(|e| io_err(&part, e))?;
                    b.len() as u64
                }
                Part::Projection { layer, t } => {
                    let (w, beta) = src.projection(layer, t);
                    let b = encode_projection(&w, beta, opts.weights);
                    out.write_all(&b).map_err(|e| io_err(&part, e))?;
                    b.len() as u64
                }
            };
            debug_assert_eq!(n, t.bytes, "{}", t.name);
            written += n;
        }
        out.flush().map_err(|e| io_err(&part, e))?;
        let file = out
            .into_inner()
            .map_err(|e| io_err(&part, e.into_error()))?;
        file.sync_all().map_err(|e| io_err(&part, e))?;
        Ok::<u64, ExportError>(head.len() as u64 + written)
    })();
    let file_bytes = match result {
        Ok(n) => n,
        Err(e) => {
            let _ = std::fs::remove_file(&part);
            return Err(e);
        }
    };
    std::fs::rename(&part, path).map_err(|e| io_err(path, e))?;

    let sum = |p: fn(&Part) -> bool| tensors.iter().filter(|t| p(&t.part)).map(|t| t.bytes).sum();
    let graph_note = (cfg.act != opts.arch.activation()).then(|| {
        format!(
            "`{}` is a {} model, but arch `{}` runs a {}-gated FFN in every engine (llama.cpp, bitnet.cpp, ternbench): the file holds the zoo model's weights in {}'s graph, which costs the same per token",
            cfg.name,
            cfg.act.name(),
            opts.arch.name(),
            opts.arch.activation().name(),
            opts.arch.name()
        )
    });
    Ok(ExportSummary {
        path: path.to_path_buf(),
        file_bytes,
        tensors: tensors.len(),
        projection_bytes: sum(|p| matches!(p, Part::Projection { .. })),
        embedding_bytes: sum(|p| matches!(p, Part::Embedding)),
        graph_note,
    })
}

/// Streams the embedding in row chunks; returns the bytes written.
fn write_embedding(
    out: &mut impl Write,
    embed: &mut SyntheticEmbedding,
    cfg: &ModelConfig,
    t: EmbedType,
) -> std::io::Result<u64> {
    const ROWS: usize = 1024;
    let mut n = 0u64;
    let mut left = cfg.vocab;
    while left > 0 {
        let rows = left.min(ROWS);
        let bits = embed.rows(rows);
        let b: Vec<u8> = match t {
            EmbedType::F16 => bits.iter().flat_map(|x| x.to_le_bytes()).collect(),
            EmbedType::Q6K => {
                // Quantising is the slow part of an export (2B4T: 328 M values): split each
                // chunk of rows over the CPUs.
                let f: Vec<f32> = bits.iter().map(|&x| f16::from_bits(x).to_f32()).collect();
                let parts = std::thread::available_parallelism().map_or(1, |n| n.get());
                let per = rows.div_ceil(parts) * cfg.hidden;
                std::thread::scope(|s| {
                    let hs: Vec<_> = f
                        .chunks(per.max(cfg.hidden))
                        .map(|c| s.spawn(move || ggml::encode_q6_k(c)))
                        .collect();
                    hs.into_iter()
                        .flat_map(|h| h.join().expect("a Q6_K worker panicked"))
                        .collect()
                })
            }
        };
        out.write_all(&b)?;
        n += b.len() as u64;
        left -= rows;
    }
    Ok(n)
}

/// The linear format ternbench loads a file of `t` into by default (for tests and the CLI).
pub fn default_linear(t: WeightType) -> Format {
    match t {
        WeightType::F16 => Format::F16,
        WeightType::Tq1_0 => Format::Tq1,
        WeightType::Tq2_0 | WeightType::I2s => Format::I2,
    }
}
