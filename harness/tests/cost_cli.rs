//! `ternbench cost` as a user runs it: the worked example of docs/cost.md from flags (JSON and
//! text), figures read from synthetic runs (measured energy, sampled cells, no energy), the
//! chart and Markdown outputs, and bad inputs refused with exit 2 naming the flag, file or key.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::{json, Value};

fn ternbench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ternbench"))
        .arg("cost")
        .args(args)
        .output()
        .expect("run ternbench")
}

fn ok_stdout(args: &[&str]) -> String {
    let o = ternbench(args);
    assert!(
        o.status.success(),
        "{args:?}: exit {:?}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

fn usage_error(args: &[&str]) -> String {
    let o = ternbench(args);
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(o.status.code(), Some(2), "{args:?}: stderr:\n{err}");
    assert!(o.stdout.is_empty(), "{args:?} printed to stdout");
    err
}

/// The worked example of docs/cost.md: 1 req/s on average, peak 2, 100 + 200 tokens.
const EXAMPLE: &[&str] = &[
    "--requests-per-day",
    "86400",
    "--prompt-tokens",
    "100",
    "--output-tokens",
    "200",
    "--peak-factor",
    "2",
    "--utilisation",
    "0.6",
    "--gpu",
    "custom",
    "--gpu-price-hour",
    "3",
    "--gpu-decode-tps",
    "6000",
    "--gpu-prefill-tps",
    "30000",
    "--cpu-price-hour",
    "0.2",
    "--cpu-ternary-decode-tps",
    "20",
    "--cpu-ternary-prefill-tps",
    "50",
    "--cpu-fp16-decode-tps",
    "5",
    "--cpu-fp16-prefill-tps",
    "40",
];

fn args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    EXAMPLE
        .iter()
        .copied()
        .chain(extra.iter().copied())
        .collect()
}

fn close(v: &Value, want: f64) {
    let got = v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"));
    assert!(
        (got - want).abs() <= 1e-9 * want.abs().max(1.0),
        "{got} != {want}"
    );
}

fn row<'a>(j: &'a Value, name: &str) -> &'a Value {
    j["deployments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["deployment"]["name"] == name)
        .unwrap_or_else(|| panic!("no row {name} in {j}"))
}

#[test]
fn worked_example_json() {
    let j: Value = serde_json::from_str(&ok_stdout(&args(&["-o", "json"]))).unwrap();
    close(&j["output_tokens_per_month"], 525.6e6);
    close(&j["prompt_tokens_per_month"], 262.8e6);
    let gpu = row(&j, "GPU FP16 (custom)");
    assert_eq!(gpu["instances"], 1);
    close(&gpu["monthly_compute_usd"], 2190.0);
    close(&gpu["usd_per_mtok_output"], 2190.0 / 525.6);
    let t = row(&j, "CPU ternary");
    assert_eq!(t["instances"], 40); // 2 req/s × (100/50 + 200/20) s / 0.6
    close(&t["monthly_compute_usd"], 5840.0);
    close(&t["usd_per_mtok_output"], 5840.0 / 525.6);
    close(&t["usd_per_mtok_total"], 5840.0 / 788.4);
    assert_eq!(
        t["deployment"]["decode_tps"]["source"],
        "given (--cpu-ternary-decode-tps)"
    );
    let f = row(&j, "CPU FP16");
    assert_eq!(f["instances"], 142); // 2 × (100/40 + 200/5) / 0.6 = 141.67
    close(&f["monthly_compute_usd"], 142.0 * 0.2 * 730.0);
    assert_eq!(f["energy_note"], "included in the hourly price");
}

