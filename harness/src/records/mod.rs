//! The records a measurement leaves: the results data model and its files ([`results`]:
//! `cells.jsonl`, `run.json`, `cells.csv`, schema-versioned, written durably), the statistics
//! every command quotes ([`stats`]), hardware counter readings ([`counters`]), the machine
//! fingerprint every result carries ([`fingerprint`]), the few machine facts the measuring
//! code needs ([`machine`]) and the instruction-count file of `ternbench icount`
//! ([`icount`]).

pub mod counters;
pub mod fingerprint;
pub mod icount;
pub mod machine;
pub mod results;
pub mod stats;
