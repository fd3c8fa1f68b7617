//! The cost model: pure functions from demand, prices and throughput to instances, monthly
//! dollars and dollars per million tokens. No I/O; every figure arrives with its label
//! (`given`, `measured (...)`, `ESTIMATE (...)`, `catalogue ...`) and leaves with it.
//!
//! Formulas (docs/cost.md has them with a worked example):
//! - busy seconds one request costs an instance: `P / prefill_tps + O / decode_tps` (the
//!   prefill term is left out where the decode figure already includes it, an end-to-end
//!   throughput measured at a stated input/output length);
//! - `instances = ceil(peak_req_s × busy_s / (utilisation × streams))`;
//! - compute per month: `instances × $/hour × 730` (rented) or
//!   `instances × hardware $ / amortisation months` (owned);
//! - energy per month (owned only; rented prices include it): `kWh × PUE × $/kWh`, with kWh
//!   from J/token × tokens served, or from watts × instances × 730 h;
//! - `$ per Mtok = monthly $ / tokens per month × 10^6` (output, and prompt + output).

use serde::Serialize;

/// Hours in the month every calculator uses (8760 / 12).
pub const HOURS_PER_MONTH: f64 = 730.0;
/// Seconds per day.
pub const SECONDS_PER_DAY: f64 = 86_400.0;
/// Joules per kWh.
pub const JOULES_PER_KWH: f64 = 3.6e6;

/// A number and where it came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figure {
    /// The value, in the unit its field names.
    pub value: f64,
    /// `given (--flag)`, `default`, `measured (run, cell)`, `ESTIMATE (...)`, `catalogue ...`.
    pub source: String,
}

impl Figure {
    /// A figure with its source.
    pub fn new(value: f64, source: impl Into<String>) -> Figure {
        Figure {
            value,
            source: source.into(),
        }
    }
}

/// What users ask of the service.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Demand {
    /// Requests per day (average).
    pub requests_per_day: Figure,
    /// Prompt (input) tokens per request.
    pub prompt_tokens: Figure,
    /// Output (generated) tokens per request.
    pub output_tokens: Figure,
    /// Peak request rate over the average.
    pub peak_to_average: Figure,
    /// Busy fraction an instance is planned to reach at the peak (0 < u ≤ 1).
    pub utilisation: Figure,
}

/// How an instance is paid for.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Pricing {
    /// Rented by the hour; energy is in the price.
    Hourly {
        /// Dollars per instance-hour.
        usd_per_hour: Figure,
    },
    /// Owned: hardware amortised linearly, energy paid separately.
    OnPrem {
        /// Hardware price per instance.
        hardware_usd: Figure,
        /// Amortisation period, months.
        amortisation_months: Figure,
    },
}

/// Energy of an instance, or why there is none.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EnergyFigure {
    /// Joules per token of work (gross, the machine's meters over the timed windows).
    JoulesPerToken {
        /// J per generated token.
        decode: Figure,
        /// J per prompt token (`None`: prompt energy left out, said in the notes).
        prefill: Option<Figure>,
    },
    /// Average power of one instance, drawn all month.
    Watts {
        /// Watts.
        watts: Figure,
    },
    /// No energy figure.
    None {
        /// Why.
        why: String,
    },
}

/// Electricity for owned hardware.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Electricity {
    /// Dollars per kWh at the meter.
    pub usd_per_kwh: Figure,
    /// Power usage effectiveness of the facility (≥ 1).
    pub pue: Figure,
}

/// One way to serve the demand.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Deployment {
    /// Short name (`GPU FP16 (a100-80gb)`, `CPU ternary`, ...).
    pub name: String,
    /// What runs: hardware, engine, model.
    pub description: String,
    /// Aggregate generated tokens/s of one stream (or one batch, on a GPU).
    pub decode_tps: Figure,
    /// Aggregate prompt tokens/s; `None` where `decode_tps` is end-to-end and includes prefill.
    pub prefill_tps: Option<Figure>,
    /// Copies of the measured configuration running side by side on one instance.
    pub streams_per_instance: Figure,
    /// How it is paid for.
    pub pricing: Pricing,
    /// Its energy figure.
    pub energy: EnergyFigure,
    /// Caveats to print beside it.
    pub notes: Vec<String>,
}

