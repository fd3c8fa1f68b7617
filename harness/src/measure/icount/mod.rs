//! Instruction counts without a PMU: kernels and model tokens counted under Valgrind.
//!
//! Hardware counters are missing on most CI runners and cloud VMs, and wall time there moves
//! 20-40%; instructions counted by Valgrind are the same on every run of one binary, so a gate
//! on them can be tight (1%) with no statistics. [`measure`] plans the [`cases`], spreads them
//! over a few worker processes ([`worker`], run under Valgrind by [`valgrind`]) side by side,
//! and turns each case's regions into a count per kernel call or per token:
//!
//! * each worker first counts an empty region: the fixed cost of entering one (tens of
//!   instructions), subtracted from every region it counts;
//! * kernel cases: one uncounted warm-up call, then a region of one call; per call = region −
//!   entry (setup is never counted);
//! * model cases: one region over the prefill (or the decode steps); per token = (region −
//!   entry) ÷ tokens.
//!
//! Valgrind runs no AVX-512 code (under it the CPU reports none), so the counts cover scalar,
//! sse41 and avx2; the AVX-512 levels are gated by hardware counters where a PMU exists.

pub mod cases;
pub mod valgrind;
pub mod worker;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use ternbench_engine::kernels::Isa;

use crate::records::fingerprint::{Fingerprint, Roots};
use crate::records::icount::{
    Build, CaseCounts, CountsFile, Host, Levels, NotCounted, Region, Suite, Tool, SCHEMA,
};
use cases::Case;
use valgrind::Totals;

/// What to count and how.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The cases, in suite order.
    pub cases: Vec<Case>,
    /// Worker processes side by side.
    pub jobs: usize,
    /// Run the cache simulator (simulated D1 and LL misses; about twice as slow).
    pub cache_sim: bool,
    /// Valgrind's path (default: `valgrind` on PATH).
    pub valgrind: Option<PathBuf>,
}

/// Why AVX-512 levels are never counted here.
pub const AVX512_REASON: &str = "Valgrind does not run AVX-512 code (under it the CPU reports no AVX-512): count it with hardware counters where a PMU exists (ternbench run, then compare --metric instructions_per_token)";

/// How a count is obtained, in words (recorded in the file).
pub const METHOD: &str = "callgrind counts only inside ternbench_icount_region and dumps after each call of it; the cost of entering an empty region is subtracted; kernel cases: one uncounted warm-up call, then one counted call; model cases: one region over the prefill (or the decode steps), divided by its tokens";

/// The most instructions entering an empty region may cost (it is a call and a return).
const MAX_ENTRY_IR: u64 = 1000;

/// One manifest line of a worker.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Line {
    Levels {
        levels: Vec<String>,
    },
    Calibration {
        #[serde(rename = "calibration")]
        _calibration: bool,
    },
    Region {
        case: String,
        units: u64,
    },
    Skipped {
        case: String,
        skipped: String,
    },
}

/// Cases spread over `jobs` workers: cases sharing a setup stay together, the costliest
/// groups first, each to the least loaded worker. Each worker keeps suite order.
pub fn partition(cases: &[Case], jobs: usize) -> Vec<Vec<Case>> {
    let mut groups: Vec<(String, f64, Vec<Case>)> = Vec::new();
    for c in cases {
        match groups.iter_mut().find(|g| g.0 == c.setup_key()) {
            Some(g) => {
                g.1 += c.cost();
                g.2.push(*c);
            }
            None => groups.push((c.setup_key(), c.setup_cost() + c.cost(), vec![*c])),
        }
    }
    let mut order: Vec<usize> = (0..groups.len()).collect();
    order.sort_by(|&a, &b| groups[b].1.total_cmp(&groups[a].1).then(a.cmp(&b)));
    let jobs = jobs.clamp(1, groups.len().max(1));
    let mut load = vec![0.0f64; jobs];
    let mut owner = vec![0usize; groups.len()];
    for g in order {
        let w = (0..jobs)
            .min_by(|&a, &b| load[a].total_cmp(&load[b]))
            .expect("jobs >= 1");
        load[w] += groups[g].1;
        owner[g] = w;
    }
    let mut out = vec![Vec::new(); jobs];
    for c in cases {
        let g = groups
            .iter()
            .position(|g| g.0 == c.setup_key())
            .expect("grouped");
        out[owner[g]].push(*c);
    }
    out.retain(|w| !w.is_empty());
    out
}

