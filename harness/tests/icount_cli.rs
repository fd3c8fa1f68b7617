//! `ternbench icount` and `ternbench compare` on instruction counts, run as a user would.
//!
//! Without Valgrind: the case list, compare on counts files built here (identical counts pass,
//! a 6% costlier kernel call fails with exit 1 naming it, bad input and a different toolchain
//! exit 2), and named counts baselines.
//!
//! With Valgrind (skipped when it is missing, unless `TERNBENCH_REQUIRE_VALGRIND=1`, which
//! `.ci/run` sets after installing it): the same build counted twice gives identical counts,
//! and the build with a deliberately slowed `avx2` `i2` `gemv` (an extra pass over a sixteenth
//! of the rows, switched on by `TERNBENCH_SELFTEST_SLOW_KERNEL=avx2.i2.gemv`) fails the gate
//! with exit 1, naming that kernel and its change, while the kernels it did not touch stay
//! identical.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::{json, Value};

fn ternbench(args: &[&str]) -> Output {
    ternbench_env(args, &[])
}

fn ternbench_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ternbench"));
    c.args(args).env_remove("TERNBENCH_SELFTEST_SLOW_KERNEL");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run ternbench")
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A counts file with two cases.
fn counts(gemv_ir: f64, rustc: &str) -> Value {
    json!({
        "schema": "ternbench-icount/1",
        "created_utc": "2026-01-01T00:00:00Z",
        "tool": {
            "valgrind": "valgrind-3.19.0", "tool": "callgrind", "cache_sim": false,
            "caches": null, "options": [], "method": "test"
        },
        "build": {
            "ternbench_version": "0.1.0", "git_commit": "0123456789", "git_dirty": false,
            "rustc": rustc, "profile": "release", "opt_level": "3",
            "debug_assertions": false, "target": "x86_64-unknown-linux-gnu",
            "target_features": ["sse2"]
        },
        "host": {"cpu_model": "Test CPU", "os": "Test OS", "libc": "glibc 2.36"},
        "levels": {"counted": ["avx2"], "not_counted": [
            {"isa": "avx512", "reason": "Valgrind does not run AVX-512 code"}
        ]},
        "suite": {
            "model": "bitnet-125m", "layers": 2, "layers_total": 11,
            "prompt_tokens": 16, "decode_tokens": 8, "gemm_batches": [8, 67]
        },
        "cases": [
            {"id": "kernel:i2:avx2:gemv:qo", "label": "i2 avx2 gemv qo 2560x2560",
             "unit": "call", "instructions": gemv_ir, "d1_misses": null, "ll_misses": null,
             "regions": []},
            {"id": "model:ternary-i2:avx2:decode",
             "label": "bitnet-125m (2 layers) ternary/i2 avx2 decode 8 tokens after 16",
             "unit": "token", "instructions": 4000000.25, "d1_misses": null,
             "ll_misses": null, "regions": []}
        ],
        "duration_s": 1.0, "cpu_s": 1.0, "jobs": 1, "notes": []
    })
}

fn write(dir: &Path, name: &str, v: &Value) -> String {
    let p = dir.join(name);
    std::fs::write(&p, serde_json::to_string_pretty(v).unwrap()).unwrap();
    p.to_string_lossy().into_owned()
}

