//! The idle-power baseline, taken with care: a settle period first (a build or the model load
//! may just have heated the package), a check of `/proc/stat` that nothing else ran during the
//! window (refused or flagged, as the scenario chooses), and a second baseline at the end of the
//! run whose drift from the first is flagged.
//!
//! The quiet check: `/proc/stat`'s first line sums every CPU's time in `USER_HZ` ticks. Busy
//! time (user, nice, system, irq, softirq, steal) over the window, less this process's own CPU
//! time, divided by the window, is the other load in CPUs. Above [`DEFAULT_MAX_OTHER_CPUS`]
//! the machine was not quiet: RAPL counters are machine-wide, so that load is in the baseline.
//! MLPerf's power rules measure "active idle" after a pause; the reference method's numbers
//! are two minutes each, the shipped scenarios use less and say so.

use std::io;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::estimate::process_cpu_seconds;
use crate::meter::{IdlePower, Meter};
use crate::Roots;

/// Other processes' load, in CPUs, above which an idle window is not quiet: a tenth of one CPU
/// (an idle server's daemons use about a hundredth).
pub const DEFAULT_MAX_OTHER_CPUS: f64 = 0.1;

/// A change of idle `cpu_total` power between the start and the end of a run above this
/// fraction is flagged.
pub const DRIFT_TOLERANCE: f64 = 0.10;

/// What to do when the idle window was not quiet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IdleCheck {
    /// Do not look (also what results written before the check record).
    #[default]
    Off,
    /// Keep the baseline and flag it.
    Flag,
    /// Measure again (up to [`IdlePlan::attempts`] windows), then refuse.
    Refuse,
}

impl FromStr for IdleCheck {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "off" => Ok(IdleCheck::Off),
            "flag" => Ok(IdleCheck::Flag),
            "refuse" => Ok(IdleCheck::Refuse),
            _ => Err(format!("`{s}`: expected off, flag or refuse")),
        }
    }
}

/// How to take the baseline.
#[derive(Clone, Debug, PartialEq)]
pub struct IdlePlan {
    /// Wait this long, doing nothing, before the window.
    pub settle: Duration,
    /// The window.
    pub window: Duration,
    /// The quiet check's policy.
    pub check: IdleCheck,
    /// Other load (CPUs) above which the window is not quiet.
    pub max_other_cpus: f64,
    /// Windows tried before refusing (`IdleCheck::Refuse`).
    pub attempts: u32,
}

impl IdlePlan {
    /// A plan with the default threshold and three attempts.
    pub fn new(settle: Duration, window: Duration, check: IdleCheck) -> IdlePlan {
        IdlePlan {
            settle,
            window,
            check,
            max_other_cpus: DEFAULT_MAX_OTHER_CPUS,
            attempts: 3,
        }
    }
}

/// A baseline and how it was taken. Results written before the protocol hold the power
/// alone; the other fields then read as their defaults (no settle, not checked).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IdleBaseline {
    /// The mean power of the window.
    #[serde(flatten)]
    pub power: IdlePower,
    /// Seconds waited before it.
    #[serde(default)]
    pub settle_seconds: f64,
    /// Other processes' load during the window, in CPUs (`None`: `/proc/stat` unreadable or
    /// the check off).
    #[serde(default)]
    pub other_load_cpus: Option<f64>,
    /// Whether the window was quiet (`None`: not checked).
    #[serde(default)]
    pub quiet: Option<bool>,
    /// The policy it was taken under.
    #[serde(default)]
    pub check: IdleCheck,
    /// Windows measured (more than one when a noisy one was refused).
    #[serde(default)]
    pub attempts: u32,
}

/// `/proc/stat`'s aggregate CPU times, in ticks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpuTimes {
    /// user + nice + system + irq + softirq + steal.
    pub busy: u64,
    /// busy + idle + iowait.
    pub total: u64,
}

/// Parses the first (`cpu `) line of `/proc/stat`.
pub fn parse_proc_stat(s: &str) -> Option<CpuTimes> {
    let line = s.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|t| t.parse().ok())
        .collect::<Option<_>>()?;
    let at = |i: usize| v.get(i).copied().unwrap_or(0);
    // user nice system idle iowait irq softirq steal (guest time is inside user)
    let busy = at(0) + at(1) + at(2) + at(5) + at(6) + at(7);
    Some(CpuTimes {
        busy,
        total: busy + at(3) + at(4),
    })
}

fn read_cpu_times(roots: &Roots) -> io::Result<CpuTimes> {
    let s = roots.fs.read_to_string(&roots.proc_stat)?;
    parse_proc_stat(&s).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: no `cpu` line", roots.proc_stat.display()),
        )
    })
}

/// Ticks per second of `/proc/stat` (`USER_HZ`).
fn ticks_per_second() -> f64 {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: sysconf has no preconditions; it returns -1 for an unknown name.
        let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        if t > 0 {
            return t as f64;
        }
    }
    100.0
}

