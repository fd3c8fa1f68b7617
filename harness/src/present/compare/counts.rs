//! `ternbench compare` on two instruction-count files (`ternbench icount`): deterministic
//! counts, so no statistics: a count that grew by more than the threshold (default 1%) is
//! **regressed**, one that shrank by more is **improved**, anything else **unchanged**
//! (**identical** when equal). Cases match by identifier.
//!
//! Exit codes: 0 nothing gating regressed; 1 a gating count regressed; 2 bad input, including
//! two files whose toolchains differ (another compiler or build settings make other machine
//! code: the baseline must be refreshed, and the error says how). Host differences (CPU, OS, C
//! library, Valgrind release) are reported beside the verdict, not refused: they reach only
//! the C library code inside a region.

use std::collections::BTreeMap;

use anyhow::Result;
use serde::Serialize;

use crate::error::usage;
use crate::records::icount::{CaseCounts, CountsFile};

/// Schema of the JSON output.
pub const SCHEMA: &str = "ternbench-compare-counts/1";

/// The command that refreshes the committed baseline (said when counts cannot be compared).
pub const REFRESH: &str = "scripts/ci-bench.sh --icount --refresh-baseline";

/// A count of a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CountMetric {
    /// Instructions executed.
    Instructions,
    /// Simulated first-level data cache misses.
    D1Misses,
    /// Simulated last-level data cache misses.
    LlMisses,
}

impl CountMetric {
    /// Every count, in display order.
    pub const ALL: [CountMetric; 3] = [
        CountMetric::Instructions,
        CountMetric::D1Misses,
        CountMetric::LlMisses,
    ];

    /// The name on the command line and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            CountMetric::Instructions => "instructions",
            CountMetric::D1Misses => "d1_misses",
            CountMetric::LlMisses => "ll_misses",
        }
    }

    /// For people.
    pub fn label(self) -> &'static str {
        match self {
            CountMetric::Instructions => "instructions",
            CountMetric::D1Misses => "simulated D1 misses",
            CountMetric::LlMisses => "simulated LL misses",
        }
    }

    /// Parses a command-line name.
    pub fn parse(s: &str) -> Option<CountMetric> {
        CountMetric::ALL.into_iter().find(|m| m.name() == s.trim())
    }

    fn get(self, c: &CaseCounts) -> Option<f64> {
        match self {
            CountMetric::Instructions => Some(c.instructions),
            CountMetric::D1Misses => c.d1_misses,
            CountMetric::LlMisses => c.ll_misses,
        }
    }
}

/// Options of a counts comparison.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Counts that gate (default: instructions; the others are shown).
    pub metrics: Option<Vec<CountMetric>>,
    /// Threshold in percent (default 1).
    pub threshold_pct: Option<f64>,
}

/// The default threshold, percent.
pub const DEFAULT_THRESHOLD_PCT: f64 = 1.0;

/// A verdict on one count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Grew beyond the threshold.
    Regressed,
    /// Shrank beyond the threshold.
    Improved,
    /// Changed within the threshold.
    Unchanged,
    /// Equal.
    Identical,
}

impl Verdict {
    /// The word in tables.
    pub fn word(self) -> &'static str {
        match self {
            Verdict::Regressed => "regressed",
            Verdict::Improved => "improved",
            Verdict::Unchanged => "unchanged",
            Verdict::Identical => "identical",
        }
    }
}

/// One side of the comparison, summarised.
#[derive(Debug, Clone, Serialize)]
pub struct Side {
    /// What the user named.
    pub source: String,
    /// Commit of the build (shortened; `(uncommitted changes)` when dirty).
    pub commit: String,
    /// `rustc -V`.
    pub rustc: String,
    /// `valgrind --version` and the tool.
    pub valgrind: String,
    /// CPU, OS and C library of the host.
    pub host: String,
    /// Levels counted.
    pub levels: Vec<String>,
    /// When counted.
    pub created_utc: String,
    /// Cases in the file.
    pub cases: usize,
}

/// One count of one case, compared.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// Case identifier.
    pub case: String,
    /// Case label.
    pub label: String,
    /// The count.
    pub metric: CountMetric,
    /// Per what (`call`, `token`).
    pub unit: String,
    /// Baseline value.
    pub baseline: f64,
    /// New value.
    pub new: f64,
    /// `new / baseline − 1`, percent (`None` when the baseline is 0 and the new value is not).
    pub change_pct: Option<f64>,
    /// Whether this count gates the exit code.
    pub gating: bool,
    /// The verdict.
    pub verdict: Verdict,
}

