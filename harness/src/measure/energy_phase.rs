//! The runner's view of energy: one window per phase (prefill, decode) of each repetition.
//!
//! [`Phases`] wraps an open [`EnergyStatus`]: a measuring [`Meter`] (gross joules per domain,
//! net of the idle baseline when one was taken) or the estimate model (labelled `estimated`,
//! never mixed with measured figures). With no energy source it is not built at all, and the
//! results carry `energy: null` beside the run's reason.

use crate::measure::runner::PhaseMeter;
use crate::records::results::PhaseEnergy;
use ternbench_energy::estimate::EstimateSpan;
use ternbench_energy::meter::Span;
use ternbench_energy::Domain;
use ternbench_energy::{EnergyStatus, EstimateModel, IdlePower, Meter};

/// An open window.
enum Open<'m> {
    Measured(Span<'m>),
    Estimated(EstimateSpan<'m>),
}

/// Phase windows over a meter or an estimate model.
pub struct Phases<'m> {
    meter: Option<&'m Meter>,
    model: Option<&'m EstimateModel>,
    idle: Option<IdlePower>,
    open: Option<Open<'m>>,
    /// The last error reading the counters (a window without figures).
    pub last_error: Option<String>,
}

impl<'m> Phases<'m> {
    /// Windows for `status`, or `None` when it gives no figures.
    pub fn new(status: &'m EnergyStatus, idle: Option<IdlePower>) -> Option<Phases<'m>> {
        let (meter, model) = match status {
            EnergyStatus::Available(m) => (Some(m), None),
            EnergyStatus::Estimated(e) => (None, Some(e)),
            EnergyStatus::Unavailable(_) => return None,
        };
        Some(Phases {
            meter,
            model,
            idle,
            open: None,
            last_error: None,
        })
    }
}

impl PhaseMeter for Phases<'_> {
    fn start(&mut self) {
        self.open = if let Some(m) = self.meter {
            match m.start() {
                Ok(s) => Some(Open::Measured(s)),
                Err(e) => {
                    self.last_error = Some(format!("{e:#}"));
                    None
                }
            }
        } else {
            self.model.map(|e| Open::Estimated(e.start()))
        };
    }

    fn stop(&mut self) -> Option<PhaseEnergy> {
        match self.open.take()? {
            Open::Measured(span) => {
                let m = match span.stop() {
                    Ok(m) => m,
                    Err(e) => {
                        self.last_error = Some(format!("{e:#}"));
                        return None;
                    }
                };
                let total = m.cpu_total_joules?;
                let net = self
                    .idle
                    .as_ref()
                    .and_then(|i| m.net_of(i).ok())
                    .and_then(|n| n.net_cpu_total_joules);
                Some(PhaseEnergy {
                    method: "measured".into(),
                    seconds: m.seconds,
                    cpu_total_joules: total,
                    cpu_total_net_joules: net,
                    domains_joules: Domain::ALL
                        .into_iter()
                        .filter_map(|d| m.joules.get(d).map(|j| (d.name().to_string(), j)))
                        .collect(),
                    wraps_seen: m.wraps_seen,
                })
            }
            Open::Estimated(span) => {
                let e = span.stop();
                Some(PhaseEnergy {
                    method: "estimated".into(),
                    seconds: e.seconds,
                    cpu_total_joules: e.estimated_joules,
                    cpu_total_net_joules: None,
                    domains_joules: Default::default(),
                    wraps_seen: 0,
                })
            }
        }
    }
}