/// Waits `plan.settle`, then measures idle windows as `plan` says.
pub fn measure(meter: &Meter, roots: &Roots, plan: &IdlePlan) -> Result<IdleBaseline> {
    std::thread::sleep(plan.settle);
    let hz = ticks_per_second();
    let mut attempts = 0;
    let mut notes = Vec::new();
    loop {
        attempts += 1;
        let before = (plan.check != IdleCheck::Off).then(|| read_cpu_times(roots));
        let own0 = process_cpu_seconds();
        let span = meter.start()?;
        std::thread::sleep(plan.window);
        let m = span.stop()?;
        let after = (plan.check != IdleCheck::Off).then(|| read_cpu_times(roots));
        let own = match (own0, process_cpu_seconds()) {
            (Some(a), Some(b)) => b - a,
            _ => 0.0,
        };
        let mut power = IdlePower::from_measurement(&m)?;
        let other = match (before, after) {
            (Some(Ok(a)), Some(Ok(b))) => {
                let busy = b.busy.saturating_sub(a.busy) as f64 / hz;
                Some(((busy - own).max(0.0) / m.seconds.max(1e-9)).max(0.0))
            }
            (Some(Err(e)), _) | (_, Some(Err(e))) => {
                notes.push(format!("quiet check not done: cannot read /proc/stat: {e}"));
                None
            }
            _ => None,
        };
        let quiet = other.map(|o| o <= plan.max_other_cpus);
        if quiet == Some(false) {
            let what = format!(
                "other processes used {:.2} CPUs during the {:.1} s idle window (threshold \
                 {:.2}): RAPL counts the whole machine, so their power is in the baseline",
                other.unwrap_or(0.0),
                m.seconds,
                plan.max_other_cpus
            );
            match plan.check {
                IdleCheck::Refuse if attempts < plan.attempts => {
                    notes.push(format!("window {attempts} refused: {what}"));
                    continue;
                }
                IdleCheck::Refuse => {
                    return Err(Error::NotQuiet(format!(
                        "{what}; {attempts} windows tried. Quiet the machine, or set \
                         energy.idle_check = \"flag\" to keep a flagged baseline"
                    )))
                }
                _ => notes.push(format!("NOT QUIET: {what}")),
            }
        }
        power.notes.extend(notes);
        return Ok(IdleBaseline {
            power,
            settle_seconds: plan.settle.as_secs_f64(),
            other_load_cpus: other,
            quiet,
            check: plan.check,
            attempts,
        });
    }
}

/// How much idle power moved between two baselines.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Drift {
    /// `cpu_total` idle watts at the start.
    pub start_watts: f64,
    /// At the end.
    pub end_watts: f64,
    /// `(end − start) / start`.
    pub relative: f64,
    /// Beyond [`DRIFT_TOLERANCE`].
    pub flagged: bool,
    /// What it means, when flagged.
    pub note: Option<String>,
}

/// The drift from `start` to `end` (`None` without a `cpu_total` figure on both sides).
pub fn drift(start: &IdlePower, end: &IdlePower) -> Option<Drift> {
    let (a, b) = (start.cpu_total_watts?, end.cpu_total_watts?);
    if a <= 0.0 {
        return None;
    }
    let relative = (b - a) / a;
    let flagged = relative.abs() > DRIFT_TOLERANCE;
    Some(Drift {
        start_watts: a,
        end_watts: b,
        relative,
        flagged,
        note: flagged.then(|| {
            format!(
                "IDLE DRIFT: idle power moved {:+.0}% during the run ({a:.1} W at the start, \
                 {b:.1} W at the end; tolerance {:.0}%): net-of-idle figures carry that \
                 uncertainty (temperature, background load or frequency policy changed)",
                relative * 100.0,
                DRIFT_TOLERANCE * 100.0
            )
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_stat_parses() {
        let s = "cpu  100 5 50 1000 20 3 2 1 0 0\ncpu0 50 2 25 500 10 1 1 0 0 0\nintr 1\n";
        let t = parse_proc_stat(s).unwrap();
        assert_eq!(t.busy, 100 + 5 + 50 + 3 + 2 + 1);
        assert_eq!(t.total, t.busy + 1000 + 20);
        assert_eq!(parse_proc_stat("intr 1\n"), None);
        assert_eq!("refuse".parse::<IdleCheck>(), Ok(IdleCheck::Refuse));
        // A baseline written before the protocol (the power alone) still reads, for --resume.
        let old = r#"{"method":"measured","energy_source":"powercap","seconds":5.0,
            "watts":{"package":12.0,"core":null,"uncore":null,"dram":null,"psys":null},
            "cpu_total_watts":12.0,"dram_measured":false,"notes":[]}"#;
        let b: IdleBaseline = serde_json::from_str(old).unwrap();
        assert_eq!(
            (b.power.cpu_total_watts, b.check),
            (Some(12.0), IdleCheck::Off)
        );
        assert!("maybe".parse::<IdleCheck>().is_err());
    }
}
