//! The distribution-free confidence interval of a median from order statistics.
//!
//! For `n` independent repetitions of any continuous distribution with median `M`, the number
//! of repetitions below `M` is Binomial(n, ½), so the interval between the `j`-th smallest and
//! the `j`-th largest repetition, `[x₍ⱼ₎, x₍ₙ₊₁₋ⱼ₎]`, covers `M` with probability
//! `1 − 2·P(B ≤ j − 1)`, whatever the distribution (W. J. Conover, *Practical Nonparametric
//! Statistics*, 3rd ed., Wiley 1999, §3.2; H. A. David and H. N. Nagaraja, *Order Statistics*,
//! 3rd ed., Wiley 2003, §7.1). We take the narrowest such interval whose coverage is at least
//! the level asked for; the coverage it really has is reported beside it. Below 6 repetitions
//! no interval reaches 95% (with 5, `[min, max]` covers the median with 93.75%), and we say so
//! instead of printing a number.

use super::moments::ln_gamma;

/// `P(B ≤ k)` for `k = 0..=n`, `B ~ Binomial(n, ½)`.
pub fn binomial_half_cdf(n: usize) -> Vec<f64> {
    let nf = n as f64;
    let ln_total = nf * std::f64::consts::LN_2;
    let mut acc = 0.0;
    (0..=n)
        .map(|k| {
            let kf = k as f64;
            let ln_c = ln_gamma(nf + 1.0) - ln_gamma(kf + 1.0) - ln_gamma(nf - kf + 1.0);
            acc += (ln_c - ln_total).exp();
            acc.min(1.0)
        })
        .collect()
}

/// The ranks (1-based, `lo ≤ hi`) of the order statistics bounding the median's interval at
/// `level`, and the coverage they give; `None` when `n` repetitions are too few.
pub fn median_ci_ranks(n: usize, level: f64) -> Option<(usize, usize, f64)> {
    if n == 0 {
        return None;
    }
    let cdf = binomial_half_cdf(n);
    let mut best = None;
    for j in 1..=n.div_ceil(2) {
        let coverage = 1.0 - 2.0 * cdf[j - 1];
        if coverage + 1e-12 >= level {
            best = Some((j, n + 1 - j, coverage.min(1.0)));
        } else {
            break;
        }
    }
    best
}

/// The fewest repetitions whose median has an interval at `level`.
pub fn min_reps_for_median_ci(level: f64) -> usize {
    (1..10_000)
        .find(|&n| median_ci_ranks(n, level).is_some())
        .unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binomial_cdf_matches_counting() {
        let c = binomial_half_cdf(5);
        // C(5,k) = 1 5 10 10 5 1 over 32.
        let exact = [1.0, 6.0, 16.0, 26.0, 31.0, 32.0].map(|x| x / 32.0);
        for (a, b) in c.iter().zip(exact) {
            assert!((a - b).abs() < 1e-12, "{a} {b}");
        }
    }

    #[test]
    fn ranks_follow_the_binomial_tables() {
        // n = 5: [min, max] covers 93.75% only; n = 6: [min, max] 96.9%.
        assert_eq!(median_ci_ranks(5, 0.95), None);
        let (lo, hi, c) = median_ci_ranks(6, 0.95).unwrap();
        assert_eq!((lo, hi), (1, 6));
        assert!((c - (1.0 - 2.0 / 64.0)).abs() < 1e-12);
        // n = 8: [x(2), x(7)] is only 92.97%, so [x(1), x(8)].
        assert_eq!(median_ci_ranks(8, 0.95).unwrap().0, 1);
        // n = 9: [x(2), x(8)] covers 1 − 2·10/512 = 96.1%.
        let (lo, hi, c) = median_ci_ranks(9, 0.95).unwrap();
        assert_eq!((lo, hi), (2, 8));
        assert!((c - (1.0 - 20.0 / 512.0)).abs() < 1e-12);
        // Conover's Table A3 (n = 20, 95%): ranks 6 and 15.
        assert_eq!(median_ci_ranks(20, 0.95).unwrap().0, 6);
        assert_eq!(median_ci_ranks(20, 0.95).unwrap().1, 15);
        assert_eq!(min_reps_for_median_ci(0.95), 6);
        assert_eq!(median_ci_ranks(1, 0.5), None);
    }
}
