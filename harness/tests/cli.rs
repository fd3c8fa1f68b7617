//! The `ternbench` binary's main paths, run as a user would: JSON outputs parse and carry their
//! documented fields, usage errors exit 2 with a message that says what is wrong, and a SIMD
//! level this CPU lacks is refused by name, never silently replaced.
//!
//! Runs are kept small (a 64 MiB bandwidth array, one thread, few repetitions) so the suite
//! takes seconds, except `kernels --quick -o json`, the documented short run.

use std::process::{Command, Output};

use serde_json::Value;
use ternbench_kernels::{Format, Isa, KernelSet};

fn ternbench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ternbench"))
        .args(args)
        .output()
        .expect("run ternbench")
}

fn stdout_json(o: &Output) -> Value {
    assert!(
        o.status.success(),
        "exit {:?}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}):\n{}",
            String::from_utf8_lossy(&o.stdout)
        )
    })
}

fn usage_error(args: &[&str]) -> String {
    let o = ternbench(args);
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(o.status.code(), Some(2), "{args:?}: stderr:\n{err}");
    assert!(o.stdout.is_empty(), "{args:?} printed to stdout");
    err
}

const ROW_FIELDS: [&str; 16] = [
    "format",
    "isa",
    "op",
    "shape",
    "rows",
    "cols",
    "batch",
    "threads",
    "weight_bytes",
    "median_s",
    "weight_gbps",
    "bandwidth_gbps",
    "bandwidth_ratio",
    "gops",
    "peak_gops",
    "peak_ratio",
];

/// Checks one kernels row: every documented field present, figures consistent with status.
fn check_row(r: &Value) {
    for f in ROW_FIELDS.iter().chain(&[
        "status",
        "samples_s",
        "bandwidth_start_gbps",
        "bandwidth_end_gbps",
    ]) {
        assert!(r.get(f).is_some(), "row lacks `{f}`: {r}");
    }
    let ok = r["status"] == "ok";
    assert_eq!(ok, r["median_s"].is_f64(), "{r}");
    assert!(r["bandwidth_gbps"].as_f64().unwrap() > 0.0, "{r}");
    if ok {
        let med = r["median_s"].as_f64().unwrap();
        assert!(med > 0.0);
        assert!(!r["samples_s"].as_array().unwrap().is_empty());
        let (rows, cols, batch) = (
            r["rows"].as_u64().unwrap() as f64,
            r["cols"].as_u64().unwrap() as f64,
            r["batch"].as_u64().unwrap() as f64,
        );
        let gops = r["gops"].as_f64().unwrap();
        assert!((gops - rows * cols * batch / med / 1e9).abs() <= 1e-9 * gops.max(1.0));
        let got = r["bandwidth_ratio"].as_f64().unwrap();
        if r["op"] == "gemv" {
            // The median of per-round ratios, each against the mean of the bandwidth passes
            // just before and just after its round.
            let f = |k: &str| -> Vec<f64> {
                r[k].as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_f64().unwrap())
                    .collect()
            };
            let (mut rounds, bws) = (
                f("bandwidth_ratio_rounds"),
                f("bandwidth_beside_samples_gbps"),
            );
            assert_eq!(rounds.len(), 5, "{r}");
            assert_eq!(bws.len(), 6, "{r}");
            assert!(
                bws.iter().all(|&b| b > 0.0) && rounds.iter().all(|&x| x > 0.0),
                "{r}"
            );
            rounds.sort_by(f64::total_cmp);
            assert!((got - rounds[2]).abs() < 1e-12, "{r}");
            assert!(r["bandwidth_beside_gbps"].as_f64().unwrap() > 0.0, "{r}");
        } else {
            let ratio = r["weight_gbps"].as_f64().unwrap() / r["bandwidth_gbps"].as_f64().unwrap();
            assert!((got - ratio).abs() < 1e-9);
        }
    }
    if r["op"] == "gemv" {
        assert_eq!(r["batch"], 1);
        assert!(r["peak_gops"].is_null() && r["peak_ratio"].is_null(), "{r}");
    } else if ok {
        assert!(r["peak_gops"].as_f64().unwrap() > 0.0, "{r}");
        assert!(r["peak_ratio"].as_f64().unwrap() > 0.0, "{r}");
    }
}

