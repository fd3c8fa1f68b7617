//! Loaders for real checkpoints: Hugging Face directories (`config.json` + safetensors, see
//! [`hf`]) and GGUF files (llama.cpp / bitnet.cpp, see [`gguf_model`]), into the engine's
//! [`Weights`] with the linear layers in the format the caller picks (`i2`, `tq1`, `tl`, or
//! `f16` for the FP16 twin, built from the same ternary values).
//!
//! The parsers ([`safetensors`], [`gguf`]) work over a memory map and validate every length,
//! offset and count against the file before reading or allocating; errors ([`LoadError`]) name
//! the file and the tensor or key. To add a checkpoint kind: a parser module, a loader that fills
//! [`assemble::RawLayer`]s, and a branch in [`detect`].

pub mod assemble;
pub mod error;
pub mod fuzz;
pub mod ggml;
pub mod gguf;
pub mod gguf_model;
pub mod gguf_vocab;
pub mod hf;
pub mod safetensors;
pub mod ternary;
pub mod tokenizer;

use std::fs::File;
use std::path::Path;

pub use assemble::LoadOptions;
pub use error::LoadError;

use crate::config::ModelConfig;
use crate::weights::Weights;

/// The kinds of checkpoint we read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A directory with `config.json` and safetensors.
    HfDir,
    /// A GGUF file.
    Gguf,
}

/// Whether a model argument looks like a checkpoint path rather than a zoo name.
pub fn looks_like_path(s: &str) -> bool {
    s.contains('/') || s.ends_with(".gguf") || Path::new(s).exists()
}

/// What kind of checkpoint `path` is.
pub fn detect(path: &Path) -> Result<Kind, LoadError> {
    let meta = std::fs::metadata(path).map_err(|e| LoadError::io(path, e))?;
    if meta.is_dir() {
        if path.join("config.json").is_file() {
            return Ok(Kind::HfDir);
        }
        return Err(LoadError::header(
            path,
            "a checkpoint directory needs a config.json (Hugging Face layout)",
        ));
    }
    let mut magic = [0u8; 4];
    use std::io::Read;
    let n = File::open(path)
        .and_then(|mut f| f.read(&mut magic))
        .map_err(|e| LoadError::io(path, e))?;
    if n == 4 && &magic == gguf::MAGIC {
        return Ok(Kind::Gguf);
    }
    Err(LoadError::header(
        path,
        format!(
            "not a GGUF file (magic {:?}, expected \"GGUF\") nor a checkpoint directory",
            String::from_utf8_lossy(&magic[..n])
        ),
    ))
}

/// The model shape a checkpoint describes, without loading its tensors.
pub fn load_config(path: &Path) -> Result<ModelConfig, LoadError> {
    match detect(path)? {
        Kind::HfDir => Ok(hf::read_config(path)?.cfg),
        Kind::Gguf => Ok(gguf_model::GgufModel::open(path)?.config()?.cfg),
    }
}

/// Loads a checkpoint.
pub fn load(path: &Path, opts: &LoadOptions) -> Result<Weights, LoadError> {
    match detect(path)? {
        Kind::HfDir => hf::load(path, opts),
        Kind::Gguf => gguf_model::load(path, opts),
    }
}

/// Bytes of the checkpoint's weight files (what a memory check can compare, as the loader
/// converts tensor by tensor and holds at most one unpacked copy at a time).
pub fn checkpoint_bytes(path: &Path) -> Result<u64, LoadError> {
    let size = |p: &Path| {
        std::fs::metadata(p)
            .map(|m| m.len())
            .map_err(|e| LoadError::io(p, e))
    };
    match detect(path)? {
        Kind::Gguf => size(path),
        Kind::HfDir => {
            let mut total = 0;
            let rd = std::fs::read_dir(path).map_err(|e| LoadError::io(path, e))?;
            for e in rd {
                let e = e.map_err(|e| LoadError::io(path, e))?;
                if e.file_name().to_string_lossy().ends_with(".safetensors") {
                    total += size(&e.path())?;
                }
            }
            Ok(total)
        }
    }
}

/// Maps `path` read-only after checking it holds at least `min_len` bytes.
pub(crate) fn map_file(path: &Path, min_len: u64, what: &str) -> Result<memmap2::Mmap, LoadError> {
    let f = File::open(path).map_err(|e| LoadError::io(path, e))?;
    let len = f.metadata().map_err(|e| LoadError::io(path, e))?.len();
    if len < min_len {
        return Err(LoadError::header(
            path,
            format!("not a {what} file: {len} bytes, shorter than its {min_len}-byte header"),
        ));
    }
    // SAFETY: the map is read-only and private to this process. Its soundness rests on the file
    // not being truncated or rewritten while mapped, which memmap2 cannot rule out; checkpoints are
    // treated as immutable inputs (as every mmap-based model loader does), and every offset we
    // read is first checked against the length seen here.
    unsafe { memmap2::Mmap::map(&f) }.map_err(|e| LoadError::io(path, e))
}