#[test]
fn worked_example_text_and_markdown_and_chart() {
    let s = ok_stdout(&args(&[]));
    assert!(s.contains("$/Mtok output"), "{s}");
    assert!(s.contains("CPU ternary"), "{s}");
    assert!(s.contains("11.1111"), "{s}"); // 5840 / 525.6
    assert!(s.contains("Assumptions:"), "{s}");
    assert!(s.contains("a month is 730 h"), "{s}");
    let dir = tempfile::tempdir().unwrap();
    let chart = dir.path().join("cost.svg");
    let md = ok_stdout(&args(&["-o", "md", "--chart", chart.to_str().unwrap()]));
    assert!(md.starts_with("# Cost per million tokens"), "{md}");
    assert!(md.contains("| deployment | instances |"), "{md}");
    let svg = std::fs::read_to_string(&chart).unwrap();
    assert!(
        svg.starts_with("<svg") && svg.contains("CPU ternary"),
        "{svg}"
    );
    assert_eq!(svg.matches("<rect").count(), 1 + 3 * 2 + 2);
}

fn summary(v: f64) -> Value {
    json!({"n": 3, "median": v, "mean": v, "stddev": 0.0, "ci95_low": v, "ci95_high": v,
           "min": v, "max": v, "cv": 0.0, "outliers": []})
}

fn cell(engine: &str, threads: usize, decode: f64, prefill: f64) -> Value {
    json!({
        "key": {"model": "bitnet-700m", "engine": engine,
                "format": if engine == "ternary" { "i2" } else { "f16" },
                "head": "f16", "isa": "avx2", "threads": threads, "test": "pp64+tg32"},
        "n_prompt": 64, "n_gen": 32, "sampled": null, "repetitions": 3,
        "prefill_tokens_per_s": summary(prefill), "decode_tokens_per_s": summary(decode),
        "energy": null, "noisy": false,
        "samples_prefill_tokens_per_s": [prefill], "samples_decode_tokens_per_s": [decode]
    })
}

fn write_run(dir: &Path, cells: Vec<Value>, energy: Value) -> String {
    let run = json!({
        "schema_version": 1, "run_id": "synthetic", "status": "complete",
        "ternbench_version": "0.1.0", "started_utc": "2026-11-23T00:00:00Z",
        "finished_utc": "2026-11-23T00:10:00Z", "resumed": 0,
        "scenario": {"name": "t", "description": "", "file": null, "text": ""},
        "machine": {}, "bandwidth": [],
        "counters": {"status": "unavailable", "reason": "no PMU"},
        "energy": energy, "models": [], "cells": cells, "notes": []
    });
    let p = dir.join("synthetic");
    std::fs::create_dir_all(&p).unwrap();
    std::fs::write(p.join("run.json"), serde_json::to_string(&run).unwrap()).unwrap();
    p.to_str().unwrap().to_string()
}

const ONPREM: &[&str] = &[
    "--cpu-hardware-price",
    "2400",
    "--cpu-amortisation-months",
    "24",
    "--usd-per-kwh",
    "0.1",
    "--pue",
    "1.5",
    "-o",
    "json",
];