/// Monthly cost of one deployment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeploymentCost {
    /// The deployment as given.
    pub deployment: Deployment,
    /// Instance-seconds of work one request takes.
    pub busy_seconds_per_request: f64,
    /// Requests/s one instance serves fully busy.
    pub requests_per_s_per_instance: f64,
    /// Instances needed at the peak.
    pub instances: u64,
    /// Busy fraction of those instances at the average rate.
    pub average_utilisation: f64,
    /// Monthly hardware or rental dollars.
    pub monthly_compute_usd: f64,
    /// kWh per month at the meter (before PUE), where an energy figure exists.
    pub monthly_kwh: Option<f64>,
    /// Monthly electricity dollars (owned hardware); `None` where not charged or unknown.
    pub monthly_energy_usd: Option<f64>,
    /// What the energy line says (`kWh × PUE × $/kWh`, `included in the hourly price`,
    /// `not included: no energy figure (why)`).
    pub energy_note: String,
    /// Compute + energy.
    pub monthly_total_usd: f64,
    /// Dollars per million output tokens (all cost charged to output).
    pub usd_per_mtok_output: f64,
    /// Dollars per million tokens, prompt + output.
    pub usd_per_mtok_total: f64,
}

/// The whole answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CostResult {
    /// Demand.
    pub demand: Demand,
    /// Electricity (used by owned deployments).
    pub electricity: Electricity,
    /// Average requests/s.
    pub average_requests_per_s: f64,
    /// Peak requests/s.
    pub peak_requests_per_s: f64,
    /// Output tokens per month (average demand, 730 h).
    pub output_tokens_per_month: f64,
    /// Prompt tokens per month.
    pub prompt_tokens_per_month: f64,
    /// One row per deployment, in the order given.
    pub deployments: Vec<DeploymentCost>,
    /// Assumptions behind every row.
    pub assumptions: Vec<String>,
    /// The line every output starts with: a size mismatch allowed by `--allow-size-mismatch`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_line: Option<String>,
    /// The latency target the deployments were sized for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slo: Option<SloReport>,
    /// Monthly cost against requests/day, and where the deployments cross.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sweep: Option<super::crossover::Sweep>,
}

/// The latency target of a costing.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SloReport {
    /// `≥ 5 tokens/s per stream`.
    pub target: String,
    /// Where it comes from (`given (--slo)` or the default's source).
    pub source: String,
}

/// An input the model cannot use, naming it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidInput(pub String);

impl std::fmt::Display for InvalidInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InvalidInput {}

fn check(
    f: &Figure,
    what: &str,
    ok: impl Fn(f64) -> bool,
    allowed: &str,
) -> Result<(), InvalidInput> {
    if f.value.is_finite() && ok(f.value) {
        Ok(())
    } else {
        Err(InvalidInput(format!(
            "{what} = {} ({}): must be {allowed}",
            f.value, f.source
        )))
    }
}

fn positive(f: &Figure, what: &str) -> Result<(), InvalidInput> {
    check(f, what, |v| v > 0.0, "a finite number > 0")
}

impl Demand {
    fn validate(&self) -> Result<(), InvalidInput> {
        positive(&self.requests_per_day, "requests per day")?;
        check(
            &self.prompt_tokens,
            "prompt tokens per request",
            |v| v >= 0.0,
            "≥ 0",
        )?;
        positive(&self.output_tokens, "output tokens per request")?;
        check(
            &self.peak_to_average,
            "peak-to-average factor",
            |v| v >= 1.0,
            "≥ 1",
        )?;
        check(
            &self.utilisation,
            "utilisation target",
            |v| v > 0.0 && v <= 1.0,
            "in (0, 1]",
        )
    }
}