/// Tallies of the gating counts.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Tally {
    /// Grew beyond the threshold.
    pub regressed: usize,
    /// Shrank beyond it.
    pub improved: usize,
    /// Changed within it.
    pub unchanged: usize,
    /// Equal.
    pub identical: usize,
}

/// The comparison.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// [`SCHEMA`].
    pub schema: &'static str,
    /// The baseline.
    pub baseline: Side,
    /// The new counts.
    pub new: Side,
    /// Gating counts.
    pub gate: Vec<CountMetric>,
    /// Threshold, percent.
    pub threshold_pct: f64,
    /// Every compared count of every common case (gating and shown), suite order.
    pub rows: Vec<Row>,
    /// Tallies of the gating counts.
    pub tally: Tally,
    /// Cases only the baseline has.
    pub only_in_baseline: Vec<String>,
    /// Cases only the new file has.
    pub only_in_new: Vec<String>,
    /// Host facts that differ (reported; they reach only C library code).
    pub host_differences: Vec<String>,
    /// Levels not counted (AVX-512 under Valgrind), with the reason.
    pub not_counted: Vec<String>,
    /// Remarks carried from the files.
    pub notes: Vec<String>,
    /// Whether a gating count regressed.
    pub regressed: bool,
    /// 0 or 1.
    pub exit_code: i32,
}

fn side(source: &str, f: &CountsFile) -> Side {
    let opt = |o: &Option<String>| o.clone().unwrap_or_else(|| "unknown".into());
    Side {
        source: source.to_string(),
        commit: f.commit_short(),
        rustc: f.build.rustc.clone(),
        valgrind: format!("{} {}", f.tool.valgrind, f.tool.tool),
        host: format!(
            "{}, {}, {}",
            opt(&f.host.cpu_model),
            opt(&f.host.os),
            opt(&f.host.libc)
        ),
        levels: f.levels.counted.clone(),
        created_utc: f.created_utc.clone(),
        cases: f.cases.len(),
    }
}

/// Relative change in percent, `None` for a growth from zero.
fn change_pct(a: f64, b: f64) -> Option<f64> {
    if a == b {
        Some(0.0)
    } else if a == 0.0 {
        None
    } else {
        Some((b / a - 1.0) * 100.0)
    }
}

