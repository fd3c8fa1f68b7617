//! A tokenizer rebuilt from a GGUF file's embedded vocabulary (`tokenizer.ggml.*`), for files
//! that come without a `tokenizer.json`.
//!
//! Supported: `tokenizer.ggml.model = "gpt2"` — byte-level BPE, the vocabulary of BitNet b1.58
//! 2B4T and Llama 3 (Llama3-8B-1.58) — with the pre-tokenizer named by `tokenizer.ggml.pre`:
//! `llama-bpe`/`llama3` (the Llama 3 split regex; whole words found in the vocabulary skip the
//! merges, as llama.cpp and Hugging Face do for it), `gpt2`/`gpt-2`/`default` (GPT-2's regex).
//! The rebuilt tokenizer is the `tokenizer.json` such a vocabulary came from: tokens by id,
//! `tokenizer.ggml.merges` in rank order, control tokens (`token_type` 3) and user-defined ones
//! (4) as added tokens matched whole in the text, BOS prepended unless
//! `tokenizer.ggml.add_bos_token` is false.
//!
//! Not supported, with an error naming the key: SentencePiece vocabularies (`llama`, the
//! 1bitLLM models' 32000-token vocabulary: GGUF keeps their scores but not the merges a
//! faithful rebuild needs) and any other model or pre-tokenizer name. A `tokenizer.json` beside
//! the file always takes precedence.

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
const TOKEN_CONTROL: i64 = 3;
const TOKEN_USER_DEFINED: i64 = 4;

