//! Text ↔ token ids for a checkpoint, through Hugging Face `tokenizers`: the checkpoint's
//! `tokenizer.json` (in a checkpoint directory, or beside a GGUF file), else a GGUF file's
//! embedded byte-level BPE vocabulary rebuilt as one ([`super::gguf_vocab`]). Without either the
//! error says why and points to `--tokens`.

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

    /// The tokenizer of `checkpoint` (a directory or a GGUF file): `tokenizer.json` where
    /// present, else a GGUF file's embedded vocabulary.
    pub fn for_checkpoint(checkpoint: &Path) -> Result<Self, LoadError> {
        let path = Self::path_for(checkpoint);
        if path.is_file() {
            return Self::from_file(&path);
        }
        if checkpoint.is_file() {
            return Self::from_gguf(checkpoint);
        }
        Err(LoadError::unsupported(
            checkpoint,
            "--prompt without a tokenizer",
            format!(
                "no {} found; put the model's tokenizer.json there or pass token ids with --tokens",
                path.display()
            ),
        ))
    }

    /// The tokenizer rebuilt from a GGUF file's embedded vocabulary.
    pub fn from_gguf(path: &Path) -> Result<Self, LoadError> {
        let g = super::gguf_model::GgufModel::open(path)?;
        let json = super::gguf_vocab::tokenizer_json(path, g.header())?;
        let inner: tokenizers::Tokenizer = json.parse().map_err(|e| {
            LoadError::header(
                path,
                format!("the embedded vocabulary does not make a tokenizer: {e}"),
            )
        })?;
        Ok(Tokenizer {
            path: path.to_path_buf(),
            inner,
        })
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
        // No tokenizer.json and not a readable GGUF: an error naming the file.
        let e = Tokenizer::for_checkpoint(&gguf).unwrap_err().to_string();
        assert!(e.contains("m.gguf"), "{e}");
        let e = Tokenizer::for_checkpoint(d.path()).unwrap_err().to_string();
        assert!(
            e.contains("--tokens") && e.contains("tokenizer.json"),
            "{e}"
        );
        std::fs::write(d.path().join("tokenizer.json"), "{").unwrap();
        assert!(Tokenizer::for_checkpoint(d.path()).is_err());
    }
}
