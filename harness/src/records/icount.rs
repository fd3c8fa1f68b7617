//! The instruction-count file `ternbench icount` writes (schema [`SCHEMA`]) and
//! `ternbench compare` judges: per case, instructions (and simulated cache misses) per kernel
//! call or per token, counted under Valgrind, with the build, the tool and the host that
//! produced them.
//!
//! Counts are deterministic for one binary: the same build gives the same numbers on every run
//! and, for code that calls no shared library, on every x86-64 host. What must match for two
//! files to be compared is [`CountsFile::toolchain_differences`]: the compiler and build
//! settings (they change the machine code) and the tool's settings (they change what is
//! counted). Host facts (CPU, OS, C library, Valgrind release) are recorded and reported, not
//! required: they reach only the C library code (allocation, `memcpy`, `libm`) inside a
//! measured region, a small share of a model's per-token count and none of a kernel's.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::usage;

/// Schema name and version of the counts file.
pub const SCHEMA: &str = "ternbench-icount/1";

/// The file name inside a results folder or a named baseline.
pub const FILE_NAME: &str = "icount.json";

/// One counts file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CountsFile {
    /// [`SCHEMA`].
    pub schema: String,
    /// When the counts were taken (RFC 3339, UTC).
    pub created_utc: String,
    /// How the counts were taken.
    pub tool: Tool,
    /// The binary counted.
    pub build: Build,
    /// The machine that ran Valgrind (recorded, not required to match).
    pub host: Host,
    /// Which SIMD levels are counted, and why the others are not.
    pub levels: Levels,
    /// The settings of the synthetic model cases (prompt and decode lengths, layers built).
    pub suite: Suite,
    /// One entry per case, in suite order.
    pub cases: Vec<CaseCounts>,
    /// Wall seconds of the Valgrind step (all workers).
    pub duration_s: f64,
    /// CPU seconds (user + system) the Valgrind workers used, where known.
    pub cpu_s: Option<f64>,
    /// Worker processes run side by side.
    pub jobs: usize,
    /// Remarks (a case whose counts were not linear in its calls, ...).
    #[serde(default)]
    pub notes: Vec<String>,
}

/// How the counts were taken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tool {
    /// `valgrind --version` (e.g. `valgrind-3.19.0`).
    pub valgrind: String,
    /// The Valgrind tool (`callgrind`).
    pub tool: String,
    /// Whether the cache simulator ran (then `d1_misses` and `ll_misses` are filled).
    pub cache_sim: bool,
    /// The simulated caches (`size,associativity,line` bytes), fixed so counts do not depend on
    /// the host's caches.
    pub caches: Option<Caches>,
    /// The Valgrind options the workers ran under.
    pub options: Vec<String>,
    /// How a count per call or per token is obtained, in words.
    pub method: String,
}

/// The simulated cache geometry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Caches {
    /// First-level instruction cache.
    pub i1: String,
    /// First-level data cache.
    pub d1: String,
    /// Last-level cache.
    pub ll: String,
}

/// The binary counted (the fingerprint's build facts).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Build {
    /// ternbench's version.
    pub ternbench_version: String,
    /// Git commit of the build.
    pub git_commit: Option<String>,
    /// Whether the checkout had uncommitted changes.
    pub git_dirty: Option<bool>,
    /// `rustc -V`.
    pub rustc: String,
    /// Cargo profile.
    pub profile: String,
    /// Optimisation level.
    pub opt_level: String,
    /// Whether debug assertions were compiled in.
    pub debug_assertions: bool,
    /// Target triple.
    pub target: String,
    /// Target features enabled at build time.
    pub target_features: Vec<String>,
}

/// The machine that ran Valgrind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Host {
    /// CPU model name.
    pub cpu_model: Option<String>,
    /// Distribution.
    pub os: Option<String>,
    /// The C library's version (`gnu_get_libc_version`), on glibc systems.
    pub libc: Option<String>,
}

/// Which SIMD levels are counted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Levels {
    /// Levels with counted cases.
    pub counted: Vec<String>,
    /// Levels left out, each with its reason.
    pub not_counted: Vec<NotCounted>,
}

/// A level that is not counted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotCounted {
    /// The level.
    pub isa: String,
    /// Why.
    pub reason: String,
}

/// Settings of the model cases.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suite {
    /// Zoo model of the per-token cases.
    pub model: String,
    /// Layers built of it.
    pub layers: usize,
    /// Of its full depth.
    pub layers_total: usize,
    /// Prompt tokens (prefill cases; also the context before the decode cases).
    pub prompt_tokens: usize,
    /// Tokens decoded (decode cases).
    pub decode_tokens: usize,
    /// Tokens per gemm call of the kernel cases.
    pub gemm_batches: Vec<usize>,
}

