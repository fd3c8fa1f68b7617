//! Monthly cost as a function of requests per day, and where deployments cross: pure functions.
//!
//! [`super::model::cost_deployment`] prices one demand. Holding everything but the request
//! rate `R` fixed, a deployment's monthly cost is a step function plus a line:
//!
//! ```text
//! monthly(R) = max(1, ceil(a · R)) · p + l · R
//! a = peak-to-average × busy seconds per request / (86 400 × utilisation × streams per instance)
//! p = one instance's month: $/hour × 730 (rented), or hardware ÷ amortisation months plus its
//!     watts × 730 h × PUE × $/kWh (owned, energy from watts)
//! l = energy per request-per-day a month (owned, energy from J/token), else 0
//! ```
//!
//! A deployment with small cheap instances wins at low demand (its first step is low); the one
//! with the lowest cost per request (`a·p + l`) wins at high demand. [`crossovers`] finds every
//! request rate where the cheaper of two changes, exactly: between two consecutive steps of either
//! curve both are linear, so a crossing is either at a step (an instance added) or at the root of
//! a line.

use serde::Serialize;

use super::model::{
    ceil_tolerant, CostResult, DeploymentCost, EnergyFigure, Pricing, HOURS_PER_MONTH,
    SECONDS_PER_DAY,
};

/// Most steps [`crossovers`] walks (both curves together) before it refuses the range.
pub const MAX_STEPS: f64 = 2e6;

/// One deployment's monthly cost against requests/day.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CostCurve {
    /// The deployment's name.
    pub name: String,
    /// Instances needed per request/day (before rounding up): `a`.
    pub instances_per_request_day: f64,
    /// Dollars one instance costs a month: `p`.
    pub usd_per_instance_month: f64,
    /// Dollars a month per request/day that scale with the tokens served: `l`.
    pub usd_per_request_day: f64,
}

impl CostCurve {
    /// The curve through `d`, priced for `r`'s demand (request rate aside).
    pub fn of(r: &CostResult, d: &DeploymentCost) -> CostCurve {
        let dem = &r.demand;
        let a = dem.peak_to_average.value * d.busy_seconds_per_request
            / (SECONDS_PER_DAY * dem.utilisation.value * d.deployment.streams_per_instance.value);
        let owned = matches!(d.deployment.pricing, Pricing::OnPrem { .. });
        let watts_month = match (&d.deployment.energy, owned) {
            (EnergyFigure::Watts { watts }, true) => {
                watts.value * HOURS_PER_MONTH / 1000.0
                    * r.electricity.pue.value
                    * r.electricity.usd_per_kwh.value
            }
            _ => 0.0,
        };
        let p = match &d.deployment.pricing {
            Pricing::Hourly { usd_per_hour } => usd_per_hour.value * HOURS_PER_MONTH,
            Pricing::OnPrem {
                hardware_usd,
                amortisation_months,
            } => hardware_usd.value / amortisation_months.value + watts_month,
        };
        let l = match (&d.deployment.energy, owned) {
            (EnergyFigure::JoulesPerToken { .. }, true) => {
                d.monthly_energy_usd.unwrap_or(0.0) / dem.requests_per_day.value
            }
            _ => 0.0,
        };
        CostCurve {
            name: d.deployment.name.clone(),
            instances_per_request_day: a,
            usd_per_instance_month: p,
            usd_per_request_day: l,
        }
    }

    /// Instances at `r` requests/day (at least one).
    pub fn instances(&self, r: f64) -> u64 {
        ceil_tolerant(self.instances_per_request_day * r).max(1)
    }

    /// Dollars a month at `r` requests/day.
    pub fn monthly(&self, r: f64) -> f64 {
        self.instances(r) as f64 * self.usd_per_instance_month + self.usd_per_request_day * r
    }