#[test]
fn run_with_measured_energy() {
    let dir = tempfile::tempdir().unwrap();
    let mut t = cell("ternary", 2, 20.0, 50.0);
    t["energy"] = json!({"method": "measured", "prefill_joules_per_token": summary(0.5),
                         "decode_joules_per_token": summary(2.0)});
    let cells = vec![
        cell("ternary", 1, 10.0, 30.0),
        t,
        cell("fp16", 2, 5.0, 40.0),
    ];
    let run = write_run(
        dir.path(),
        cells,
        json!({"status": "measured", "source": "powercap"}),
    );
    let mut a = vec![
        "--run",
        &run,
        "--allow-size-mismatch",
        "--requests-per-day",
        "86400",
        "--prompt-tokens",
        "100",
        "--output-tokens",
        "200",
    ];
    a.extend_from_slice(ONPREM);
    let j: Value = serde_json::from_str(&ok_stdout(&a)).unwrap();
    let t = row(&j, "CPU ternary");
    // The best cell (2 threads, 20 tok/s) was chosen: the worked example again.
    assert_eq!(t["instances"], 40);
    close(&t["monthly_compute_usd"], 4000.0);
    close(&t["monthly_kwh"], 328.5);
    close(&t["monthly_energy_usd"], 49.275);
    let src = t["deployment"]["decode_tps"]["source"].as_str().unwrap();
    assert!(
        src.starts_with("measured (run synthetic, cell bitnet-700m ternary/i2"),
        "{src}"
    );
    let e = &t["deployment"]["energy"];
    assert_eq!(e["kind"], "joules_per_token");
    assert!(e["decode"]["source"]
        .as_str()
        .unwrap()
        .starts_with("measured"));
    // fp16 has no energy in the run and no --cpu-watts: said so, not zero.
    let f = row(&j, "CPU FP16");
    assert!(f["monthly_energy_usd"].is_null());
    let note = f["energy_note"].as_str().unwrap();
    assert!(
        note.starts_with("not included: no energy figure ("),
        "{note}"
    );
    // --threads picks the other cell.
    let mut b = vec![
        "--run",
        &run,
        "--allow-size-mismatch",
        "--threads",
        "1",
        "-o",
        "json",
    ];
    b.extend_from_slice(&["--cpu-fp16-decode-tps", "5", "--cpu-fp16-prefill-tps", "40"]);
    let j: Value = serde_json::from_str(&ok_stdout(&b)).unwrap();
    close(
        &row(&j, "CPU ternary")["deployment"]["decode_tps"]["value"],
        10.0,
    );
}

#[test]
fn run_without_energy_and_sampled_cells() {
    let dir = tempfile::tempdir().unwrap();
    let mut t = cell("ternary", 2, 20.0, 50.0);
    t["sampled"] = json!({"layers_built": 4, "layers_total": 24});
    t["decode_tokens_per_s_full_depth_estimate"] = json!(3.5);
    t["prefill_tokens_per_s_full_depth_estimate"] = json!(9.0);
    let mut f = cell("fp16", 2, 5.0, 40.0);
    f["sampled"] = json!({"layers_built": 4, "layers_total": 24});
    let energy = json!({"status": "unavailable", "reason": "no energy counters could be read"});
    let run = write_run(dir.path(), vec![t, f], energy);
    let mut a = vec!["--run", run.as_str(), "--allow-size-mismatch"];
    a.extend_from_slice(ONPREM);
    a.pop();
    a.pop(); // text output
    let s = ok_stdout(&a);
    assert!(
        s.contains("decode 3.50 tok/s [ESTIMATE (run synthetic"),
        "{s}"
    );
    assert!(s.contains("4/24 layers built, scaled to full depth"), "{s}");
    assert!(
        s.contains("not included: no energy figure (run synthetic: energy unavailable: no energy counters could be read"),
        "{s}"
    );
    // --cpu-watts fills the gap, labelled given.
    a.extend_from_slice(&["--cpu-watts", "100"]);
    let s = ok_stdout(&a);
    assert!(
        s.contains("power 100 W per instance [given (--cpu-watts)]"),
        "{s}"
    );
    assert!(!s.contains("not included: no energy figure (run"), "{s}");
}

