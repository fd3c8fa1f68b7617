//! The [`Meter`]: reads an [`EnergySource`]'s counters, turns raw readings into running totals
//! that survive wraparound, and measures windows ([`Span`] → [`Measurement`]), the idle baseline
//! ([`IdlePower`]) and gross-minus-idle energy ([`NetEnergy`]).
//!
//! Wraparound. Every hardware counter wraps: a powercap `energy_uj` at `max_energy_range_uj`,
//! an MSR at 2^32 units. Each counter keeps its own [`Accum`]: on each reading the delta is
//! `(now − prev) mod range` (one wrap assumed when `now < prev`), added to a 128-bit total. Two
//! wraps between readings cannot be told from none, so a background thread reads every counter
//! at [`sample_period`]: a quarter of the shortest time any counter takes to wrap at
//! [`MAX_PLAUSIBLE_WATTS`], and at most [`MAX_SAMPLE_PERIOD`]. A counter then moves by at most a
//! quarter of its range between two samples, and a sampler delayed by up to three periods (a
//! busy machine) still sees every wrap. Every domain and socket is tracked on its own: a DRAM
//! counter that wraps does not touch the package's.
//!
//! To extend: a new source implements [`EnergySource`] (describe its counters, read one raw
//! value); the meter does the rest.

use std::fmt;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::{Attempt, Domain, Found, Method, SourceKind};

/// A power no single counter (one socket's package, or its DRAM) plausibly reaches: twice the
/// highest CPU TDP shipping today (about 500 W). The sampler period is sized for it.
pub const MAX_PLAUSIBLE_WATTS: f64 = 1000.0;

/// The longest sampler period, whatever the counter ranges (read at least every 10 s, the
/// period zeusd and the Python zeus poll well within: ml-energy/zeus `zeusd/src/devices/cpu/
/// rapl.rs`). With the RAPL ranges (`max_energy_range_uj`, from torvalds/linux
/// `drivers/powercap/intel_rapl_common.c`: 262 kJ on Intel packages, 65.5 kJ on AMD Zen) this
/// is the period actually used: AMD's 65.5 kJ range wraps after 65 s at 1000 W, a quarter of
/// which is 16 s.
pub const MAX_SAMPLE_PERIOD: Duration = Duration::from_secs(10);

/// The shortest sampler period: a floor for absurdly small ranges (under 4 J), so the thread
/// never spins.
pub const MIN_SAMPLE_PERIOD: Duration = Duration::from_millis(1);

/// Windows shorter than this carry a note: RAPL counters update about every millisecond and
/// the reference method asks for windows of at least 1 s.
pub const MIN_TRUSTED_WINDOW_S: f64 = 1.0;

/// One hardware counter of a source.
#[derive(Clone, Debug, PartialEq)]
pub struct Counter {
    /// What it measures.
    pub domain: Domain,
    /// The socket (physical package) it belongs to; 0 for platform-wide counters (psys).
    pub socket: u32,
    /// Where it is read, for errors and provenance: a file path, or `path @ MSR 0x611`.
    pub location: String,
    /// The counter counts modulo this many units (`max_energy_range_uj` for powercap, 2^32 for
    /// an MSR, 2^64 for a perf counter, which the kernel already widens).
    pub range_units: u128,
    /// Joules per unit (1e-6 for powercap; 2^-ESU for an MSR; the `.scale` file for perf).
    pub joules_per_unit: f64,
}

impl Counter {
    /// The counter's range in joules.
    pub fn range_joules(&self) -> f64 {
        self.range_units as f64 * self.joules_per_unit
    }

    /// Seconds until this counter wraps at `watts`.
    pub fn wrap_seconds(&self, watts: f64) -> f64 {
        self.range_joules() / watts
    }
}