    /// Request rates in `(lo, hi)` where an instance is added.
    fn steps(&self, lo: f64, hi: f64) -> impl Iterator<Item = f64> + '_ {
        let a = self.instances_per_request_day;
        let first = (lo * a).floor() as u64 + 1;
        let last = (hi * a).ceil() as u64;
        (first.max(2)..=last)
            .map(move |k| (k - 1) as f64 / a)
            .filter(move |&x| x > lo && x < hi)
    }
}

/// A request rate where the cheaper of two deployments changes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Crossover {
    /// Requests per day.
    pub requests_per_day: f64,
    /// The cheaper just below it.
    pub cheaper_below: String,
    /// The cheaper just above it.
    pub cheaper_above: String,
    /// `step` (an instance added on one side) or `slope` (two lines crossing).
    pub kind: &'static str,
}

fn sign(v: f64, scale: f64) -> i8 {
    if v.abs() <= 1e-9 * scale.max(1.0) {
        0
    } else if v > 0.0 {
        1
    } else {
        -1
    }
}

/// Every request rate in `(lo, hi]` where the cheaper of `a` and `b` changes (a tie is no
/// change), in order. Errors when the range holds more than [`MAX_STEPS`] instance steps.
pub fn crossovers(
    a: &CostCurve,
    b: &CostCurve,
    lo: f64,
    hi: f64,
) -> Result<Vec<Crossover>, String> {
    if !(lo > 0.0 && hi > lo && hi.is_finite()) {
        return Err(format!("requests/day range {lo}..{hi}: need 0 < lo < hi"));
    }
    let n = (hi - lo) * (a.instances_per_request_day + b.instances_per_request_day);
    if !n.is_finite() || n > MAX_STEPS {
        return Err(format!(
            "{} and {} add over {MAX_STEPS} instances between {lo} and {hi} requests/day: narrow the range",
            a.name, b.name
        ));
    }
    let mut xs: Vec<f64> = a.steps(lo, hi).chain(b.steps(lo, hi)).collect();
    xs.push(lo);
    xs.push(hi);
    xs.sort_by(f64::total_cmp);
    xs.dedup_by(|x, y| (*x - *y).abs() <= 1e-12 * y.abs());
    let diff = |x: f64, right_of: f64| {
        // Instance counts of the segment (right_of, ...]: the counts at a point just right of
        // its left end, i.e. at its right end (no step inside).
        let na = a.instances(right_of) as f64;
        let nb = b.instances(right_of) as f64;
        na * a.usd_per_instance_month + a.usd_per_request_day * x
            - (nb * b.usd_per_instance_month + b.usd_per_request_day * x)
    };
    let scale = a.monthly(hi).max(b.monthly(hi));
    let name = |s: i8| if s < 0 { &a.name } else { &b.name };
    let mut out = Vec::new();
    // The sign just at `lo` (its own segment's counts).
    let mut prev = sign(diff(lo, lo), scale);
    for w in xs.windows(2) {
        let (x0, x1) = (w[0], w[1]);
        let (f0, f1) = (diff(x0, x1), diff(x1, x1));
        let (s0, s1) = (sign(f0, scale), sign(f1, scale));
        if s0 != 0 && prev != 0 && s0 != prev {
            out.push(Crossover {
                requests_per_day: x0,
                cheaper_below: name(prev).clone(),
                cheaper_above: name(s0).clone(),
                kind: "step",
            });
        }
        if s0 != 0 {
            prev = s0;
        }
        if s1 != 0 && prev != 0 && s1 != prev {
            // A root of the line inside the segment.
            let x = x0 + (x1 - x0) * f0 / (f0 - f1);
            out.push(Crossover {
                requests_per_day: x,
                cheaper_below: name(prev).clone(),
                cheaper_above: name(s1).clone(),
                kind: "slope",
            });
        }
        if s1 != 0 {
            prev = s1;
        }
    }
    Ok(out)
}

