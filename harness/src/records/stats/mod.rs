//! The statistics every command quotes: one model, used by `run`, `bench`, `compare`,
//! `report` and `cost`, so a cell shows the same figure wherever it appears.
//!
//! - **A cell** ([`Summary`]): the median of its repetitions with a distribution-free 95%
//!   confidence interval from order statistics ([`order`]): the interval between two
//!   repetitions, chosen from the binomial distribution so it covers the true median with at
//!   least 95% whatever the distribution of the timings. Its bounds are repetitions, so they
//!   can never leave what was measured (no negative rates). Below 6 repetitions no such
//!   interval exists and [`Summary::no_ci_reason`] says so in words. Mean ± standard deviation
//!   and the coefficient of variation (`sd / mean`, which marks a cell NOISY above the
//!   scenario's `max_cv`) are kept beside it as secondary figures; outliers are flagged by
//!   Tukey's fences, never removed.
//! - **A ratio** ([`ratio`]): ternary ÷ FP16, new ÷ old, ours ÷ a peer. The ratio of the two
//!   medians with the distribution-free interval of the ratio from the repetitions of both
//!   sides (the Mann-Whitney test inverted on the logarithms, [`ranks`]). One function for
//!   every ratio the tool prints; 4 repetitions per side are enough for a 95% interval.
//! - **A bounded figure** ([`Estimate::clip`]): a quantity with a physical limit (the fraction
//!   of the memory roofline cannot pass 100% for weights streamed from memory) has its interval
//!   clipped at the limit, and the estimate says it was and why ([`roofline_fraction`]).
//! - **Summaries without repetitions** ([`moments`]): results that keep only mean, sd and n
//!   (older files) fall back to Welch's t and the delta method, and say so.
//!
//! docs/method.md states the methods and their sources for users.

pub mod moments;
pub mod order;
pub mod ranks;

use serde::{Deserialize, Serialize};

/// The confidence level of every interval the tool quotes.
pub const LEVEL: f64 = 0.95;

/// `ci_method` of a cell's interval: the median's, from order statistics.
pub const MEDIAN_CI: &str = "median_order_statistics";

/// `method` of a ratio's interval: the Mann-Whitney test inverted on the logarithms.
pub const RATIO_CI: &str = "ratio_of_medians_mann_whitney";

/// `ci_method` of summaries written by ternbench before this model: the mean's Student-t
/// interval (re-derived from the repetitions on reading where they are kept).
pub const LEGACY_MEAN_CI: &str = "mean_student_t";

fn legacy() -> String {
    LEGACY_MEAN_CI.to_string()
}

/// Summary of one metric's repetitions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Number of repetitions.
    pub n: usize,
    /// Median: the figure quoted.
    pub median: f64,
    /// Arithmetic mean (secondary).
    pub mean: f64,
    /// Sample standard deviation (n−1 denominator; 0 for one repetition; secondary).
    pub stddev: f64,
    /// Lower end of the 95% confidence interval of the median (`null`: too few repetitions).
    pub ci95_low: Option<f64>,
    /// Upper end of the 95% confidence interval of the median (`null`: too few repetitions).
    pub ci95_high: Option<f64>,
    /// The coverage the interval really has (at least 0.95; order statistics are discrete).
    #[serde(default)]
    pub ci_level: Option<f64>,
    /// How the interval was made: [`MEDIAN_CI`] (or [`LEGACY_MEAN_CI`] in older files).
    #[serde(default = "legacy")]
    pub ci_method: String,
    /// Smallest repetition.
    pub min: f64,
    /// Largest repetition.
    pub max: f64,
    /// Coefficient of variation, `stddev / mean` (`null` when the mean is 0).
    pub cv: Option<f64>,
    /// Indices (in repetition order) of repetitions outside Tukey's fences.
    pub outliers: Vec<usize>,
}