/// A source of energy counters: powercap sysfs, the perf `power` PMU, MSRs, or a fake in tests.
pub trait EnergySource: Send + fmt::Debug {
    /// Which kind of source this is (provenance).
    fn kind(&self) -> SourceKind;
    /// Its counters; indices are stable for the source's life.
    fn counters(&self) -> &[Counter];
    /// The raw value of counter `index`, in its units (before any wrap handling). Errors name
    /// the file read.
    fn read(&mut self, index: usize) -> Result<u64>;
    /// Every counter the source found, and whether and why it counts toward the total.
    fn found(&self) -> Vec<Found> {
        Vec::new()
    }
}

/// The delta from `prev` to `now` on a counter that counts modulo `range`, and whether it
/// wrapped (`now < prev`). One wrap at most is assumed: the sampler makes more impossible.
pub fn wrap_delta(prev: u64, now: u64, range: u128) -> (u128, bool) {
    if now >= prev {
        (u128::from(now - prev), false)
    } else {
        (
            range.saturating_sub(u128::from(prev)) + u128::from(now),
            true,
        )
    }
}

/// One counter's running total: the last raw reading, units accumulated since the first
/// reading, and wraps seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Accum {
    last: u64,
    total: u128,
    wraps: u64,
}

impl Accum {
    /// Starts from a first raw reading.
    pub fn new(raw: u64) -> Self {
        Accum {
            last: raw,
            total: 0,
            wraps: 0,
        }
    }

    /// Takes a new raw reading of a counter with range `range`.
    pub fn update(&mut self, raw: u64, range: u128) {
        let (d, wrapped) = wrap_delta(self.last, raw, range);
        self.total += d;
        self.wraps += u64::from(wrapped);
        self.last = raw;
    }

    /// Units accumulated since the first reading.
    pub fn total(&self) -> u128 {
        self.total
    }

    /// Wraps seen since the first reading.
    pub fn wraps(&self) -> u64 {
        self.wraps
    }
}

/// The sampler period for a set of counters: a quarter of the shortest wrap time at
/// [`MAX_PLAUSIBLE_WATTS`], clamped to [`MIN_SAMPLE_PERIOD`] ..= [`MAX_SAMPLE_PERIOD`].
pub fn sample_period(counters: &[Counter]) -> Duration {
    let shortest = counters
        .iter()
        .map(|c| c.wrap_seconds(MAX_PLAUSIBLE_WATTS))
        .fold(f64::INFINITY, f64::min);
    let quarter = shortest / 4.0;
    if !quarter.is_finite() || quarter >= MAX_SAMPLE_PERIOD.as_secs_f64() {
        MAX_SAMPLE_PERIOD
    } else {
        Duration::from_secs_f64(quarter).max(MIN_SAMPLE_PERIOD)
    }
}

/// Joules (or watts) per domain; `None` where the domain is not measured (serialised as
/// `null`, never as 0).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PerDomain<T> {
    /// Sum over sockets.
    pub package: Option<T>,
    /// Cores (Intel PP0, AMD core), sum over sockets; part of `package`.
    pub core: Option<T>,
    /// Intel PP1 (integrated graphics on clients); part of `package`.
    pub uncore: Option<T>,
    /// Memory, sum over sockets (Intel servers; most clients and all AMD lack it).
    pub dram: Option<T>,
    /// The whole platform (Intel clients); overlaps everything else.
    pub psys: Option<T>,
}

impl<T: Copy> PerDomain<T> {
    /// The value for one domain.
    pub fn get(&self, d: Domain) -> Option<T> {
        match d {
            Domain::Package => self.package,
            Domain::Core => self.core,
            Domain::Uncore => self.uncore,
            Domain::Dram => self.dram,
            Domain::Psys => self.psys,
        }
    }

    /// Sets the value for one domain.
    pub fn set(&mut self, d: Domain, v: Option<T>) {
        let slot = match d {
            Domain::Package => &mut self.package,
            Domain::Core => &mut self.core,
            Domain::Uncore => &mut self.uncore,
            Domain::Dram => &mut self.dram,
            Domain::Psys => &mut self.psys,
        };
        *slot = v;
    }
}