/// Compares `new` against `base` (usage errors for bad options or different toolchains).
pub fn compare(
    base: &CountsFile,
    base_src: &str,
    new: &CountsFile,
    new_src: &str,
    o: &Options,
) -> Result<Report> {
    let threshold = o.threshold_pct.unwrap_or(DEFAULT_THRESHOLD_PCT);
    if !(threshold.is_finite() && threshold >= 0.0) {
        return Err(usage(format!(
            "--threshold {threshold}: must be a percentage >= 0"
        )));
    }
    let diffs = base.toolchain_differences(new);
    if !diffs.is_empty() {
        return Err(usage(format!(
            "the counts of {base_src} and {new_src} come from different toolchains, so their machine code differs and the counts cannot be compared ({}). Refresh the baseline with this toolchain: {REFRESH}",
            diffs.join("; ")
        )));
    }
    let gate = o
        .metrics
        .clone()
        .unwrap_or_else(|| vec![CountMetric::Instructions]);
    for m in &gate {
        let has = |f: &CountsFile| f.cases.iter().any(|c| m.get(c).is_some());
        if !has(base) || !has(new) {
            return Err(usage(format!(
                "--metric {}: {} has none (counted without the cache simulator?)",
                m.name(),
                if has(base) { new_src } else { base_src }
            )));
        }
    }
    let caches_match = base.same_caches(new);
    if !caches_match {
        if let Some(m) = gate.iter().find(|m| **m != CountMetric::Instructions) {
            return Err(usage(format!(
                "--metric {}: {base_src} and {new_src} did not both simulate the same caches",
                m.name()
            )));
        }
    }
    let by_id: BTreeMap<&str, &CaseCounts> =
        base.cases.iter().map(|c| (c.id.as_str(), c)).collect();
    let new_ids: BTreeMap<&str, &CaseCounts> =
        new.cases.iter().map(|c| (c.id.as_str(), c)).collect();
    let mut rows = Vec::new();
    let mut tally = Tally::default();
    for n in &new.cases {
        let Some(b) = by_id.get(n.id.as_str()) else {
            continue;
        };
        for m in CountMetric::ALL {
            if m != CountMetric::Instructions && !caches_match {
                continue;
            }
            let (Some(bv), Some(nv)) = (m.get(b), m.get(n)) else {
                continue;
            };
            let gating = gate.contains(&m);
            let ch = change_pct(bv, nv);
            let verdict = match ch {
                _ if bv == nv => Verdict::Identical,
                Some(c) if c > threshold => Verdict::Regressed,
                Some(c) if c < -threshold => Verdict::Improved,
                Some(_) => Verdict::Unchanged,
                None => Verdict::Regressed,
            };
            if gating {
                match verdict {
                    Verdict::Regressed => tally.regressed += 1,
                    Verdict::Improved => tally.improved += 1,
                    Verdict::Unchanged => tally.unchanged += 1,
                    Verdict::Identical => tally.identical += 1,
                }
            }
            rows.push(Row {
                case: n.id.clone(),
                label: n.label.clone(),
                metric: m,
                unit: n.unit.clone(),
                baseline: bv,
                new: nv,
                change_pct: ch,
                gating,
                verdict,
            });
        }
    }
    if rows.is_empty() {
        return Err(usage(format!(
            "{base_src} and {new_src} have no case in common"
        )));
    }
    let only_in_baseline = base
        .cases
        .iter()
        .filter(|c| !new_ids.contains_key(c.id.as_str()))
        .map(|c| c.id.clone())
        .collect();
    let only_in_new = new
        .cases
        .iter()
        .filter(|c| !by_id.contains_key(c.id.as_str()))
        .map(|c| c.id.clone())
        .collect();
    let mut notes: Vec<String> = base
        .notes
        .iter()
        .map(|n| format!("baseline: {n}"))
        .collect();
    notes.extend(new.notes.iter().map(|n| format!("new: {n}")));
    let regressed = tally.regressed > 0;
    Ok(Report {
        schema: SCHEMA,
        baseline: side(base_src, base),
        new: side(new_src, new),
        gate,
        threshold_pct: threshold,
        rows,
        tally,
        only_in_baseline,
        only_in_new,
        host_differences: base.host_differences(new),
        not_counted: new
            .levels
            .not_counted
            .iter()
            .map(|n| format!("{}: {}", n.isa, n.reason))
            .collect(),
        notes,
        regressed,
        exit_code: i32::from(regressed),
    })
}

/// An integer with thousands separators; other values to one decimal.
pub fn fmt_count(v: f64) -> String {
    let neg = v < 0.0;
    let a = v.abs();
    let (int, frac) = if a.fract() == 0.0 || a >= 1e7 {
        (a.round() as u128, String::new())
    } else {
        let r = (a * 10.0).round() / 10.0;
        (
            r.trunc() as u128,
            format!(".{}", ((r.fract() * 10.0).round() as u32) % 10),
        )
    };
    let digits = int.to_string();
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    format!("{}{out}{frac}", if neg { "-" } else { "" })
}

fn fmt_change(c: Option<f64>) -> String {
    match c {
        None => "from 0".into(),
        Some(c) if c.abs() == 0.0 => "0".into(),
        Some(c) if c.abs() < 0.005 => format!("{}<0.01%", if c > 0.0 { "+" } else { "-" }),
        Some(c) => format!("{c:+.2}%"),
    }
}

