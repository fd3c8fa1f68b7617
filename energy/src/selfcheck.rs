//! `ternbench energy`: a self-check of the energy sources on this machine.
//!
//! 1. Opens every measuring source (powercap, perf, MSR), not only the first that works, and
//!    lists every zone, event and register each found, which count toward the total and why
//!    (or why a source is unavailable, with the fix).
//! 2. Reads all open sources over the same windows: an idle one and one with a busy loop on
//!    every CPU ([`Load`]); each source's span is opened and closed one right after another.
//! 3. Compares their mean power per domain: sources reading the same counter agree within a
//!    few per cent ([`DEFAULT_TOLERANCE`]); a larger gap is a warning with the figures (a
//!    miscounted scope, a wrong unit, a mirror summed).

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::meter::Measurement;
use crate::{open_source, Attempt, Domain, Found, Meter, Role, Roots, SourceKind};

/// Sources whose mean power over the same window differs by more than this fraction of their
/// mean disagree.
pub const DEFAULT_TOLERANCE: f64 = 0.05;

/// Below this many watts apart, sources agree whatever the fraction (counter quantisation and
/// the microseconds between opening spans, on a near-idle domain).
pub const ABSOLUTE_FLOOR_WATTS: f64 = 0.2;

/// What runs during the windows.
pub trait Load {
    /// Does nothing for `d`.
    fn idle(&mut self, d: Duration);
    /// Keeps every CPU busy for `d`.
    fn busy(&mut self, d: Duration);
}

/// The real load: sleep, or a spin loop on one thread per available CPU.
#[derive(Debug, Default)]
pub struct SpinLoad;

impl Load for SpinLoad {
    fn idle(&mut self, d: Duration) {
        std::thread::sleep(d);
    }

    fn busy(&mut self, d: Duration) {
        let n = std::thread::available_parallelism().map_or(1, |n| n.get());
        let end = Instant::now() + d;
        std::thread::scope(|s| {
            for _ in 0..n {
                s.spawn(move || {
                    let mut x = 0x9E37_79B9_7F4A_7C15u64;
                    while Instant::now() < end {
                        for _ in 0..10_000 {
                            x = std::hint::black_box(x.rotate_left(7) ^ x.wrapping_mul(3));
                        }
                    }
                    std::hint::black_box(x);
                });
            }
        });
    }
}

/// The options.
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    /// Length of each window.
    pub window: Duration,
    /// The agreement tolerance (fraction).
    pub tolerance: f64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            window: Duration::from_secs(5),
            tolerance: DEFAULT_TOLERANCE,
        }
    }
}

/// One source: what it found, or why it could not be used.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SourceReport {
    /// The source.
    pub source: SourceKind,
    /// Whether it opened.
    pub available: bool,
    /// Its counters and the ones it skipped, with reasons.
    pub found: Vec<Found>,
    /// The domains it measures.
    pub domains: Vec<Domain>,
    /// Its caveats.
    pub caveats: Vec<String>,
    /// Why it is unavailable.
    pub unavailable: Option<Attempt>,
}

/// One source's reading of one window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reading {
    /// The window: `idle` or `busy`.
    pub window: String,
    /// The source.
    pub source: SourceKind,
    /// Its measurement (or why there is none).
    pub measurement: Option<Measurement>,
    /// The read error, if any.
    pub error: Option<String>,
}

/// The sources' agreement on one domain over one window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Agreement {
    /// The window.
    pub window: String,
    /// The domain.
    pub domain: Domain,
    /// Mean watts per source.
    pub watts: Vec<(SourceKind, f64)>,
    /// `(max − min) / mean`.
    pub spread: f64,
    /// Within the tolerance (or the absolute floor).
    pub agree: bool,
}

/// The whole self-check.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Every source tried.
    pub sources: Vec<SourceReport>,
    /// Every reading.
    pub readings: Vec<Reading>,
    /// Every domain read by two sources or more.
    pub agreements: Vec<Agreement>,
    /// Disagreements and failures, one line each.
    pub warnings: Vec<String>,
    /// The verdict in one line.
    pub summary: String,
    /// The tolerance used.
    pub tolerance: f64,
}