/// `cpu_total = Σpackage + Σdram`; core, uncore and psys are never added (they overlap the
/// package, or contain it). `None` without a package figure.
pub fn cpu_total(v: &PerDomain<f64>) -> Option<f64> {
    v.package.map(|p| p + v.dram.unwrap_or(0.0))
}

/// The energy of one measured window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Measurement {
    /// Always `measured`: read from hardware counters.
    pub method: Method,
    /// The source read.
    pub energy_source: SourceKind,
    /// Wall-clock length of the window.
    pub seconds: f64,
    /// Energy per domain over the window (gross: includes idle power).
    pub joules: PerDomain<f64>,
    /// The package energy of each socket, in socket order.
    pub package_joules_per_socket: Vec<f64>,
    /// `Σpackage + Σdram`: the CPU energy figure to quote (package only when DRAM is absent).
    pub cpu_total_joules: Option<f64>,
    /// Whether DRAM energy is in `cpu_total_joules`. When false the memory's energy, which
    /// matters for memory-bound decode, is not counted.
    pub dram_measured: bool,
    /// The domains with a figure.
    pub domains: Vec<Domain>,
    /// Counter wraps seen during the window, all counters together.
    pub wraps_seen: u64,
    /// Caveats: DRAM not measured, short window, counters that did not move.
    pub notes: Vec<String>,
}

/// Builds a [`Measurement`] from per-counter deltas (units) and wraps; pure, so tests can feed it.
pub fn measurement(
    kind: SourceKind,
    counters: &[Counter],
    deltas: &[u128],
    wraps: u64,
    seconds: f64,
) -> Measurement {
    let mut joules = PerDomain::<f64>::default();
    let mut notes = Vec::new();
    let mut sockets: Vec<(u32, f64)> = Vec::new();
    for d in Domain::ALL {
        let idx: Vec<usize> = (0..counters.len())
            .filter(|&i| counters[i].domain == d)
            .collect();
        if idx.is_empty() {
            continue;
        }
        let stuck: Vec<&str> = idx
            .iter()
            .filter(|&&i| deltas[i] == 0)
            .map(|&i| counters[i].location.as_str())
            .collect();
        if !stuck.is_empty() {
            notes.push(format!(
                "{d} not measured: counter {} did not advance over {seconds:.3} s (a stuck or \
                 unsupported counter, or a window shorter than its ~1 ms update)",
                stuck.join(", ")
            ));
            continue;
        }
        let sum: f64 = idx
            .iter()
            .map(|&i| deltas[i] as f64 * counters[i].joules_per_unit)
            .sum();
        joules.set(d, Some(sum));
        if d == Domain::Package {
            for &i in &idx {
                let j = deltas[i] as f64 * counters[i].joules_per_unit;
                match sockets.iter_mut().find(|(s, _)| *s == counters[i].socket) {
                    Some((_, acc)) => *acc += j,
                    None => sockets.push((counters[i].socket, j)),
                }
            }
        }
    }
    sockets.sort_by_key(|&(s, _)| s);
    let dram_measured = joules.dram.is_some();
    if joules.package.is_some() && !dram_measured {
        notes.push(
            "DRAM not measured: cpu_total_joules is the package alone, without memory energy"
                .to_string(),
        );
    }
    if seconds < MIN_TRUSTED_WINDOW_S {
        notes.push(format!(
            "window of {seconds:.3} s is under {MIN_TRUSTED_WINDOW_S} s: counters update about \
             every 1 ms, so quantisation error is large"
        ));
    }
    let domains = Domain::ALL
        .into_iter()
        .filter(|&d| joules.get(d).is_some())
        .collect();
    Measurement {
        method: Method::Measured,
        energy_source: kind,
        seconds,
        cpu_total_joules: cpu_total(&joules),
        joules,
        package_joules_per_socket: sockets.into_iter().map(|(_, j)| j).collect(),
        dram_measured,
        domains,
        wraps_seen: wraps,
        notes,
    }
}