/// The Markdown summary for a pull request: headline, the two sides, what is and is not
/// counted, then every changed count (gating first) and the tallies.
pub fn markdown(r: &Report) -> String {
    let mut s = String::new();
    let gate_names: Vec<&str> = r.gate.iter().map(|m| m.label()).collect();
    let headline = if r.regressed {
        format!(
            "REGRESSED: {} count(s) grew by more than {}%",
            r.tally.regressed, r.threshold_pct
        )
    } else {
        "no regression".to_string()
    };
    s += &format!("## ternbench instruction counts: {headline}\n\n");
    for row in r
        .rows
        .iter()
        .filter(|x| x.gating && x.verdict == Verdict::Regressed)
    {
        s += &format!(
            "- **{}**: {} per {} {} ({} → {})\n",
            row.label,
            row.metric.label(),
            row.unit,
            fmt_change(row.change_pct),
            fmt_count(row.baseline),
            fmt_count(row.new)
        );
    }
    if r.regressed {
        s += "\n";
    }
    s += "| | baseline | new |\n|---|---|---|\n";
    let pair = |name: &str, a: &str, b: &str| format!("| {name} | {a} | {b} |\n");
    s += &pair("counts", &r.baseline.source, &r.new.source);
    s += &pair("commit", &r.baseline.commit, &r.new.commit);
    s += &pair("rustc", &r.baseline.rustc, &r.new.rustc);
    s += &pair("Valgrind", &r.baseline.valgrind, &r.new.valgrind);
    s += &pair("host", &r.baseline.host, &r.new.host);
    s += &pair(
        "levels counted",
        &r.baseline.levels.join(", "),
        &r.new.levels.join(", "),
    );
    s += &pair("counted at", &r.baseline.created_utc, &r.new.created_utc);
    s += "\n";
    s += &format!(
        "Gate: {} per kernel call and per token, ±{}% (Valgrind counts are deterministic: no statistics).",
        gate_names.join(", "),
        r.threshold_pct
    );
    s += " AVX-512 levels are not counted: Valgrind does not run AVX-512 code (under it the CPU reports none); where a PMU exists they are gated by hardware counters (`ternbench compare --metric instructions_per_token`).\n\n";
    if !r.host_differences.is_empty() {
        s += &format!(
            "Hosts differ ({}): only C library code inside a region (allocation, `memcpy`, `libm`) can count differently, a small share of a per-token count and none of a kernel's.\n\n",
            r.host_differences.join("; ")
        );
    }
    // Every gating count that moved; the others (simulated misses, which move a little with
    // memory addresses) only beyond the threshold.
    let changed: Vec<&Row> = r
        .rows
        .iter()
        .filter(|x| {
            x.verdict != Verdict::Identical && (x.gating || x.verdict != Verdict::Unchanged)
        })
        .collect();
    let quiet_moves = r
        .rows
        .iter()
        .filter(|x| !x.gating && x.verdict == Verdict::Unchanged)
        .count();
    if changed.is_empty() {
        s += if r.tally.identical == r.rows.iter().filter(|x| x.gating).count() {
            "Every gating count is identical.\n\n"
        } else {
            "No count moved beyond the threshold.\n\n"
        };
    } else {
        s += "### Changed counts\n\n| case | count | baseline | new | change | verdict |\n|---|---|---:|---:|---:|---|\n";
        let mut sorted = changed.clone();
        sorted.sort_by_key(|x| (!x.gating, x.verdict != Verdict::Regressed));
        for x in sorted {
            let verdict = if x.gating {
                match x.verdict {
                    Verdict::Regressed => "**regressed**".to_string(),
                    v => v.word().to_string(),
                }
            } else {
                format!("{} (not gating)", x.verdict.word())
            };
            s += &format!(
                "| `{}` | {} / {} | {} | {} | {} | {} |\n",
                x.label,
                x.metric.label(),
                x.unit,
                fmt_count(x.baseline),
                fmt_count(x.new),
                fmt_change(x.change_pct),
                verdict
            );
        }
        s += "\n";
    }
    if quiet_moves > 0 {
        s += &format!(
            "{quiet_moves} simulated cache-miss count(s) moved within ±{}% (not listed: they shift a little with memory addresses, so they never gate unless named with --metric).\n\n",
            r.threshold_pct
        );
    }
    let cases = r
        .rows
        .iter()
        .map(|x| x.case.as_str())
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    s += &format!(
        "{cases} cases compared ({}): {} regressed, {} improved, {} changed within ±{}%, {} identical.\n",
        gate_names.join(", "),
        r.tally.regressed,
        r.tally.improved,
        r.tally.unchanged,
        r.threshold_pct,
        r.tally.identical
    );
    if !r.only_in_baseline.is_empty() {
        s += &format!(
            "\nOnly in the baseline (not counted now): {}.\n",
            code_list(&r.only_in_baseline)
        );
    }
    if !r.only_in_new.is_empty() {
        s += &format!(
            "\nOnly in the new counts (no baseline yet): {}.\n",
            code_list(&r.only_in_new)
        );
    }
    if !r.notes.is_empty() {
        s += "\nNotes:\n";
        for n in &r.notes {
            s += &format!("- {n}\n");
        }
    }
    s
}

