//! A tokenizer rebuilt from a GGUF file's embedded vocabulary (`tokenizer.ggml.*`), for files
//! that come without a `tokenizer.json`.
//!
//! Supported:
//! * `tokenizer.ggml.model = "gpt2"` — byte-level BPE, the vocabulary of BitNet b1.58 2B4T and
//!   Llama 3 (Llama3-8B-1.58) — with the pre-tokenizer named by `tokenizer.ggml.pre`:
//!   `llama-bpe`/`llama3` (the Llama 3 split regex; whole words found in the vocabulary skip
//!   the merges, as llama.cpp and Hugging Face do for it), `gpt2`/`gpt-2`/`default` (GPT-2's
//!   regex). The rebuilt tokenizer is the `tokenizer.json` such a vocabulary came from: tokens
//!   by id, `tokenizer.ggml.merges` in rank order.
//! * `tokenizer.ggml.model = "llama"` — SentencePiece BPE, the vocabulary of the 1bitLLM models
//!   (bitnet_b1_58-large, -3B: Llama 2's 32000 pieces). GGUF keeps each piece's score, not the
//!   merges; SentencePiece's BPE merges, at every step, the adjacent pair whose concatenation
//!   is the piece with the highest score, which is a merge list ranked by the merged piece's
//!   score: every split of every normal piece into two pieces of the vocabulary, ordered by
//!   the merged piece's score (highest first), then its id, then the left and right pieces'
//!   ids (the order Hugging Face's converter gives them). Text is normalised as SentencePiece
//!   does for Llama: spaces become `▁`, and one `▁` is prepended when
//!   `tokenizer.ggml.add_space_prefix` is true (the default); characters no piece covers fall
//!   back to their UTF-8 bytes (`<0xNN>` pieces, `token_type` 6) when the vocabulary has them,
//!   else to the unknown piece (`token_type` 2). Decoding reverses it and drops the prefix.
//!
//! For both, control tokens (`token_type` 3) and user-defined ones (4) are added tokens matched
//! whole in the text, and BOS is prepended unless `tokenizer.ggml.add_bos_token` is false.
//!
//! Not supported, with an error naming the key: any other model or pre-tokenizer name, and
//! `tokenizer.ggml.remove_extra_whitespaces = true` (whitespace folding, which no Llama-family
//! vocabulary uses). A `tokenizer.json` beside the file always takes precedence.

use std::path::Path;

use serde_json::{json, Value as Json};

use super::error::LoadError;
use super::gguf::{Header, Value};

/// Llama 3's pre-tokenizer split (Hugging Face `tokenizer.json` of Meta-Llama-3, llama.cpp
/// `LLAMA_VOCAB_PRE_TYPE_LLAMA3`).
const LLAMA3_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// GPT-2's pre-tokenizer split.
const GPT2_SPLIT: &str =
    r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

/// GGUF token types (llama.cpp `llama_token_type`).
const TOKEN_NORMAL: i64 = 1;
const TOKEN_UNKNOWN: i64 = 2;
const TOKEN_CONTROL: i64 = 3;
const TOKEN_USER_DEFINED: i64 = 4;
const TOKEN_BYTE: i64 = 6;

/// The `tokenizer.json` equivalent of `header`'s vocabulary.
pub fn tokenizer_json(path: &Path, header: &Header) -> Result<String, LoadError> {
    let v = Vocab { path, header };
    let Some(model) = v.opt_str("tokenizer.ggml.model")? else {
        return Err(LoadError::unsupported(
            path,
            "--prompt without a tokenizer",
            "the file embeds no vocabulary (no tokenizer.ggml.model) and no tokenizer.json is \
             beside it; put the model's tokenizer.json there or pass token ids with --tokens",
        ));
    };
    match model {
        "gpt2" => byte_level_bpe(&v),
        "llama" => sentencepiece_bpe(&v),
        other => Err(v.err(
            "tokenizer.ggml.model",
            format!(
                "`{other}`: ternbench rebuilds byte-level BPE (`gpt2`) and SentencePiece BPE \
                 (`llama`) vocabularies; for this one put the model's tokenizer.json beside the \
                 file or pass token ids with --tokens"
            ),
        )),
    }
}