/// The crossovers of every pair of `curves`, pair by pair in the order given.
pub fn all_pairs(
    curves: &[CostCurve],
    lo: f64,
    hi: f64,
) -> Result<Vec<(usize, usize, Vec<Crossover>)>, String> {
    let mut v = Vec::new();
    for i in 0..curves.len() {
        for j in i + 1..curves.len() {
            v.push((i, j, crossovers(&curves[i], &curves[j], lo, hi)?));
        }
    }
    Ok(v)
}

/// The crossovers of one pair.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Pair {
    /// One deployment.
    pub a: String,
    /// The other.
    pub b: String,
    /// Where the cheaper changes, in order.
    pub crossovers: Vec<Crossover>,
    /// The same in a sentence ([`describe`]).
    pub summary: String,
}

/// One row of the sweep's table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SweepRow {
    /// Requests per day.
    pub requests_per_day: f64,
    /// Why this rate is in the table: `decade`, `your demand`, `crossover`.
    pub why: String,
    /// Monthly dollars of each deployment, in the order of [`Sweep::curves`].
    pub monthly_usd: Vec<f64>,
    /// The cheapest deployment there.
    pub cheapest: String,
}

/// Monthly cost against requests/day for every deployment of a costing.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sweep {
    /// Lowest requests/day.
    pub lo: f64,
    /// Highest requests/day.
    pub hi: f64,
    /// Each deployment's curve.
    pub curves: Vec<CostCurve>,
    /// Every pair's crossovers.
    pub pairs: Vec<Pair>,
    /// Decades, the demand and the crossovers (the first and last of each pair).
    pub table: Vec<SweepRow>,
}

/// Parses `LO..HI` (requests/day; `1e3..1e7` allowed).
pub fn parse_range(s: &str) -> Result<(f64, f64), String> {
    let bad = || {
        format!("--sweep {s}: expected LO..HI requests/day with 0 < LO < HI, e.g. 1000..10000000")
    };
    let (a, b) = s.split_once("..").ok_or_else(bad)?;
    let lo: f64 = a.trim().parse().map_err(|_| bad())?;
    let hi: f64 = b.trim().parse().map_err(|_| bad())?;
    if lo > 0.0 && hi > lo && hi.is_finite() {
        Ok((lo, hi))
    } else {
        Err(bad())
    }
}

/// The sweep of `r` over `lo..hi` requests/day.
pub fn sweep(r: &CostResult, lo: f64, hi: f64) -> Result<Sweep, String> {
    let curves: Vec<CostCurve> = r.deployments.iter().map(|d| CostCurve::of(r, d)).collect();
    let mut pairs = Vec::new();
    let mut rates: Vec<(f64, String)> = Vec::new();
    for (i, j, xs) in all_pairs(&curves, lo, hi)? {
        let (a, b) = (&curves[i], &curves[j]);
        if let (Some(f), Some(l)) = (xs.first(), xs.last()) {
            rates.push((
                f.requests_per_day,
                format!("crossover {} / {}", a.name, b.name),
            ));
            rates.push((
                l.requests_per_day,
                format!("crossover {} / {}", a.name, b.name),
            ));
        }
        pairs.push(Pair {
            a: a.name.clone(),
            b: b.name.clone(),
            summary: describe(a, b, &xs, lo, hi),
            crossovers: xs,
        });
    }
    let mut d = 10f64.powf(lo.log10().ceil());
    while d <= hi * (1.0 + 1e-12) {
        rates.push((d, "decade".into()));
        d *= 10.0;
    }
    let demand = r.demand.requests_per_day.value;
    if demand >= lo && demand <= hi {
        rates.push((demand, "your demand".into()));
    }
    rates.sort_by(|x, y| x.0.total_cmp(&y.0));
    rates.dedup_by(|x, y| {
        let same = (x.0 - y.0).abs() <= 1e-9 * y.0.abs();
        if same && !y.1.contains(&x.1) {
            y.1 = format!("{}, {}", y.1, x.1);
        }
        same
    });
    let table = rates
        .into_iter()
        .map(|(x, why)| {
            let monthly: Vec<f64> = curves.iter().map(|c| c.monthly(x)).collect();
            let best = (0..curves.len())
                .min_by(|&a, &b| monthly[a].total_cmp(&monthly[b]))
                .map(|i| curves[i].name.clone())
                .unwrap_or_default();
            SweepRow {
                requests_per_day: x,
                why,
                monthly_usd: monthly,
                cheapest: best,
            }
        })
        .collect();
    Ok(Sweep {
        lo,
        hi,
        curves,
        pairs,
        table,
    })
}

