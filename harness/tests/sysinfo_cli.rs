//! `ternbench sysinfo` run as a user would: `-o json --no-bandwidth` prints one JSON object with
//! every documented field (null where this machine does not say, bandwidth null), the text form
//! has its summary line, and `--compare` says whether a saved fingerprint is comparable.

use std::process::{Command, Output};

use serde_json::Value;

fn ternbench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ternbench"))
        .args(args)
        .output()
        .expect("run ternbench")
}

fn ok_stdout(o: &Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout.clone()).expect("utf-8 stdout")
}

const FIELDS: [&str; 51] = [
    "timestamp_utc",
    "cpu_vendor",
    "cpu_model",
    "cpu_family",
    "cpu_model_number",
    "cpu_stepping",
    "microarchitecture",
    "codename",
    "isa_features",
    "isa_source",
    "l1d_bytes",
    "l1i_bytes",
    "l2_bytes",
    "l3_bytes",
    "logical_cpus",
    "physical_cores",
    "sockets",
    "smt",
    "smt_control",
    "numa_nodes",
    "available_parallelism",
    "memory_bytes",
    "read_bandwidth_gbps",
    "read_bandwidth_threads",
    "base_freq_mhz",
    "max_freq_mhz",
    "current_freq_mhz",
    "governor",
    "scaling_driver",
    "boost",
    "cpuidle_driver",
    "hypervisor",
    "hypervisor_vendor",
    "dmi_sys_vendor",
    "dmi_product_name",
    "load_avg_1m",
    "load_avg_5m",
    "load_avg_15m",
    "kernel_release",
    "kernel_version",
    "os",
    "busy_processes",
    "ternbench_version",
    "git_commit",
    "git_dirty",
    "rustc_version",
    "build_profile",
    "opt_level",
    "debug_assertions",
    "target",
    "target_features",
];

fn fingerprint_json() -> (String, Value) {
    let out = ok_stdout(&ternbench(&["sysinfo", "-o", "json", "--no-bandwidth"]));
    let v: Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{out}"));
    (out, v)
}

#[test]
fn json_has_every_field() {
    let (_, v) = fingerprint_json();
    let obj = v.as_object().expect("one object");
    for f in FIELDS {
        assert!(obj.contains_key(f), "missing {f}");
    }
    assert_eq!(obj.len(), FIELDS.len(), "fields: {:?}", obj.keys());
    assert!(
        v["read_bandwidth_gbps"].is_null(),
        "--no-bandwidth measured"
    );
    assert!(v["timestamp_utc"].as_str().unwrap().ends_with('Z'));
    assert!(v["isa_features"].is_object());
    assert!(v["busy_processes"].is_array());
    assert_eq!(v["ternbench_version"], env!("CARGO_PKG_VERSION"));
    assert!(v["rustc_version"].as_str().unwrap().starts_with("rustc "));
    if cfg!(target_os = "linux") {
        assert!(v["logical_cpus"].as_u64().is_some_and(|n| n >= 1));
        assert!(v["memory_bytes"].as_u64().is_some_and(|n| n > 0));
    }
    if cfg!(target_arch = "x86_64") {
        assert_eq!(v["isa_source"], "cpuid");
        assert!(v["isa_features"]["sse4.1"].is_boolean());
        assert!(v["hypervisor"].is_boolean());
    }
}

#[test]
fn text_has_summary_and_sections() {
    let out = ok_stdout(&ternbench(&["sysinfo", "--no-bandwidth"]));
    let first = out.lines().next().unwrap_or_default();
    assert!(first.starts_with("summary"), "{out}");
    assert!(first.contains("logical /"), "{out}");
    for key in [
        "cpu ",
        "isa ",
        "caches ",
        "memory ",
        "read bandwidth",
        "kernel ",
        "build ",
    ] {
        assert!(
            out.lines().any(|l| l.starts_with(key)),
            "no {key:?} in\n{out}"
        );
    }
    assert!(out.contains("not measured"), "{out}");
}

#[test]
fn compare_with_a_saved_fingerprint() {
    let (out, mut v) = fingerprint_json();
    let dir = tempfile::tempdir().unwrap();
    let same = dir.path().join("same.json");
    std::fs::write(&same, &out).unwrap();
    let text = ok_stdout(&ternbench(&[
        "sysinfo",
        "--compare",
        same.to_str().unwrap(),
    ]));
    assert!(text.starts_with("comparable"), "{text}");

    v["cpu_model"] = Value::from("Some Other CPU 9000");
    v["logical_cpus"] = Value::from(4096);
    let other = dir.path().join("other.json");
    std::fs::write(&other, serde_json::to_string(&v).unwrap()).unwrap();
    let j: Value = serde_json::from_str(&ok_stdout(&ternbench(&[
        "sysinfo",
        "--compare",
        other.to_str().unwrap(),
        "-o",
        "json",
    ])))
    .unwrap();
    assert_eq!(j["comparable"], false);
    let diffs: Vec<&str> = j["differences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap())
        .collect();
    assert_eq!(diffs.len(), 2, "{diffs:?}");
    assert!(diffs[0].contains("Some Other CPU 9000"), "{diffs:?}");
    assert!(diffs[1].contains("4096 there"), "{diffs:?}");
}

#[test]
fn compare_with_a_bad_file_fails_with_its_name_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{\"not\": \"a fingerprint\"}").unwrap();
    let o = ternbench(&["sysinfo", "--compare", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("bad.json"), "{err}");
}
