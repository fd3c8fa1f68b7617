//! `ternbench energy` run as a user would. On a machine with counters it reads them; on this
//! project's VMs (no powercap, no `power` PMU, no MSR device) it must say why each source is
//! unavailable and how to fix it, and exit 0. Bad arguments are usage errors (exit 2).
//! Agreement and disagreement between sources are tested on fake trees in
//! `energy/src/tests/selfcheck.rs`.

use std::process::{Command, Output};

use serde_json::Value;

fn ternbench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ternbench"))
        .args(args)
        .output()
        .expect("run ternbench")
}

#[test]
fn energy_lists_sources_and_says_why_any_is_unavailable() {
    let o = ternbench(&["energy", "--seconds", "0.2", "-o", "json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).expect("one JSON object");
    let sources = v["sources"].as_array().unwrap();
    let names: Vec<&str> = sources
        .iter()
        .map(|s| s["source"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["powercap", "perf", "msr"]);
    for s in sources {
        if s["available"] == Value::Bool(false) {
            let why = s["unavailable"]["detail"].as_str().unwrap();
            assert!(!why.is_empty());
        } else {
            assert!(!s["found"].as_array().unwrap().is_empty(), "{s}");
        }
    }
    assert!(!v["summary"].as_str().unwrap().is_empty());

    let o = ternbench(&["energy", "--seconds", "0.2"]);
    assert!(o.status.success());
    let text = String::from_utf8_lossy(&o.stdout);
    for name in ["powercap:", "perf:", "msr:"] {
        assert!(text.contains(name), "{text}");
    }
    if !sources.iter().any(|s| s["available"] == Value::Bool(true)) {
        assert!(
            text.contains("unavailable") && text.contains("fix:"),
            "{text}"
        );
        assert!(text.contains("no energy source is available"), "{text}");
    }
}

#[test]
fn energy_refuses_bad_windows() {
    let o = ternbench(&["energy", "--seconds", "0"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--seconds"));
    let o = ternbench(&["energy", "--tolerance", "-1"]);
    assert_eq!(o.status.code(), Some(2));
}

/// A fake powercap tree (an Intel client without DRAM, `intel_rapl_common.c`'s layout) under
/// `root`, for `TERNBENCH_ENERGY_ROOT`.
fn fake_powercap(root: &std::path::Path) {
    let w = |rel: &str, text: &str| {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    w(
        "proc/cpuinfo",
        "processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 151\n\
         model name\t: 12th Gen Intel(R) Core(TM) i9-12900K\n\n",
    );
    w("sys/class/powercap/intel-rapl/enabled", "1\n");
    w("sys/class/powercap/intel-rapl:0/name", "package-0\n");
    w("sys/class/powercap/intel-rapl:0/energy_uj", "1000000\n");
    w(
        "sys/class/powercap/intel-rapl:0/max_energy_range_uj",
        "262143328850\n",
    );
}

const TINY: &str = "name = \"tiny\"\ndescription = \"energy end to end\"\n\
    models = [\"bitnet-125m\"]\nengines = [\"ternary\"]\nthreads = [1]\ntests = [\"tg4\"]\n\
    repetitions = 2\nwarmup = 0\nmin_seconds = 0.0\n[energy]\nsource = \"powercap\"\n\
    idle_seconds = 0.3\nidle_settle_seconds = 0.1\nidle_check = \"flag\"\n";

// Issue 21 defects 3 and 7 end to end: a counter that does not move gives no figure, and the
// reason reaches the terminal and run.json; DRAM out is recorded; the idle baseline records
// how it was taken (and that /proc/stat could not be read under this fake root).
#[test]
fn a_run_on_a_fake_tree_carries_every_missing_figure_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    fake_powercap(&root);
    let scenario = dir.path().join("tiny.toml");
    std::fs::write(&scenario, TINY).unwrap();
    let out = dir.path().join("results");
    let o = Command::new(env!("CARGO_BIN_EXE_ternbench"))
        .args([
            "run",
            scenario.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .env("TERNBENCH_ENERGY_ROOT", &root)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(stdout.contains("energy: measured via powercap"), "{stdout}");
    assert!(stdout.contains("DRAM OUT"), "{stdout}");
    assert!(
        stdout.contains("2 of 2 decode repetitions without a figure")
            && stdout.contains("did not advance"),
        "{stdout}"
    );
    let run_dir = std::fs::read_dir(&out)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let run: Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("run.json")).unwrap()).unwrap();
    let e = &run["energy"];
    assert_eq!(e["dram_in_total"], Value::Bool(false));
    assert_eq!(e["idle"]["settle_seconds"], 0.1);
    assert_eq!(e["idle"]["check"], "flag");
    assert!(
        e["idle"]["notes"].to_string().contains("/proc/stat"),
        "{e:#}"
    );
    assert!(e.get("idle_end").is_some(), "{e:#}");
    let cell = &run["cells"][0]["energy"];
    assert!(cell["decode_joules_per_token"].is_null());
    assert_eq!(cell["decode_repetitions"], 2);
    assert_eq!(cell["decode_repetitions_with_energy"], 0);
    assert!(
        cell["missing"]
            .as_str()
            .unwrap()
            .contains("did not advance"),
        "{cell:#}"
    );
    let found = e["provenance"]["found"].as_array().unwrap();
    assert_eq!(found[0]["role"], "total");
}