/// One sentence on a pair: where the cheaper changes, the first two and last two of many.
pub fn describe(a: &CostCurve, b: &CostCurve, xs: &[Crossover], lo: f64, hi: f64) -> String {
    let range = format!("{} to {} requests/day", fmt_rate(lo), fmt_rate(hi));
    if xs.is_empty() {
        let cheaper = if a.monthly(hi) <= b.monthly(hi) { a } else { b };
        return format!(
            "{} vs {}: {} is cheaper (or equal) over the whole range, {range}",
            a.name, b.name, cheaper.name
        );
    }
    let one = |c: &Crossover| {
        format!(
            "{} cheaper below {} requests/day, {} above",
            c.cheaper_below,
            fmt_rate(c.requests_per_day),
            c.cheaper_above
        )
    };
    let body = if xs.len() <= 4 {
        xs.iter().map(one).collect::<Vec<_>>().join("; ")
    } else {
        format!(
            "{}; {}; … {} more as whole instances are added …; {}; {}",
            one(&xs[0]),
            one(&xs[1]),
            xs.len() - 4,
            one(&xs[xs.len() - 2]),
            one(&xs[xs.len() - 1])
        )
    };
    format!("{} vs {} ({range}): {body}", a.name, b.name)
}

/// `950`, `20k`, `56.7k`, `1.235M`, `10M`: at most three decimals, trailing zeros dropped.
pub fn fmt_rate(r: f64) -> String {
    let short = |v: f64, unit: &str, digits: usize| {
        let s = format!("{v:.digits$}");
        let s = if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        };
        format!("{s}{unit}")
    };
    if r >= 1e6 {
        short(r / 1e6, "M", 3)
    } else if r >= 1e4 {
        short(r / 1e3, "k", 1)
    } else {
        format!("{r:.0}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn curve(name: &str, a: f64, p: f64, l: f64) -> CostCurve {
        CostCurve {
            name: name.into(),
            instances_per_request_day: a,
            usd_per_instance_month: p,
            usd_per_request_day: l,
        }
    }

    #[test]
    fn steps_and_monthly_by_hand() {
        // One instance per 1000 requests/day at $100 a month.
        let c = curve("cpu", 1e-3, 100.0, 0.0);
        assert_eq!(c.monthly(1.0), 100.0); // at least one instance
        assert_eq!(c.monthly(1000.0), 100.0);
        assert_eq!(c.monthly(1000.5), 200.0);
        assert_eq!(c.monthly(2500.0), 300.0);
        let st: Vec<f64> = c.steps(500.0, 3500.0).collect();
        assert_eq!(st.len(), 3);
        for (x, want) in st.iter().zip([1000.0, 2000.0, 3000.0]) {
            assert!((x - want).abs() < 1e-6, "{st:?}");
        }
    }

    #[test]
    fn cheap_small_instances_lose_to_one_big_one_past_the_crossover() {
        // CPU: $100/instance-month, 1 instance per 1000 req/day. GPU: $2000/month, 1 per
        // 100 000 req/day. CPU costs 100·ceil(R/1000): it passes $2000 above 20 000 req/day
        // (21 instances); the GPU's second instance (R > 100 000) costs $4000 while the CPU
        // costs $10 000 by then, so one crossover, a CPU step at exactly 20 000.
        let cpu = curve("CPU", 1e-3, 100.0, 0.0);
        let gpu = curve("GPU", 1e-5, 2000.0, 0.0);
        let x = crossovers(&cpu, &gpu, 100.0, 1e6).unwrap();
        assert_eq!(x.len(), 1, "{x:?}");
        assert!((x[0].requests_per_day - 20_000.0).abs() < 1e-6, "{x:?}");
        assert_eq!(
            (x[0].cheaper_below.as_str(), x[0].cheaper_above.as_str()),
            ("CPU", "GPU")
        );
        assert_eq!(x[0].kind, "step");
        // At 20 000 exactly they tie ($2000 each): no change there, the GPU wins just above.
        assert_eq!(cpu.monthly(20_000.0), gpu.monthly(20_000.0));
        assert!(cpu.monthly(20_001.0) > gpu.monthly(20_001.0));
    }

    #[test]
    fn steps_of_the_big_one_make_the_cheaper_alternate() {
        // CPU $100 per 1000 req/day (marginal 0.1 $/req/day); GPU $950 per 10 000 (0.095).
        // With k GPUs ($950k, up to 10 000k req/day) the CPU is cheaper until it needs more
        // than 9.5k instances: past 9000 (k = 1: 10 × $100 > $950), 19 000 (k = 2: $2000 >
        // $1900), 28 000 (k = 3: $2900 > $2850), 38 000 (k = 4: $3900 > $3800); each GPU step
        // (10 000, 20 000, 30 000) hands it back to the CPU.
        let cpu = curve("CPU", 1e-3, 100.0, 0.0);
        let gpu = curve("GPU", 1e-4, 950.0, 0.0);
        let x = crossovers(&cpu, &gpu, 100.0, 40_000.0).unwrap();
        let want = [
            (9_000.0, "GPU"),
            (10_000.0, "CPU"),
            (19_000.0, "GPU"),
            (20_000.0, "CPU"),
            (28_000.0, "GPU"),
            (30_000.0, "CPU"),
            (38_000.0, "GPU"),
        ];
        assert_eq!(x.len(), want.len(), "{x:?}");
        for (c, (r, above)) in x.iter().zip(want) {
            assert!((c.requests_per_day - r).abs() < 1e-6, "{x:?}");
            assert_eq!(c.cheaper_above, above);
        }
        let s = describe(&cpu, &gpu, &x, 100.0, 40_000.0);
        assert!(s.contains("… 3 more as whole instances are added …"), "{s}");
    }

    #[test]
    fn a_slope_crossing_is_the_root_of_the_lines() {
        // Owned, energy per request: A = $500 + 0.02·R, B = $100 + 0.06·R (one instance each
        // up to 1e6 req/day): equal at R = 400/0.04 = 10 000.
        let a = curve("A", 1e-7, 500.0, 0.02);
        let b = curve("B", 1e-7, 100.0, 0.06);
        let x = crossovers(&a, &b, 10.0, 1e6).unwrap();
        assert_eq!(x.len(), 1);
        assert!((x[0].requests_per_day - 10_000.0).abs() < 1e-6, "{x:?}");
        assert_eq!((x[0].cheaper_below.as_str(), x[0].kind), ("B", "slope"));
        assert!(crossovers(&a, &b, 0.0, 10.0).is_err());
        let many = curve("many", 10.0, 1.0, 0.0);
        assert!(crossovers(&many, &b, 1.0, 1e6)
            .unwrap_err()
            .contains("narrow the range"));
    }

    #[test]
    fn rates_print_short() {
        assert_eq!(fmt_rate(950.0), "950");
        assert_eq!(fmt_rate(20_000.0), "20k");
        assert_eq!(fmt_rate(32_412.0), "32.4k");
        assert_eq!(fmt_rate(1_234_567.0), "1.235M");
        assert_eq!(fmt_rate(1e7), "10M");
    }
}