/// The `tokenizer.json` equivalent of `header`'s vocabulary.
pub fn tokenizer_json(path: &Path, header: &Header) -> Result<String, LoadError> {
    let key_err = |key: &str, reason: String| LoadError::key(path, key, reason);
    let model =
        match header.get("tokenizer.ggml.model") {
            None => return Err(LoadError::unsupported(
                path,
                "--prompt without a tokenizer",
                "the file embeds no vocabulary (no tokenizer.ggml.model) and no tokenizer.json is \
                 beside it; put the model's tokenizer.json there or pass token ids with --tokens",
            )),
            Some(v) => v.as_str().ok_or_else(|| {
                key_err(
                    "tokenizer.ggml.model",
                    format!("a {}, not a string", v.type_name()),
                )
            })?,
        };
    if model != "gpt2" {
        return Err(key_err(
            "tokenizer.ggml.model",
            format!(
                "`{model}`: ternbench rebuilds only byte-level BPE (`gpt2`) vocabularies; for this \
                 one put the model's tokenizer.json beside the file or pass token ids with --tokens"
            ),
        ));
    }
    let pre = match header.get("tokenizer.ggml.pre") {
        None => "default",
        Some(v) => v.as_str().ok_or_else(|| {
            key_err(
                "tokenizer.ggml.pre",
                format!("a {}, not a string", v.type_name()),
            )
        })?,
    };
    let (split, ignore_merges) = match pre {
        "llama-bpe" | "llama3" => (LLAMA3_SPLIT, true),
        "gpt2" | "gpt-2" | "default" => (GPT2_SPLIT, false),
        other => {
            return Err(key_err(
                "tokenizer.ggml.pre",
                format!(
                    "`{other}`: known pre-tokenizers are llama-bpe, llama3, gpt2, default; put the \
                     model's tokenizer.json beside the file or pass token ids with --tokens"
                ),
            ))
        }
    };
    let strings = |key: &str| -> Result<Vec<&str>, LoadError> {
        let arr = header
            .get(key)
            .ok_or_else(|| key_err(key, "missing: a byte-level BPE vocabulary needs it".into()))?
            .as_array()
            .ok_or_else(|| key_err(key, "not an array".into()))?;
        arr.iter()
            .enumerate()
            .map(|(i, v)| {
                v.as_str().ok_or_else(|| {
                    key_err(
                        key,
                        format!("element {i} is a {}, not a string", v.type_name()),
                    )
                })
            })
            .collect()
    };
    let tokens = strings("tokenizer.ggml.tokens")?;
    let merges = strings("tokenizer.ggml.merges")?;
    let types: Vec<i64> = match header.get("tokenizer.ggml.token_type") {
        None => vec![1; tokens.len()],
        Some(v) => {
            let arr = v
                .as_array()
                .ok_or_else(|| key_err("tokenizer.ggml.token_type", "not an array".into()))?;
            if arr.len() != tokens.len() {
                return Err(key_err(
                    "tokenizer.ggml.token_type",
                    format!("{} entries for {} tokens", arr.len(), tokens.len()),
                ));
            }
            arr.iter()
                .map(|v| match v {
                    Value::I32(x) => Ok(*x as i64),
                    other => other.as_u64().map(|x| x as i64).ok_or_else(|| {
                        key_err(
                            "tokenizer.ggml.token_type",
                            format!("a {} entry", other.type_name()),
                        )
                    }),
                })
                .collect::<Result<_, _>>()?
        }
    };
    for (i, m) in merges.iter().enumerate() {
        if m.split(' ').count() != 2 {
            return Err(key_err(
                "tokenizer.ggml.merges",
                format!("entry {i} `{m}` is not two tokens separated by one space"),
            ));
        }
    }
    let mut vocab = serde_json::Map::with_capacity(tokens.len());
    for (id, t) in tokens.iter().enumerate() {
        if vocab.insert((*t).to_string(), json!(id)).is_some() {
            return Err(key_err(
                "tokenizer.ggml.tokens",
                format!("token `{t}` appears twice (second time as id {id})"),
            ));
        }
    }
    let added: Vec<Json> = tokens
        .iter()
        .zip(&types)
        .enumerate()
        .filter(|(_, (_, &ty))| ty == TOKEN_CONTROL || ty == TOKEN_USER_DEFINED)
        .map(|(id, (t, &ty))| {
            json!({"id": id, "content": t, "single_word": false, "lstrip": false,
                   "rstrip": false, "normalized": false, "special": ty == TOKEN_CONTROL})
        })
        .collect();
    let add_bos = match header.get("tokenizer.ggml.add_bos_token") {
        None => true,
        Some(Value::Bool(b)) => *b,
        Some(v) => {
            return Err(key_err(
                "tokenizer.ggml.add_bos_token",
                format!("a {}, not a bool", v.type_name()),
            ))
        }
    };
    let bos = match header.get("tokenizer.ggml.bos_token_id") {
        Some(v) => Some(v.as_u64().ok_or_else(|| {
            key_err(
                "tokenizer.ggml.bos_token_id",
                format!("a {}, not an integer", v.type_name()),
            )
        })? as usize),
        None => None,
    };
    let post = match (add_bos, bos) {
        (true, Some(id)) => {
            let t = tokens.get(id).ok_or_else(|| {
                key_err(
                    "tokenizer.ggml.bos_token_id",
                    format!("{id} is not below the vocabulary size {}", tokens.len()),
                )
            })?;
            json!({"type": "TemplateProcessing",
                   "single": [{"SpecialToken": {"id": t, "type_id": 0}},
                              {"Sequence": {"id": "A", "type_id": 0}}],
                   "pair": [{"SpecialToken": {"id": t, "type_id": 0}},
                            {"Sequence": {"id": "A", "type_id": 0}},
                            {"Sequence": {"id": "B", "type_id": 1}}],
                   "special_tokens": {*t: {"id": t, "ids": [id], "tokens": [t]}}})
        }
        _ => Json::Null,
    };
    let tj = json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": null,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": split}, "behavior": "Isolated", "invert": false},
            {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false}
        ]},
        "post_processor": post,
        "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true,
                    "use_regex": true},
        "model": {"type": "BPE", "dropout": null, "unk_token": null,
                  "continuing_subword_prefix": null, "end_of_word_suffix": null,
                  "fuse_unk": false, "byte_fallback": false, "ignore_merges": ignore_merges,
                  "vocab": vocab, "merges": merges}
    });
    Ok(tj.to_string())
}
