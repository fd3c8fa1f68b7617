//! Test helpers: runs and cells built from JSON, as `run.json` holds them.

use serde_json::{json, Value};

use super::load::Loaded;

/// A summary whose every statistic is `m`.
pub fn summary(m: f64) -> Value {
    json!({"n": 5, "median": m, "mean": m, "stddev": 0.0, "ci95_low": m, "ci95_high": m,
           "min": m, "max": m, "cv": 0.0, "outliers": []})
}

/// A cell of test `pp128+tg128` on avx2; `energy` is `(method, J/token)`.
pub fn cell(
    model: &str,
    engine: &str,
    threads: usize,
    tg: f64,
    energy: Option<(&str, f64)>,
) -> Value {
    json!({
        "key": {"model": model, "engine": engine, "format": "i2", "head": "f16",
                "isa": "avx2", "threads": threads, "test": "pp128+tg128"},
        "n_prompt": 128, "n_gen": 128, "repetitions": 5,
        "prefill_tokens_per_s": summary(tg * 3.0), "decode_tokens_per_s": summary(tg),
        "decode_latency_ms": {"n": 10, "p50": 1000.0 / tg, "p90": 1000.0 / tg, "p99": 1000.0 / tg},
        "energy": energy.map(|(m, j)| json!({"method": m, "decode_joules_per_token": summary(j)})),
        "noisy": false, "samples_prefill_tokens_per_s": [], "samples_decode_tokens_per_s": []
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
        run: serde_json::from_value(v).unwrap(),
        index: 1,
    }
}