/// `ceil` that forgives float noise just above an integer (40.000000000001 → 40).
pub(crate) fn ceil_tolerant(x: f64) -> u64 {
    let r = x.round();
    if (x - r).abs() <= 1e-9 * r.abs().max(1.0) {
        r as u64
    } else {
        x.ceil() as u64
    }
}

/// Costs one deployment against the demand.
pub fn cost_deployment(
    demand: &Demand,
    electricity: &Electricity,
    d: &Deployment,
) -> Result<DeploymentCost, InvalidInput> {
    demand.validate()?;
    let n = &d.name;
    positive(&d.decode_tps, &format!("{n}: decode tokens/s"))?;
    if let Some(p) = &d.prefill_tps {
        positive(p, &format!("{n}: prefill tokens/s"))?;
    }
    check(
        &d.streams_per_instance,
        &format!("{n}: streams per instance"),
        |v| v >= 1.0,
        "≥ 1",
    )?;

    let prompt = demand.prompt_tokens.value;
    let output = demand.output_tokens.value;
    let avg_req_s = demand.requests_per_day.value / SECONDS_PER_DAY;
    let peak_req_s = avg_req_s * demand.peak_to_average.value;
    let prefill_s = match &d.prefill_tps {
        Some(p) => prompt / p.value,
        None => 0.0,
    };
    let busy = prefill_s + output / d.decode_tps.value;
    let streams = d.streams_per_instance.value;
    let per_instance = streams / busy;
    let instances = ceil_tolerant(peak_req_s * busy / (demand.utilisation.value * streams)).max(1);
    let average_utilisation = avg_req_s * busy / (streams * instances as f64);

    let seconds_per_month = HOURS_PER_MONTH * 3600.0;
    let out_month = avg_req_s * output * seconds_per_month;
    let in_month = avg_req_s * prompt * seconds_per_month;

    let nf = instances as f64;
    let (monthly_compute, owned) = match &d.pricing {
        Pricing::Hourly { usd_per_hour } => {
            check(usd_per_hour, &format!("{n}: $/hour"), |v| v >= 0.0, "≥ 0")?;
            (nf * usd_per_hour.value * HOURS_PER_MONTH, false)
        }
        Pricing::OnPrem {
            hardware_usd,
            amortisation_months,
        } => {
            check(
                hardware_usd,
                &format!("{n}: hardware price"),
                |v| v >= 0.0,
                "≥ 0",
            )?;
            positive(amortisation_months, &format!("{n}: amortisation months"))?;
            (nf * hardware_usd.value / amortisation_months.value, true)
        }
    };

    let kwh = match &d.energy {
        EnergyFigure::JoulesPerToken { decode, prefill } => {
            positive(decode, &format!("{n}: J per decode token"))?;
            let pre = prefill.as_ref().map_or(0.0, |p| p.value);
            Some((out_month * decode.value + in_month * pre) / JOULES_PER_KWH)
        }
        EnergyFigure::Watts { watts } => {
            positive(watts, &format!("{n}: watts"))?;
            Some(nf * watts.value * HOURS_PER_MONTH / 1000.0)
        }
        EnergyFigure::None { .. } => None,
    };
    let (monthly_energy, energy_note) = match (&d.energy, owned) {
        (EnergyFigure::None { why }, true) => {
            (None, format!("not included: no energy figure ({why})"))
        }
        (_, false) => (None, "included in the hourly price".to_string()),
        (e, true) => {
            check(
                &electricity.usd_per_kwh,
                "electricity $/kWh",
                |v| v >= 0.0,
                "≥ 0",
            )?;
            check(&electricity.pue, "PUE", |v| v >= 1.0, "≥ 1")?;
            let k = kwh.unwrap_or(0.0);
            let how = match e {
                EnergyFigure::JoulesPerToken { prefill, .. } => format!(
                    "J/token × tokens served{}",
                    if prefill.is_none() && prompt > 0.0 {
                        " (prompt tokens' energy not included: no prefill J/token)"
                    } else {
                        ""
                    }
                ),
                _ => "watts × instances × 730 h".to_string(),
            };
            (
                Some(k * electricity.pue.value * electricity.usd_per_kwh.value),
                format!("kWh ({how}) × PUE × $/kWh"),
            )
        }
    };
    let total = monthly_compute + monthly_energy.unwrap_or(0.0);
    Ok(DeploymentCost {
        deployment: d.clone(),
        busy_seconds_per_request: busy,
        requests_per_s_per_instance: per_instance,
        instances,
        average_utilisation,
        monthly_compute_usd: monthly_compute,
        monthly_kwh: kwh,
        monthly_energy_usd: monthly_energy,
        energy_note,
        monthly_total_usd: total,
        usd_per_mtok_output: total / out_month * 1e6,
        usd_per_mtok_total: total / (out_month + in_month) * 1e6,
    })
}

