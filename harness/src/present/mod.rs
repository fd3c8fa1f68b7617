//! What a person reads: records in, text, Markdown, CSV, HTML and charts out.
//!
//! - [`report`]: runs → a self-contained report (verdicts, charts, claims, CPU comparison);
//! - [`compare`]: two runs → per-cell verdicts for a regression gate (and two
//!   instruction-count files → per-case verdicts, [`compare::counts`]);
//! - [`icount`]: an instruction-count file as a table;
//! - [`cost`]: measured throughput + prices → monthly cost and $ per million tokens;
//! - [`kernels_report`]: the kernel sweep's report.

pub mod compare;
pub mod cost;
pub mod icount;
pub mod kernels_report;
pub mod report;
