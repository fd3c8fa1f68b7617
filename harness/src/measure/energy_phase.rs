//! The runner's view of energy: one window per phase (prefill, decode) of each repetition.
//!
//! [`Phases`] wraps an open [`EnergyStatus`]: a measuring [`Meter`] (gross joules per domain,
//! net of the idle baseline when one was taken) or the estimate model (labelled `estimated`,
//! in fields of its own, never mixed with measured figures). With no energy source it is not
//! built at all, and the results carry `energy: null` beside the run's reason. Every window
//! that has no figure says why ([`PhaseEnergy::missing`]), and every caveat of the window (a
//! counter that did not move, a short window, a negative or missing net figure) is kept in its
//! `notes`.

use crate::measure::runner::PhaseMeter;
use crate::records::results::PhaseEnergy;
use ternbench_energy::estimate::EstimateSpan;
use ternbench_energy::meter::{Measurement, Span};
use ternbench_energy::Domain;
use ternbench_energy::{EnergyStatus, EstimateModel, IdlePower, Meter};

/// An open window.
enum Open<'m> {
    Measured(Span<'m>),
    Estimated(EstimateSpan<'m>),
    /// The window could not be opened: why.
    Failed(String),
}

/// Phase windows over a meter or an estimate model.
pub struct Phases<'m> {
    meter: Option<&'m Meter>,
    model: Option<&'m EstimateModel>,
    idle: Option<IdlePower>,
    open: Option<Open<'m>>,
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
        })
    }
}

/// The phase record of a measured window, net of `idle` when given.
pub fn measured_phase(m: &Measurement, idle: Option<&IdlePower>) -> PhaseEnergy {
    // DRAM in or out is the structured `dram_measured`; the other caveats stay as notes.
    let mut notes: Vec<String> = m
        .notes
        .iter()
        .filter(|n| !n.starts_with("DRAM not measured"))
        .cloned()
        .collect();
    let net = match idle {
        None => None,
        Some(i) => match m.net_of(i) {
            Ok(n) => {
                for x in n.notes.iter().filter(|x| !m.notes.contains(x)) {
                    notes.push(x.clone());
                }
                if n.net_cpu_total_joules.is_none() && m.cpu_total_joules.is_some() {
                    notes.push(
                        "no net figure: the idle baseline and this window do not cover the same \
                         domains of cpu_total"
                            .into(),
                    );
                }
                n.net_cpu_total_joules
            }
            Err(e) => {
                notes.push(format!("no net figure: {e}"));
                None
            }
        },
    };
    let missing = m.cpu_total_joules.is_none().then(|| {
        let why: Vec<&str> = m
            .notes
            .iter()
            .filter(|n| n.starts_with("package"))
            .map(String::as_str)
            .collect();
        if why.is_empty() {
            "no package figure in this window".to_string()
        } else {
            why.join("; ")
        }
    });
    PhaseEnergy {
        method: "measured".into(),
        seconds: m.seconds,
        cpu_total_joules: m.cpu_total_joules,
        cpu_total_net_joules: net,
        estimated_joules: None,
        estimated_net_joules: None,
        domains_joules: Domain::ALL
            .into_iter()
            .filter_map(|d| m.joules.get(d).map(|j| (d.name().to_string(), j)))
            .collect(),
        wraps_seen: m.wraps_seen,
        dram_measured: m.cpu_total_joules.map(|_| m.dram_measured),
        missing,
        notes,
    }
}

impl PhaseMeter for Phases<'_> {
    fn start(&mut self) {
        self.open = if let Some(m) = self.meter {
            Some(match m.start() {
                Ok(s) => Open::Measured(s),
                Err(e) => Open::Failed(format!("the energy window could not be opened: {e}")),
            })
        } else {
            self.model.map(|e| Open::Estimated(e.start()))
        };
    }

    fn stop(&mut self) -> Option<PhaseEnergy> {
        Some(match self.open.take()? {
            Open::Measured(span) => match span.stop() {
                Ok(m) => measured_phase(&m, self.idle.as_ref()),
                Err(e) => PhaseEnergy::missing(
                    "measured",
                    0.0,
                    format!("the energy counters could not be read: {e}"),
                ),
            },
            Open::Failed(why) => PhaseEnergy::missing("measured", 0.0, why),
            Open::Estimated(span) => {
                let e = span.stop();
                PhaseEnergy {
                    method: "estimated".into(),
                    seconds: e.seconds,
                    cpu_total_joules: None,
                    cpu_total_net_joules: None,
                    estimated_joules: Some(e.estimated_joules),
                    estimated_net_joules: Some(e.estimated_net_joules),
                    domains_joules: Default::default(),
                    wraps_seen: 0,
                    dram_measured: None,
                    missing: None,
                    notes: e.notes.into_iter().skip(1).collect(), // the formula is run-level
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ternbench_energy::meter::{measurement, Counter};
    use ternbench_energy::SourceKind;

    fn counter(domain: Domain) -> Counter {
        Counter {
            domain,
            socket: 0,
            location: format!("fake {domain}"),
            range_units: 1 << 40,
            joules_per_unit: 1e-6,
        }
    }

    // Defect 3: a window's caveats and the reason for a missing figure reach the record.
    // Before the fix `stop` returned `None` (no reason) for a failed read, dropped
    // `Measurement.notes`, and swallowed net-of-idle errors with `.ok()`.
    #[test]
    fn missing_figures_and_caveats_reach_the_phase_record() {
        let cs = [counter(Domain::Package), counter(Domain::Psys)];
        // The package counter did not move: no figure, and the reason.
        let m = measurement(SourceKind::Powercap, &cs, &[0, 5_000_000], 0, 0.5);
        let p = measured_phase(&m, None);
        assert_eq!(p.cpu_total_joules, None);
        let why = p.missing.as_deref().unwrap();
        assert!(why.contains("package not measured"), "{why}");
        assert!(
            p.notes.iter().any(|n| n.contains("under 1 s")),
            "{:?}",
            p.notes
        );

        // A baseline from another source: no net figure, and why.
        let ok = measurement(SourceKind::Powercap, &cs, &[9_000_000, 5_000_000], 0, 2.0);
        let mut idle = IdlePower::from_measurement(&ok).unwrap();
        idle.energy_source = SourceKind::Msr;
        let p = measured_phase(&ok, Some(&idle));
        assert_eq!(p.cpu_total_joules, Some(9.0));
        assert_eq!(p.cpu_total_net_joules, None);
        assert!(
            p.notes.iter().any(|n| n.starts_with("no net figure")),
            "{:?}",
            p.notes
        );
        assert_eq!(p.dram_measured, Some(false));
        // Net below zero is a note, not silence.
        let hot = measurement(SourceKind::Powercap, &cs, &[20_000_000, 5_000_000], 0, 2.0);
        let idle = IdlePower::from_measurement(&hot).unwrap();
        let p = measured_phase(&ok, Some(&idle));
        assert!(p.cpu_total_net_joules.unwrap() < 0.0);
        assert!(
            p.notes.iter().any(|n| n.contains("below zero")),
            "{:?}",
            p.notes
        );
    }
}
