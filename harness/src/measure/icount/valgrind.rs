//! Running workers under Valgrind and reading back what it counted.
//!
//! Each worker is this binary (`ternbench icount --worker`) under `valgrind --tool=callgrind`
//! with collection off except inside [`super::worker::REGION_SYMBOL`] (`--toggle-collect`),
//! and a dump of the counters after every call of it (`--dump-after`): dump `k` (the file
//! `cg.out.k`) holds exactly what the `k`-th region executed. Callgrind counts instructions
//! the way Cachegrind does and, with `--cache-sim=yes`, runs Cachegrind's cache simulator; it
//! is used instead of Cachegrind because Valgrind 3.19's Cachegrind cannot count a part of a
//! run without client requests, while Callgrind takes the function to count on its command line.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{bail, Context, Result};

use super::worker::REGION_SYMBOL;
use crate::error::usage;
use crate::records::icount::Caches;

/// The simulated caches: fixed, so counts do not depend on the host's caches (a 32 KiB 8-way
/// L1 of 64-byte lines for instructions and data, an 8 MiB 16-way last level).
pub fn caches() -> Caches {
    Caches {
        i1: "32768,8,64".into(),
        d1: "32768,8,64".into(),
        ll: "8388608,16,64".into(),
    }
}

/// A Valgrind installation.
#[derive(Debug, Clone)]
pub struct Valgrind {
    /// The program.
    pub path: PathBuf,
    /// `valgrind --version`.
    pub version: String,
}

/// The install hint for a missing Valgrind.
pub const INSTALL_HINT: &str =
    "install it (Debian/Ubuntu: `apt-get install valgrind`; scripts/ensure-valgrind.sh does it in CI)";

/// Finds Valgrind: `path` when given, else `valgrind` on `PATH`. A usage error (exit 2) naming
/// the fix when it does not run.
pub fn locate(path: Option<&Path>) -> Result<Valgrind> {
    let path = path.map_or_else(|| PathBuf::from("valgrind"), Path::to_path_buf);
    let out = Command::new(&path).arg("--version").output().map_err(|e| {
        usage(format!(
            "cannot run Valgrind `{}` ({e}): {INSTALL_HINT}, or pass --valgrind PATH",
            path.display()
        ))
    })?;
    let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() || !version.starts_with("valgrind-") {
        return Err(usage(format!(
            "`{} --version` did not answer like Valgrind ({}): {INSTALL_HINT}",
            path.display(),
            if version.is_empty() {
                String::from_utf8_lossy(&out.stderr).trim().to_string()
            } else {
                version
            }
        )));
    }
    Ok(Valgrind { path, version })
}

/// The Valgrind options of a worker writing its dumps to `out_file.k`.
pub fn options(cache_sim: bool) -> Vec<String> {
    let mut v: Vec<String> = [
        "--tool=callgrind".to_string(),
        "--collect-atstart=no".into(),
        format!("--toggle-collect={REGION_SYMBOL}"),
        format!("--dump-after={REGION_SYMBOL}"),
        "--dump-instr=no".into(),
        "--dump-line=no".into(),
    ]
    .into();
    if cache_sim {
        let c = caches();
        v.extend([
            "--cache-sim=yes".into(),
            format!("--I1={}", c.i1),
            format!("--D1={}", c.d1),
            format!("--LL={}", c.ll),
        ]);
    }
    v
}

/// A running worker.
#[derive(Debug)]
pub struct Worker {
    /// The process.
    pub child: Child,
    /// Its folder (dumps and Valgrind's log).
    pub dir: PathBuf,
}

/// Starts `exe icount --worker --cases IDS` under Valgrind, its dumps and log in `dir`.
pub fn spawn(
    vg: &Valgrind,
    cache_sim: bool,
    exe: &Path,
    ids: &[String],
    dir: &Path,
) -> Result<Worker> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let log = std::fs::File::create(dir.join("valgrind.log"))
        .with_context(|| format!("creating {}", dir.join("valgrind.log").display()))?;
    let child = Command::new(&vg.path)
        .args(options(cache_sim))
        .arg(format!(
            "--callgrind-out-file={}",
            dir.join("cg.out").display()
        ))
        .arg(exe)
        .args(["icount", "--worker", "--cases", &ids.join(",")])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .with_context(|| format!("starting {}", vg.path.display()))?;
    Ok(Worker {
        child,
        dir: dir.to_path_buf(),
    })
}

/// Totals of one dump.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Totals {
    /// Instructions.
    pub ir: u64,
    /// D1 read + write misses (with the cache simulator).
    pub d1_misses: Option<u64>,
    /// LL data read + write misses (with the cache simulator).
    pub ll_misses: Option<u64>,
}