#[test]
fn bad_inputs_exit_2_naming_what() {
    let e = usage_error(&[
        "--gpu",
        "h900",
        "--cpu-ternary-decode-tps",
        "1",
        "--cpu-ternary-prefill-tps",
        "1",
    ]);
    assert!(e.contains("--gpu h900") && e.contains("a100-80gb"), "{e}");
    let mut neg = args(&[]);
    neg[1] = "-5";
    let e = usage_error(&neg);
    assert!(
        e.contains("requests per day = -5") && e.contains("--requests-per-day"),
        "{e}"
    );
    let mut util = args(&[]);
    util[9] = "1.5"; // --utilisation
    let e = usage_error(&util);
    assert!(e.contains("utilisation") && e.contains("(0, 1]"), "{e}");

    let dir = tempfile::tempdir().unwrap();
    let run = write_run(
        dir.path(),
        vec![cell("ternary", 1, 10.0, 30.0)],
        json!({"status": "unavailable"}),
    );
    let e = usage_error(&["--run", &run, "--model", "bitnet-2b4t"]);
    assert!(
        e.contains("--model bitnet-2b4t") && e.contains("bitnet-700m"),
        "{e}"
    );
    let e = usage_error(&["--run", &run]);
    assert!(e.contains("no fp16 cells"), "{e}");
    let e = usage_error(&["--run", "/nonexistent/run"]);
    assert!(e.contains("--run /nonexistent/run"), "{e}");

    let cat = dir.path().join("cat.toml");
    std::fs::write(
        &cat,
        "[meta]\ncurrency = \"USD\"\ncompiled = \"2026-11-23\"\n\n[gpu.x]\ngpu = \"X\"\nprecision = \"fp16\"\nmodel = \"m\"\nprice = 2.0\n",
    )
    .unwrap();
    let mut a = args(&[]);
    a.retain(|s| *s != "custom");
    let pos = a.iter().position(|s| *s == "--gpu").unwrap();
    a.remove(pos);
    let c = cat.to_str().unwrap();
    a.extend_from_slice(&["--gpu", "x", "--catalogue", c]);
    let e = usage_error(&a);
    assert!(e.contains("cat.toml") && e.contains("price"), "{e}");
}

#[test]
fn calculator_preset_prices() {
    let s = ok_stdout(&[
        "--preset",
        "calculator-2026",
        "--cpu-ternary-decode-tps",
        "20",
        "--cpu-ternary-prefill-tps",
        "50",
        "-o",
        "json",
    ]);
    let j: Value = serde_json::from_str(&s).unwrap();
    close(&j["demand"]["requests_per_day"]["value"], 100_000.0);
    let gpu = row(&j, "GPU FP16 (a100-80gb-2usd)");
    close(&gpu["deployment"]["pricing"]["usd_per_hour"]["value"], 2.0);
    let cpu = row(&j, "CPU ternary");
    close(&cpu["deployment"]["pricing"]["usd_per_hour"]["value"], 0.40);
    assert!(j["assumptions"][1]
        .as_str()
        .unwrap()
        .contains("--preset calculator-2026"));
    assert!(
        j["deployments"].as_array().unwrap().len() == 2,
        "no FP16 figures: row left out"
    );
}

#[test]
fn owned_gpu_uses_catalogue_power() {
    let s = ok_stdout(&[
        "--gpu",
        "h100-bf16",
        "--gpu-hardware-price",
        "30000",
        "--gpu-amortisation-months",
        "36",
        "--usd-per-kwh",
        "0.1",
        "--pue",
        "1.5",
        "--cpu-ternary-decode-tps",
        "20",
        "--cpu-ternary-prefill-tps",
        "50",
        "-o",
        "json",
    ]);
    let j: Value = serde_json::from_str(&s).unwrap();
    let g = row(&j, "GPU BF16 (h100-bf16)");
    assert_eq!(g["instances"], 1);
    close(&g["monthly_compute_usd"], 30000.0 / 36.0);
    close(&g["monthly_kwh"], 560.0 * 730.0 / 1000.0);
    close(&g["monthly_energy_usd"], 408.8 * 1.5 * 0.1);
    let src = g["deployment"]["energy"]["watts"]["source"]
        .as_str()
        .unwrap();
    assert!(src.contains("ML.ENERGY"), "{src}");
    // Without a power figure the energy line says why.
    let s = ok_stdout(&[
        "--gpu",
        "a100-80gb",
        "--gpu-hardware-price",
        "15000",
        "--gpu-amortisation-months",
        "36",
        "--cpu-ternary-decode-tps",
        "20",
        "--cpu-ternary-prefill-tps",
        "50",
    ]);
    assert!(
        s.contains(
            "not included: no energy figure (no GPU power figure for a100-80gb: pass --gpu-watts)"
        ),
        "{s}"
    );
}

