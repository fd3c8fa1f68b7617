//! Writing ternbench's models in other programs' file formats, so that one model runs in every
//! engine: [`gguf`] writes a synthetic zoo model as a GGUF file that llama.cpp and bitnet.cpp
//! read (F16, TQ2_0, TQ1_0, I2_S; F16 or Q6_K embedding) and ternbench reads back.

pub mod gguf;

pub use gguf::{
    write_gguf, Arch, EmbedType, ExportError, ExportOptions, ExportSummary, Synthetic, WeightType,
};