impl Summary {
    /// Summarises `v`; `None` for an empty slice or any non-finite value.
    pub fn of(v: &[f64]) -> Option<Summary> {
        if v.is_empty() || v.iter().any(|x| !x.is_finite()) {
            return None;
        }
        let n = v.len();
        let mean = v.iter().sum::<f64>() / n as f64;
        let stddev = if n > 1 {
            (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
        } else {
            0.0
        };
        let mut s = v.to_vec();
        s.sort_by(f64::total_cmp);
        let ci = order::median_ci_ranks(n, LEVEL);
        let q1 = quantile_sorted(&s, 0.25);
        let q3 = quantile_sorted(&s, 0.75);
        let iqr = q3 - q1;
        let (lo, hi) = (q1 - 1.5 * iqr, q3 + 1.5 * iqr);
        let outliers = if n >= 4 {
            v.iter()
                .enumerate()
                .filter(|(_, &x)| x < lo || x > hi)
                .map(|(i, _)| i)
                .collect()
        } else {
            Vec::new()
        };
        Some(Summary {
            n,
            median: quantile_sorted(&s, 0.5),
            mean,
            stddev,
            ci95_low: ci.map(|(l, _, _)| s[l - 1]),
            ci95_high: ci.map(|(_, h, _)| s[h - 1]),
            ci_level: ci.map(|(_, _, c)| c),
            ci_method: MEDIAN_CI.to_string(),
            min: s[0],
            max: s[n - 1],
            cv: (mean != 0.0).then(|| stddev / mean.abs()),
            outliers,
        })
    }

    /// The 95% interval of the median, when the repetitions allow one.
    pub fn ci(&self) -> Option<(f64, f64)> {
        if self.ci_method != MEDIAN_CI {
            return None;
        }
        self.ci95_low.zip(self.ci95_high)
    }

    /// Why there is no interval, in words; `None` when there is one.
    pub fn no_ci_reason(&self) -> Option<String> {
        if self.ci().is_some() {
            return None;
        }
        Some(if self.ci_method != MEDIAN_CI {
            "an older results file: its interval was of the mean and its repetitions are not kept, so no interval of the median".to_string()
        } else {
            too_few_for_median(self.n)
        })
    }

    /// The figure as every command prints it: `14.44 [13.90, 14.80]`, or `14.44 (n=2, no CI)`
    /// (numbers by [`fmt_num`]).
    pub fn show(&self) -> String {
        match self.ci() {
            Some((l, h)) => format!("{} [{}, {}]", fmt_num(self.median), fmt_num(l), fmt_num(h)),
            None => format!("{} (n={}, no CI)", fmt_num(self.median), self.n),
        }
    }

    /// Whether the CV exceeds `max_cv` (a cell too noisy to trust).
    pub fn is_noisy(&self, max_cv: f64) -> bool {
        self.cv.is_some_and(|cv| cv > max_cv)
    }

    /// The median as an [`Estimate`] (its interval, or why none).
    pub fn estimate(&self) -> Estimate {
        Estimate {
            value: self.median,
            ci95_low: self.ci().map(|c| c.0),
            ci95_high: self.ci().map(|c| c.1),
            ci_level: self.ci().and(self.ci_level),
            method: self.ci_method.clone(),
            n: self.n,
            n_den: None,
            no_ci: self.no_ci_reason(),
            clipped: None,
            note: None,
        }
    }
}

/// A number as every command prints a measured figure: two decimals from 1 to 100 000, none
/// above, four significant digits below 1 (`14.44`, `123457`, `0.01235`), `-` when not finite.
pub fn fmt_num(v: f64) -> String {
    if !v.is_finite() {
        "-".into()
    } else if v == 0.0 {
        "0".into()
    } else if v.abs() >= 1e5 {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.2}")
    } else {
        let digits = (3 - v.abs().log10().floor() as i32).clamp(0, 12) as usize;
        format!("{v:.digits$}")
    }
}

/// `n=5: too few repetitions for a 95% CI of the median (6 or more give one)`.
pub fn too_few_for_median(n: usize) -> String {
    format!(
        "n={n}: too few repetitions for a 95% CI of the median ({} or more give one)",
        order::min_reps_for_median_ci(LEVEL)
    )
}

