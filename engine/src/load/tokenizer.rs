//! Text ↔ token ids for a checkpoint, through Hugging Face `tokenizers` and the checkpoint's
//! `tokenizer.json` (in a checkpoint directory, or beside a GGUF file).
//!
//! A GGUF file's embedded vocabulary (`tokenizer.ggml.*`) is not turned into a tokenizer here:
//! reproducing llama.cpp's pre-tokenizers exactly is its own project. Without a `tokenizer.json`
//! the error says so and points to `--tokens`.

use std::path::{Path, PathBuf};

use super::error::LoadError;

/// A tokenizer loaded from `tokenizer.json`.
#[derive(Debug)]
pub struct Tokenizer {
    path: PathBuf,
    inner: tokenizers::Tokenizer,
}

impl Tokenizer {
    /// Where a checkpoint's `tokenizer.json` would be: inside a directory, beside a file.
    pub fn path_for(checkpoint: &Path) -> PathBuf {
        if checkpoint.is_dir() {
            checkpoint.join("tokenizer.json")
        } else {
            checkpoint
                .parent()
                .unwrap_or(Path::new("."))
                .join("tokenizer.json")
        }
    }

    /// The tokenizer of `checkpoint` (a directory or a GGUF file).
    pub fn for_checkpoint(checkpoint: &Path) -> Result<Self, LoadError> {
        let path = Self::path_for(checkpoint);
        if !path.is_file() {
            let gguf_note = if checkpoint.is_file() {
                " (the GGUF's embedded vocabulary is not used for encoding)"
            } else {
                ""
            };
            return Err(LoadError::unsupported(
                checkpoint,
                "--prompt without a tokenizer",
                format!(
                    "no {} found{gguf_note}; put the model's tokenizer.json there or pass token ids with --tokens",
                    path.display()
                ),
            ));
        }
        Self::from_file(&path)
    }

    /// Loads a `tokenizer.json`.
    pub fn from_file(path: &Path) -> Result<Self, LoadError> {
        let inner = tokenizers::Tokenizer::from_file(path)
            .map_err(|e| LoadError::header(path, format!("not a usable tokenizer.json: {e}")))?;
        Ok(Tokenizer {
            path: path.to_path_buf(),
            inner,
        })
    }

    /// Token ids of `text`, with the special tokens (e.g. BOS) the tokenizer's post-processor
    /// adds.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, LoadError> {
        let enc = self
            .inner
            .encode(text, true)
            .map_err(|e| LoadError::header(&self.path, format!("cannot encode the prompt: {e}")))?;
        Ok(enc.get_ids().to_vec())
    }

    /// Text of `ids`, special tokens skipped.
    pub fn decode(&self, ids: &[u32]) -> Result<String, LoadError> {
        self.inner
            .decode(ids, true)
            .map_err(|e| LoadError::header(&self.path, format!("cannot decode tokens: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A word-level tokenizer.json small enough to write inline.
    const TOK: &str = r#"{
      "version": "1.0", "truncation": null, "padding": null,
      "added_tokens": [{"id": 0, "content": "<s>", "single_word": false, "lstrip": false,
                        "rstrip": false, "normalized": false, "special": true}],
      "normalizer": null,
      "pre_tokenizer": {"type": "Whitespace"},
      "post_processor": {"type": "TemplateProcessing",
        "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
        "pair": [{"Sequence": {"id": "A", "type_id": 0}}],
        "special_tokens": {"<s>": {"id": "<s>", "ids": [0], "tokens": ["<s>"]}}},
      "decoder": null,
      "model": {"type": "WordLevel", "vocab": {"<s>": 0, "hello": 1, "world": 2, "[UNK]": 3},
                "unk_token": "[UNK]"}
    }"#;

    #[test]
    fn encodes_with_bos_and_decodes() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("tokenizer.json"), TOK).unwrap();
        let t = Tokenizer::for_checkpoint(d.path()).unwrap();
        assert_eq!(t.encode("hello world").unwrap(), vec![0, 1, 2]);
        assert_eq!(t.decode(&[1, 2]).unwrap(), "hello world");
        let gguf = d.path().join("m.gguf");
        std::fs::write(&gguf, b"GGUF").unwrap();
        assert!(Tokenizer::for_checkpoint(&gguf).is_ok());
        std::fs::remove_file(d.path().join("tokenizer.json")).unwrap();
        let e = Tokenizer::for_checkpoint(&gguf).unwrap_err().to_string();
        assert!(
            e.contains("--tokens") && e.contains("tokenizer.json"),
            "{e}"
        );
        std::fs::write(d.path().join("tokenizer.json"), "{").unwrap();
        assert!(Tokenizer::for_checkpoint(d.path()).is_err());
    }
}