/// The average power of an idle window, per domain: the baseline subtracted for net energy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IdlePower {
    /// Always `measured`.
    pub method: Method,
    /// The source read.
    pub energy_source: SourceKind,
    /// Length of the idle window.
    pub seconds: f64,
    /// Mean power per domain over the window.
    pub watts: PerDomain<f64>,
    /// `Σpackage + Σdram` watts.
    pub cpu_total_watts: Option<f64>,
    /// Whether DRAM is in `cpu_total_watts`.
    pub dram_measured: bool,
    /// Caveats carried over from the idle window.
    pub notes: Vec<String>,
}

impl IdlePower {
    /// The mean power of a measured idle window.
    pub fn from_measurement(m: &Measurement) -> Result<IdlePower> {
        if m.seconds <= 0.0 || !m.seconds.is_finite() {
            return Err(Error::EmptyWindow(m.seconds));
        }
        let mut watts = PerDomain::default();
        for d in Domain::ALL {
            watts.set(d, m.joules.get(d).map(|j| j / m.seconds));
        }
        Ok(IdlePower {
            method: Method::Measured,
            energy_source: m.energy_source,
            seconds: m.seconds,
            cpu_total_watts: cpu_total(&watts),
            dram_measured: watts.dram.is_some(),
            watts,
            notes: m.notes.clone(),
        })
    }
}

/// Gross and net energy of a window: `E_net = E_gross − P_idle × T`, per domain.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NetEnergy {
    /// Always `measured`.
    pub method: Method,
    /// The source read.
    pub energy_source: SourceKind,
    /// Window length.
    pub seconds: f64,
    /// The idle baseline used.
    pub idle_watts: PerDomain<f64>,
    /// Energy as measured.
    pub gross_joules: PerDomain<f64>,
    /// Gross minus idle power × seconds; `None` where either side lacks the domain.
    pub net_joules: PerDomain<f64>,
    /// `Σpackage + Σdram`, gross.
    pub gross_cpu_total_joules: Option<f64>,
    /// `Σpackage + Σdram`, net.
    pub net_cpu_total_joules: Option<f64>,
    /// `Σpackage + Σdram` idle power.
    pub idle_cpu_total_watts: Option<f64>,
    /// Whether DRAM is in the totals.
    pub dram_measured: bool,
    /// Caveats.
    pub notes: Vec<String>,
}

impl Measurement {
    /// This window net of an idle baseline taken with the same source.
    pub fn net_of(&self, idle: &IdlePower) -> Result<NetEnergy> {
        if idle.energy_source != self.energy_source {
            return Err(Error::SourceMismatch {
                idle: idle.energy_source,
                window: self.energy_source,
            });
        }
        let mut notes = self.notes.clone();
        let mut net = PerDomain::default();
        for d in Domain::ALL {
            let (g, w) = (self.joules.get(d), idle.watts.get(d));
            let n = match (g, w) {
                (Some(g), Some(w)) => Some(g - w * self.seconds),
                (Some(_), None) => {
                    notes.push(format!("{d}: no idle baseline for it, so no net figure"));
                    None
                }
                _ => None,
            };
            if n.is_some_and(|n| n < 0.0) {
                notes.push(format!(
                    "{d}: net energy below zero (power at or under the idle baseline: noise)"
                ));
            }
            net.set(d, n);
        }
        // Net totals only when both sides cover the same domains of the total.
        let same_total = self.joules.dram.is_some() == idle.watts.dram.is_some();
        let net_total = if same_total { cpu_total(&net) } else { None };
        Ok(NetEnergy {
            method: Method::Measured,
            energy_source: self.energy_source,
            seconds: self.seconds,
            idle_watts: idle.watts.clone(),
            gross_joules: self.joules.clone(),
            net_joules: net,
            gross_cpu_total_joules: self.cpu_total_joules,
            net_cpu_total_joules: net_total,
            idle_cpu_total_watts: idle.cpu_total_watts,
            dram_measured: self.dram_measured,
            notes,
        })
    }
}

