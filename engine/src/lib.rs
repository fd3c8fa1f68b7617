//! # ternbench-engine
//!
//! The BitNet b1.58 transformer (2B4T architecture, anchors §2) and its FP16 twin on
//! `ternbench-kernels`: configs ([`config`]), named synthetic shapes ([`zoo`]), weights and the
//! seeded synthetic generator ([`weights`]), linear layers in any kernel format ([`linear`]),
//! the forward pass ([`model`]), the KV cache ([`kv_cache`]), sampling ([`sampler`]) and loaders
//! for real checkpoints ([`load`]: Hugging Face safetensors directories and GGUF files, plus their
//! tokenizers).
//!
//! The engine never picks a SIMD level: the caller hands it a `KernelSet` (in [`linear::Exec`])
//! and records the choice.

pub mod config;
pub mod error;
pub mod export;
pub mod generate;
pub mod kv_cache;
pub mod linear;
pub mod load;
pub mod model;
pub mod sampler;
pub mod weights;
pub mod zoo;

pub use config::{Activation, ModelConfig};
pub use error::EngineError;
pub use generate::{generate, GenStats};
pub use kv_cache::KvType;
pub use linear::{Exec, Linear};
pub use load::{LoadError, LoadOptions};
pub use model::{Logits, Model, Session};
pub use sampler::Sampler;
pub use ternbench_kernels as kernels;
pub use weights::{synthetic, SynthOptions, Weights};
