//! Errors of the engine crate: each names the model, key, tensor or limit at fault and, where
//! there is one, the fix.

use thiserror::Error;

/// Everything the engine can refuse.
#[derive(Debug, Error)]
pub enum EngineError {
    /// A configuration value that cannot describe a model.
    #[error("model config `{model}`: {key} = {value}: {reason}")]
    BadConfig {
        model: String,
        key: &'static str,
        value: String,
        reason: String,
    },
    /// A model name that is not in the zoo.
    #[error("unknown model `{name}`; synthetic models: {known}")]
    UnknownModel { name: String, known: String },
    /// A token id outside the vocabulary.
    #[error("token id {id} at position {pos} is outside the vocabulary (size {vocab})")]
    BadToken { id: u32, pos: usize, vocab: usize },
    /// A batched forward whose sessions and token lists differ in number (or are none).
    #[error("a batched forward needs one token list per session: {sessions} sessions, {token_lists} token lists")]
    BatchShape { sessions: usize, token_lists: usize },
    /// A sequence of a forward pass with no tokens.
    #[error("sequence {seq} of the forward pass has no tokens; give each sequence at least one")]
    NoTokens { seq: usize },
    /// The context would exceed the model's limit.
    #[error("context of {needed} tokens exceeds the model's limit of {limit} (max_position_embeddings); use a shorter prompt or fewer new tokens")]
    ContextFull { needed: usize, limit: usize },
    /// The weights and cache do not fit in memory.
    #[error("model `{model}` needs {need_gib:.1} GiB ({what}) but {avail_gib:.1} GiB is available; use --sample-layers K to build K layers, time them and scale to the full depth")]
    OutOfMemory {
        model: String,
        what: String,
        need_gib: f64,
        avail_gib: f64,
    },
    /// A kernel-level failure (a format the chosen SIMD level lacks, a bad packed shape).
    #[error(transparent)]
    Kernel(#[from] ternbench_kernels::KernelError),
}
