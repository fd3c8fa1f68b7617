//! # ternbench-engine
//!
//! The BitNet b1.58 transformer (2B4T architecture) and its FP16 twin, built on
//! `ternbench-kernels`. Not written yet: this crate holds the workspace slot the engine issue
//! fills (model graph, synthetic and real weights, KV cache, prefill and decode).

pub use ternbench_kernels as kernels;