/// A GGUF header read as a vocabulary: typed lookups whose errors name the file and key.
struct Vocab<'a> {
    path: &'a Path,
    header: &'a Header,
}

impl Vocab<'_> {
    fn err(&self, key: &str, reason: String) -> LoadError {
        LoadError::key(self.path, key, reason)
    }

    /// An optional string.
    fn opt_str(&self, key: &str) -> Result<Option<&str>, LoadError> {
        self.header
            .get(key)
            .map(|x| {
                x.as_str()
                    .ok_or_else(|| self.err(key, format!("a {}, not a string", x.type_name())))
            })
            .transpose()
    }

    /// A required array; `missing` says why it is needed.
    fn array(&self, key: &str, missing: &str) -> Result<&[Value], LoadError> {
        self.header
            .get(key)
            .ok_or_else(|| self.err(key, format!("missing: {missing}")))?
            .as_array()
            .ok_or_else(|| self.err(key, "not an array".into()))
    }

    /// A required array of strings.
    fn strings(&self, key: &str, what: &str) -> Result<Vec<&str>, LoadError> {
        self.array(key, &format!("a {what} vocabulary needs it"))?
            .iter()
            .enumerate()
            .map(|(i, v)| {
                v.as_str().ok_or_else(|| {
                    self.err(
                        key,
                        format!("element {i} is a {}, not a string", v.type_name()),
                    )
                })
            })
            .collect()
    }

    /// An optional bool.
    fn flag(&self, key: &str, default: bool) -> Result<bool, LoadError> {
        match self.header.get(key) {
            None => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(v) => Err(self.err(key, format!("a {}, not a bool", v.type_name()))),
        }
    }

    /// An optional token id, below `n`.
    fn token_id(&self, key: &str, n: usize) -> Result<Option<usize>, LoadError> {
        let Some(v) = self.header.get(key) else {
            return Ok(None);
        };
        let id = v
            .as_u64()
            .ok_or_else(|| self.err(key, format!("a {}, not an integer", v.type_name())))?
            as usize;
        if id >= n {
            return Err(self.err(key, format!("{id} is not below the vocabulary size {n}")));
        }
        Ok(Some(id))
    }

    /// `tokenizer.ggml.token_type`, one per token (all normal when absent).
    fn token_types(&self, n: usize) -> Result<Vec<i64>, LoadError> {
        const KEY: &str = "tokenizer.ggml.token_type";
        let Some(v) = self.header.get(KEY) else {
            return Ok(vec![TOKEN_NORMAL; n]);
        };
        let arr = v
            .as_array()
            .ok_or_else(|| self.err(KEY, "not an array".into()))?;
        if arr.len() != n {
            return Err(self.err(KEY, format!("{} entries for {n} tokens", arr.len())));
        }
        arr.iter()
            .map(|v| match v {
                Value::I32(x) => Ok(*x as i64),
                other => other
                    .as_u64()
                    .map(|x| x as i64)
                    .ok_or_else(|| self.err(KEY, format!("a {} entry", other.type_name()))),
            })
            .collect()
    }

    /// Token string → id, refusing duplicates.
    fn vocab_map(&self, tokens: &[&str]) -> Result<serde_json::Map<String, Json>, LoadError> {
        let mut vocab = serde_json::Map::with_capacity(tokens.len());
        for (id, t) in tokens.iter().enumerate() {
            if vocab.insert((*t).to_string(), json!(id)).is_some() {
                return Err(self.err(
                    "tokenizer.ggml.tokens",
                    format!("token `{t}` appears twice (second time as id {id})"),
                ));
            }
        }
        Ok(vocab)
    }

    /// Control and user-defined tokens, matched whole in the text.
    fn added_tokens(tokens: &[&str], types: &[i64]) -> Vec<Json> {
        tokens
            .iter()
            .zip(types)
            .enumerate()
            .filter(|(_, (_, &ty))| ty == TOKEN_CONTROL || ty == TOKEN_USER_DEFINED)
            .map(|(id, (t, &ty))| {
                json!({"id": id, "content": t, "single_word": false, "lstrip": false,
                       "rstrip": false, "normalized": false, "special": ty == TOKEN_CONTROL})
            })
            .collect()
    }

    /// BOS prepended to every encoding unless `add_bos_token` is false or there is no BOS id.
    fn bos_post_processor(&self, tokens: &[&str]) -> Result<Json, LoadError> {
        let add_bos = self.flag("tokenizer.ggml.add_bos_token", true)?;
        let bos = self.token_id("tokenizer.ggml.bos_token_id", tokens.len())?;
        Ok(match (add_bos, bos) {
            (true, Some(id)) => {
                let t = tokens[id];
                json!({"type": "TemplateProcessing",
                       "single": [{"SpecialToken": {"id": t, "type_id": 0}},
                                  {"Sequence": {"id": "A", "type_id": 0}}],
                       "pair": [{"SpecialToken": {"id": t, "type_id": 0}},
                                {"Sequence": {"id": "A", "type_id": 0}},
                                {"Sequence": {"id": "B", "type_id": 1}}],
                       "special_tokens": {t: {"id": t, "ids": [id], "tokens": [t]}}})
            }
            _ => Json::Null,
        })
    }
}