/// The meter's state, shared with the sampler thread.
#[derive(Debug)]
struct State {
    source: Box<dyn EnergySource>,
    accums: Vec<Accum>,
    /// The first failed read, kept so the next [`Span::stop`] reports it.
    failure: Option<String>,
}

impl State {
    fn sample(&mut self) -> Result<()> {
        for i in 0..self.accums.len() {
            let raw = self.source.read(i)?;
            let range = self.source.counters()[i].range_units;
            self.accums[i].update(raw, range);
        }
        Ok(())
    }

    fn sample_or_record(&mut self) {
        if let Err(e) = self.sample() {
            self.failure.get_or_insert_with(|| e.to_string());
        }
    }
}

/// The background reader: stops when its channel's sender is dropped.
#[derive(Debug)]
struct Sampler {
    stop: Option<mpsc::Sender<()>>,
    handle: Option<JoinHandle<()>>,
}

/// Reads a source's counters with wraparound handled; measures windows.
///
/// A background thread reads every counter each [`Meter::period`]; keep the meter alive for as
/// long as spans are open (the borrow in [`Span`] enforces it).
#[derive(Debug)]
pub struct Meter {
    state: Arc<Mutex<State>>,
    kind: SourceKind,
    counters: Vec<Counter>,
    period: Option<Duration>,
    sampler: Sampler,
    tried: Vec<Attempt>,
    found: Vec<Found>,
    caveats: Vec<String>,
}

impl Meter {
    /// Takes a first reading of every counter (an error if any cannot be read) and starts the
    /// sampler at [`sample_period`].
    pub fn new(source: Box<dyn EnergySource>) -> Result<Meter> {
        let period = sample_period(source.counters());
        Meter::with_period(source, Some(period))
    }

    /// As [`Meter::new`] with a chosen sampler period; `None` runs no sampler thread (tests
    /// that drive sampling through [`Meter::sample_now`]).
    pub fn with_period(
        mut source: Box<dyn EnergySource>,
        period: Option<Duration>,
    ) -> Result<Meter> {
        let counters = source.counters().to_vec();
        if counters.is_empty() {
            return Err(Error::NoCounters(source.kind()));
        }
        let kind = source.kind();
        let accums = (0..counters.len())
            .map(|i| source.read(i).map(Accum::new))
            .collect::<Result<Vec<_>>>()
            .map_err(|e| Error::FirstReading {
                kind,
                error: Box::new(e),
            })?;
        let found = source.found();
        let state = Arc::new(Mutex::new(State {
            source,
            accums,
            failure: None,
        }));
        let sampler = match period {
            Some(p) => spawn_sampler(Arc::clone(&state), p)?,
            None => Sampler {
                stop: None,
                handle: None,
            },
        };
        Ok(Meter {
            state,
            kind,
            counters,
            period,
            sampler,
            tried: Vec::new(),
            found,
            caveats: Vec::new(),
        })
    }

    /// The source read.
    pub fn kind(&self) -> SourceKind {
        self.kind
    }

    /// The counters read.
    pub fn counters(&self) -> &[Counter] {
        &self.counters
    }

    /// The domains present.
    pub fn domains(&self) -> Vec<Domain> {
        Domain::ALL
            .into_iter()
            .filter(|d| self.counters.iter().any(|c| c.domain == *d))
            .collect()
    }

    /// The sampler period (`None`: no sampler thread).
    pub fn period(&self) -> Option<Duration> {
        self.period
    }

