//! Mean-based statistics, for the one case the repetitions themselves are gone: a results file
//! that keeps only mean, standard deviation and count (older runs, counter summaries). Welch's
//! t-test with an exact Student's t CDF (through the regularized incomplete beta function),
//! and a delta-method interval of the ratio of two means. Everything that has the repetitions
//! uses the distribution-free intervals of [`super::order`] and [`super::ranks`] instead.
//!
//! Also `ln Γ`, which the binomial tables of [`super::order`] use.

/// Mean, sample standard deviation and count of one side of a comparison.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Moments {
    /// Number of repetitions.
    pub n: usize,
    /// Arithmetic mean.
    pub mean: f64,
    /// Sample standard deviation (n−1 denominator).
    pub sd: f64,
}

impl Moments {
    /// Moments of `v` (`None` when empty or non-finite).
    pub fn of(v: &[f64]) -> Option<Moments> {
        if v.is_empty() || v.iter().any(|x| !x.is_finite()) {
            return None;
        }
        let n = v.len();
        let mean = v.iter().sum::<f64>() / n as f64;
        let sd = if n > 1 {
            (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
        } else {
            0.0
        };
        Some(Moments { n, mean, sd })
    }

    /// Squared standard error of the mean.
    fn var_of_mean(&self) -> f64 {
        self.sd * self.sd / self.n as f64
    }
}

/// The result of Welch's unequal-variances t-test.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Welch {
    /// `(mean_b − mean_a) / sqrt(s_a²/n_a + s_b²/n_b)`.
    pub t: f64,
    /// Welch–Satterthwaite degrees of freedom.
    pub df: f64,
    /// Two-sided p-value.
    pub p: f64,
}

/// Welch's t-test of `a` against `b`; `None` when either side has fewer than 2 repetitions.
/// Two sides without any spread are "significant" exactly when their means differ (p 0 or 1).
pub fn welch(a: &Moments, b: &Moments) -> Option<Welch> {
    if a.n < 2 || b.n < 2 {
        return None;
    }
    let (va, vb) = (a.var_of_mean(), b.var_of_mean());
    let se2 = va + vb;
    let diff = b.mean - a.mean;
    if se2 == 0.0 {
        let df = (a.n + b.n - 2) as f64;
        return Some(if diff == 0.0 {
            Welch { t: 0.0, df, p: 1.0 }
        } else {
            Welch {
                t: diff.signum() * f64::INFINITY,
                df,
                p: 0.0,
            }
        });
    }
    let t = diff / se2.sqrt();
    let df = se2 * se2 / (va * va / (a.n - 1) as f64 + vb * vb / (b.n - 1) as f64);
    Some(Welch {
        t,
        df,
        p: t_two_sided_p(t, df),
    })
}

/// Two-sided p-value of Student's t with `df` degrees of freedom:
/// `P(|T| ≥ |t|) = I_{df/(df+t²)}(df/2, 1/2)`.
pub fn t_two_sided_p(t: f64, df: f64) -> f64 {
    if t.is_infinite() {
        return 0.0;
    }
    reg_inc_beta(df / 2.0, 0.5, df / (df + t * t)).clamp(0.0, 1.0)
}

/// Student's t CDF `P(T ≤ t)`.
pub fn t_cdf(t: f64, df: f64) -> f64 {
    let tail = t_two_sided_p(t, df) / 2.0;
    if t >= 0.0 {
        1.0 - tail
    } else {
        tail
    }
}