/// A derived figure (a ratio, a bounded fraction) with its 95% interval or why none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    /// The figure quoted (a median, or a ratio of medians).
    pub value: f64,
    /// Lower end of its 95% interval.
    pub ci95_low: Option<f64>,
    /// Upper end of its 95% interval.
    pub ci95_high: Option<f64>,
    /// The coverage the interval really has.
    pub ci_level: Option<f64>,
    /// How the interval was made ([`MEDIAN_CI`], [`RATIO_CI`]).
    pub method: String,
    /// Repetitions (of the numerator, for a ratio).
    pub n: usize,
    /// Repetitions of the denominator, for a ratio.
    pub n_den: Option<usize>,
    /// Why there is no interval, in words.
    pub no_ci: Option<String>,
    /// Set when the interval was clipped at a physical limit: which, and why.
    pub clipped: Option<String>,
    /// Anything else a reader must know to read the figure (why no limit applies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Estimate {
    /// The interval, when there is one.
    pub fn ci(&self) -> Option<(f64, f64)> {
        self.ci95_low.zip(self.ci95_high)
    }

    /// Clips the interval to `[lo_limit, hi_limit]`, recording `why` when it had to.
    pub fn clip(&mut self, lo_limit: f64, hi_limit: f64, why: &str) {
        let mut what = Vec::new();
        if let Some(h) = self.ci95_high.filter(|&h| h > hi_limit) {
            self.ci95_high = Some(hi_limit);
            what.push(format!("upper end {h:.3} clipped to {hi_limit}"));
        }
        if let Some(l) = self.ci95_low.filter(|&l| l < lo_limit) {
            self.ci95_low = Some(lo_limit);
            what.push(format!("lower end {l:.3} clipped to {lo_limit}"));
        }
        if let Some((l, h)) = self.ci() {
            if l > h {
                // The whole interval lies past the limit: it collapses onto it.
                self.ci95_low = Some(h);
            }
        }
        if !what.is_empty() {
            self.clipped = Some(format!("{}: {why}", what.join(", ")));
        }
    }

    /// `2.37 [2.10, 2.61]` with `digits` decimals and `suffix` after each number (`x`, `%`
    /// with `percent` scaling), or `2.37 (no CI)`.
    pub fn show(&self, digits: usize, suffix: &str, percent: bool) -> String {
        let k = if percent { 100.0 } else { 1.0 };
        let f = |v: f64| format!("{:.d$}{suffix}", v * k, d = digits);
        if let (Some((l, h)), Some(_)) = (self.ci(), &self.clipped) {
            if self.value > h || self.value < l {
                // The figure itself lies past the limit: no interval to draw around it.
                return format!("{} (past the limit; CI clipped)", f(self.value));
            }
        }
        match self.ci() {
            Some((l, h)) => format!(
                "{} [{}, {}{}]",
                f(self.value),
                f(l),
                f(h),
                if self.clipped.is_some() {
                    " clipped"
                } else {
                    ""
                }
            ),
            None => format!("{} (no CI)", f(self.value)),
        }
    }

    /// About how many repetitions per cell would move the interval clear of `threshold`, if
    /// the spread stays as it is (an interval's width shrinks as 1/√n): `n·(h/d)²` with `h` the
    /// interval's reach towards the threshold and `d` the distance to it, on a log scale (every
    /// figure here is positive). `None` when the figure sits on the threshold or has no
    /// interval.
    pub fn reps_to_decide(&self, threshold: f64) -> Option<usize> {
        let (l, h) = self.ci()?;
        if threshold <= 0.0 || self.value <= 0.0 || l <= 0.0 {
            return None;
        }
        let d = (self.value.ln() - threshold.ln()).abs();
        if d < 1e-9 {
            return None;
        }
        let reach = if threshold < self.value {
            self.value.ln() - l.ln()
        } else {
            h.ln() - self.value.ln()
        };
        let n = self.n.min(self.n_den.unwrap_or(self.n)).max(1) as f64;
        Some((n * (reach / d).powi(2)).ceil().max(n + 1.0) as usize)
    }
}

/// The ratio `median(num) ÷ median(den)` with the distribution-free 95% interval of the
/// ratio from the repetitions of both sides ([`ranks`]). Every ratio the tool prints comes
/// from here. `None` when a side is empty or non-finite or the denominator's median is not
/// positive; no interval (and the reason in words) when a side has too few repetitions or a
/// repetition is not positive.
pub fn ratio(num: &[f64], den: &[f64]) -> Option<Estimate> {
    ratio_at(num, den, LEVEL)
}