    /// Sources tried and failed before this one (provenance).
    pub fn tried(&self) -> &[Attempt] {
        &self.tried
    }

    /// Records the sources tried and failed before this one.
    pub fn set_tried(&mut self, tried: Vec<Attempt>) {
        self.tried = tried;
    }

    /// Every counter the source found, and whether and why it counts toward the total.
    pub fn found(&self) -> &[Found] {
        &self.found
    }

    /// What every figure of this meter carries (vendor caveats, a VM's borrowed counters).
    pub fn caveats(&self) -> &[String] {
        &self.caveats
    }

    /// Sets the caveats.
    pub fn set_caveats(&mut self, caveats: Vec<String>) {
        self.caveats = caveats;
    }

    /// Reads every counter now, as the sampler does.
    #[cfg(test)]
    pub fn sample_now(&self) -> Result<()> {
        self.lock()?.sample()
    }

    fn lock(&self) -> Result<MutexGuard<'_, State>> {
        self.state.lock().map_err(|_| Error::Poisoned)
    }

    /// Opens a window: reads every counter now.
    pub fn start(&self) -> Result<Span<'_>> {
        let mut st = self.lock()?;
        if let Some(message) = st.failure.take() {
            return Err(Error::Lost {
                when: "before this window",
                message,
            });
        }
        st.sample()?;
        let started = Instant::now();
        let at_start = st.accums.iter().map(|a| (a.total(), a.wraps())).collect();
        Ok(Span {
            meter: self,
            started,
            at_start,
        })
    }
}

impl Drop for Meter {
    fn drop(&mut self) {
        drop(self.sampler.stop.take());
        if let Some(h) = self.sampler.handle.take() {
            let _ = h.join();
        }
    }
}

fn spawn_sampler(state: Arc<Mutex<State>>, period: Duration) -> Result<Sampler> {
    let (tx, rx) = mpsc::channel::<()>();
    let handle = std::thread::Builder::new()
        .name("energy-sampler".into())
        .spawn(move || {
            // Wakes each period; a dropped sender (the meter's drop) ends the loop at once.
            while let Err(RecvTimeoutError::Timeout) = rx.recv_timeout(period) {
                match state.lock() {
                    Ok(mut st) => st.sample_or_record(),
                    Err(_) => break,
                }
            }
        })
        .map_err(Error::Thread)?;
    Ok(Sampler {
        stop: Some(tx),
        handle: Some(handle),
    })
}

/// An open measurement window.
#[derive(Debug)]
pub struct Span<'m> {
    meter: &'m Meter,
    started: Instant,
    at_start: Vec<(u128, u64)>,
}

impl Span<'_> {
    /// Closes the window: reads every counter now and returns the energy since
    /// [`Meter::start`]. An error if any counter read failed meanwhile (the sampler's too).
    pub fn stop(self) -> Result<Measurement> {
        let mut st = self.meter.lock()?;
        st.sample()?;
        let seconds = self.started.elapsed().as_secs_f64();
        if let Some(message) = st.failure.take() {
            return Err(Error::Lost {
                when: "during the window",
                message,
            });
        }
        let mut wraps = 0;
        let deltas: Vec<u128> = st
            .accums
            .iter()
            .zip(&self.at_start)
            .map(|(a, &(t0, w0))| {
                wraps += a.wraps() - w0;
                a.total() - t0
            })
            .collect();
        Ok(measurement(
            self.meter.kind,
            &self.meter.counters,
            &deltas,
            wraps,
            seconds,
        ))
    }
}

/// Measures idle power: a window of `duration` during which the caller runs nothing. The
/// reference method (MLPerf's "active idle") uses 2 minutes after a 2-minute pause.
pub fn idle_baseline(meter: &Meter, duration: Duration) -> Result<IdlePower> {
    let span = meter.start()?;
    std::thread::sleep(duration);
    let m = span.stop()?;
    IdlePower::from_measurement(&m)
}