#[test]
fn bandwidth_json_quick() {
    let v = stdout_json(&ternbench(&[
        "bandwidth",
        "-o",
        "json",
        "--threads",
        "1",
        "--size-mib",
        "64",
        "--passes",
        "2",
    ]));
    assert_eq!(v["size_bytes"], 64 << 20);
    let r = &v["results"].as_array().unwrap()[0];
    assert_eq!(r["threads"], 1);
    assert!(r["median_gbps"].as_f64().unwrap() > 0.1);
    assert!(r["max_gbps"].as_f64().unwrap() >= r["median_gbps"].as_f64().unwrap());
    assert_eq!(r["samples_gbps"].as_array().unwrap().len(), 2);
    let method = r["method"].as_str().unwrap();
    assert!(r["methods"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["method"] == method));
}

#[test]
fn peak_json_lists_every_level() {
    let v = stdout_json(&ternbench(&["peak", "-o", "json"]));
    let rows = v.as_array().unwrap();
    for isa in Isa::available() {
        for kind in ["int8", "f32"] {
            let r = rows
                .iter()
                .find(|r| r["isa"] == isa.name() && r["kind"] == kind)
                .unwrap_or_else(|| panic!("no {isa} {kind} peak in {v}"));
            assert!(r["max_gops"].as_f64().unwrap() > 0.0);
        }
    }
}

#[test]
fn kernels_quick_json() {
    let v = stdout_json(&ternbench(&["kernels", "--quick", "-o", "json"]));
    let rows = v.as_array().unwrap();
    // i2, tq1, f16 at their best level; gemv on the stack and the L2-resident matrix, gemm on
    // kv; 1 thread and all cores.
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per_thread_counts = if threads > 1 { 2 } else { 1 };
    assert_eq!(rows.len(), 3 * 3 * per_thread_counts, "{v}");
    for r in rows {
        check_row(r);
        assert_eq!(r["status"], "ok", "best level always has a kernel: {r}");
        if r["op"] == "gemv" && r["shape"] == "stack" {
            assert!(r["stack_matrices"].as_u64().unwrap() > 1);
        } else if r["op"] == "gemv" {
            // Sized to half of each participating core's L2, whole 32-row groups.
            assert_eq!(r["shape"], "l2");
            assert_eq!(r["stack_matrices"], 1);
            assert_eq!(r["rows"].as_u64().unwrap() % 32, 0, "{r}");
        } else {
            assert_eq!(r["shape"], "kv");
            assert_eq!(r["batch"], 128);
        }
    }
}

#[test]
fn kernels_all_levels_report_missing_kernels_as_rows() {
    let v = stdout_json(&ternbench(&[
        "kernels",
        "-o",
        "json",
        "--isa",
        "all",
        "--weight-format",
        "tq1",
        "--shapes",
        "kv",
        "--op",
        "gemv,gemm",
        "--threads",
        "1",
        "--batch",
        "4",
        "--min-reps",
        "2",
        "--min-time",
        "0",
    ]));
    let rows = v.as_array().unwrap();
    let levels = KernelSet::available();
    assert_eq!(rows.len(), levels.len() * 2);
    for ks in levels {
        for r in rows.iter().filter(|r| r["isa"] == ks.isa.name()) {
            check_row(r);
            let want = if ks.has(Format::Tq1) {
                "ok"
            } else {
                "no kernel"
            };
            assert_eq!(r["status"], want, "{r}");
        }
    }
}