/// [`ratio`] at another confidence `level` (`compare --alpha`); the fields keep their `ci95`
/// names, `ci_level` says the coverage.
pub fn ratio_at(num: &[f64], den: &[f64], level: f64) -> Option<Estimate> {
    let a = Summary::of(num)?;
    let b = Summary::of(den)?;
    if b.median <= 0.0 {
        return None;
    }
    let value = a.median / b.median;
    let mut e = Estimate {
        value,
        ci95_low: None,
        ci95_high: None,
        ci_level: None,
        method: RATIO_CI.to_string(),
        n: num.len(),
        n_den: Some(den.len()),
        no_ci: None,
        clipped: None,
        note: None,
    };
    if num.iter().chain(den).any(|&x| x <= 0.0) {
        e.no_ci = Some("a repetition is zero or negative: no interval of the ratio".into());
        return Some(e);
    }
    match ranks::shift_ci_rank(num.len(), den.len(), level) {
        Some((k, coverage)) => {
            let d = ranks::pairwise_log_ratios(num, den);
            let lo = d[k - 1].exp();
            let hi = d[d.len() - k].exp();
            // The ratio of medians lies inside by construction; min/max guard rounding.
            e.ci95_low = Some(lo.min(value));
            e.ci95_high = Some(hi.max(value));
            e.ci_level = Some(coverage);
        }
        None => e.no_ci = Some(too_few_for_ratio(num.len(), den.len(), level)),
    }
    Some(e)
}

/// `n=3 and 3: too few repetitions for a 95% CI of the ratio (4 per side give one)`.
pub fn too_few_for_ratio(n: usize, m: usize, level: f64) -> String {
    format!(
        "n={n} and {m}: too few repetitions for a {:.0}% CI of the ratio ({} per side give one)",
        level * 100.0,
        ranks::min_reps_for_ratio_ci(level)
    )
}

/// Why a fraction of the memory roofline cannot pass 100%.
pub const ROOFLINE_LIMIT_WHY: &str = "a decode step cannot read its weights faster than memory delivers them, so a repetition above 100% means the bandwidth read beside it was low (other load on the machine) or part of the weights stayed in cache";

/// Why a fraction of the memory roofline may pass 100%: the weights fit in the cache.
pub const ROOFLINE_CACHED_WHY: &str = "the bytes one decode step reads fit in the last-level cache, so the step need not stream them from memory and the memory roofline does not bound it (a fraction above 100% is possible)";

/// The fraction of the memory roofline from its per-repetition values: their median with the
/// order-statistics interval. When the step's bytes must stream from memory (`streamed`: they
/// exceed the last-level cache) the interval is clipped to `[0, 1]`, with the reason, where a
/// repetition went past 100%; otherwise the figure carries a note that no limit applies.
pub fn roofline_fraction(per_rep: &[f64], streamed: bool) -> Option<Estimate> {
    let mut e = Summary::of(per_rep)?.estimate();
    if !streamed {
        e.clip(0.0, f64::INFINITY, "a fraction cannot be negative");
        e.note = Some(ROOFLINE_CACHED_WHY.into());
        return Some(e);
    }
    e.clip(0.0, 1.0, ROOFLINE_LIMIT_WHY);
    if e.value > 1.0 && e.clipped.is_none() {
        e.clipped = Some(format!(
            "the median itself is above 100%: {ROOFLINE_LIMIT_WHY}"
        ));
    }
    Some(e)
}

/// The `q` quantile (0..=1) of sorted, non-empty `s` by linear interpolation between closest
/// ranks (numpy's default).
pub fn quantile_sorted(s: &[f64], q: f64) -> f64 {
    debug_assert!(!s.is_empty());
    let pos = q.clamp(0.0, 1.0) * (s.len() - 1) as f64;
    let i = pos.floor() as usize;
    let f = pos - i as f64;
    if i + 1 < s.len() {
        s[i] + (s[i + 1] - s[i]) * f
    } else {
        s[i]
    }
}

/// Latency percentiles of per-token times.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    /// Number of samples pooled.
    pub n: usize,
    /// 50th percentile.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
}