/// A run of scenarios/cost-8b.toml's shape: bitnet-8b (7.5 B parameters with its tied head),
/// decode at batch 1-16 for both engines and a pp64 cell each, named `id`, started at `when`.
fn cost8b_run(dir: &Path, id: &str, when: &str) -> String {
    let mut cells = Vec::new();
    // (batch, ternary aggregate, fp16 aggregate, ternary p99 ms): per stream the ternary
    // engine makes 12, 11, 9, 6.25, 3.75 tokens/s, the FP16 twin 2.5, 2.4, 2.25, 2, 1.5.
    for (b, t, f, p99) in [
        (1usize, 12.0, 2.5, 90.0),
        (2, 22.0, 4.8, 100.0),
        (4, 36.0, 9.0, 125.0),
        (8, 50.0, 16.0, 170.0),
        (16, 60.0, 24.0, 290.0),
    ] {
        for (engine, agg) in [("ternary", t), ("fp16", f)] {
            let test = if b > 1 {
                format!("tg32 @ b{b}")
            } else {
                "tg32".into()
            };
            cells.push(json!({
                "key": {"model": "bitnet-8b", "engine": engine,
                        "format": if engine == "ternary" { "i2" } else { "f16" },
                        "head": "f16", "isa": "avx512vnni", "threads": 2, "test": test},
                "n_prompt": 0, "n_gen": 32, "batch": b, "sampled": null, "repetitions": 3,
                "prefill_tokens_per_s": null, "decode_tokens_per_s": summary(agg),
                "decode_tokens_per_s_per_stream": summary(agg / b as f64),
                "decode_latency_ms": {"n": 96, "p50": p99 * 0.9, "p90": p99 * 0.95, "p99": p99},
                "energy": null, "noisy": false,
                "samples_prefill_tokens_per_s": [], "samples_decode_tokens_per_s": [agg]
            }));
        }
    }
    for (engine, pp) in [("ternary", 40.0), ("fp16", 15.0)] {
        cells.push(json!({
            "key": {"model": "bitnet-8b", "engine": engine,
                    "format": if engine == "ternary" { "i2" } else { "f16" },
                    "head": "f16", "isa": "avx512vnni", "threads": 2, "test": "pp64"},
            "n_prompt": 64, "n_gen": 0, "batch": 1, "sampled": null, "repetitions": 3,
            "prefill_tokens_per_s": summary(pp), "decode_tokens_per_s": null,
            "energy": null, "noisy": false,
            "samples_prefill_tokens_per_s": [pp], "samples_decode_tokens_per_s": []
        }));
    }
    let model = |engine: &str| {
        json!({"model": "bitnet-8b", "engine": engine,
        "format": if engine == "ternary" { "i2" } else { "f16" }, "head": "f16",
        "layers_built": 32, "layers_total": 32, "params": 7_504_658_432u64, "weight_bytes": 1,
        "decode_bytes_per_token": 1, "decode_bytes_per_token_full_depth": 1,
        "load_seconds": 1.0, "activation": "silu"})
    };
    let run = json!({
        "schema_version": 1, "run_id": id, "status": "complete",
        "ternbench_version": "0.1.0", "started_utc": when, "finished_utc": when, "resumed": 0,
        "scenario": {"name": "cost-8b", "description": "", "file": null, "text": ""},
        "machine": {}, "bandwidth": [],
        "counters": {"status": "unavailable", "reason": "no PMU"},
        "energy": {"status": "unavailable", "reason": "no counters in this VM"},
        "models": [model("ternary"), model("fp16")], "cells": cells, "notes": []
    });
    let p = dir.join(id);
    std::fs::create_dir_all(&p).unwrap();
    std::fs::write(p.join("run.json"), serde_json::to_string(&run).unwrap()).unwrap();
    p.to_str().unwrap().to_string()
}