/// Runs the self-check on `roots` with `load` running during the windows.
pub fn run(roots: &Roots, opts: &Options, load: &mut dyn Load) -> Report {
    let mut sources = Vec::new();
    let mut meters: Vec<Meter> = Vec::new();
    for kind in [SourceKind::Powercap, SourceKind::Perf, SourceKind::Msr] {
        match open_source(kind, roots) {
            Ok(m) => {
                sources.push(SourceReport {
                    source: kind,
                    available: true,
                    found: m.found().to_vec(),
                    domains: m.domains(),
                    caveats: m.caveats().to_vec(),
                    unavailable: None,
                });
                meters.push(m);
            }
            Err(a) => sources.push(SourceReport {
                source: kind,
                available: false,
                found: Vec::new(),
                domains: Vec::new(),
                caveats: Vec::new(),
                unavailable: Some(a),
            }),
        }
    }
    let mut readings = Vec::new();
    let mut warnings = Vec::new();
    if !meters.is_empty() {
        for window in ["idle", "busy"] {
            let spans: Vec<_> = meters.iter().map(|m| (m.kind(), m.start())).collect();
            if window == "idle" {
                load.idle(opts.window);
            } else {
                load.busy(opts.window);
            }
            for (kind, span) in spans {
                let r = span.and_then(|s| s.stop());
                if let Err(e) = &r {
                    warnings.push(format!("{window} window: {kind} could not be read: {e}"));
                }
                readings.push(Reading {
                    window: window.to_string(),
                    source: kind,
                    error: r.as_ref().err().map(|e| e.to_string()),
                    measurement: r.ok(),
                });
            }
        }
    }
    let agreements = compare(&readings, opts.tolerance);
    for a in agreements.iter().filter(|a| !a.agree) {
        let figures: Vec<String> = a
            .watts
            .iter()
            .map(|(s, w)| format!("{s} {w:.2} W"))
            .collect();
        warnings.push(format!(
            "DISAGREE: {} over the {} window: {} (spread {:.1}%, tolerance {:.0}%): one source \
             miscounts this domain (a scope read twice, a wrong unit, a mirror summed) — check \
             the counters listed above",
            a.domain,
            a.window,
            figures.join(", "),
            a.spread * 100.0,
            opts.tolerance * 100.0
        ));
    }
    let summary = if meters.is_empty() {
        let mut s =
            "no energy source is available on this machine (reasons and fixes above)".to_string();
        if crate::is_vm(roots) {
            s.push_str(
                "; this is a virtual machine (CPU flag `hypervisor`), and hypervisors rarely pass \
                 energy counters through: run on bare metal, or ask `ternbench run` for a \
                 labelled estimate with `--energy estimate --tdp WATTS`",
            );
        }
        s
    } else if agreements.is_empty() {
        format!(
            "{} source(s) available; no domain is read by two sources, so there is nothing to \
             cross-check",
            meters.len()
        )
    } else if agreements.iter().all(|a| a.agree) {
        format!(
            "{} source(s) agree within {:.0}% on every shared domain",
            meters.len(),
            opts.tolerance * 100.0
        )
    } else {
        format!(
            "sources DISAGREE on {} of {} comparisons (see the warnings)",
            agreements.iter().filter(|a| !a.agree).count(),
            agreements.len()
        )
    };
    Report {
        sources,
        readings,
        agreements,
        warnings,
        summary,
        tolerance: opts.tolerance,
    }
}

