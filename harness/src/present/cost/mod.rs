//! Cost: what serving a demand costs per month and per million tokens on a GPU (FP16
//! baseline, from a dated catalogue), on this CPU with the FP16 engine, and on this CPU with
//! the ternary engine.
//!
//! - [`model`]: the formulas, pure (docs/cost.md, with a worked example);
//! - [`catalogue`]: `data/gpu-catalogue.toml` and `data/cpu-prices.toml`, strict parsing;
//! - [`from_run`]: picks cells from `run.json` and labels their figures;
//! - [`render`]: text, Markdown ([`render::markdown_section`] for `ternbench report`), JSON, SVG;
//! - [`slo`]: the per-stream latency target and the batch it allows;
//! - [`size`]: model-size classes and the like-for-like rule;
//! - [`crossover`]: monthly cost against requests/day and where deployments cross;
//! - [`chart`]: that as a log-log chart, SVG and PNG, crossovers marked.
//!
//! `ternbench cost` ([`crate::commands::cost`]) turns the command line into the model's inputs.

pub mod catalogue;
pub mod chart;
pub mod crossover;
pub mod from_run;
pub mod model;
pub mod render;
pub mod size;
pub mod slo;