/// A temporary folder removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Result<TempDir> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let p =
            std::env::temp_dir().join(format!("ternbench-icount-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&p).with_context(|| format!("creating {}", p.display()))?;
        Ok(TempDir(p))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Counts `plan`'s cases under Valgrind; `progress` hears one line per stage.
pub fn measure(plan: &Plan, progress: &dyn Fn(&str)) -> Result<CountsFile> {
    if plan.cases.is_empty() {
        return Err(crate::error::usage("no cases to count"));
    }
    let vg = valgrind::locate(plan.valgrind.as_deref())?;
    let exe = std::env::current_exe().context("locating this ternbench binary")?;
    let tmp = TempDir::new()?;
    let parts = partition(&plan.cases, plan.jobs);
    progress(&format!(
        "counting {} cases under {} (callgrind{}) in {} worker(s)",
        plan.cases.len(),
        vg.version,
        if plan.cache_sim {
            ", cache simulation"
        } else {
            ""
        },
        parts.len()
    ));
    let t0 = Instant::now();
    let cpu0 = children_cpu_s();
    let mut workers = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        let ids: Vec<String> = part.iter().map(Case::id).collect();
        let dir = tmp.0.join(format!("w{i}"));
        workers.push((
            ids.clone(),
            valgrind::spawn(&vg, plan.cache_sim, &exe, &ids, &dir)?,
        ));
    }
    // Collect every worker before judging any, so none is left running.
    let mut outputs = Vec::new();
    for (ids, w) in workers {
        let out = w.child.wait_with_output();
        outputs.push((ids, w.dir, out));
    }
    let duration_s = t0.elapsed().as_secs_f64();
    let cpu_s = match (cpu0, children_cpu_s()) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    progress(&format!("Valgrind step: {duration_s:.1} s wall"));

    let mut levels: Option<Vec<String>> = None;
    let mut regions: BTreeMap<String, Vec<(u64, Totals)>> = BTreeMap::new();
    let mut skipped: BTreeMap<String, String> = BTreeMap::new();
    for (ids, dir, out) in outputs {
        let out =
            out.with_context(|| format!("waiting for the Valgrind worker in {}", dir.display()))?;
        if !out.status.success() {
            bail!(
                "the Valgrind worker for {} case(s) (first {}) failed ({}); the end of its log:\n{}",
                ids.len(),
                ids.first().map_or("", String::as_str),
                out.status,
                valgrind::log_tail(&dir, 30)
            );
        }
        let dumps = valgrind::read_dumps(&dir)?;
        let mut k = 0;
        let mut entry: Option<Totals> = None;
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let line: Line = serde_json::from_str(line)
                .with_context(|| format!("a worker printed an unexpected line `{line}`"))?;
            match line {
                Line::Levels { levels: l } => {
                    levels = Some(l);
                }
                Line::Calibration { .. } => {
                    let t = next_dump(&dumps, &mut k, &dir)?;
                    if t.ir > MAX_ENTRY_IR {
                        bail!(
                            "an empty counted region cost {} instructions (at most {MAX_ENTRY_IR} expected): Valgrind is not counting ternbench_icount_region alone",
                            t.ir
                        );
                    }
                    entry = Some(t);
                }
                Line::Region { case, units } => {
                    let t = next_dump(&dumps, &mut k, &dir)?;
                    let e = entry.context("a worker counted a region before calibrating")?;
                    regions.entry(case).or_default().push((units, minus(t, e)));
                }
                Line::Skipped { case, skipped: why } => {
                    skipped.insert(case, why);
                }
            }
        }
        if k != dumps.len() {
            bail!(
                "{} regions announced but {} dumps written in {}",
                k,
                dumps.len(),
                dir.display()
            );
        }
    }
    let levels = levels.context("no worker said which levels it runs")?;

    let mut notes = Vec::new();
    let mut out_cases = Vec::new();
    let mut counted: Vec<Isa> = Vec::new();
    for c in &plan.cases {
        let id = c.id();
        if let Some(why) = skipped.get(&id) {
            notes.push(format!("{id}: not counted ({why})"));
            continue;
        }
        let r = regions
            .get(&id)
            .with_context(|| format!("case {id}: no region was counted"))?;
        out_cases.push(case_counts(c, r)?);
        if !counted.contains(&c.isa()) {
            counted.push(c.isa());
        }
    }
    counted.sort();

    let fp = Fingerprint::collect(&Roots::system());
    let mut not_counted: Vec<NotCounted> = cases::LEVELS
        .iter()
        .filter(|l| !levels.iter().any(|n| n == l.name()))
        .map(|l| NotCounted {
            isa: l.name().into(),
            reason: "this CPU, as Valgrind presents it, lacks the level's features".into(),
        })
        .collect();
    not_counted.extend([Isa::Avx512, Isa::Avx512Vnni].map(|l| NotCounted {
        isa: l.name().into(),
        reason: AVX512_REASON.into(),
    }));
    let mut options = valgrind::options(plan.cache_sim);
    options.push("--callgrind-out-file=<worker dir>/cg.out".into());
    Ok(CountsFile {
        schema: SCHEMA.into(),
        created_utc: crate::records::results::now_utc(),
        tool: Tool {
            valgrind: vg.version,
            tool: "callgrind".into(),
            cache_sim: plan.cache_sim,
            caches: plan.cache_sim.then(valgrind::caches),
            options,
            method: METHOD.into(),
        },
        build: Build {
            ternbench_version: fp.ternbench_version,
            git_commit: fp.git_commit,
            git_dirty: fp.git_dirty,
            rustc: fp.rustc_version,
            profile: fp.build_profile,
            opt_level: fp.opt_level,
            debug_assertions: fp.debug_assertions,
            target: fp.target,
            target_features: fp.target_features,
        },
        host: Host {
            cpu_model: fp.cpu_model,
            os: fp.os,
            libc: libc_version(),
        },
        levels: Levels {
            counted: counted.iter().map(|l| l.name().to_string()).collect(),
            not_counted,
        },
        suite: Suite {
            model: cases::MODEL.into(),
            layers: cases::MODEL_LAYERS,
            layers_total: ternbench_engine::zoo::config(cases::MODEL)
                .map(|c| c.layers)
                .unwrap_or(0),
            prompt_tokens: cases::PROMPT_TOKENS,
            decode_tokens: cases::DECODE_TOKENS,
            gemm_batches: cases::GEMM_BATCHES.to_vec(),
        },
        cases: out_cases,
        duration_s,
        cpu_s,
        jobs: parts.len(),
        notes,
    })
}