impl Percentiles {
    /// p50/p90/p99 of `v`; `None` when empty or non-finite.
    pub fn of(v: &[f64]) -> Option<Percentiles> {
        if v.is_empty() || v.iter().any(|x| !x.is_finite()) {
            return None;
        }
        let mut s = v.to_vec();
        s.sort_by(f64::total_cmp);
        Some(Percentiles {
            n: s.len(),
            p50: quantile_sorted(&s, 0.50),
            p90: quantile_sorted(&s, 0.90),
            p99: quantile_sorted(&s, 0.99),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_matches_hand_computation() {
        let v = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0];
        let s = Summary::of(&v).unwrap();
        assert_eq!(s.n, 8);
        assert_eq!(s.median, 4.5);
        assert!((s.mean - 5.0).abs() < 1e-12);
        let sd = (32.0f64 / 7.0).sqrt();
        assert!((s.stddev - sd).abs() < 1e-12);
        // n = 8: [x(1), x(8)] (99.2%), the only interval reaching 95%.
        assert_eq!(s.ci(), Some((2.0, 9.0)));
        assert!((s.ci_level.unwrap() - (1.0 - 2.0 / 256.0)).abs() < 1e-12);
        assert_eq!((s.min, s.max), (2.0, 9.0));
        assert!((s.cv.unwrap() - sd / 5.0).abs() < 1e-12);
        // Q1 = 4, Q3 = 5.5, IQR 1.5: fences 1.75 and 7.75, so 9 is an outlier.
        assert_eq!(s.outliers, vec![7]);
        assert!(s.is_noisy(0.05));
        assert!(!s.is_noisy(0.5));
        assert_eq!(s.show(), "4.50 [2.00, 9.00]");
    }

    #[test]
    fn too_few_repetitions_say_so_in_words() {
        // The mean's t-interval at n = 2 reached −299.89 tokens/s; the median's has no bound.
        let s = Summary::of(&[10.0, 57.0]).unwrap();
        assert_eq!(s.ci(), None);
        assert_eq!(s.show(), "33.50 (n=2, no CI)");
        assert_eq!(
            s.no_ci_reason().unwrap(),
            "n=2: too few repetitions for a 95% CI of the median (6 or more give one)"
        );
        let one = Summary::of(&[3.0]).unwrap();
        assert_eq!(one.stddev, 0.0);
        assert!(one.show().contains("n=1, no CI"), "{}", one.show());
        assert!(one.outliers.is_empty());
    }

    #[test]
    fn legacy_summaries_have_no_interval_of_the_median() {
        let s: Summary = serde_json::from_str(
            r#"{"n":5,"median":1,"mean":1,"stddev":0.1,"ci95_low":0.9,"ci95_high":1.1,"min":0.9,"max":1.1,"cv":0.1,"outliers":[]}"#,
        )
        .unwrap();
        assert_eq!(s.ci_method, LEGACY_MEAN_CI);
        assert_eq!(s.ci(), None);
        assert!(s.no_ci_reason().unwrap().contains("older results file"));
    }

    #[test]
    fn empty_or_nan_is_none() {
        assert!(Summary::of(&[]).is_none());
        assert!(Summary::of(&[1.0, f64::NAN]).is_none());
        assert!(Percentiles::of(&[]).is_none());
        assert!(ratio(&[1.0], &[]).is_none());
        assert!(ratio(&[1.0], &[0.0]).is_none());
    }

    #[test]
    fn numbers_print_alike_everywhere() {
        assert_eq!(fmt_num(14.444), "14.44");
        assert_eq!(fmt_num(164.04), "164.04");
        assert_eq!(fmt_num(123_456_789.4), "123456789");
        assert_eq!(fmt_num(0.012345), "0.01235");
        assert_eq!(fmt_num(0.384), "0.3840");
        assert_eq!(fmt_num(0.0), "0");
        assert_eq!(fmt_num(f64::NAN), "-");
    }

    #[test]
    fn percentiles_interpolate() {
        let v: Vec<f64> = (1..=101).map(f64::from).collect();
        let p = Percentiles::of(&v).unwrap();
        assert_eq!((p.p50, p.p90, p.p99), (51.0, 91.0, 100.0));
    }

    #[test]
    fn ratio_of_medians_with_the_rank_interval() {
        let a = [40.0, 41.0, 39.0, 42.0, 38.0];
        let b = [10.0, 10.5, 9.5, 10.2, 9.8];
        let r = ratio(&a, &b).unwrap();
        assert!((r.value - 4.0).abs() < 1e-12);
        // k = 3 of the 25 pairwise ratios from each end.
        let mut p: Vec<f64> = a
            .iter()
            .flat_map(|x| b.iter().map(move |y| x / y))
            .collect();
        p.sort_by(f64::total_cmp);
        let (lo, hi) = r.ci().unwrap();
        assert!((lo - p[2]).abs() < 1e-12 && (hi - p[22]).abs() < 1e-12);
        assert!((r.ci_level.unwrap() - (1.0 - 8.0 / 252.0)).abs() < 1e-12);
        assert_eq!(r.show(2, "x", false), format!("4.00x [{lo:.2}x, {hi:.2}x]"));
        // Deterministic: no seed, same answer.
        assert_eq!(ratio(&a, &b), Some(r.clone()));
        // Too few: said in words.
        let t = ratio(&a[..3], &b[..3]).unwrap();
        assert_eq!(t.ci(), None);
        assert_eq!(
            t.no_ci.as_deref(),
            Some("n=3 and 3: too few repetitions for a 95% CI of the ratio (4 per side give one)")
        );
    }

    #[test]
    fn ratio_interval_covers_the_true_ratio_at_least_95_percent() {
        // Log-normal timings (σ = 0.1), true ratio 1.3, 5 repetitions a side: the coverage
        // over 2000 simulated pairs is close to the exact 96.8%.
        let mut seed = 0x1234_5678_9abc_def0u64;
        let mut unif = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            ((seed >> 11) as f64 + 0.5) / (1u64 << 53) as f64
        };
        let mut normal = move || {
            let (u, v) = (unif(), unif());
            (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
        };
        let mut covered = 0;
        let trials = 2000;
        for _ in 0..trials {
            let a: Vec<f64> = (0..5).map(|_| 13.0 * (0.1 * normal()).exp()).collect();
            let b: Vec<f64> = (0..5).map(|_| 10.0 * (0.1 * normal()).exp()).collect();
            let (lo, hi) = ratio(&a, &b).unwrap().ci().unwrap();
            if lo <= 1.3 && 1.3 <= hi {
                covered += 1;
            }
        }
        let c = covered as f64 / trials as f64;
        assert!(c > 0.945, "coverage {c}");
    }

    #[test]
    fn roofline_interval_is_clipped_at_100_percent_and_says_why() {
        let e = roofline_fraction(&[0.80, 0.85, 0.9, 0.95, 1.2, 0.88], true).unwrap();
        assert_eq!(e.ci(), Some((0.8, 1.0)));
        assert!(e
            .clipped
            .as_deref()
            .unwrap()
            .contains("upper end 1.200 clipped to 1"));
        assert!(
            e.show(0, "%", true).ends_with("clipped]"),
            "{}",
            e.show(0, "%", true)
        );
        let ok = roofline_fraction(&[0.5, 0.6, 0.55, 0.52, 0.58, 0.57], true).unwrap();
        assert_eq!(ok.clipped, None);
        // Weights that fit in the cache: no limit, and a note saying why.
        let c = roofline_fraction(&[1.1, 1.2, 1.3, 1.25, 1.15, 1.22], false).unwrap();
        assert_eq!(c.clipped, None);
        assert!(c.ci().unwrap().1 > 1.0);
        assert!(c.note.as_deref().unwrap().contains("last-level cache"));
    }

    #[test]
    fn reps_to_decide_scales_with_the_square_of_the_reach() {
        let e = Estimate {
            value: 4.0,
            ci95_low: Some(3.0),
            ci95_high: Some(6.0),
            ci_level: Some(0.96),
            method: RATIO_CI.into(),
            n: 5,
            n_den: Some(5),
            no_ci: None,
            clipped: None,
            note: None,
        };
        // ln(4/3) = 0.288 reach, ln(4/3.5) = 0.134 distance: 5·(0.288/0.134)² ≈ 23.2.
        assert_eq!(e.reps_to_decide(3.5), Some(24));
        assert_eq!(e.reps_to_decide(4.0), None);
    }

    proptest::proptest! {
        #[test]
        fn summary_bounds(v in proptest::collection::vec(1e-3f64..1e6, 1..50)) {
            let s = Summary::of(&v).unwrap();
            proptest::prop_assert!(s.min <= s.median && s.median <= s.max);
            proptest::prop_assert!(s.min <= s.mean + 1e-6 && s.mean <= s.max + 1e-6);
            proptest::prop_assert!(s.stddev >= 0.0);
            if let Some((l, h)) = s.ci() {
                // Bounds are repetitions: never outside what was measured, never negative.
                proptest::prop_assert!(s.min <= l && l <= s.median && s.median <= h && h <= s.max);
            } else {
                proptest::prop_assert!(s.n < 6);
            }
        }

        #[test]
        fn ratio_contains_its_value(
            a in proptest::collection::vec(1e-2f64..1e4, 1..12),
            b in proptest::collection::vec(1e-2f64..1e4, 1..12),
        ) {
            let r = ratio(&a, &b).unwrap();
            if let Some((l, h)) = r.ci() {
                proptest::prop_assert!(0.0 < l && l <= r.value * (1.0 + 1e-12) && r.value <= h * (1.0 + 1e-12));
            } else {
                proptest::prop_assert!(r.no_ci.is_some());
            }
        }
    }
}
