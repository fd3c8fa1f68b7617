//! `ternbench report` end to end on synthetic run folders (run.json written here with
//! serde_json): one run with a SAMPLED model and ESTIMATED energy, one from a different
//! machine with energy unavailable, and one whose scenario differs (refused with exit 2, then
//! flagged under --allow-mismatch). Checks the files, that the HTML is self-contained (inline
//! SVG, no remote resources), that the PNGs are real images, and that the labels show.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{json, Value};

const SCENARIO: &str = "name = \"cmp\"\ndescription = \"synthetic\"\nmodels = [\"bitnet-700m\", { name = \"bitnet-100b\", sample_layers = 2 }]\nengines = [\"ternary\", \"fp16\"]\nthreads = [1, 2]\ntests = [\"pp64+tg32\"]\n";

fn ternbench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ternbench"))
        .args(args)
        .output()
        .expect("running ternbench")
}

fn summary(median: f64) -> Value {
    json!({
        "n": 5, "median": median, "mean": median, "stddev": median * 0.05,
        "ci95_low": median * 0.94, "ci95_high": median * 1.06,
        "min": median * 0.9, "max": median * 1.1, "cv": 0.05, "outliers": []
    })
}

fn reps(m: f64) -> Vec<f64> {
    [0.98, 0.99, 1.0, 1.0, 1.01, 1.02]
        .iter()
        .map(|k| k * m)
        .collect()
}

fn cell(
    model: &str,
    engine: &str,
    threads: usize,
    tg: f64,
    sampled: bool,
    energy: Option<&str>,
) -> Value {
    let j = if engine == "ternary" { 0.05 } else { 0.2 } / threads as f64;
    json!({
        "key": {
            "model": model, "engine": engine,
            "format": if engine == "ternary" { "i2" } else { "f16" },
            "head": "f16", "isa": "avx2", "threads": threads, "test": "pp64+tg32"
        },
        "n_prompt": 64, "n_gen": 32,
        "sampled": if sampled { json!({"layers_built": 2, "layers_total": 72}) } else { Value::Null },
        "repetitions": 5,
        "load_seconds": 1.0,
        "decode_bytes_per_token": 1_000_000_000u64,
        "prefill_tokens_per_s": summary(tg * 3.0),
        "decode_tokens_per_s": summary(tg),
        "ttft_seconds": summary(0.5),
        "decode_latency_ms": {"n": 160, "p50": 1000.0 / tg, "p90": 1100.0 / tg, "p99": 1300.0 / tg},
        "peak_rss_bytes": 1u64 << 30,
        "bandwidth_gbps": 20.0,
        "decode_roofline_fraction": tg * 1e9 / 20e9,
        "decode_tokens_per_s_full_depth_estimate": if sampled { json!(tg * 2.0 / 72.0) } else { Value::Null },
        "energy": match energy {
            Some(m) => json!({
                "method": m,
                "prefill_joules_per_token": summary(j / 3.0),
                "decode_joules_per_token": summary(j),
                "decode_net_joules_per_token": Value::Null,
                "decode_watts": summary(30.0)
            }),
            None => Value::Null,
        },
        "noisy": false,
        // Six repetitions (±2%): enough for the medians' and the ratios' 95% CIs.
        "samples_prefill_tokens_per_s": reps(tg * 3.0),
        "samples_decode_tokens_per_s": reps(tg)
    })
}

fn model(name: &str, engine: &str, params: u64, built: usize, total: usize) -> Value {
    json!({
        "model": name, "engine": engine, "format": if engine == "ternary" { "i2" } else { "f16" },
        "head": "f16", "layers_built": built, "layers_total": total, "params": params,
        "weight_bytes": params / 4, "decode_bytes_per_token": params / 4,
        "decode_bytes_per_token_full_depth": params / 4, "load_seconds": 1.0, "activation": "relu2"
    })
}