/// `tokenizer.ggml.model = "gpt2"`: byte-level BPE with stored merges.
fn byte_level_bpe(v: &Vocab<'_>) -> Result<String, LoadError> {
    let pre = v.opt_str("tokenizer.ggml.pre")?.unwrap_or("default");
    let (split, ignore_merges) = match pre {
        "llama-bpe" | "llama3" => (LLAMA3_SPLIT, true),
        "gpt2" | "gpt-2" | "default" => (GPT2_SPLIT, false),
        other => {
            return Err(v.err(
                "tokenizer.ggml.pre",
                format!(
                    "`{other}`: known pre-tokenizers are llama-bpe, llama3, gpt2, default; put the \
                     model's tokenizer.json beside the file or pass token ids with --tokens"
                ),
            ))
        }
    };
    let tokens = v.strings("tokenizer.ggml.tokens", "byte-level BPE")?;
    let merges = v.strings("tokenizer.ggml.merges", "byte-level BPE")?;
    let types = v.token_types(tokens.len())?;
    for (i, m) in merges.iter().enumerate() {
        if m.split(' ').count() != 2 {
            return Err(v.err(
                "tokenizer.ggml.merges",
                format!("entry {i} `{m}` is not two tokens separated by one space"),
            ));
        }
    }
    let vocab = v.vocab_map(&tokens)?;
    let tj = json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": Vocab::added_tokens(&tokens, &types),
        "normalizer": null,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": split}, "behavior": "Isolated", "invert": false},
            {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false}
        ]},
        "post_processor": v.bos_post_processor(&tokens)?,
        "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true,
                    "use_regex": true},
        "model": {"type": "BPE", "dropout": null, "unk_token": null,
                  "continuing_subword_prefix": null, "end_of_word_suffix": null,
                  "fuse_unk": false, "byte_fallback": false, "ignore_merges": ignore_merges,
                  "vocab": vocab, "merges": merges}
    });
    Ok(tj.to_string())
}

/// SentencePiece's word-boundary mark, which stands for a space.
const SPM_SPACE: &str = "\u{2581}";

