//! The distribution-free confidence interval of a ratio of two sets of repetitions, by
//! inverting the Mann-Whitney (Wilcoxon rank-sum) test on the logarithms.
//!
//! Take `a₁…aₙ` (e.g. ternary tokens/s) and `b₁…bₘ` (FP16 tokens/s). If the two differ by a
//! factor `ρ` (`a/ρ` distributed as `b`: a shift of the logarithms), the `n·m` pairwise ratios
//! `aᵢ/bⱼ` sorted, the interval `[r₍ₖ₎, r₍ₙₘ₊₁₋ₖ₎]` covers `ρ` with probability
//! `1 − 2·P(U ≤ k − 1)`, `U` the Mann-Whitney statistic under no difference, whose exact
//! distribution depends on `n` and `m` only (D. F. Bauer, "Constructing confidence sets using
//! rank statistics", JASA 67 (1972) 687-690; M. Hollander, D. A. Wolfe and E. Chicken,
//! *Nonparametric Statistical Methods*, 3rd ed., Wiley 2014, §4.3). `k` is the largest whose
//! coverage is at least the level asked for. The point estimate we quote is the ratio of the
//! two medians, which estimates the same `ρ` and always lies inside that interval (at least
//! `⌈n/2⌉·⌈m/2⌉ ≥ k` pairwise ratios lie on either side of it).
//!
//! `U`'s distribution is exact (the coefficients of the Gaussian binomial `[n+m choose n]_q`)
//! up to `n + m = 400`, then normal with a continuity correction.

/// `P(U ≤ u)` for `u = 0..=n·m` under no difference (no ties).
pub fn mann_whitney_cdf(n: usize, m: usize) -> Vec<f64> {
    let nm = n * m;
    if n + m > 400 {
        let mean = nm as f64 / 2.0;
        let sd = (nm as f64 * (n + m + 1) as f64 / 12.0).sqrt();
        return (0..=nm)
            .map(|u| normal_cdf((u as f64 + 0.5 - mean) / sd))
            .collect();
    }
    // [n+m choose n]_q = Π_{i=1..n} (1 − q^{m+i}) / (1 − q^i): multiply, then divide, keeping
    // every intermediate a polynomial (the q-binomial [m+i choose i]_q).
    let mut p = vec![0.0f64; nm + n + 2];
    p[0] = 1.0;
    for i in 1..=n {
        let a = m + i;
        for u in (a..p.len()).rev() {
            p[u] -= p[u - a];
        }
        for u in i..p.len() {
            p[u] += p[u - i];
        }
    }
    p.truncate(nm + 1);
    let total: f64 = p.iter().sum();
    let mut acc = 0.0;
    p.iter()
        .map(|c| {
            acc += c / total;
            acc.min(1.0)
        })
        .collect()
}

/// The standard normal CDF (Abramowitz and Stegun 7.1.26 through erf; error below 1.5e-7).
pub fn normal_cdf(z: f64) -> f64 {
    let x = z.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let erf = 1.0 - poly * (-x * x).exp();
    if z >= 0.0 {
        0.5 * (1.0 + erf)
    } else {
        0.5 * (1.0 - erf)
    }
}

/// The rank `k` (1-based) of the pairwise difference bounding the interval at `level` and the
/// coverage it gives; `None` when `n` and `m` repetitions are too few.
pub fn shift_ci_rank(n: usize, m: usize, level: f64) -> Option<(usize, f64)> {
    if n == 0 || m == 0 {
        return None;
    }
    let cdf = mann_whitney_cdf(n, m);
    let mut best = None;
    for k in 1..=(n * m).div_ceil(2) {
        let coverage = 1.0 - 2.0 * cdf[k - 1];
        if coverage + 1e-12 >= level {
            best = Some((k, coverage.min(1.0)));
        } else {
            break;
        }
    }
    best
}

/// The fewest repetitions per side giving a ratio interval at `level`.
pub fn min_reps_for_ratio_ci(level: f64) -> usize {
    (1..1000)
        .find(|&n| shift_ci_rank(n, n, level).is_some())
        .unwrap_or(usize::MAX)
}