/// The counts of one case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseCounts {
    /// Stable identifier (`kernel:i2:avx2:gemv:qo`, `model:ternary-i2:avx2:decode`).
    pub id: String,
    /// For people (`i2 avx2 gemv qo 2560x2560`).
    pub label: String,
    /// What one count is per: `call` (kernel) or `token` (model).
    pub unit: String,
    /// Instructions per unit.
    pub instructions: f64,
    /// Simulated first-level data cache misses (reads + writes) per unit.
    pub d1_misses: Option<f64>,
    /// Simulated last-level data cache misses (reads + writes) per unit.
    pub ll_misses: Option<f64>,
    /// The measured regions' raw totals, for audit.
    pub regions: Vec<Region>,
}

/// One measured region's totals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Region {
    /// Kernel calls (kernel cases) or tokens (model cases) inside it.
    pub units: u64,
    /// Instructions.
    pub ir: u64,
    /// D1 read + write misses.
    pub d1_misses: Option<u64>,
    /// LL data read + write misses.
    pub ll_misses: Option<u64>,
}

impl CountsFile {
    /// The settings that must match for counts to be comparable, as `what: a vs b` lines
    /// (empty when they match).
    pub fn toolchain_differences(&self, other: &CountsFile) -> Vec<String> {
        let mut d = Vec::new();
        let mut check = |what: &str, a: String, b: String| {
            if a != b {
                d.push(format!("{what}: {a} vs {b}"));
            }
        };
        let (a, b) = (&self.build, &other.build);
        check("rustc", a.rustc.clone(), b.rustc.clone());
        check("cargo profile", a.profile.clone(), b.profile.clone());
        check("opt-level", a.opt_level.clone(), b.opt_level.clone());
        check(
            "debug assertions",
            a.debug_assertions.to_string(),
            b.debug_assertions.to_string(),
        );
        check("target", a.target.clone(), b.target.clone());
        check(
            "target features",
            a.target_features.join(","),
            b.target_features.join(","),
        );
        check(
            "Valgrind tool",
            self.tool.tool.clone(),
            other.tool.tool.clone(),
        );
        d
    }

    /// Whether both files simulated the same caches (their miss counts are then comparable).
    pub fn same_caches(&self, other: &CountsFile) -> bool {
        self.tool.cache_sim && other.tool.cache_sim && self.tool.caches == other.tool.caches
    }

    /// Host facts that differ (reported, not required), as `what: a vs b` lines.
    pub fn host_differences(&self, other: &CountsFile) -> Vec<String> {
        let mut d = Vec::new();
        let opt = |o: &Option<String>| o.clone().unwrap_or_else(|| "unknown".into());
        let mut check = |what: &str, a: String, b: String| {
            if a != b {
                d.push(format!("{what}: {a} vs {b}"));
            }
        };
        check(
            "Valgrind",
            self.tool.valgrind.clone(),
            other.tool.valgrind.clone(),
        );
        check("C library", opt(&self.host.libc), opt(&other.host.libc));
        check("OS", opt(&self.host.os), opt(&other.host.os));
        check("CPU", opt(&self.host.cpu_model), opt(&other.host.cpu_model));
        d
    }

    /// `commit (dirty)` of the build, shortened.
    pub fn commit_short(&self) -> String {
        let c = self
            .build
            .git_commit
            .as_deref()
            .map_or_else(|| "unknown".to_string(), |c| c.chars().take(10).collect());
        match self.build.git_dirty {
            Some(true) => format!("{c} (uncommitted changes)"),
            _ => c,
        }
    }
}

/// Whether `text` looks like a counts file (its `schema` names [`SCHEMA`]'s family).
pub fn is_counts_json(text: &str) -> bool {
    #[derive(Deserialize)]
    struct Head {
        schema: Option<String>,
    }
    serde_json::from_str::<Head>(text)
        .ok()
        .and_then(|h| h.schema)
        .is_some_and(|s| s.starts_with("ternbench-icount/"))
}

/// The counts file of `p`: the file itself, or `p/icount.json` for a folder holding one (and
/// no run.json). `None` when `p` is neither.
pub fn counts_path(p: &Path) -> Option<std::path::PathBuf> {
    if p.is_dir() {
        let f = p.join(FILE_NAME);
        return (f.is_file() && !p.join("run.json").is_file()).then_some(f);
    }
    let text = std::fs::read_to_string(p).ok()?;
    is_counts_json(&text).then(|| p.to_path_buf())
}

/// Reads and checks a counts file (a usage error naming the file when it cannot).
pub fn read(path: &Path) -> anyhow::Result<CountsFile> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| usage(format!("{}: cannot read ({e})", path.display())))?;
    let f: CountsFile = serde_json::from_str(&text).map_err(|e| {
        usage(format!(
            "{}: not a ternbench instruction-count file of schema {SCHEMA} ({e})",
            path.display()
        ))
    })?;
    if f.schema != SCHEMA {
        return Err(usage(format!(
            "{}: schema `{}`, this ternbench reads `{SCHEMA}` (re-count with this version: ternbench icount)",
            path.display(),
            f.schema
        )));
    }
    let mut seen = std::collections::BTreeSet::new();
    for c in &f.cases {
        if !seen.insert(c.id.as_str()) {
            return Err(usage(format!(
                "{}: case `{}` appears twice",
                path.display(),
                c.id
            )));
        }
        if !(c.instructions.is_finite() && c.instructions >= 0.0) {
            return Err(usage(format!(
                "{}: case `{}` has instructions {} (must be a finite count >= 0)",
                path.display(),
                c.id,
                c.instructions
            )));
        }
    }
    Ok(f)
}