/// Costs every deployment.
pub fn compute(
    demand: Demand,
    electricity: Electricity,
    deployments: &[Deployment],
    mut assumptions: Vec<String>,
) -> Result<CostResult, InvalidInput> {
    demand.validate()?;
    let rows = deployments
        .iter()
        .map(|d| cost_deployment(&demand, &electricity, d))
        .collect::<Result<Vec<_>, _>>()?;
    let avg = demand.requests_per_day.value / SECONDS_PER_DAY;
    let sec = HOURS_PER_MONTH * 3600.0;
    assumptions.insert(
        0,
        format!(
            "a month is {HOURS_PER_MONTH} h; tokens per month at the average rate; instances sized for the peak \
             (average × {}) at {:.0} % utilisation",
            demand.peak_to_average.value,
            demand.utilisation.value * 100.0
        ),
    );
    Ok(CostResult {
        average_requests_per_s: avg,
        peak_requests_per_s: avg * demand.peak_to_average.value,
        output_tokens_per_month: avg * demand.output_tokens.value * sec,
        prompt_tokens_per_month: avg * demand.prompt_tokens.value * sec,
        demand,
        electricity,
        deployments: rows,
        assumptions,
        first_line: None,
        slo: None,
        sweep: None,
    })
}

#[cfg(test)]
mod tests {
    //! The worked example of docs/cost.md, by hand: 86,400 requests/day (1 req/s, peak 2),
    //! 100 prompt + 200 output tokens, utilisation 0.6.
    use super::*;

    fn g(v: f64) -> Figure {
        Figure::new(v, "given")
    }

    pub(crate) fn demand() -> Demand {
        Demand {
            requests_per_day: g(86_400.0),
            prompt_tokens: g(100.0),
            output_tokens: g(200.0),
            peak_to_average: g(2.0),
            utilisation: g(0.6),
        }
    }

    fn elec() -> Electricity {
        Electricity {
            usd_per_kwh: g(0.10),
            pue: g(1.5),
        }
    }