/// `tokenizer.ggml.model = "llama"`: SentencePiece BPE, merges rebuilt from the scores (module
/// doc).
fn sentencepiece_bpe(v: &Vocab<'_>) -> Result<String, LoadError> {
    const SCORES: &str = "tokenizer.ggml.scores";
    let tokens = v.strings("tokenizer.ggml.tokens", "SentencePiece")?;
    let n = tokens.len();
    let types = v.token_types(n)?;
    let scores: Vec<f64> = {
        let arr = v.array(
            SCORES,
            "a SentencePiece vocabulary's merge order comes from its scores",
        )?;
        if arr.len() != n {
            return Err(v.err(SCORES, format!("{} entries for {n} tokens", arr.len())));
        }
        arr.iter()
            .enumerate()
            .map(|(i, x)| {
                x.as_f64()
                    .filter(|s| s.is_finite())
                    .ok_or_else(|| v.err(SCORES, format!("entry {i} is not a finite number")))
            })
            .collect::<Result<_, _>>()?
    };
    if v.flag("tokenizer.ggml.remove_extra_whitespaces", false)? {
        return Err(v.err(
            "tokenizer.ggml.remove_extra_whitespaces",
            "true: SentencePiece whitespace folding is not supported; put the model's \
             tokenizer.json beside the file or pass token ids with --tokens"
                .into(),
        ));
    }
    let space_prefix = v.flag("tokenizer.ggml.add_space_prefix", true)?;
    let vocab = v.vocab_map(&tokens)?;
    let unk = match v.token_id("tokenizer.ggml.unknown_token_id", n)? {
        Some(id) => Some(id),
        None => types.iter().position(|&t| t == TOKEN_UNKNOWN),
    };
    let byte_fallback = types.contains(&TOKEN_BYTE);
    let merges = spm_merges(&tokens, &types, &scores);
    let mut normalizers = Vec::new();
    if space_prefix {
        normalizers.push(json!({"type": "Prepend", "prepend": SPM_SPACE}));
    }
    normalizers.push(json!({"type": "Replace", "pattern": {"String": " "}, "content": SPM_SPACE}));
    let mut decoders = vec![
        json!({"type": "Replace", "pattern": {"String": SPM_SPACE}, "content": " "}),
        json!({"type": "ByteFallback"}),
        json!({"type": "Fuse"}),
    ];
    if space_prefix {
        decoders.push(json!({"type": "Strip", "content": " ", "start": 1, "stop": 0}));
    }
    let tj = json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": Vocab::added_tokens(&tokens, &types),
        "normalizer": {"type": "Sequence", "normalizers": normalizers},
        "pre_tokenizer": null,
        "post_processor": v.bos_post_processor(&tokens)?,
        "decoder": {"type": "Sequence", "decoders": decoders},
        "model": {"type": "BPE", "dropout": null, "unk_token": unk.map(|id| tokens[id]),
                  "continuing_subword_prefix": null, "end_of_word_suffix": null,
                  "fuse_unk": true, "byte_fallback": byte_fallback, "ignore_merges": false,
                  "vocab": vocab, "merges": merges}
    });
    Ok(tj.to_string())
}

/// SentencePiece BPE's merges in rank order: for every normal or user-defined piece, each split
/// into two normal or user-defined pieces, ranked by the merged piece's score (highest first),
/// then its id, then the left and right pieces' ids.
fn spm_merges(tokens: &[&str], types: &[i64], scores: &[f64]) -> Vec<[String; 2]> {
    let mergeable = |ty: i64| ty == TOKEN_NORMAL || ty == TOKEN_USER_DEFINED;
    let ids: std::collections::HashMap<&str, usize> = tokens
        .iter()
        .enumerate()
        .filter(|(i, _)| mergeable(types[*i]))
        .map(|(i, t)| (*t, i))
        .collect();
    // (merged id, left id, right id)
    let mut found: Vec<(usize, usize, usize)> = Vec::new();
    for (id, t) in tokens.iter().enumerate() {
        if !mergeable(types[id]) {
            continue;
        }
        for (cut, _) in t.char_indices().skip(1) {
            if let (Some(&l), Some(&r)) = (ids.get(&t[..cut]), ids.get(&t[cut..])) {
                found.push((id, l, r));
            }
        }
    }
    found.sort_by(|a, b| {
        scores[b.0]
            .total_cmp(&scores[a.0])
            .then(a.0.cmp(&b.0))
            .then(a.1.cmp(&b.1))
            .then(a.2.cmp(&b.2))
    });
    found
        .into_iter()
        .map(|(_, l, r)| [tokens[l].to_string(), tokens[r].to_string()])
        .collect()
}