/// Reads the `events:` and `totals:` (or `summary:`) lines of a Callgrind dump.
pub fn parse_dump(text: &str) -> Result<Totals> {
    let mut events: Option<Vec<&str>> = None;
    let mut totals: Option<Vec<u64>> = None;
    let mut summary: Option<Vec<u64>> = None;
    let nums = |s: &str| -> Result<Vec<u64>> {
        s.split_whitespace()
            .map(|n| n.parse::<u64>().with_context(|| format!("count `{n}`")))
            .collect()
    };
    for line in text.lines() {
        if let Some(e) = line.strip_prefix("events:") {
            events = Some(e.split_whitespace().collect());
        } else if let Some(t) = line.strip_prefix("totals:") {
            totals = Some(nums(t)?);
        } else if let Some(t) = line.strip_prefix("summary:") {
            summary = Some(nums(t)?);
        }
    }
    let events = events.context("no `events:` line")?;
    let vals = totals
        .or(summary)
        .context("no `totals:` or `summary:` line")?;
    // Trailing zero events may be left out.
    let get = |name: &str| -> Option<u64> {
        events
            .iter()
            .position(|e| *e == name)
            .map(|i| vals.get(i).copied().unwrap_or(0))
    };
    let ir = get("Ir").context("the dump has no `Ir` event")?;
    let sum = |a: &str, b: &str| Some(get(a)? + get(b)?);
    Ok(Totals {
        ir,
        d1_misses: sum("D1mr", "D1mw"),
        ll_misses: sum("DLmr", "DLmw"),
    })
}

/// The dumps a worker left in `dir` (`cg.out.1`, `cg.out.2`, ...), in order.
pub fn read_dumps(dir: &Path) -> Result<Vec<Totals>> {
    let mut files: Vec<(u64, PathBuf)> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let k = name.strip_prefix("cg.out.")?.parse::<u64>().ok()?;
            Some((k, e.path()))
        })
        .collect();
    files.sort();
    for (i, (k, _)) in files.iter().enumerate() {
        if *k != i as u64 + 1 {
            bail!("{}: dump {} is missing", dir.display(), i + 1);
        }
    }
    files
        .iter()
        .map(|(_, p)| {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            parse_dump(&text).with_context(|| format!("parsing the Callgrind dump {}", p.display()))
        })
        .collect()
}

/// The last `n` lines of a worker's Valgrind log.
pub fn log_tail(dir: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(dir.join("valgrind.log")).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    const DUMP: &str = "\
# callgrind format
version: 1
creator: callgrind-3.19.0
pid: 27074
cmd:  ./p
part: 1

desc: I1 cache: 32768 B, 64 B, 8-way associative
desc: Timerange: Basic block 0 - 50064951
desc: Trigger: --dump-after=ternbench_icount_region

positions: line
events: Ir Dr Dw I1mr D1mr D1mw ILmr DLmr DLmw
summary: 8016 2000 1000 3 40 20 3 5 6

ob=(1) /tmp/p
fn=(1) ternbench_icount_region
0 16 2 2

totals: 8016 2000 1000 3 40 20 3 5 6
";

    #[test]
    fn parses_totals_with_and_without_cache_events() {
        assert_eq!(
            parse_dump(DUMP).unwrap(),
            Totals {
                ir: 8016,
                d1_misses: Some(60),
                ll_misses: Some(11)
            }
        );
        let plain = "events: Ir\nsummary: 123\n";
        assert_eq!(
            parse_dump(plain).unwrap(),
            Totals {
                ir: 123,
                d1_misses: None,
                ll_misses: None
            }
        );
        // Trailing zero events left out.
        let short = "events: Ir D1mr D1mw DLmr DLmw\ntotals: 10 2\n";
        let t = parse_dump(short).unwrap();
        assert_eq!((t.d1_misses, t.ll_misses), (Some(2), Some(0)));
        assert!(parse_dump("events: Ir\n").is_err());
        assert!(parse_dump("totals: 5\n").is_err());
        assert!(parse_dump("events: Ir\ntotals: x\n").is_err());
    }

    #[test]
    fn dumps_are_read_in_numeric_order_and_gaps_are_errors() {
        let d = tempfile::tempdir().unwrap();
        for (k, ir) in [(1, 5), (2, 7), (10, 9), (3, 1), (4, 1), (5, 1)] {
            std::fs::write(
                d.path().join(format!("cg.out.{k}")),
                format!("events: Ir\ntotals: {ir}\n"),
            )
            .unwrap();
        }
        std::fs::write(d.path().join("cg.out"), "events: Ir\ntotals: 0\n").unwrap();
        assert!(read_dumps(d.path()).is_err(), "6..9 are missing");
        for k in 6..10 {
            std::fs::write(
                d.path().join(format!("cg.out.{k}")),
                "events: Ir\ntotals: 0\n",
            )
            .unwrap();
        }
        let v = read_dumps(d.path()).unwrap();
        assert_eq!(v.len(), 10);
        assert_eq!((v[0].ir, v[1].ir, v[9].ir), (5, 7, 9));
    }

    #[test]
    fn a_missing_valgrind_is_a_usage_error_with_the_fix() {
        let e = locate(Some(Path::new("/nonexistent/valgrind"))).unwrap_err();
        assert!(e.downcast_ref::<crate::error::UsageError>().is_some());
        assert!(
            format!("{e:#}").contains("apt-get install valgrind"),
            "{e:#}"
        );
    }
}