#[test]
fn an_8b_run_against_the_8b_gpu_row_is_sized_at_the_latency_target() {
    let dir = tempfile::tempdir().unwrap();
    let run = cost8b_run(dir.path(), "r8b", "2026-12-01T00:00:00Z");
    let charts = dir.path().join("charts");
    let j: Value = serde_json::from_str(&ok_stdout(&[
        "--run",
        &run,
        "-o",
        "json",
        "--out",
        charts.to_str().unwrap(),
    ]))
    .unwrap();
    assert!(j["first_line"].is_null(), "{j}");
    let a: Vec<&str> = j["assumptions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        a.iter()
            .any(|l| l.starts_with("one model size on both sides (7-8B)")),
        "{a:?}"
    );
    assert_eq!(j["slo"]["target"], "≥ 5 tokens/s per stream");
    // Ternary: batch 8 (6.25 per stream) is the largest meeting 5; 16 (3.75) misses.
    let t = row(&j, "CPU ternary");
    close(&t["deployment"]["decode_tps"]["value"], 50.0);
    // Sized from batch 8 by hand: 100 000 req/day = 1.1574 req/s, ×2 at the peak; each request
    // busies an instance 128/40 + 128/50 = 5.76 s; 2.3148 × 5.76 / 0.6 = 22.2 → 23 instances.
    assert_eq!(t["instances"], 23, "{t}");
    let notes = t["deployment"]["notes"][0].as_str().unwrap();
    assert!(
        notes.starts_with("batch 8, the largest meeting ≥ 5 tokens/s per stream"),
        "{notes}"
    );
    // FP16: no batch reaches 5 per stream: sized at its fastest streams (batch 1), labelled.
    let f = row(&j, "CPU FP16 MISSES SLO");
    close(&f["deployment"]["decode_tps"]["value"], 2.5);
    // The catalogue's A100 figure has no latency points: throughput-bound, said so.
    let g = row(&j, "GPU FP16 (a100-80gb)");
    let gn = g["deployment"]["notes"][0].as_str().unwrap();
    assert!(gn.starts_with("throughput-bound"), "{gn}");
    // A p99 target: ternary p99 ≤ 150 ms allows batch 4 (125 ms).
    let j: Value = serde_json::from_str(&ok_stdout(&[
        "--run",
        &run,
        "--slo",
        "p99=150ms",
        "-o",
        "json",
    ]))
    .unwrap();
    close(
        &row(&j, "CPU ternary")["deployment"]["decode_tps"]["value"],
        36.0,
    );
    // The sweep: every pair's crossovers, a table, and both chart files.
    let sw = &j["sweep"];
    assert_eq!(sw["curves"].as_array().unwrap().len(), 3);
    assert_eq!(sw["pairs"].as_array().unwrap().len(), 3);
    assert!(sw["table"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["why"].as_str().unwrap().contains("your demand")));
    let svg = std::fs::read_to_string(charts.join("monthly-cost.svg")).unwrap();
    assert!(
        svg.contains("CPU ternary") && svg.contains("requests per day"),
        "{svg}"
    );
    let png = std::fs::read(charts.join("monthly-cost.png")).unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 5000);
    assert!(charts.join("cost-per-mtok.svg").exists());
    // Text: the sweep table and the crossover sentences.
    let s = ok_stdout(&["--run", &run]);
    assert!(
        s.contains("Monthly cost vs requests/day:") && s.contains("Crossovers:"),
        "{s}"
    );
}

#[test]
fn the_gpu_row_meets_the_target_at_a_published_load() {
    let base = [
        "--gpu",
        "h100-bf16",
        "--cpu-ternary-decode-tps",
        "20",
        "--cpu-ternary-prefill-tps",
        "50",
        "-o",
        "json",
    ];
    let j: Value = serde_json::from_str(&ok_stdout(&base)).unwrap();
    // 5 tokens/s per stream: saturation (39 ms a token, 25.6 per stream) meets it: 9420.
    let g = row(&j, "GPU BF16 (h100-bf16)");
    close(&g["deployment"]["decode_tps"]["value"], 9420.0);
    // 100 tokens/s per stream: only QPS 2 (8 ms, 125 per stream): 504.
    let mut b = base.to_vec();
    b.extend(["--slo", "100tok/s"]);
    let j: Value = serde_json::from_str(&ok_stdout(&b)).unwrap();
    let g = row(&j, "GPU BF16 (h100-bf16)");
    close(&g["deployment"]["decode_tps"]["value"], 504.0);
    assert!(
        g["deployment"]["notes"][0]
            .as_str()
            .unwrap()
            .contains("QPS 2"),
        "{g}"
    );
}