#[test]
fn list_names_the_cases_and_says_avx512_is_not_counted() {
    let o = ternbench(&["icount", "--list", "--cases", "kernel:i2:avx2:*,model:*"]);
    assert!(o.status.success(), "{}", text(&o));
    let s = stdout(&o);
    for id in [
        "kernel:i2:avx2:gemv:qo",
        "kernel:i2:avx2:gemm8:down",
        "model:fp16:avx2:prefill",
    ] {
        assert!(s.contains(id), "{id} missing:\n{s}");
    }
    assert!(!s.contains("kernel:tq1"), "{s}");
    assert!(s.contains("AVX-512 cannot be counted"), "{s}");
    let o = ternbench(&["icount", "--list", "--cases", "kernel:i2:avx512:*"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("matches no case"), "{}", text(&o));
}

#[test]
fn a_missing_valgrind_exits_2_with_the_install_command() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("c");
    let o = ternbench(&[
        "icount",
        "--cases",
        "kernel:i2:avx2:gemv:kv",
        "--valgrind",
        "/nonexistent/valgrind",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("apt-get install valgrind"),
        "{}",
        text(&o)
    );
    assert!(!out.join("icount.json").exists());
}

#[test]
fn compare_judges_counts_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let base = write(d, "base.json", &counts(1_000_000.0, "rustc 1.95.0"));
    let same = write(d, "same.json", &counts(1_000_000.0, "rustc 1.95.0"));
    let slow = write(d, "slow.json", &counts(1_062_500.0, "rustc 1.95.0"));
    let within = write(d, "within.json", &counts(1_005_000.0, "rustc 1.95.0"));
    let other = write(d, "other.json", &counts(1_000_000.0, "rustc 1.96.0"));

    let o = ternbench(&["compare", &base, &same]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(stdout(&o).contains("no regression"), "{}", text(&o));

    let o = ternbench(&["compare", &base, &slow]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let s = stdout(&o);
    assert!(
        s.contains(
            "**i2 avx2 gemv qo 2560x2560**: instructions per call +6.25% (1,000,000 → 1,062,500)"
        ),
        "{s}"
    );
    assert!(
        s.contains("| `i2 avx2 gemv qo 2560x2560` | instructions / call | 1,000,000 | 1,062,500 | +6.25% | **regressed** |"),
        "{s}"
    );

    let o = ternbench(&["compare", &base, &within]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = ternbench(&["compare", &base, &within, "--threshold", "0.1"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));

    let o = ternbench(&["compare", &base, &slow, "-o", "json"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let j: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["schema"], "ternbench-compare-counts/1");
    assert_eq!(j["exit_code"], 1);
    assert_eq!(j["tally"]["regressed"], 1);

    // Another compiler: exit 2, saying how to refresh.
    let o = ternbench(&["compare", &base, &other]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("--refresh-baseline"), "{}", text(&o));

    // Bad input: unreadable JSON, a counts file against a run, an unknown count.
    let junk = d.join("junk.json");
    std::fs::write(&junk, r#"{"schema": "ternbench-icount/1", "cases": 3}"#).unwrap();
    let o = ternbench(&["compare", &base, junk.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("junk.json"), "{}", text(&o));
    let run = d.join("run");
    std::fs::create_dir(&run).unwrap();
    std::fs::write(run.join("run.json"), "{}").unwrap();
    let o = ternbench(&["compare", &base, run.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("compare counts with counts"),
        "{}",
        text(&o)
    );
    let o = ternbench(&["compare", &base, &same, "--metric", "decode_tps"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("not a count"), "{}", text(&o));
}

#[test]
fn counts_baselines_are_saved_listed_and_compared_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let bdir = d.join("baselines");
    let bdir_s = bdir.to_str().unwrap();
    let base = write(d, "base.json", &counts(1_000_000.0, "rustc 1.95.0"));
    let slow = write(d, "slow.json", &counts(1_062_500.0, "rustc 1.95.0"));
    let o = ternbench(&["baseline", "save", "icount", &base, "--dir", bdir_s]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(stdout(&o).contains("instruction-count baseline `icount`: 2 cases"));
    assert!(bdir.join("icount/icount.json").is_file());
    let o = ternbench(&["baseline", "save", "icount", &base, "--dir", bdir_s]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let o = ternbench(&["baseline", "list", "--dir", bdir_s]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(stdout(&o).contains("icount"), "{}", text(&o));
    let o = ternbench(&[
        "compare",
        "--baseline",
        "icount",
        "--baselines-dir",
        bdir_s,
        &slow,
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(stdout(&o).contains("baseline `icount`"), "{}", text(&o));
}

/// Whether Valgrind runs here (a panic when it must, and does not).
fn have_valgrind() -> bool {
    let ok = Command::new("valgrind")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var("TERNBENCH_REQUIRE_VALGRIND").as_deref() != Ok("1"),
            "TERNBENCH_REQUIRE_VALGRIND=1 but valgrind does not run"
        );
        eprintln!("skipped: valgrind is not installed (scripts/ensure-valgrind.sh)");
    }
    ok
}

#[test]
fn valgrind_counts_are_stable_and_a_slowed_kernel_fails_the_gate() {
    if !have_valgrind() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cases = "kernel:i2:avx2:gemv:kv,kernel:i2:avx2:gemm8:kv,kernel:tq1:avx2:gemv:kv";
    let count = |name: &str, env: &[(&str, &str)]| -> String {
        let p = d.join(name);
        let o = ternbench_env(
            &[
                "icount",
                "--cases",
                cases,
                "-j",
                "2",
                "-q",
                "--out",
                p.to_str().unwrap(),
            ],
            env,
        );
        assert!(o.status.success(), "{}", text(&o));
        assert!(stdout(&o).contains("Not counted: avx512"), "{}", text(&o));
        assert!(p.join("icount.md").is_file());
        p.join("icount.json").to_string_lossy().into_owned()
    };
    let a = count("a", &[]);
    let b = count("b", &[]);
    let slow = count(
        "slow",
        &[("TERNBENCH_SELFTEST_SLOW_KERNEL", "avx2.i2.gemv")],
    );

    // Two runs of the same build: identical counts, case by case.
    let read =
        |p: &str| -> Value { serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap() };
    let (ja, jb) = (read(&a), read(&b));
    assert_eq!(ja["cases"].as_array().unwrap().len(), 3);
    for (x, y) in ja["cases"]
        .as_array()
        .unwrap()
        .iter()
        .zip(jb["cases"].as_array().unwrap())
    {
        assert_eq!(x["regions"], y["regions"], "{}", x["id"]);
        assert!(x["instructions"].as_f64().unwrap() > 10_000.0, "{x}");
    }
    let o = ternbench(&["compare", &a, &b]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        stdout(&o).contains("Every gating count is identical"),
        "{}",
        text(&o)
    );

    // The slowed kernel: exit 1, named with its change; the others identical.
    let o = ternbench(&["compare", &a, &slow]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let s = stdout(&o);
    assert!(s.contains("REGRESSED: 1 count(s)"), "{s}");
    assert!(
        s.contains("**i2 avx2 gemv kv 640x2560**: instructions per call +"),
        "{s}"
    );
    assert!(s.contains("3 cases compared (instructions): 1 regressed, 0 improved, 0 changed within ±1%, 2 identical."), "{s}");
    let js = read(&slow);
    let ratio = js["cases"][0]["instructions"].as_f64().unwrap()
        / ja["cases"][0]["instructions"].as_f64().unwrap();
    // 48 extra rows of 640 (7.5%), less the call's fixed part.
    assert!((1.05..1.08).contains(&ratio), "ratio {ratio}");
}