fn code_list(v: &[String]) -> String {
    v.iter()
        .map(|x| format!("`{x}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::icount::tests::sample;

    fn run(a: &CountsFile, b: &CountsFile, o: &Options) -> Report {
        compare(a, "base.json", b, "new.json", o).unwrap()
    }

    #[test]
    fn identical_counts_pass() {
        let r = run(&sample(), &sample(), &Options::default());
        assert_eq!(r.exit_code, 0);
        assert_eq!(r.tally.identical, 2);
        let md = markdown(&r);
        assert!(md.contains("no regression"), "{md}");
        assert!(md.contains("Every gating count is identical"), "{md}");
        assert!(md.contains("AVX-512 levels are not counted"), "{md}");
    }

    #[test]
    fn a_slower_kernel_regresses_and_is_named() {
        let mut b = sample();
        b.cases[0].instructions *= 1.0625;
        let r = run(&sample(), &b, &Options::default());
        assert_eq!(r.exit_code, 1);
        assert_eq!(r.tally.regressed, 1);
        let md = markdown(&r);
        assert!(md.contains("REGRESSED"), "{md}");
        assert!(
            md.contains("**i2 avx2 gemv qo 2560x2560**: instructions per call +6.25% (1,000,000 → 1,062,500)"),
            "{md}"
        );
        assert!(md.contains("| **regressed** |"), "{md}");
    }

    #[test]
    fn thresholds_and_directions() {
        let mut b = sample();
        b.cases[0].instructions *= 1.005;
        b.cases[1].instructions *= 0.9;
        let r = run(&sample(), &b, &Options::default());
        assert_eq!(r.exit_code, 0);
        assert_eq!((r.tally.unchanged, r.tally.improved), (1, 1));
        let r = run(
            &sample(),
            &b,
            &Options {
                threshold_pct: Some(0.1),
                ..Options::default()
            },
        );
        assert_eq!(r.exit_code, 1);
        // Cache misses are shown but do not gate unless named.
        let mut c = sample();
        c.cases[0].ll_misses = Some(1000.0);
        let r = run(&sample(), &c, &Options::default());
        assert_eq!(r.exit_code, 0);
        assert!(markdown(&r).contains("regressed (not gating)"));
        let r = run(
            &sample(),
            &c,
            &Options {
                metrics: Some(vec![CountMetric::LlMisses]),
                ..Options::default()
            },
        );
        assert_eq!(r.exit_code, 1);
    }

    #[test]
    fn different_toolchains_are_refused_with_the_refresh_command() {
        let mut b = sample();
        b.build.rustc = "rustc 1.96.0".into();
        let e = compare(&sample(), "a", &b, "b", &Options::default()).unwrap_err();
        assert!(e.downcast_ref::<crate::error::UsageError>().is_some());
        let m = format!("{e:#}");
        assert!(
            m.contains("rustc 1.95.0 vs rustc 1.96.0") && m.contains(REFRESH),
            "{m}"
        );
    }

    #[test]
    fn host_differences_are_reported_not_refused() {
        let mut b = sample();
        b.host.libc = Some("glibc 2.39".into());
        let r = run(&sample(), &b, &Options::default());
        assert_eq!(r.exit_code, 0);
        assert!(markdown(&r).contains("Hosts differ (C library: 2.36 vs glibc 2.39)"));
    }

    #[test]
    fn missing_cases_and_bad_options() {
        let mut b = sample();
        b.cases[1].id = "model:other".into();
        let r = run(&sample(), &b, &Options::default());
        assert_eq!(r.only_in_baseline, ["model:ternary-i2:avx2:decode"]);
        assert_eq!(r.only_in_new, ["model:other"]);
        let md = markdown(&r);
        assert!(md.contains("Only in the baseline"), "{md}");
        let mut c = sample();
        for x in &mut c.cases {
            x.id += "-x";
        }
        assert!(compare(&sample(), "a", &c, "b", &Options::default()).is_err());
        assert!(compare(
            &sample(),
            "a",
            &sample(),
            "b",
            &Options {
                threshold_pct: Some(-1.0),
                ..Options::default()
            }
        )
        .is_err());
        let mut d = sample();
        for x in &mut d.cases {
            x.d1_misses = None;
        }
        let e = compare(
            &sample(),
            "a",
            &d,
            "b",
            &Options {
                metrics: Some(vec![CountMetric::D1Misses]),
                ..Options::default()
            },
        )
        .unwrap_err();
        assert!(format!("{e:#}").contains("cache simulator"));
    }

    #[test]
    fn counts_format() {
        assert_eq!(fmt_count(1_062_500.0), "1,062,500");
        assert_eq!(fmt_count(999.0), "999");
        assert_eq!(fmt_count(5_000_000.5), "5,000,000.5");
        assert_eq!(fmt_count(-1234.0), "-1,234");
        assert_eq!(fmt_change(Some(0.001)), "+<0.01%");
        assert_eq!(fmt_change(None), "from 0");
    }
}
