//! Build facts for the machine fingerprint (`ternbench sysinfo`), passed to the crate as
//! `TERNBENCH_*` environment variables read with `env!`:
//!
//! - `TERNBENCH_GIT_COMMIT`: `git rev-parse HEAD`, or `unknown` without git or a repository;
//! - `TERNBENCH_GIT_DIRTY`: `true` when `git status --porcelain` lists anything, `false` when
//!   it lists nothing, `unknown` when it cannot run;
//! - `TERNBENCH_GIT_SHORT`, `TERNBENCH_GIT_DIRTY_MARK`: the first 12 hex digits of the commit
//!   and `-dirty` (or nothing), for `ternbench --version`;
//! - `TERNBENCH_RUSTC_VERSION`: `rustc -V` of the compiler building this crate;
//! - `TERNBENCH_BUILD_PROFILE`, `TERNBENCH_OPT_LEVEL`, `TERNBENCH_TARGET`: cargo's `PROFILE`,
//!   `OPT_LEVEL` and `TARGET`;
//! - `TERNBENCH_TARGET_FEATURES`: the target features enabled at build time, comma separated.
//!
//! The script re-runs when `HEAD`, the branch it points to, the index or the reflog of `HEAD`
//! change (a checkout, commit or `git add`), and when a source of the workspace's crates
//! changes (so the dirty flag follows edits that are not staged). It watches only paths that
//! exist, since cargo re-runs a script on every build for a watched path that does not.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    println!("cargo:rerun-if-changed=build.rs");

    let git = |args: &[&str]| -> Option<String> {
        let out = Command::new("git")
            .args(args)
            .current_dir(&manifest)
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    let commit = git(&["rev-parse", "HEAD"]).filter(|c| !c.is_empty());
    let dirty = commit.as_ref().and_then(|_| {
        git(&["--no-optional-locks", "status", "--porcelain"]).map(|s| !s.is_empty())
    });
    println!(
        "cargo:rustc-env=TERNBENCH_GIT_COMMIT={}",
        commit.as_deref().unwrap_or("unknown")
    );
    println!(
        "cargo:rustc-env=TERNBENCH_GIT_DIRTY={}",
        dirty.map_or("unknown".to_string(), |d| d.to_string())
    );
    // For `--version`: the short commit and a `-dirty` mark for uncommitted changes.
    println!(
        "cargo:rustc-env=TERNBENCH_GIT_SHORT={}",
        commit
            .as_deref()
            .map_or("unknown", |c| &c[..c.len().min(12)])
    );
    println!(
        "cargo:rustc-env=TERNBENCH_GIT_DIRTY_MARK={}",
        if dirty == Some(true) { "-dirty" } else { "" }
    );

    if commit.is_some() {
        watch_git(&manifest, &git);
    }
    // The workspace's crates: an edit there can change the dirty flag.
    if let Some(root) = manifest.parent() {
        for p in [
            "kernels",
            "engine",
            "harness/src",
            "Cargo.toml",
            "Cargo.lock",
        ] {
            watch(&root.join(p));
        }
    }

    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_string());
    let rustc_version = Command::new(rustc)
        .arg("-V")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=TERNBENCH_RUSTC_VERSION={rustc_version}");
    for (ours, cargo) in [
        ("TERNBENCH_BUILD_PROFILE", "PROFILE"),
        ("TERNBENCH_OPT_LEVEL", "OPT_LEVEL"),
        ("TERNBENCH_TARGET", "TARGET"),
        ("TERNBENCH_TARGET_FEATURES", "CARGO_CFG_TARGET_FEATURE"),
    ] {
        let v = std::env::var(cargo).unwrap_or_default();
        println!("cargo:rustc-env={ours}={v}");
    }
}

/// Watches `HEAD`, the ref it names (loose or packed), the reflog of `HEAD` and the index.
/// In a linked worktree `HEAD`, the index and the reflog live in the worktree's git dir and
/// the refs in the common dir, so both are asked for.
fn watch_git(manifest: &Path, git: &dyn Fn(&[&str]) -> Option<String>) {
    let abs = |p: String| {
        let p = PathBuf::from(p);
        if p.is_absolute() {
            p
        } else {
            manifest.join(p)
        }
    };
    let Some(git_dir) = git(&["rev-parse", "--git-dir"]).map(abs) else {
        return;
    };
    let common = git(&["rev-parse", "--git-common-dir"])
        .map(abs)
        .unwrap_or_else(|| git_dir.clone());
    let head = git_dir.join("HEAD");
    watch(&head);
    watch(&git_dir.join("index"));
    watch(&git_dir.join("logs").join("HEAD"));
    if let Ok(h) = std::fs::read_to_string(&head) {
        if let Some(r) = h.trim().strip_prefix("ref:") {
            watch(&common.join(r.trim()));
            watch(&common.join("packed-refs"));
        }
    }
}

/// `cargo:rerun-if-changed` for `p` if it exists.
fn watch(p: &Path) {
    if p.exists() {
        println!("cargo:rerun-if-changed={}", p.display());
    }
}
