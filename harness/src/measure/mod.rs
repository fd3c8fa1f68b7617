//! The measuring machinery: everything that times, counts or meters.
//!
//! - [`runner`]: executes a plan's cells (warm-up, interleaved repetitions, progress), each
//!   repetition bracketed by bandwidth readings, and hands every record to a sink;
//! - [`calibrate`]: the few-second calibration behind `--plan` and the progress ETA;
//! - [`timing`]: the clock and the small order statistics the probes use;
//! - [`bandwidth`]: the memory read bandwidth (the roofline's denominator);
//! - [`peak`]: the int8 and f32 multiply-add peaks (the compute roofline);
//! - [`counters`]: hardware instruction and cycle counters (perf), where the kernel offers them;
//! - [`energy_phase`]: one energy window per phase of a repetition, over `ternbench_energy`;
//! - [`interrupt`]: Ctrl-C as a flag the runner polls, so no measured repetition is lost;
//! - [`synth`]: synthetic matrices for the kernel sweep;
//! - [`prefetch`]: the decode kernels' software prefetch distance, calibrated per host before a
//!   measurement (or given), applied per cell;
//! - [`peer`]: a llama.cpp-family `llama-bench` run as an engine, one repetition per invocation;
//! - [`icount`]: instructions per kernel call and per token counted under Valgrind (no PMU
//!   needed), for the regression gate.

pub mod bandwidth;
pub mod calibrate;
pub mod counters;
pub mod energy_phase;
pub mod icount;
pub mod interrupt;
pub mod peak;
pub mod peer;
pub mod prefetch;
pub mod runner;
pub mod synth;
pub mod timing;