/// The next dump, or an error saying the worker announced more regions than it dumped.
fn next_dump(dumps: &[Totals], k: &mut usize, dir: &std::path::Path) -> Result<Totals> {
    let t = *dumps.get(*k).with_context(|| {
        format!(
            "{} regions announced but {} dumps written in {}",
            *k + 1,
            dumps.len(),
            dir.display()
        )
    })?;
    *k += 1;
    Ok(t)
}

/// A region's totals less the entry cost `e` (saturating: the entry is part of every region).
fn minus(t: Totals, e: Totals) -> Totals {
    let sub = |a: Option<u64>, b: Option<u64>| a.map(|a| a.saturating_sub(b.unwrap_or(0)));
    Totals {
        ir: t.ir.saturating_sub(e.ir),
        d1_misses: sub(t.d1_misses, e.d1_misses),
        ll_misses: sub(t.ll_misses, e.ll_misses),
    }
}

/// One case's count per unit from its regions (entry cost already subtracted).
fn case_counts(c: &Case, r: &[(u64, Totals)]) -> Result<CaseCounts> {
    let regions: Vec<Region> = r
        .iter()
        .map(|(units, t)| Region {
            units: *units,
            ir: t.ir,
            d1_misses: t.d1_misses,
            ll_misses: t.ll_misses,
        })
        .collect();
    let id = c.id();
    let [(units, t)] = r else {
        bail!("case {id}: expected one counted region, got {regions:?}");
    };
    if *units == 0 {
        bail!("case {id}: a counted region of no calls or tokens");
    }
    let n = *units as f64;
    Ok(CaseCounts {
        id,
        label: c.label(),
        unit: c.unit().into(),
        instructions: t.ir as f64 / n,
        d1_misses: t.d1_misses.map(|v| v as f64 / n),
        ll_misses: t.ll_misses.map(|v| v as f64 / n),
        regions,
    })
}