/// Writes `dir/<id>/run.json`.
fn write_run(
    dir: &Path,
    id: &str,
    cpu: &str,
    scenario: &str,
    energy: Option<&str>,
    speed: f64,
) -> PathBuf {
    let energy_block = match energy {
        Some(m) => {
            json!({"status": m, "source": "estimate-tdp", "reason": Value::Null, "fix": Value::Null})
        }
        None => json!({"status": "unavailable", "source": "none",
                       "reason": "no energy counters could be read (test machine)",
                       "fix": "pass --tdp WATTS"}),
    };
    let mut cells = Vec::new();
    for t in [1usize, 2] {
        let f = t as f64;
        cells.push(cell(
            "bitnet-700m",
            "ternary",
            t,
            40.0 * f * speed,
            false,
            energy,
        ));
        cells.push(cell(
            "bitnet-700m",
            "fp16",
            t,
            10.0 * f * speed,
            false,
            energy,
        ));
        cells.push(cell(
            "bitnet-100b",
            "ternary",
            t,
            20.0 * f * speed,
            true,
            energy,
        ));
        cells.push(cell(
            "bitnet-100b",
            "fp16",
            t,
            4.0 * f * speed,
            true,
            energy,
        ));
    }
    let run = json!({
        "schema_version": 1, "run_id": id, "status": "complete", "ternbench_version": "0.1.0",
        "started_utc": "2026-11-23T10:00:00Z", "finished_utc": "2026-11-23T10:05:00Z", "resumed": 0,
        "scenario": {"name": "cmp", "description": "synthetic", "file": Value::Null, "text": scenario},
        "machine": {
            "cpu_model": cpu, "microarchitecture": "Zen 4", "physical_cores": 2, "logical_cpus": 2,
            "sockets": 1, "memory_bytes": 25_276_502_016u64, "l3_bytes": 33_554_432u64,
            "isa_features": {"avx2": true, "sse4.1": true, "avx512f": false},
            "target": "x86_64-unknown-linux-gnu", "build_profile": "release",
            "git_commit": "abcdef1234567890", "rustc_version": "rustc 1.95.0"
        },
        "bandwidth": [{"threads": 1, "before_gbps": 20.0, "after_gbps": 21.0},
                      {"threads": 2, "before_gbps": 30.0, "after_gbps": 29.0}],
        "counters": {"status": "unavailable", "reason": "no PMU in this VM"},
        "energy": energy_block,
        "models": [
            model("bitnet-700m", "ternary", 728_632_320, 24, 24),
            model("bitnet-700m", "fp16", 728_632_320, 24, 24),
            model("bitnet-100b", "ternary", 100_000_000_000, 2, 72),
            model("bitnet-100b", "fp16", 100_000_000_000, 2, 72)
        ],
        "cells": cells,
        "notes": ["SAMPLED cells built only some layers"]
    });
    let d = dir.join(id);
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(
        d.join("run.json"),
        serde_json::to_string_pretty(&run).unwrap(),
    )
    .unwrap();
    d
}