#[test]
fn a_700m_run_against_the_8b_gpu_row_is_refused_unless_allowed_and_then_said_first() {
    let dir = tempfile::tempdir().unwrap();
    let run = write_run(
        dir.path(),
        vec![cell("ternary", 1, 40.0, 90.0), cell("fp16", 1, 10.0, 60.0)],
        json!({"status": "unavailable", "reason": "x"}),
    );
    let e = usage_error(&["--run", &run]);
    assert!(
        e.contains("SIZE MISMATCH")
            && e.contains("bitnet-700m")
            && e.contains("Llama 3.1 8B")
            && e.contains("scenarios/cost-8b.toml")
            && e.contains("--allow-size-mismatch"),
        "{e}"
    );
    let charts = dir.path().join("c");
    let s = ok_stdout(&[
        "--run",
        &run,
        "--allow-size-mismatch",
        "--out",
        charts.to_str().unwrap(),
    ]);
    assert!(
        s.starts_with("SIZE MISMATCH: the CPU figures are for bitnet-700m"),
        "{s}"
    );
    // The table's first line says it too.
    let t = s.split("\n\n").nth(1).unwrap();
    assert!(t.starts_with("SIZE MISMATCH"), "{t}");
    let md = ok_stdout(&["--run", &run, "--allow-size-mismatch", "-o", "md"]);
    assert!(md.starts_with("**SIZE MISMATCH"), "{md}");
    let j: Value = serde_json::from_str(&ok_stdout(&[
        "--run",
        &run,
        "--allow-size-mismatch",
        "-o",
        "json",
    ]))
    .unwrap();
    assert!(j["first_line"]
        .as_str()
        .unwrap()
        .starts_with("SIZE MISMATCH"));
    for f in ["monthly-cost.svg", "cost-per-mtok.svg"] {
        let svg = std::fs::read_to_string(charts.join(f)).unwrap();
        let first_text = svg.split("<text").nth(1).unwrap();
        assert!(first_text.contains("SIZE MISMATCH"), "{f}: {first_text}");
    }
}

#[test]
fn the_preset_alone_uses_the_newest_cost_run_or_says_what_to_run() {
    let dir = tempfile::tempdir().unwrap();
    let e = usage_error(&[
        "--preset",
        "calculator-2026",
        "--results-dir",
        dir.path().to_str().unwrap(),
    ]);
    assert!(
        e.contains("ternbench run scenarios/cost-8b.toml") && e.contains("about 16 minutes"),
        "{e}"
    );
    cost8b_run(dir.path(), "older", "2026-11-01T00:00:00Z");
    cost8b_run(dir.path(), "newer", "2026-12-01T00:00:00Z");
    // A 700M run is not a match, however new.
    write_run(
        dir.path(),
        vec![cell("ternary", 1, 40.0, 90.0)],
        json!({"status": "unavailable", "reason": "x"}),
    );
    let j: Value = serde_json::from_str(&ok_stdout(&[
        "--preset",
        "calculator-2026",
        "--results-dir",
        dir.path().to_str().unwrap(),
        "-o",
        "json",
    ]))
    .unwrap();
    let a = j["assumptions"].to_string();
    assert!(a.contains("CPU figures from run newer"), "{a}");
    let t = row(&j, "CPU ternary");
    close(&t["deployment"]["pricing"]["usd_per_hour"]["value"], 0.40);
    close(&t["deployment"]["decode_tps"]["value"], 50.0);
}

/// The recorded fixture of scripts/gpu/decode_bench.py's results folder (written by
/// scripts/gpu/make_fixture.py through the same writer; synthetic timings, NOT a measurement).
fn gpu_fixture() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/gpu-run-fixture")
        .to_str()
        .unwrap()
        .to_string()
}