/// Writes `f` as pretty JSON, atomically (a temporary file renamed over `path`).
pub fn write(path: &Path, f: &CountsFile) -> anyhow::Result<()> {
    use anyhow::Context;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let tmp = path.with_extension("json.tmp");
    let text = serde_json::to_string_pretty(f)? + "\n";
    std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming into {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A small counts file for tests.
    pub fn sample() -> CountsFile {
        CountsFile {
            schema: SCHEMA.into(),
            created_utc: "2026-01-01T00:00:00Z".into(),
            tool: Tool {
                valgrind: "valgrind-3.19.0".into(),
                tool: "callgrind".into(),
                cache_sim: true,
                caches: Some(Caches {
                    i1: "32768,8,64".into(),
                    d1: "32768,8,64".into(),
                    ll: "8388608,16,64".into(),
                }),
                options: vec![],
                method: "difference of two regions".into(),
            },
            build: Build {
                ternbench_version: "0.1.0".into(),
                git_commit: Some("0123456789abcdef".into()),
                git_dirty: Some(false),
                rustc: "rustc 1.95.0".into(),
                profile: "release".into(),
                opt_level: "3".into(),
                debug_assertions: false,
                target: "x86_64-unknown-linux-gnu".into(),
                target_features: vec!["sse2".into()],
            },
            host: Host {
                cpu_model: Some("Some CPU".into()),
                os: Some("Debian".into()),
                libc: Some("2.36".into()),
            },
            levels: Levels {
                counted: vec!["avx2".into()],
                not_counted: vec![],
            },
            suite: Suite {
                model: "bitnet-125m".into(),
                layers: 2,
                layers_total: 11,
                prompt_tokens: 16,
                decode_tokens: 8,
                gemm_batches: vec![8],
            },
            cases: vec![
                CaseCounts {
                    id: "kernel:i2:avx2:gemv:qo".into(),
                    label: "i2 avx2 gemv qo 2560x2560".into(),
                    unit: "call".into(),
                    instructions: 1_000_000.0,
                    d1_misses: Some(1000.0),
                    ll_misses: Some(10.0),
                    regions: vec![],
                },
                CaseCounts {
                    id: "model:ternary-i2:avx2:decode".into(),
                    label: "bitnet-125m ternary/i2 avx2 decode".into(),
                    unit: "token".into(),
                    instructions: 5_000_000.5,
                    d1_misses: Some(20000.0),
                    ll_misses: Some(100.0),
                    regions: vec![],
                },
            ],
            duration_s: 1.0,
            cpu_s: Some(1.5),
            jobs: 2,
            notes: vec![],
        }
    }

    #[test]
    fn round_trip_and_detection() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.json");
        write(&p, &sample()).unwrap();
        assert_eq!(read(&p).unwrap(), sample());
        assert_eq!(counts_path(&p), Some(p.clone()));
        assert_eq!(
            counts_path(dir.path()),
            None,
            "no icount.json in the folder"
        );
        std::fs::copy(&p, dir.path().join(FILE_NAME)).unwrap();
        assert_eq!(counts_path(dir.path()), Some(dir.path().join(FILE_NAME)));
        assert!(!is_counts_json(r#"{"schema_version": 3}"#));
    }

    #[test]
    fn bad_files_are_usage_errors_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bad.json");
        std::fs::write(&p, "{ nope").unwrap();
        let e = read(&p).unwrap_err();
        assert!(e.downcast_ref::<crate::error::UsageError>().is_some());
        assert!(format!("{e:#}").contains("bad.json"), "{e:#}");
        let mut f = sample();
        f.cases[1].id = f.cases[0].id.clone();
        write(&p, &f).unwrap();
        assert!(format!("{:#}", read(&p).unwrap_err()).contains("appears twice"));
        let mut f = sample();
        f.schema = "ternbench-icount/9".into();
        write(&p, &f).unwrap();
        assert!(format!("{:#}", read(&p).unwrap_err()).contains("ternbench-icount/9"));
    }

    #[test]
    fn toolchain_and_host_differences() {
        let a = sample();
        assert!(a.toolchain_differences(&a).is_empty());
        let mut b = sample();
        b.build.rustc = "rustc 1.96.0".into();
        b.host.libc = Some("2.39".into());
        assert_eq!(
            a.toolchain_differences(&b),
            ["rustc: rustc 1.95.0 vs rustc 1.96.0"]
        );
        assert_eq!(a.host_differences(&b), ["C library: 2.36 vs 2.39"]);
    }
}