/// The `q` quantile (0 < q < 1) of Student's t with `df` (real, > 0) degrees of freedom, by
/// bisection on [`t_cdf`] (to 1e-12).
pub fn t_quantile(q: f64, df: f64) -> f64 {
    if q == 0.5 {
        return 0.0;
    }
    if q < 0.5 {
        return -t_quantile(1.0 - q, df);
    }
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    while t_cdf(hi, df) < q {
        hi *= 2.0;
        if hi > 1e12 {
            return f64::INFINITY;
        }
    }
    while hi - lo > 1e-12 * hi.max(1.0) {
        let mid = 0.5 * (lo + hi);
        if t_cdf(mid, df) < q {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// `ln Γ(x)` for `x > 0` (Lanczos, g = 7, 9 terms; relative error below 1e-14).
pub fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection: Γ(x)Γ(1−x) = π / sin(πx).
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).abs().ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = C[0];
    let t = x + G + 0.5;
    for (i, c) in C.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// The regularized incomplete beta function `I_x(a, b)` (continued fraction, Numerical
/// Recipes §6.4), for `a, b > 0` and `0 ≤ x ≤ 1`.
pub fn reg_inc_beta(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let ln_bt = ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln();
    let bt = ln_bt.exp();
    if x < (a + 1.0) / (a + b + 2.0) {
        bt * beta_cf(a, b, x) / a
    } else {
        1.0 - bt * beta_cf(b, a, 1.0 - x) / b
    }
}

/// The continued fraction of the incomplete beta function (modified Lentz).
fn beta_cf(a: f64, b: f64, x: f64) -> f64 {
    const MAX_ITER: usize = 500;
    const EPS: f64 = 1e-15;
    const TINY: f64 = 1e-300;
    let fix = |v: f64| if v.abs() < TINY { TINY } else { v };
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 / fix(1.0 - qab * x / qap);
    let mut h = d;
    for m in 1..=MAX_ITER {
        let m = m as f64;
        let m2 = 2.0 * m;
        let aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1.0 / fix(1.0 + aa * d);
        c = fix(1.0 + aa / c);
        h *= d * c;
        let aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 / fix(1.0 + aa * d);
        c = fix(1.0 + aa / c);
        let del = d * c;
        h *= del;
        if (del - 1.0).abs() < EPS {
            break;
        }
    }
    h
}

/// Delta-method 95% interval of `mean_b/mean_a − 1` from summaries:
/// `r ± t(0.975, df)·|r|·sqrt(s_a²/(n_a·ā²) + s_b²/(n_b·b̄²))`, `r = b̄/ā`, with Welch's df.
/// `None` when a mean is 0 or a side has fewer than 2 repetitions.
pub fn delta_rel_change_ci(a: &Moments, b: &Moments) -> Option<(f64, f64)> {
    if a.mean == 0.0 || b.mean == 0.0 || a.n < 2 || b.n < 2 {
        return None;
    }
    let r = b.mean / a.mean;
    let rel_var = a.var_of_mean() / (a.mean * a.mean) + b.var_of_mean() / (b.mean * b.mean);
    if rel_var == 0.0 {
        return Some((r - 1.0, r - 1.0));
    }
    let df = welch(a, b).map_or((a.n + b.n - 2) as f64, |w| w.df);
    let h = t_quantile(0.975, df) * r.abs() * rel_var.sqrt();
    Some((r - 1.0 - h, r - 1.0 + h))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn ln_gamma_known_values() {
        assert!(close(ln_gamma(1.0), 0.0, 1e-13));
        assert!(close(ln_gamma(2.0), 0.0, 1e-13));
        assert!(close(ln_gamma(5.0), 24f64.ln(), 1e-12));
        assert!(close(
            ln_gamma(0.5),
            std::f64::consts::PI.sqrt().ln(),
            1e-12
        ));
        assert!(close(ln_gamma(100.0), 359.134_205_369_575_4, 1e-9));
    }

    #[test]
    fn incomplete_beta_known_values() {
        // I_0.5(2,3) = 11/16; I_x(1,1) = x; I_x(a,b) = 1 − I_{1−x}(b,a).
        assert!(close(reg_inc_beta(2.0, 3.0, 0.5), 0.6875, 1e-13));
        assert!(close(reg_inc_beta(1.0, 1.0, 0.3), 0.3, 1e-13));
        let (a, b, x) = (3.7, 0.5, 0.81);
        assert!(close(
            reg_inc_beta(a, b, x),
            1.0 - reg_inc_beta(b, a, 1.0 - x),
            1e-12
        ));
        // I_x(a,1) = x^a.
        assert!(close(reg_inc_beta(2.5, 1.0, 0.4), 0.4f64.powf(2.5), 1e-12));
    }

    #[test]
    fn t_distribution_matches_tables() {
        // Two-sided 5% critical values: df 1 → 12.706, 4 → 2.776, 10 → 2.228, ∞ → 1.960.
        assert!(close(t_two_sided_p(12.706_204_736, 1.0), 0.05, 1e-8));
        assert!(close(t_two_sided_p(2.776_445_105, 4.0), 0.05, 1e-8));
        assert!(close(t_two_sided_p(2.228_138_852, 10.0), 0.05, 1e-8));
        assert!(close(t_two_sided_p(1.959_963_985, 1e9), 0.05, 1e-6));
        // df 1 is Cauchy: P(T ≤ 1) = 3/4.
        assert!(close(t_cdf(1.0, 1.0), 0.75, 1e-12));
        assert!(close(t_cdf(-1.0, 1.0), 0.25, 1e-12));
        assert_eq!(t_two_sided_p(0.0, 7.0), 1.0);
        assert!(close(t_quantile(0.975, 10.0), 2.228_138_852, 1e-8));
        // Non-integer df (numerical integration of the density): 3.57465.
        assert!(close(t_quantile(0.975, 2.5), 3.574_65, 1e-4));
        assert!(close(t_quantile(0.025, 30.0), -2.042_272_456, 1e-8));
        // Agrees with the printed tables (df 1, 2, 5, 30, 120).
        for (df, t) in [
            (1.0, 12.706),
            (2.0, 4.303),
            (5.0, 2.571),
            (30.0, 2.042),
            (120.0, 1.980),
        ] {
            assert!(close(t_quantile(0.975, df), t, 6e-4), "{df}");
        }
    }

    #[test]
    fn welch_matches_hand_computation() {
        // a: mean 10, sd 1, n 5; b: mean 12, sd 2, n 8.
        let a = Moments {
            n: 5,
            mean: 10.0,
            sd: 1.0,
        };
        let b = Moments {
            n: 8,
            mean: 12.0,
            sd: 2.0,
        };
        let w = welch(&a, &b).unwrap();
        let (va, vb): (f64, f64) = (1.0 / 5.0, 4.0 / 8.0);
        assert!(close(w.t, 2.0 / (va + vb).sqrt(), 1e-12));
        let df = (va + vb) * (va + vb) / (va * va / 4.0 + vb * vb / 7.0);
        assert!(close(w.df, df, 1e-12));
        // t = 2.3905, df = 10.719; p by numerical integration of the t density: 0.036380.
        assert!(close(w.p, 0.036_380, 1e-5), "{}", w.p);
        assert!(welch(&Moments { n: 1, ..a }, &b).is_none());
        // No spread: p 1 when equal, 0 when not.
        let z = Moments { sd: 0.0, ..a };
        assert_eq!(welch(&z, &z).unwrap().p, 1.0);
        assert_eq!(welch(&z, &Moments { mean: 11.0, ..z }).unwrap().p, 0.0);
    }

    #[test]
    fn delta_interval_covers_the_change() {
        let a: Vec<f64> = (0..10).map(|i| 100.0 + (i % 3) as f64).collect();
        let b: Vec<f64> = a.iter().map(|x| x * 0.9).collect();
        let (lo, hi) =
            delta_rel_change_ci(&Moments::of(&a).unwrap(), &Moments::of(&b).unwrap()).unwrap();
        assert!(lo < -0.1 && -0.1 < hi, "{lo} {hi}");
        assert!(hi - lo < 0.03);
    }
}