/// `cost --gpu-run` reads a GPU results folder without a GPU: the GPU row is sized from its
/// batched cells at the latency target, like the CPU's, 8B against 8B.
#[test]
fn a_gpu_run_folder_replaces_the_catalogue_figures() {
    let fixture = gpu_fixture();
    let run_json: Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{fixture}/run.json")).unwrap())
            .unwrap();
    assert!(run_json["machine"]["gpu_name"]
        .as_str()
        .unwrap()
        .starts_with("FIXTURE, NOT A MEASUREMENT"));
    let median = |test: &str, field: &str| {
        run_json["cells"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["key"]["test"] == test)
            .unwrap_or_else(|| panic!("no cell {test}"))[field]["median"]
            .as_f64()
            .unwrap()
    };
    let dir = tempfile::tempdir().unwrap();
    let run = cost8b_run(dir.path(), "r8b", "2026-12-01T00:00:00Z");
    let base = [
        "--run",
        &run,
        "--gpu-run",
        &fixture,
        "--gpu-price-hour",
        "2",
    ];
    let mut a = base.to_vec();
    a.extend(["-o", "json"]);
    let j: Value = serde_json::from_str(&ok_stdout(&a)).unwrap();
    // 8B on both sides: no mismatch line.
    assert!(j["first_line"].is_null(), "{j}");
    let g = row(&j, "GPU FP16 (measured)");
    // Every batch of the fixture meets 5 tokens/s per stream: the largest, 16, is taken.
    close(
        &g["deployment"]["decode_tps"]["value"],
        median("tg32 @ b16", "decode_tokens_per_s"),
    );
    close(
        &g["deployment"]["prefill_tps"]["value"],
        median("pp64", "prefill_tokens_per_s"),
    );
    let d = g["deployment"]["description"].as_str().unwrap();
    assert!(d.contains("FIXTURE, NOT A MEASUREMENT"), "{d}");
    // Its energy is the run's J/token (NVML in a real run), not a catalogue wattage.
    let b16 = run_json["cells"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["key"]["test"] == "tg32 @ b16")
        .unwrap();
    assert_eq!(g["deployment"]["energy"]["kind"], "joules_per_token");
    close(
        &g["deployment"]["energy"]["decode"]["value"],
        b16["energy"]["decode_joules_per_token"]["median"]
            .as_f64()
            .unwrap(),
    );
    let assumptions = j["assumptions"].to_string();
    assert!(
        assumptions.contains("GPU figures measured: run gpu-run-fixture"),
        "{assumptions}"
    );
    // A stricter target: 50 tokens/s per stream. Per stream the fixture's batches make about
    // 77, 69, 57, 43 and 28 tokens/s: batch 4 is the largest meeting it.
    let mut a = base.to_vec();
    a.extend(["--slo", "50", "-o", "json"]);
    let j: Value = serde_json::from_str(&ok_stdout(&a)).unwrap();
    close(
        &row(&j, "GPU FP16 (measured)")["deployment"]["decode_tps"]["value"],
        median("tg32 @ b4", "decode_tokens_per_s"),
    );
    // No price: the run measures throughput only, and says which flag gives one.
    let err = usage_error(&["--run", &run, "--gpu-run", &fixture]);
    assert!(err.contains("--gpu-price-hour"), "{err}");
    // A CPU run is not a GPU run.
    let err = usage_error(&["--run", &run, "--gpu-run", &run, "--gpu-price-hour", "2"]);
    assert!(err.contains("no gpu-fp16 cells"), "{err}");
}

/// The fixture is what the writer of scripts/gpu/decode_bench.py writes today (where python3
/// is at hand; the writer needs only its standard library).
#[test]
fn the_gpu_fixture_is_what_the_script_writes() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let script = root.join("scripts/gpu/make_fixture.py");
    match Command::new("python3").arg(&script).arg("--check").output() {
        Ok(o) => assert!(
            o.status.success(),
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) => eprintln!("python3 not runnable ({e}): fixture check skipped"),
    }
}