/// Compares the readings of each window and domain that two sources or more measured.
pub fn compare(readings: &[Reading], tolerance: f64) -> Vec<Agreement> {
    let mut out = Vec::new();
    for window in ["idle", "busy"] {
        for d in Domain::ALL {
            let watts: Vec<(SourceKind, f64)> = readings
                .iter()
                .filter(|r| r.window == window)
                .filter_map(|r| {
                    let m = r.measurement.as_ref()?;
                    let j = m.joules.get(d)?;
                    (m.seconds > 0.0).then(|| (r.source, j / m.seconds))
                })
                .collect();
            if watts.len() < 2 {
                continue;
            }
            let max = watts.iter().map(|w| w.1).fold(f64::MIN, f64::max);
            let min = watts.iter().map(|w| w.1).fold(f64::MAX, f64::min);
            let mean = watts.iter().map(|w| w.1).sum::<f64>() / watts.len() as f64;
            let spread = if mean > 0.0 { (max - min) / mean } else { 0.0 };
            out.push(Agreement {
                window: window.to_string(),
                domain: d,
                agree: spread <= tolerance || max - min <= ABSOLUTE_FLOOR_WATTS,
                watts,
                spread,
            });
        }
    }
    out
}

/// The report as text for the terminal.
pub fn render(r: &Report) -> String {
    let mut s = String::from("Energy sources on this machine\n");
    for src in &r.sources {
        match &src.unavailable {
            Some(a) => {
                s.push_str(&format!("\n{}: unavailable — {}\n", src.source, a.detail));
                if let Some(f) = &a.fix {
                    s.push_str(&format!("  fix: {f}\n"));
                }
            }
            None => {
                let names: Vec<&str> = src.domains.iter().map(|d| d.name()).collect();
                s.push_str(&format!(
                    "\n{}: available, domains {}\n",
                    src.source,
                    names.join(", ")
                ));
                for f in &src.found {
                    let tag = match f.role {
                        Role::Total => "TOTAL   ",
                        Role::Reported => "reported",
                        Role::Skipped => "skipped ",
                    };
                    s.push_str(&format!(
                        "  {tag} {} ({}) — {}\n",
                        f.name, f.location, f.why
                    ));
                    if let Some(fix) = &f.fix {
                        s.push_str(&format!("           fix: {fix}\n"));
                    }
                }
                for c in &src.caveats {
                    s.push_str(&format!("  caveat: {c}\n"));
                }
            }
        }
    }
    if !r.readings.is_empty() {
        s.push_str("\nReadings (mean watts over the same windows)\n");
        for window in ["idle", "busy"] {
            for rd in r.readings.iter().filter(|x| x.window == window) {
                match &rd.measurement {
                    Some(m) => {
                        let parts: Vec<String> = Domain::ALL
                            .iter()
                            .filter_map(|&d| {
                                m.joules
                                    .get(d)
                                    .map(|j| format!("{d} {:.2} W", j / m.seconds))
                            })
                            .collect();
                        s.push_str(&format!(
                            "  {window:<4} {:<8} {:.2} s: {}\n",
                            rd.source.name(),
                            m.seconds,
                            if parts.is_empty() {
                                "no domain advanced".to_string()
                            } else {
                                parts.join(", ")
                            }
                        ));
                        for n in &m.notes {
                            s.push_str(&format!("       note: {n}\n"));
                        }
                    }
                    None => s.push_str(&format!(
                        "  {window:<4} {:<8} unreadable: {}\n",
                        rd.source.name(),
                        rd.error.as_deref().unwrap_or("?")
                    )),
                }
            }
        }
    }
    if !r.agreements.is_empty() {
        s.push_str(&format!(
            "\nAgreement (tolerance {:.0}%)\n",
            r.tolerance * 100.0
        ));
        for a in &r.agreements {
            let figures: Vec<String> = a
                .watts
                .iter()
                .map(|(k, w)| format!("{k} {w:.2} W"))
                .collect();
            s.push_str(&format!(
                "  {:<4} {:<7} {}: {} (spread {:.1}%)\n",
                a.window,
                a.domain.name(),
                if a.agree { "agree   " } else { "DISAGREE" },
                figures.join(", "),
                a.spread * 100.0
            ));
        }
    }
    for w in &r.warnings {
        s.push_str(&format!("\nwarning: {w}\n"));
    }
    s.push_str(&format!("\n{}\n", r.summary));
    s
}