fn is_png(p: &Path) -> bool {
    let b = std::fs::read(p).unwrap();
    b.len() > 2000 && b.starts_with(&[0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n'])
}

#[test]
fn report_of_two_machines_is_self_contained_and_labelled() {
    let tmp = tempfile::tempdir().unwrap();
    let a = write_run(
        tmp.path(),
        "run-a",
        "Intel Xeon Test",
        SCENARIO,
        Some("estimated"),
        1.0,
    );
    let b = write_run(tmp.path(), "run-b", "AMD EPYC Test", SCENARIO, None, 1.5);
    let out = tmp.path().join("rep");
    let o = ternbench(&[
        "report",
        a.to_str().unwrap(),
        b.join("run.json").to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--price",
        "1=0.10",
        "--price",
        "run-b=0.20",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // To look at the report: TERNBENCH_KEEP_REPORT=/some/dir cargo test --test report_cli
    if let Ok(keep) = std::env::var("TERNBENCH_KEEP_REPORT") {
        let keep = Path::new(&keep);
        std::fs::create_dir_all(keep).unwrap();
        for e in std::fs::read_dir(&out).unwrap() {
            let p = e.unwrap().path();
            std::fs::copy(&p, keep.join(p.file_name().unwrap())).unwrap();
        }
    }

    for f in [
        "index.html",
        "summary.md",
        "tables.csv",
        "claims.csv",
        "cpus.csv",
    ] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    let html = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert!(html.contains("<svg"), "charts are inline SVG");
    assert!(html.contains("@media print"), "print stylesheet");
    for bad in [
        "src=\"http",
        "href=\"http",
        "url(http",
        "@import",
        "<script",
        "<link",
    ] {
        assert!(!html.contains(bad), "remote resource or script: {bad}");
    }
    assert!(!html.contains("http://") && !html.contains("https://"));
    for label in ["SAMPLED", "ESTIMATED"] {
        assert!(html.contains(label), "{label} in the HTML");
        let md = std::fs::read_to_string(out.join("summary.md")).unwrap();
        assert!(md.contains(label), "{label} in summary.md");
        let csv = std::fs::read_to_string(out.join("tables.csv")).unwrap();
        assert!(csv.contains(label), "{label} in tables.csv");
    }
    // Every chart both ways; the CPU comparison has per-watt (estimated) and per-dollar charts.
    let mut pngs = 0;
    for e in std::fs::read_dir(&out).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "png") {
            assert!(is_png(&p), "{} is not a PNG", p.display());
            assert!(p.with_extension("svg").is_file());
            pngs += 1;
        }
    }
    assert!(pngs >= 8, "{pngs} charts");
    for id in [
        "speedup",
        "joules_per_token",
        "energy_reduction",
        "cpu_per_watt",
        "cpu_per_dollar",
        "latency",
    ] {
        assert!(out.join(format!("{id}.png")).is_file(), "{id}.png");
    }
    // The SVG legend names the labels too.
    let sp = std::fs::read_to_string(out.join("speedup.svg")).unwrap();
    assert!(sp.contains("SAMPLED"), "speedup.svg legend");
    let j = std::fs::read_to_string(out.join("joules_per_token.svg")).unwrap();
    assert!(j.contains("ESTIMATED"), "joules_per_token.svg legend");
    // Energy unavailable on machine B is explained, with its reason, once (in its verdict
    // card), and run B's card comes before everything else but run A's.
    assert_eq!(
        html.matches("no energy counters could be read (test machine)")
            .count(),
        1,
        "the energy reason once per run"
    );
    let card_b = html.find("id=\"verdict-2\"").expect("run B's verdict card");
    assert!(card_b < html.find("id=\"results\"").unwrap());
    assert!(html.find("id=\"verdict-1\"").unwrap() < card_b);
    // The cards answer with the ratios and their CIs: 700M 4x at 2 threads.
    assert!(
        html.contains("ternary i2 decodes 4.00x ["),
        "the verdict's decode ratio"
    );
    // Claims: 700M speedup (4x) reproduces claim 1's 3.88x, on different hardware.
    let claims = std::fs::read_to_string(out.join("claims.csv")).unwrap();
    assert!(
        claims.lines().any(|l| l.starts_with("1,")
            && l.contains("bitnet-700m")
            && l.contains(",reproduced,")
            && l.contains("different hardware")),
        "{claims}"
    );
    // Prices give tokens per dollar: 700M ternary on run A at 2 threads: 80 tok/s × 3600 / 0.10.
    let cpus = std::fs::read_to_string(out.join("cpus.csv")).unwrap();
    assert!(cpus.contains("2880000"), "{cpus}");
}

#[test]
fn differing_scenarios_are_refused_unless_allowed() {
    let tmp = tempfile::tempdir().unwrap();
    let a = write_run(tmp.path(), "run-a", "CPU A", SCENARIO, None, 1.0);
    let other = SCENARIO.replace("threads = [1, 2]", "threads = [1, 4]");
    let c = write_run(tmp.path(), "run-c", "CPU C", &other, None, 1.0);
    let out = tmp.path().join("rep");
    let o = ternbench(&[
        "report",
        a.to_str().unwrap(),
        c.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("threads: #1 = [1, 2]; #2 = [1, 4]"), "{err}");
    assert!(!out.join("index.html").exists());

    let o = ternbench(&[
        "report",
        a.to_str().unwrap(),
        c.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--allow-mismatch",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let html = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert!(html.contains("Settings differ between these runs"));
    assert!(html.contains("threads: #1 = [1, 2]; #2 = [1, 4]"));
}

#[test]
fn bad_inputs_are_usage_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let o = ternbench(&["report", tmp.path().join("nope").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let a = write_run(tmp.path(), "run-a", "CPU A", SCENARIO, None, 1.0);
    let o = ternbench(&[
        "report",
        a.to_str().unwrap(),
        "--price",
        "7=1.0",
        "--out",
        tmp.path().join("r").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no run `7`"));
}

/// Rewrites `dir/run.json` as a run with measured energy (`dram` in its totals or not) at one
/// thread count (2), made on a machine where `busy` other processes were running.
fn measured_at_one_thread_count(dir: &Path, dram: bool, busy: bool) {
    let p = dir.join("run.json");
    let mut run: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    run["energy"] = json!({
        "status": "measured", "source": "powercap", "dram_in_total": dram,
        "caveats": ["AMD: the package counter covers the I/O die"],
        "idle": {"cpu_total_watts": 40.0, "quiet": false, "other_load_cpus": 0.8,
                 "notes": ["NOT QUIET: other processes used 0.80 CPUs during the 5.0 s idle window"]},
        "idle_end": {"cpu_total_watts": 52.0, "quiet": true, "notes": []},
        "idle_drift": {"start_watts": 40.0, "end_watts": 52.0, "relative": 0.3, "flagged": true,
                       "note": "IDLE DRIFT: idle power moved +30% during the run"}
    });
    run["machine"]["busy_processes"] = if busy {
        json!([{"name": "rustc", "pid": 4242, "cpu_percent": 97.0}])
    } else {
        json!([])
    };
    let cells: Vec<Value> = run["cells"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["key"]["threads"] == 2 && c["key"]["model"] == "bitnet-700m")
        .cloned()
        .map(|mut c| {
            c["energy"]["method"] = json!("measured");
            c["energy"]["dram_in_total"] = json!(dram);
            c
        })
        .collect();
    run["cells"] = Value::Array(cells);
    std::fs::write(&p, serde_json::to_string_pretty(&run).unwrap()).unwrap();
}

#[test]
fn the_card_carries_energy_notes_and_busy_warnings_and_one_thread_count_draws_bars() {
    let tmp = tempfile::tempdir().unwrap();
    let a = write_run(
        tmp.path(),
        "run-a",
        "AMD EPYC Test",
        SCENARIO,
        Some("measured"),
        1.0,
    );
    let b = write_run(
        tmp.path(),
        "run-b",
        "Intel Xeon Test",
        SCENARIO,
        Some("measured"),
        1.0,
    );
    measured_at_one_thread_count(&a, false, true);
    measured_at_one_thread_count(&b, true, false);

    // One run: the card answers, with the energy notes under J/token and the BUSY warning.
    let out = tmp.path().join("one");
    let o = ternbench(&[
        "report",
        a.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let html = std::fs::read_to_string(out.join("index.html")).unwrap();
    let card = &html[html.find("id=\"verdict-1\"").unwrap()..html.find("id=\"results\"").unwrap()];
    for want in [
        "J/token, DRAM out",
        "DRAM OUT: this machine exposes no DRAM counter",
        "caveat: AMD: the package counter covers the I/O die",
        "idle baseline before the sweep: NOT QUIET",
        "IDLE DRIFT: idle power moved +30%",
        "BUSY: other processes used the CPU when the run started: rustc (97% of a CPU)",
    ] {
        assert!(card.contains(want), "{want:?} not in the card:\n{card}");
    }
    // The machine block labels the busy processes.
    assert!(
        html.contains(
            "other busy processes (when the run started)</td><td>rustc (97% of a CPU, pid 4242)"
        ),
        "no busy-processes row"
    );
    // One thread count: bars per cell, no line against threads.
    assert!(out.join("decode_cells.svg").is_file());
    assert!(!out.join("decode_threads.svg").exists());

    // Two runs whose totals differ in DRAM scope: the CPU comparison says so.
    let out = tmp.path().join("two");
    let o = ternbench(&[
        "report",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let html = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert!(
        html.contains("energy is not like for like across these runs: DRAM energy is in the totals of #2 (Σpackage + Σdram) and out of #1"),
        "no DRAM-scope note"
    );
    let md = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(
        md.contains("(DRAM out)") && md.contains("(DRAM in)"),
        "{md}"
    );
    // Run B's machine was quiet: its card warns of nothing busy.
    let card_b =
        &html[html.find("id=\"verdict-2\"").unwrap()..html.find("id=\"results\"").unwrap()];
    assert!(!card_b.contains("BUSY"), "{card_b}");
}
