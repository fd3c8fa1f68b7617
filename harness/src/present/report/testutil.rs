//! Test helpers: runs and cells built from JSON, as `run.json` holds them, read through
//! [`RunFile::parse`] like every command reads a results file.

use serde_json::{json, Value};

use super::load::Loaded;
use crate::records::results::RunFile;

/// A summary whose every statistic is `m` (its interval `[m, m]`).
pub fn summary(m: f64) -> Value {
    json!({"n": 6, "median": m, "mean": m, "stddev": 0.0, "ci95_low": m, "ci95_high": m,
           "ci_level": 0.97, "ci_method": "median_order_statistics",
           "min": m, "max": m, "cv": 0.0, "outliers": []})
}

/// Six repetitions around `m` (±2%, median `m`).
pub fn reps(m: f64) -> Vec<f64> {
    [0.98, 0.99, 1.0, 1.0, 1.01, 1.02]
        .iter()
        .map(|k| k * m)
        .collect()
}

/// A cell of test `pp128+tg128` on avx2 with six repetitions around `tg` decode tokens/s (and
/// 3× that in prefill); `energy` is `(method, J/token)`.
pub fn cell(
    model: &str,
    engine: &str,
    threads: usize,
    tg: f64,
    energy: Option<(&str, f64)>,
) -> Value {
    cell_with(model, engine, threads, &reps(tg), energy)
}

/// [`cell`] with the given decode repetitions (prefill 3× them); the summaries are derived on
/// reading, as from an older file.
pub fn cell_with(
    model: &str,
    engine: &str,
    threads: usize,
    decode: &[f64],
    energy: Option<(&str, f64)>,
) -> Value {
    let med = crate::records::stats::Summary::of(decode).unwrap().median;
    let legacy = |m: f64| {
        json!({"n": decode.len(), "median": m, "mean": m, "stddev": 0.0, "ci95_low": null,
               "ci95_high": null, "min": m, "max": m, "cv": 0.0, "outliers": []})
    };
    let prefill: Vec<f64> = decode.iter().map(|x| x * 3.0).collect();
    let cv = crate::records::stats::Summary::of(decode).unwrap().cv;
    json!({
        "key": {"model": model, "engine": engine, "format": "i2", "head": "f16",
                "isa": "avx2", "threads": threads, "test": "pp128+tg128"},
        "n_prompt": 128, "n_gen": 128, "repetitions": decode.len(),
        "prefill_tokens_per_s": legacy(med * 3.0), "decode_tokens_per_s": legacy(med),
        "decode_latency_ms": {"n": 10, "p50": 1000.0 / med, "p90": 1000.0 / med, "p99": 1000.0 / med},
        "energy": energy.map(|(m, j)| json!({"method": m, "decode_joules_per_token": summary(j),
                                              "samples_decode_joules_per_token": reps(j)})),
        "noisy": cv.is_some_and(|cv| cv > 0.05),
        "samples_prefill_tokens_per_s": prefill, "samples_decode_tokens_per_s": decode
    })
}

/// A run on `cpu` (x86_64) with energy status `energy`, holding a bitnet-700m model record.
pub fn run(cpu: &str, energy: &str, cells: Vec<Value>) -> Loaded {
    let v = json!({
        "schema_version": 1, "run_id": "r", "status": "complete", "ternbench_version": "0",
        "started_utc": "", "finished_utc": null, "resumed": 0,
        "scenario": {"name": "s", "description": "", "file": null, "text": ""},
        "machine": {"cpu_model": cpu, "target": "x86_64-unknown-linux-gnu"},
        "bandwidth": [], "counters": {"status": "unavailable", "reason": "x"},
        "energy": {"status": energy, "reason": "no counters in this VM", "fix": "use --tdp"},
        "models": [{"model": "bitnet-700m", "engine": "ternary", "format": "i2", "head": "f16",
                    "layers_built": 24, "layers_total": 24, "params": 728632320u64,
                    "weight_bytes": 1, "decode_bytes_per_token": 1,
                    "decode_bytes_per_token_full_depth": 1, "load_seconds": 1.0,
                    "activation": "relu2"}],
        "cells": cells, "notes": []
    });
    Loaded {
        path: "run.json".into(),
        run: RunFile::parse(&v.to_string()).unwrap(),
        index: 1,
    }
}
