//! Summary statistics of repeated measurements, as every results file reports them.
//!
//! For a sample `x₁…xₙ`: median, mean, sample standard deviation (n−1), the 95% confidence
//! interval of the mean `x̄ ± t(0.975, n−1)·s/√n` (Student's t), min, max, the coefficient of
//! variation `s/x̄`, and outliers by Tukey's fences (below Q1 − 1.5·IQR or above Q3 + 1.5·IQR,
//! quartiles by linear interpolation). Outliers are flagged, never removed: a cell's figures
//! always use every sample. A cell whose CV exceeds the scenario's `max_cv` is marked noisy.
//! Percentiles (p50/p90/p99 of per-token latencies) use the same linear interpolation.

use serde::{Deserialize, Serialize};

/// Summary of one metric's samples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Number of samples.
    pub n: usize,
    /// Median.
    pub median: f64,
    /// Arithmetic mean.
    pub mean: f64,
    /// Sample standard deviation (n−1 denominator; 0 for one sample).
    pub stddev: f64,
    /// Lower end of the 95% confidence interval of the mean (`null` for one sample).
    pub ci95_low: Option<f64>,
    /// Upper end of the 95% confidence interval of the mean (`null` for one sample).
    pub ci95_high: Option<f64>,
    /// Smallest sample.
    pub min: f64,
    /// Largest sample.
    pub max: f64,
    /// Coefficient of variation, `stddev / mean` (`null` when the mean is 0).
    pub cv: Option<f64>,
    /// Indices (in sample order) of samples outside Tukey's fences.
    pub outliers: Vec<usize>,
}

impl Summary {
    /// Summarises `v`; `None` for an empty slice or any non-finite sample.
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
        let (ci95_low, ci95_high) = if n > 1 {
            let h = t975(n - 1) * stddev / (n as f64).sqrt();
            (Some(mean - h), Some(mean + h))
        } else {
            (None, None)
        };
        let mut s = v.to_vec();
        s.sort_by(f64::total_cmp);
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
            ci95_low,
            ci95_high,
            min: s[0],
            max: s[n - 1],
            cv: (mean != 0.0).then(|| stddev / mean.abs()),
            outliers,
        })
    }

    /// Half-width of the 95% confidence interval relative to the mean, if defined.
    pub fn ci95_rel(&self) -> Option<f64> {
        match (self.ci95_low, self.ci95_high) {
            (Some(l), Some(h)) if self.mean != 0.0 => Some((h - l) / 2.0 / self.mean.abs()),
            _ => None,
        }
    }

    /// Whether the CV exceeds `max_cv` (a cell too noisy to trust).
    pub fn is_noisy(&self, max_cv: f64) -> bool {
        self.cv.is_some_and(|cv| cv > max_cv)
    }
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

/// Student's t quantile t(0.975, df): exact table to 30, then the Cornish-Fisher expansion
/// (error below 1e-4 from df 30 on).
pub fn t975(df: usize) -> f64 {
    const T: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042,
    ];
    match df {
        0 => f64::NAN,
        1..=30 => T[df - 1],
        _ => {
            let z: f64 = 1.959_964;
            let d = df as f64;
            let g1 = (z.powi(3) + z) / 4.0;
            let g2 = (5.0 * z.powi(5) + 16.0 * z.powi(3) + 3.0 * z) / 96.0;
            let g3 = (3.0 * z.powi(7) + 19.0 * z.powi(5) + 17.0 * z.powi(3) - 15.0 * z) / 384.0;
            z + g1 / d + g2 / (d * d) + g3 / (d * d * d)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_matches_hand_computation() {
        // mean 5, s = sqrt(32/7) ≈ 2.138, t(7)=2.365.
        let v = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0];
        let s = Summary::of(&v).unwrap();
        assert_eq!(s.n, 8);
        assert_eq!(s.median, 4.5);
        assert!((s.mean - 5.0).abs() < 1e-12);
        let sd = (32.0f64 / 7.0).sqrt();
        assert!((s.stddev - sd).abs() < 1e-12);
        let h = 2.365 * sd / 8f64.sqrt();
        assert!((s.ci95_low.unwrap() - (5.0 - h)).abs() < 1e-9);
        assert!((s.ci95_high.unwrap() - (5.0 + h)).abs() < 1e-9);
        assert_eq!((s.min, s.max), (2.0, 9.0));
        assert!((s.cv.unwrap() - sd / 5.0).abs() < 1e-12);
        // Q1 = 4, Q3 = 5.5, IQR 1.5: fences 1.75 and 7.75, so 9 is an outlier.
        assert_eq!(s.outliers, vec![7]);
        assert!(s.is_noisy(0.05));
        assert!(!s.is_noisy(0.5));
    }

    #[test]
    fn single_sample_has_no_interval() {
        let s = Summary::of(&[3.0]).unwrap();
        assert_eq!(s.stddev, 0.0);
        assert_eq!(s.ci95_low, None);
        assert_eq!(s.ci95_rel(), None);
        assert!(s.outliers.is_empty());
    }

    #[test]
    fn empty_or_nan_is_none() {
        assert!(Summary::of(&[]).is_none());
        assert!(Summary::of(&[1.0, f64::NAN]).is_none());
        assert!(Percentiles::of(&[]).is_none());
    }

    #[test]
    fn percentiles_interpolate() {
        let v: Vec<f64> = (1..=101).map(f64::from).collect();
        let p = Percentiles::of(&v).unwrap();
        assert_eq!((p.p50, p.p90, p.p99), (51.0, 91.0, 100.0));
    }

    #[test]
    fn t_quantiles() {
        assert_eq!(t975(1), 12.706);
        assert_eq!(t975(30), 2.042);
        assert!((t975(40) - 2.021).abs() < 1e-3);
        assert!((t975(120) - 1.980).abs() < 1e-3);
        assert!((t975(100_000) - 1.960).abs() < 1e-3);
        // Monotone across the table's end.
        assert!(t975(31) < t975(30));
    }

    proptest::proptest! {
        #[test]
        fn summary_bounds(v in proptest::collection::vec(-1e6f64..1e6, 1..50)) {
            let s = Summary::of(&v).unwrap();
            proptest::prop_assert!(s.min <= s.median && s.median <= s.max);
            proptest::prop_assert!(s.min <= s.mean + 1e-6 && s.mean <= s.max + 1e-6);
            proptest::prop_assert!(s.stddev >= 0.0);
            if let (Some(l), Some(h)) = (s.ci95_low, s.ci95_high) {
                proptest::prop_assert!(l <= s.mean && s.mean <= h);
            }
        }
    }
}
