//! The fleet tooling end to end (deploy/tests/*.sh), opt-in: they need sshd, ansible-core and
//! Slurm's daemons (scripts/install-fleet-deps.sh --slurm), a static binary
//! (deploy/build-static.sh, built here when missing) and minutes, so they run only with
//! `TERNBENCH_FLEET_TESTS=1`; without it each test says it was skipped and passes. Loopback
//! addresses only; each script bounds its waits and removes what it started.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// One script at a time: each starts daemons and runs ternbench on this machine's cores.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn enabled(name: &str) -> bool {
    let on = std::env::var("TERNBENCH_FLEET_TESTS").is_ok_and(|v| v == "1");
    if !on {
        eprintln!("{name}: skipped (set TERNBENCH_FLEET_TESTS=1 to run it; docs/fleet.md)");
    }
    on
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The static binary the scripts copy to their hosts, built when missing.
fn static_binary() -> PathBuf {
    let out = Command::new(repo().join("deploy/build-static.sh"))
        .current_dir(repo())
        .output()
        .expect("running deploy/build-static.sh");
    assert!(
        out.status.success(),
        "deploy/build-static.sh failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let path = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .expect("build-static.sh prints the binary's path")
        .to_string();
    repo().join(path)
}

fn script(name: &str) {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let bin = static_binary();
    let status = Command::new(repo().join("deploy/tests").join(name))
        .arg("--bin")
        .arg(&bin)
        .current_dir(repo())
        .status()
        .unwrap_or_else(|e| panic!("running deploy/tests/{name}: {e}"));
    assert!(status.success(), "deploy/tests/{name} failed ({status})");
}

#[test]
fn ansible_loopback_fleet_with_a_killed_host_resumed() {
    if enabled("ansible_loopback") {
        script("ansible-loopback.sh");
    }
}

#[test]
fn slurm_one_node_array_with_a_cancelled_task_resumed() {
    if enabled("slurm_loopback") {
        script("slurm-loopback.sh");
    }
}
