//! `ternbench export`: a synthetic zoo model written as a GGUF file in the peers' formats
//! (F16, TQ2_0, TQ1_0 with llama.cpp's blocks; I2_S with bitnet.cpp's), through
//! `ternbench_engine::export`, so a user puts one model through llama.cpp, bitnet.cpp and
//! ternbench without Python.

use anyhow::Result;
use ternbench_engine::export::{write_gguf, Arch, EmbedType, ExportOptions, Synthetic, WeightType};

use crate::cli::{ExportArch, ExportArgs, ExportHead, ExportType, TextOrJson};
use crate::error::usage;

/// Runs `ternbench export`.
pub fn run(a: &ExportArgs) -> Result<()> {
    let cfg = ternbench_engine::zoo::config(&a.model).map_err(|e| {
        usage(format!(
            "-m {}: {e} (export writes the zoo's synthetic models; a checkpoint is converted by the peers' own scripts)",
            a.model
        ))
    })?;
    if a.out.exists() && !a.force {
        return Err(usage(format!(
            "--out {}: the file exists; pass --force to replace it",
            a.out.display()
        )));
    }
    if a.out.is_dir() {
        return Err(usage(format!(
            "--out {}: a folder; name the .gguf file to write",
            a.out.display()
        )));
    }
    let weights = match a.weight_type {
        ExportType::F16 => WeightType::F16,
        ExportType::Tq2_0 => WeightType::Tq2_0,
        ExportType::Tq1_0 => WeightType::Tq1_0,
        ExportType::I2s => WeightType::I2s,
    };
    let embed = match a.head {
        ExportHead::F16 => EmbedType::F16,
        ExportHead::Q6k => EmbedType::Q6K,
    };
    let arch = match a.arch {
        Some(ExportArch::Bitnet) => Arch::Bitnet,
        Some(ExportArch::Bitnet25) => Arch::Bitnet25,
        None => Arch::for_activation(cfg.act),
    };
    let opts = ExportOptions {
        arch,
        weights,
        embed,
    };
    let t0 = std::time::Instant::now();
    let s = write_gguf(&Synthetic { cfg, seed: a.seed }, &opts, &a.out).map_err(|e| match e {
        ternbench_engine::export::ExportError::Shape { .. } => usage(e.to_string()),
        e => anyhow::Error::new(e),
    })?;
    let seconds = t0.elapsed().as_secs_f64();
    let readers = match (weights, arch) {
        (_, Arch::Bitnet25) => "bitnet.cpp, ternbench (llama.cpp has no bitnet-25 graph)",
        (w, Arch::Bitnet) => w.readers(),
    };
    match a.output {
        TextOrJson::Json => println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "file": s.path,
                "model": a.model,
                "seed": a.seed,
                "type": weights.name().to_uppercase(),
                "head": embed.name().to_uppercase(),
                "arch": arch.name(),
                "file_bytes": s.file_bytes,
                "tensors": s.tensors,
                "projection_bytes": s.projection_bytes,
                "embedding_bytes": s.embedding_bytes,
                "decode_bytes_per_token": s.decode_bytes(),
                "readers": readers,
                "graph_note": s.graph_note,
                "seconds": seconds,
            }))?
        ),
        TextOrJson::Text => {
            println!(
                "wrote {} ({}, seed {}): {} projections, {} embedding/head, arch {}",
                s.path.display(),
                a.model,
                a.seed,
                weights.name().to_uppercase(),
                embed.name().to_uppercase(),
                arch.name()
            );
            println!(
                "  {} bytes, {} tensors; one decode step reads {} bytes of weights; {:.1} s",
                s.file_bytes,
                s.tensors,
                s.decode_bytes(),
                seconds
            );
            println!("  runs in: {readers}");
            if let Some(n) = s.graph_note {
                println!("  note: {n}");
            }
        }
    }
    Ok(())
}