#[test]
fn kernels_out_dir_writes_json_and_markdown() {
    let dir = std::env::temp_dir().join(format!("ternbench-cli-out-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let o = ternbench(&[
        "kernels",
        "--weight-format",
        "i2",
        "--isa",
        "scalar",
        "--shapes",
        "kv",
        "--threads",
        "1",
        "--batch",
        "2",
        "--min-reps",
        "2",
        "--min-time",
        "0",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("Read bandwidth, 1 thread(s)"), "{text}");
    assert!(text.contains("i2") && text.contains("scalar"), "{text}");
    let json: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("kernels.json")).unwrap()).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 2);
    json.as_array().unwrap().iter().for_each(check_row);
    let md = std::fs::read_to_string(dir.join("kernels.md")).unwrap();
    assert!(md.starts_with("# ternbench kernels"));
    assert!(md.contains("- CPU: "), "{md}");
    assert!(md.contains("Peak scalar int8"), "{md}");
    assert!(md.contains("| format | isa |"), "{md}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `--prefetch BYTES` runs every gemv cell at that distance and records it in the row; the
/// default (`auto`) calibrates first, says what it chose, and each row records a candidate; a
/// distance that is not whole cache lines is refused up front.
#[test]
fn kernels_prefetch_given_or_calibrated_is_recorded_per_row() {
    let dir = std::env::temp_dir().join(format!("ternbench-cli-pf-{}", std::process::id()));
    let run = |pf: Option<&str>| {
        let _ = std::fs::remove_dir_all(&dir);
        let mut args = vec![
            "kernels",
            "--quick",
            "--weight-format",
            "i2",
            "--op",
            "gemv",
            "--shapes",
            "l2",
            "--threads",
            "1",
            "--out",
            dir.to_str().unwrap(),
        ];
        if let Some(p) = pf {
            args.extend(["--prefetch", p]);
        }
        let o = ternbench(&args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let json: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("kernels.json")).unwrap())
                .unwrap();
        let rows = json.as_array().unwrap().clone();
        for r in &rows {
            check_row(r);
        }
        (String::from_utf8_lossy(&o.stderr).into_owned(), rows)
    };
    // Only the x86 SIMD levels prefetch in software (scalar and NEON record null).
    #[cfg(target_arch = "x86_64")]
    let x86_simd = std::arch::is_x86_feature_detected!("sse4.1");
    #[cfg(not(target_arch = "x86_64"))]
    let x86_simd = false;
    let (_, rows) = run(Some("1024"));
    for r in &rows {
        let want = if x86_simd {
            Value::from(1024)
        } else {
            Value::Null
        };
        assert_eq!(r["prefetch_bytes"], want, "{r}");
    }
    let (err, rows) = run(None);
    if x86_simd {
        assert!(
            err.contains("gemv prefetch i2") && err.contains("(calibrated)"),
            "{err}"
        );
        for r in &rows {
            let b = r["prefetch_bytes"].as_u64().unwrap();
            assert!([0, 512, 1024, 2048, 4096].contains(&b), "{r}");
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();

    let e = usage_error(&["kernels", "--prefetch", "100"]);
    assert!(e.contains("multiple of 64"), "{e}");
    let e = usage_error(&["generate", "-m", "bitnet-125m", "--prefetch", "100"]);
    assert!(
        e.contains("--prefetch") && e.contains("multiple of 64"),
        "{e}"
    );
}

#[test]
fn bad_arguments_exit_2_with_a_message() {
    let e = usage_error(&["kernels", "--weight-format", "i3"]);
    assert!(
        e.contains("unknown weight format `i3`") && e.contains("tq1"),
        "{e}"
    );
    let e = usage_error(&["kernels", "--isa", "avx3"]);
    assert!(e.contains("unknown SIMD level `avx3`"), "{e}");
    let e = usage_error(&["kernels", "--threads", "0"]);
    assert!(e.contains("--threads"), "{e}");
    let e = usage_error(&["kernels", "--shapes", "huge"]);
    assert!(e.contains("unknown shape `huge`"), "{e}");
    let e = usage_error(&["kernels", "--op", "conv"]);
    assert!(e.contains("conv"), "{e}");
    let e = usage_error(&["bandwidth", "--size-mib", "lots"]);
    assert!(e.contains("--size-mib"), "{e}");
    usage_error(&["frobnicate"]);
    usage_error(&[]);
}

#[test]
fn a_level_this_cpu_lacks_is_refused_by_name() {
    // neon never runs on x86-64; on other machines, any x86 level is missing instead.
    let missing: Vec<Isa> = Isa::ALL.into_iter().filter(|i| !i.is_available()).collect();
    assert!(!missing.is_empty());
    for isa in missing {
        let e = usage_error(&[
            "kernels",
            "--isa",
            isa.name(),
            "--weight-format",
            "i2",
            "--shapes",
            "kv",
            "--threads",
            "1",
        ]);
        assert!(e.contains(&format!("`{}`", isa.name())), "{e}");
        for f in isa.missing_features() {
            assert!(e.contains(f), "{isa}: `{f}` not named in: {e}");
        }
        assert!(e.contains("missing CPU features"), "{e}");
    }
}

#[test]
fn a_named_level_without_a_named_format_is_an_error() {
    for ks in KernelSet::available() {
        for f in Format::ALL {
            if ks.has(f) {
                continue;
            }
            let e = usage_error(&[
                "kernels",
                "--isa",
                ks.isa.name(),
                "--weight-format",
                f.name(),
                "--shapes",
                "kv",
            ]);
            assert!(
                e.contains(&format!("no `{f}` kernel at SIMD level `{}`", ks.isa)),
                "{e}"
            );
            return; // one case is enough
        }
    }
}

#[test]
fn logits_json_has_one_vocab_row_per_token() {
    let o = ternbench(&[
        "logits",
        "--model",
        "bitnet-125m",
        "--tokens",
        "1,17,250",
        "-o",
        "json",
    ]);
    let v = stdout_json(&o);
    assert_eq!(v["tokens"], serde_json::json!([1, 17, 250]));
    let rows = v["logits"].as_array().unwrap();
    assert_eq!(rows.len(), 3);
    for r in rows {
        let r = r.as_array().unwrap();
        assert_eq!(r.len(), 32002);
        assert!(r.iter().all(|x| x.as_f64().unwrap().is_finite()));
    }
}

#[test]
fn generate_reports_speeds_and_sampling_is_labelled() {
    let o = ternbench(&[
        "generate",
        "--model",
        "bitnet-125m",
        "--tokens",
        "1,2,3",
        "--max-tokens",
        "4",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("prefill:") && err.contains("decode:"), "{err}");
    assert_eq!(
        String::from_utf8_lossy(&o.stdout)
            .split_whitespace()
            .count(),
        4
    );
    let o = ternbench(&[
        "generate",
        "--model",
        "bitnet-7b",
        "--sample-layers",
        "1",
        "--tokens",
        "1",
        "--max-tokens",
        "3",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("SAMPLED"), "{err}");
    // --prompt through a GGUF's embedded SentencePiece vocabulary (the golden fixture's dummy
    // one: `<tokN>` pieces, no byte pieces): BOS, then the unknown piece for the whole text
    // (no piece covers its characters; consecutive unknowns fuse, as in SentencePiece).
    let gguf = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../engine/tests/fixtures/bitnet-autobitlinear/model-i2_s.gguf"
    );
    let o = ternbench(&[
        "generate",
        "--model",
        gguf,
        "--prompt",
        "hello world",
        "--max-tokens",
        "2",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("prefill: 2 tokens"), "{err}");
    assert!(String::from_utf8_lossy(&o.stdout).contains("<tok"));
}

/// `bench` on bitnet-125m, pp8 and tg4, one repetition, JSON rows; `extra` arguments after.
fn bench_rows(extra: &[&str]) -> Value {
    let mut args = vec![
        "bench",
        "-m",
        "bitnet-125m",
        "-p",
        "8",
        "-n",
        "4",
        "-r",
        "1",
        "-o",
        "json",
        "-q",
    ];
    args.extend_from_slice(extra);
    stdout_json(&ternbench(&args))
}

/// llama-batched-bench's sweep: every test again with B sequences at once, aggregate tokens/s,
/// per-stream tokens/s and latency percentiles per row, the ceiling row `ppP+head`, and each
/// row's fraction of the compute peaks and ratios to batch 1 and to the ceiling.
#[test]
fn bench_batch_sweep_rows() {
    let v = bench_rows(&["--engine", "ternary", "--batch", "1,3"]);
    let rows = v.as_array().unwrap();
    let tests: Vec<&str> = rows.iter().map(|r| r["test"].as_str().unwrap()).collect();
    assert_eq!(tests, ["pp8", "tg4", "pp8 @ b3", "tg4 @ b3", "pp8+head"]);
    for r in rows {
        assert!(r["avg_ts"].as_f64().unwrap() > 0.0, "{r}");
        let f = r["peak_fraction"].as_f64().unwrap();
        assert!(f > 0.0 && f < 2.0, "{r}");
    }
    let tg3 = &rows[3];
    assert_eq!(tg3["batch"], 3);
    // Aggregate over three streams: each stream a third of it.
    let (agg, per) = (
        tg3["median_ts"].as_f64().unwrap(),
        tg3["median_ts_per_stream"].as_f64().unwrap(),
    );
    assert!((agg / per - 3.0).abs() < 1e-9, "{tg3}");
    assert!(tg3["p99_ms"].as_f64().unwrap() >= tg3["p50_ms"].as_f64().unwrap());
    // Ratios of medians from the statistics model: a value, and with one repetition per side
    // no interval but the reason in words.
    let ratio = tg3["ratio_to_batch1"]["value"].as_f64().unwrap();
    let want = agg / rows[1]["median_ts"].as_f64().unwrap();
    assert!((ratio - want).abs() < 1e-9, "{tg3}");
    assert!(tg3["ratio_to_batch1"]["ci95_low"].is_null(), "{tg3}");
    assert!(tg3["ratio_to_batch1"]["no_ci"].is_string(), "{tg3}");
    let ceil = tg3["ratio_to_ceiling"]["value"].as_f64().unwrap();
    assert!((ceil - agg / rows[4]["median_ts"].as_f64().unwrap()).abs() < 1e-9);
    // Only decode rows have a ratio to the ceiling; batch-1 rows and the ceiling row have
    // none to batch 1.
    assert!(rows[1]["ratio_to_batch1"].is_null(), "{}", rows[1]);
    assert!(rows[2]["ratio_to_ceiling"].is_null(), "{}", rows[2]);
    assert!(rows[4]["ratio_to_batch1"].is_null(), "{}", rows[4]);
    // A prefill row has no per-stream decode rate.
    assert!(rows[2]["median_ts_per_stream"].is_null());
    let err = usage_error(&["bench", "-m", "bitnet-125m", "--batch", "0"]);
    assert!(err.contains("--batch"), "{err}");
}

#[test]
fn bench_json_rows_and_engine_errors() {
    let v = bench_rows(&[]);
    let rows = v.as_array().unwrap();
    assert_eq!(rows.len(), 4, "ternary and fp16 x pp and tg");
    for r in rows {
        assert!(r["avg_ts"].as_f64().unwrap() > 0.0);
        // The ladder imitates the 1bitLLM family: SiLU, and bench says so.
        assert_eq!(r["activation"], "silu", "{r}");
        assert!(
            r["test"].as_str().unwrap().starts_with("pp")
                || r["test"].as_str().unwrap().starts_with("tg")
        );
    }
    // llama-bench's depth: every test again with the cache already holding d tokens.
    let v = bench_rows(&["--engine", "ternary", "-d", "0,6"]);
    let tests: Vec<(String, u64)> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            assert!(r["avg_ts"].as_f64().unwrap() > 0.0, "{r}");
            // llama-bench's default cache type.
            assert_eq!(r["kv"], "f16", "{r}");
            (
                r["test"].as_str().unwrap().to_string(),
                r["n_depth"].as_u64().unwrap(),
            )
        })
        .collect();
    for want in [("pp8", 0), ("tg4", 0), ("pp8 @ d6", 6), ("tg4 @ d6", 6)] {
        assert!(
            tests.iter().any(|(t, d)| t == want.0 && *d == want.1),
            "{want:?} not in {tests:?}"
        );
    }
    assert_eq!(tests.len(), 4, "{tests:?}");
    let err = usage_error(&["bench", "-m", "gpt-9", "-r", "1"]);
    assert!(
        err.contains("unknown model") && err.contains("bitnet-2b4t"),
        "{err}"
    );
    let err = usage_error(&["generate", "--model", "bitnet-125m", "--prompt", "hello"]);
    assert!(err.contains("tokenizer"), "{err}");
    let err = usage_error(&["generate", "--model", "bitnet-125m", "--tokens", "1,99999"]);
    assert!(err.contains("vocabulary"), "{err}");
    let err = usage_error(&[
        "generate",
        "--model",
        "bitnet-125m",
        "--tokens",
        "1",
        "--max-tokens",
        "5000",
    ]);
    assert!(err.contains("context"), "{err}");
}

#[test]
fn bench_csv_is_rfc_4180_with_one_line_per_row() {
    let o = ternbench(&[
        "bench",
        "-m",
        "bitnet-125m",
        "--sample-layers",
        "1",
        "-p",
        "4",
        "-n",
        "2",
        "-r",
        "1",
        "-o",
        "csv",
        "-q",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8(o.stdout).unwrap();
    let mut r = csv::Reader::from_reader(text.as_bytes());
    let header = r.headers().unwrap().clone();
    assert_eq!(&header[0], "model");
    assert!(header.iter().any(|h| h == "median_ts"), "{header:?}");
    let rows: Vec<csv::StringRecord> = r.records().map(|x| x.unwrap()).collect();
    assert_eq!(rows.len(), 4, "{text}");
    for row in &rows {
        assert_eq!(row.len(), header.len(), "{row:?}");
        assert_eq!(&row[0], "bitnet-125m");
    }
}