    fn cpu(pricing: Pricing, energy: EnergyFigure) -> Deployment {
        Deployment {
            name: "CPU ternary".into(),
            description: "test".into(),
            decode_tps: g(20.0),
            prefill_tps: Some(g(50.0)),
            streams_per_instance: g(1.0),
            pricing,
            energy,
            notes: vec![],
        }
    }

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() <= 1e-9 * b.abs().max(1.0), "{a} != {b}");
    }

    #[test]
    fn rented_cpu_by_hand() {
        let d = cpu(
            Pricing::Hourly {
                usd_per_hour: g(0.20),
            },
            EnergyFigure::None { why: "x".into() },
        );
        let c = cost_deployment(&demand(), &elec(), &d).unwrap();
        close(c.busy_seconds_per_request, 12.0); // 100/50 + 200/20
        assert_eq!(c.instances, 40); // 2 req/s × 12 s / 0.6
        close(c.monthly_compute_usd, 5840.0); // 40 × 0.20 × 730
        assert_eq!(c.monthly_energy_usd, None);
        assert_eq!(c.energy_note, "included in the hourly price");
        close(c.usd_per_mtok_output, 5840.0 / 525.6); // 200 tok/s × 2,628,000 s
        close(c.usd_per_mtok_total, 5840.0 / 788.4);
        close(c.average_utilisation, 0.3);
    }

    #[test]
    fn owned_cpu_with_watts_and_joules() {
        let onprem = Pricing::OnPrem {
            hardware_usd: g(2400.0),
            amortisation_months: g(24.0),
        };
        let w = cpu(onprem.clone(), EnergyFigure::Watts { watts: g(100.0) });
        let c = cost_deployment(&demand(), &elec(), &w).unwrap();
        close(c.monthly_compute_usd, 4000.0);
        close(c.monthly_kwh.unwrap(), 2920.0); // 40 × 100 W × 730 h
        close(c.monthly_energy_usd.unwrap(), 438.0); // × 1.5 × 0.10
        close(c.usd_per_mtok_output, 4438.0 / 525.6);

        let j = cpu(
            onprem.clone(),
            EnergyFigure::JoulesPerToken {
                decode: g(2.0),
                prefill: Some(g(0.5)),
            },
        );
        let c = cost_deployment(&demand(), &elec(), &j).unwrap();
        close(c.monthly_kwh.unwrap(), 328.5); // (525.6e6×2 + 262.8e6×0.5) / 3.6e6
        close(c.monthly_energy_usd.unwrap(), 49.275);

        let none = cpu(onprem, EnergyFigure::None { why: "VM".into() });
        let c = cost_deployment(&demand(), &elec(), &none).unwrap();
        assert_eq!(c.energy_note, "not included: no energy figure (VM)");
        close(c.monthly_total_usd, 4000.0);
    }

    #[test]
    fn gpu_by_hand() {
        let d = Deployment {
            name: "GPU".into(),
            description: "test".into(),
            decode_tps: g(6000.0),
            prefill_tps: Some(g(30000.0)),
            streams_per_instance: g(1.0),
            pricing: Pricing::Hourly {
                usd_per_hour: g(3.0),
            },
            energy: EnergyFigure::None { why: "x".into() },
            notes: vec![],
        };
        let c = cost_deployment(&demand(), &elec(), &d).unwrap();
        assert_eq!(c.instances, 1);
        close(c.monthly_compute_usd, 2190.0);
        close(c.usd_per_mtok_output, 2190.0 / 525.6);
        // End-to-end figure: no prefill term.
        let e2e = Deployment {
            prefill_tps: None,
            ..d
        };
        let c = cost_deployment(&demand(), &elec(), &e2e).unwrap();
        close(c.busy_seconds_per_request, 200.0 / 6000.0);
    }

    #[test]
    fn streams_divide_instances() {
        let mut d = cpu(
            Pricing::Hourly {
                usd_per_hour: g(0.2),
            },
            EnergyFigure::None { why: "x".into() },
        );
        d.streams_per_instance = g(2.0);
        assert_eq!(
            cost_deployment(&demand(), &elec(), &d).unwrap().instances,
            20
        );
    }

    #[test]
    fn bad_inputs_are_named() {
        let d = cpu(
            Pricing::Hourly {
                usd_per_hour: g(0.2),
            },
            EnergyFigure::None { why: "x".into() },
        );
        let mut bad = demand();
        bad.requests_per_day = Figure::new(-5.0, "given (--requests-per-day)");
        let e = cost_deployment(&bad, &elec(), &d).unwrap_err().0;
        assert!(
            e.contains("requests per day = -5") && e.contains("--requests-per-day"),
            "{e}"
        );
        let mut bad = demand();
        bad.utilisation = g(1.5);
        let e = cost_deployment(&bad, &elec(), &d).unwrap_err().0;
        assert!(e.contains("in (0, 1]"), "{e}");
        let mut z = d.clone();
        z.decode_tps = g(0.0);
        assert!(cost_deployment(&demand(), &elec(), &z).is_err());
    }

    #[test]
    fn ceil_forgives_float_noise() {
        assert_eq!(ceil_tolerant(40.000000000001), 40);
        assert_eq!(ceil_tolerant(40.01), 41);
        assert_eq!(ceil_tolerant(0.1), 1);
    }
}