/// User + system CPU seconds of the waited-for children.
fn children_cpu_s() -> Option<f64> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: getrusage writes one rusage struct into the zeroed one we pass.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: a valid pointer to a rusage; RUSAGE_CHILDREN is a valid `who`.
        let rc = unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru) };
        if rc != 0 {
            return None;
        }
        let s = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
        Some(s(ru.ru_utime) + s(ru.ru_stime))
    }
    #[cfg(not(target_os = "linux"))]
    None
}

/// The C library's version, on glibc.
fn libc_version() -> Option<String> {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: gnu_get_libc_version returns a static NUL-terminated string.
        let p = unsafe { libc::gnu_get_libc_version() };
        if p.is_null() {
            return None;
        }
        // SAFETY: non-null, static, NUL-terminated (glibc's contract).
        let s = unsafe { std::ffi::CStr::from_ptr(p) };
        Some(format!("glibc {}", s.to_string_lossy()))
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_keeps_setups_together_and_balances() {
        let all = cases::all();
        let parts = partition(&all, 2);
        assert_eq!(parts.len(), 2);
        assert_eq!(parts.iter().map(Vec::len).sum::<usize>(), all.len());
        for p in &parts {
            for c in p {
                let other = parts.iter().filter(|q| !std::ptr::eq(*q, p));
                for q in other {
                    assert!(q.iter().all(|d| d.setup_key() != c.setup_key()));
                }
            }
        }
        let cost = |p: &Vec<Case>| -> f64 { p.iter().map(|c| c.cost()).sum() };
        let (a, b) = (cost(&parts[0]), cost(&parts[1]));
        assert!(a.max(b) / a.min(b) < 1.5, "{a} vs {b}");
        assert_eq!(partition(&all[..1], 4).len(), 1);
    }

    #[test]
    fn counts_per_unit_and_the_entry_cost() {
        let t = |ir, d1| Totals {
            ir,
            d1_misses: Some(d1),
            ll_misses: Some(0),
        };
        let k = minus(t(1_000_040, 12), t(40, 2));
        assert_eq!(k, t(1_000_000, 10));
        let c = cases::all()[0];
        let k = case_counts(&c, &[(1, k)]).unwrap();
        assert_eq!(k.instructions, 1_000_000.0);
        assert_eq!(k.d1_misses, Some(10.0));
        assert_eq!(k.unit, "call");
        assert!(case_counts(&c, &[(1, k0()), (1, k0())]).is_err());
        assert!(case_counts(&c, &[(0, k0())]).is_err());
        let m = *cases::all().last().unwrap();
        let k = case_counts(&m, &[(4, t(4_000_002, 80))]).unwrap();
        assert_eq!(k.instructions, 1_000_000.5);
        assert_eq!(k.d1_misses, Some(20.0));
        assert_eq!(k.unit, "token");
    }

    fn k0() -> Totals {
        Totals::default()
    }
}