/// Two-sided p-value of the Mann-Whitney test of `a` against `b` (ties count one half; the
/// no-ties distribution is used, slightly conservative with ties).
pub fn mann_whitney_p(a: &[f64], b: &[f64]) -> Option<f64> {
    if a.is_empty() || b.is_empty() {
        return None;
    }
    let mut u2 = 0usize; // twice U, so ties add 1
    for x in a {
        for y in b {
            u2 += match x.partial_cmp(y)? {
                std::cmp::Ordering::Greater => 2,
                std::cmp::Ordering::Equal => 1,
                std::cmp::Ordering::Less => 0,
            };
        }
    }
    let cdf = mann_whitney_cdf(a.len(), b.len());
    let nm = a.len() * b.len();
    // The smaller tail at U (rounded away from the centre when a tie makes it a half).
    let u_lo = u2 / 2;
    let u_hi = u2.div_ceil(2);
    let lower = cdf[u_lo.min(nm)];
    let upper = 1.0 - if u_hi == 0 { 0.0 } else { cdf[u_hi - 1] };
    Some((2.0 * lower.min(upper)).min(1.0))
}

/// Sorted pairwise log-ratios `ln aᵢ − ln bⱼ` (all samples positive).
pub fn pairwise_log_ratios(a: &[f64], b: &[f64]) -> Vec<f64> {
    let mut d: Vec<f64> = a
        .iter()
        .flat_map(|x| b.iter().map(move |y| x.ln() - y.ln()))
        .collect();
    d.sort_by(f64::total_cmp);
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn exact_distribution_matches_counting() {
        // n = m = 2: the 6 arrangements give U = 0,1,2,2,3,4.
        let c = mann_whitney_cdf(2, 2);
        let exact = [1.0, 2.0, 4.0, 5.0, 6.0].map(|x| x / 6.0);
        for (a, b) in c.iter().zip(exact) {
            assert!(close(*a, b, 1e-12), "{c:?}");
        }
        // n = m = 5: P(U ≤ 2) = 4/252 (Mann and Whitney 1947, Table I).
        let c = mann_whitney_cdf(5, 5);
        assert!(close(c[2], 4.0 / 252.0, 1e-12));
        assert!(close(c[25], 1.0, 1e-12));
        // Symmetric about n·m/2: P(U ≤ u) = 1 − P(U ≤ n·m − u − 1).
        let c = mann_whitney_cdf(7, 4);
        for u in 0..28 {
            assert!(close(c[u], 1.0 - c[27 - u], 1e-12), "{u}");
        }
    }

    #[test]
    fn exact_and_normal_agree_in_the_middle() {
        let exact = mann_whitney_cdf(30, 30);
        let mean = 450.0;
        let sd = (900.0f64 * 61.0 / 12.0).sqrt();
        for u in [300usize, 400, 450, 500] {
            let approx = normal_cdf((u as f64 + 0.5 - mean) / sd);
            assert!(close(exact[u], approx, 5e-3), "{u}: {} {approx}", exact[u]);
        }
    }

    #[test]
    fn critical_ranks_follow_the_tables() {
        // n = m = 5: k = 3 (U ≤ 2 has 4/252 per tail), coverage 1 − 8/252.
        let (k, c) = shift_ci_rank(5, 5, 0.95).unwrap();
        assert_eq!(k, 3);
        assert!(close(c, 1.0 - 8.0 / 252.0, 1e-12));
        // n = m = 4: only [min, max] of the 16 ratios (1 − 2/70).
        assert_eq!(shift_ci_rank(4, 4, 0.95).unwrap().0, 1);
        // n = m = 3: even [min, max] covers only 90%.
        assert_eq!(shift_ci_rank(3, 3, 0.95), None);
        assert_eq!(min_reps_for_ratio_ci(0.95), 4);
        // Two-sided 5% critical value of U for n = m = 10 is 23 (tables): k = 24.
        assert_eq!(shift_ci_rank(10, 10, 0.95).unwrap().0, 24);
    }

    #[test]
    fn p_values() {
        // Complete separation at n = m = 5: p = 2/252.
        let a = [1.0, 2.0, 3.0, 4.0, 5.0];
        let b = [6.0, 7.0, 8.0, 9.0, 10.0];
        assert!(close(mann_whitney_p(&a, &b).unwrap(), 2.0 / 252.0, 1e-12));
        assert!(close(mann_whitney_p(&b, &a).unwrap(), 2.0 / 252.0, 1e-12));
        // Identical samples: p = 1.
        assert_eq!(mann_whitney_p(&a, &a), Some(1.0));
    }

    #[test]
    fn normal_cdf_known_values() {
        assert!(close(normal_cdf(0.0), 0.5, 1e-7));
        assert!(close(normal_cdf(1.959_964), 0.975, 1e-6));
        assert!(close(normal_cdf(-1.0), 0.158_655_25, 1e-6));
    }
}
