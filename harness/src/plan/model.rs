//! The model a command or scenario cell runs: a zoo name (synthetic, seeded weights) or a
//! checkpoint path (a Hugging Face directory with `config.json` + safetensors, or a `.gguf`
//! file) loaded by `ternbench_engine::load` into the chosen format, and the kernel set it runs on.
//!
//! Before building, the weights and KV cache are checked against the memory available; a model
//! too large gets an error offering `--sample-layers K` (build K layers, time them, scale to the
//! full depth), and results from a sampled model say so on every line.

use anyhow::{Context, Result};
use ternbench_engine::kernels::{Format, Isa, KernelSet, ThreadPool};
use ternbench_engine::load::{self, LoadOptions};
use ternbench_engine::{
    synthetic, weights::estimate_bytes, zoo, KvType, Model, ModelConfig, SynthOptions,
};

use crate::cli::EngineArg;
use crate::error::usage;

/// Which engine, in words for output.
pub fn engine_label(e: EngineArg, fmt: Format) -> String {
    match e {
        EngineArg::Ternary => format!("ternary/{fmt}"),
        EngineArg::Fp16 => "fp16".to_string(),
    }
}

/// Whether a model argument names a checkpoint (a path) rather than a zoo model.
pub fn is_checkpoint(name: &str) -> bool {
    load::looks_like_path(name)
}

/// The shape of a zoo model or a checkpoint (read from its config, tensors untouched).
pub fn model_config(name: &str) -> Result<ModelConfig> {
    if is_checkpoint(name) {
        let path = std::path::Path::new(name);
        if !path.exists() {
            return Err(usage(format!("model `{name}`: no such file or directory")));
        }
        return load::load_config(path).with_context(|| format!("reading checkpoint `{name}`"));
    }
    zoo::config(name).map_err(|e| usage(e.to_string()))
}

/// Settings shared by every engine command.
pub struct ModelPlan<'a> {
    /// Zoo name or checkpoint path.
    pub name: &'a str,
    /// ternary or fp16.
    pub engine: EngineArg,
    /// Format of the ternary engine's linear layers.
    pub format: Format,
    /// LM head format.
    pub head: Format,
    /// Synthetic weight seed.
    pub seed: u64,
    /// Build only K layers.
    pub sample_layers: Option<usize>,
    /// KV cache element type.
    pub kv: KvType,
    /// Positions the cache must hold.
    pub context: usize,
}

/// Builds a model after checking it fits: synthetic weights for a zoo name, a loaded checkpoint
/// for a path.
pub fn build(plan: &ModelPlan<'_>, pool: &ThreadPool, threads: usize) -> Result<Model> {
    let checkpoint = is_checkpoint(plan.name);
    let cfg = model_config(plan.name)?;
    if let Some(k) = plan.sample_layers {
        if k == 0 || k > cfg.layers {
            return Err(usage(format!(
                "--sample-layers {k}: must be between 1 and the model's {} layers",
                cfg.layers
            )));
        }
    }
    let linear = match plan.engine {
        EngineArg::Ternary => plan.format,
        EngineArg::Fp16 => Format::F16,
    };
    if plan.engine == EngineArg::Ternary && !linear.is_ternary() {
        return Err(usage(format!(
            "--weight-format {linear}: the ternary engine takes i2, tq1 or tl"
        )));
    }
    let layers = plan.sample_layers.unwrap_or(cfg.layers);
    let weights = estimate_bytes(&cfg, linear, plan.head, layers);
    let kv =
        ternbench_engine::kv_cache::KvCache::bytes_for(plan.kv, layers, cfg.kv_dim(), plan.context);
    // Generation transiently holds one tensor's unpacked ternary values (1 byte per weight) too;
    // a checkpoint's loader also holds one tensor in f32 while it quantises master weights.
    let per_weight_transient = if checkpoint { 5 } else { 2 };
    let transient = (cfg.intermediate * cfg.hidden) as u64 * per_weight_transient * threads as u64;
    let need = weights + kv + transient;
    if let Some(avail) = crate::records::machine::mem_available() {
        if need > avail {
            let per_layer = (weights - estimate_bytes(&cfg, linear, plan.head, 0)) / layers as u64;
            let fit = (avail
                .saturating_sub(estimate_bytes(&cfg, linear, plan.head, 0) + transient)
                / per_layer.max(1))
            .max(1);
            let files = if checkpoint {
                load::checkpoint_bytes(std::path::Path::new(plan.name))
                    .map(|b| {
                        format!(
                            " (checkpoint files {:.1} GiB, memory-mapped)",
                            b as f64 / (1u64 << 30) as f64
                        )
                    })
                    .unwrap_or_default()
            } else {
                String::new()
            };
            return Err(usage(format!(
                "model `{}`{files} ({} engine, {} layers) needs {:.1} GiB (weights {:.1} GiB, KV cache {:.1} GiB) but {:.1} GiB is available; \
                 use --sample-layers K (K ≤ {} fits) to build K layers, time them and scale to the full depth",
                plan.name,
                engine_label(plan.engine, linear),
                layers,
                need as f64 / (1u64 << 30) as f64,
                weights as f64 / (1u64 << 30) as f64,
                kv as f64 / (1u64 << 30) as f64,
                avail as f64 / (1u64 << 30) as f64,
                fit.min(cfg.layers as u64)
            )));
        }
    }
    let w = if checkpoint {
        let opts = LoadOptions {
            linear,
            head: plan.head,
            sample_layers: plan.sample_layers,
        };
        load::load(std::path::Path::new(plan.name), &opts)
            .with_context(|| format!("loading checkpoint `{}`", plan.name))?
    } else {
        let opts = SynthOptions {
            linear,
            head: plan.head,
            seed: plan.seed,
            sample_layers: plan.sample_layers,
        };
        synthetic(&cfg, &opts, pool, threads)
            .with_context(|| format!("building synthetic `{}`", plan.name))?
    };
    Ok(Model::new(w))
}

pub fn kernel_set(isa: Option<Isa>) -> Result<&'static KernelSet> {
    match isa {
        None => Ok(KernelSet::best()),
        Some(i) => KernelSet::get(i).map_err(|e| usage(e.to_string())),
    }
}
