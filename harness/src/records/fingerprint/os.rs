//! Operating-system facts, read through the `sysinfo` crate on the live machine: memory size,
//! memory available, load average, kernel release, the distribution, and the processes using
//! the CPU when a run starts (a benchmark's neighbours); plus the kernel build (`uname -v`,
//! `/proc/sys/kernel/version`, which `sysinfo` does not read) and the RFC 3339 timestamp.
//!
//! A fact the system does not give is `None` with nothing made up. Tests build an [`OsFacts`]
//! by hand: `sysinfo` reads only the live machine, so fake `/proc` trees cannot feed it.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sysinfo::{MemoryRefreshKind, ProcessRefreshKind, ProcessesToUpdate, RefreshKind, System};

use super::sysfs::read_trim;

/// A process that used the CPU while the fingerprint was taken.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BusyProcess {
    /// Its name (`comm`).
    pub name: String,
    /// Its process id.
    pub pid: u32,
    /// CPU used over the sampling window, per cent of one logical CPU.
    pub cpu_percent: f64,
}

/// What the operating system says about itself and its load.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OsFacts {
    /// Memory size (`MemTotal`), bytes.
    pub memory_bytes: Option<u64>,
    /// Memory available to new allocations (`MemAvailable`), bytes.
    pub memory_available_bytes: Option<u64>,
    /// Load averages over 1, 5 and 15 minutes.
    pub load_avg: Option<[f64; 3]>,
    /// Kernel release (`uname -r`).
    pub kernel_release: Option<String>,
    /// The distribution and its version (e.g. `Linux (Debian GNU/Linux 12)`).
    pub os: Option<String>,
    /// Other processes using at least [`BUSY_PERCENT`] of a CPU over the sampling window,
    /// busiest first (at most [`BUSY_MAX`]).
    pub busy_processes: Vec<BusyProcess>,
}

/// A process below this share of one CPU is not listed as busy, per cent.
pub const BUSY_PERCENT: f64 = 5.0;
/// At most this many busy processes are listed.
pub const BUSY_MAX: usize = 5;
/// The window over which processes' CPU use is sampled.
pub const BUSY_WINDOW: Duration = Duration::from_millis(250);

impl OsFacts {
    /// Reads the live machine (this takes [`BUSY_WINDOW`] to sample the processes' CPU use).
    pub fn live() -> Self {
        let memory = System::new_with_specifics(
            RefreshKind::nothing().with_memory(MemoryRefreshKind::nothing().with_ram()),
        )
        .ok();
        Self {
            memory_bytes: memory.as_ref().map(System::total_memory).filter(|&b| b > 0),
            memory_available_bytes: memory
                .as_ref()
                .map(System::available_memory)
                .filter(|&b| b > 0),
            load_avg: System::load_average()
                .ok()
                .map(|l| [l.one, l.five, l.fifteen]),
            kernel_release: System::kernel_version().ok(),
            os: System::long_os_version().ok(),
            busy_processes: busy_processes(BUSY_WINDOW),
        }
    }
}

/// Memory available to new allocations on the live machine, bytes, if the system says.
pub fn memory_available() -> Option<u64> {
    let mut s = System::new_with_specifics(RefreshKind::nothing()).ok()?;
    s.refresh_memory_specifics(MemoryRefreshKind::nothing().with_ram());
    Some(s.available_memory()).filter(|&b| b > 0)
}

/// Physical cores of the live machine, if the system says.
pub fn physical_cores() -> Option<usize> {
    System::physical_core_count().ok()
}

/// The processes other than this one that used the CPU over `window`, busiest first.
fn busy_processes(window: Duration) -> Vec<BusyProcess> {
    let Ok(mut sys) = System::new() else {
        return Vec::new();
    };
    let what = ProcessRefreshKind::nothing().with_cpu();
    sys.refresh_processes_specifics(ProcessesToUpdate::All, true, what);
    std::thread::sleep(window.max(sysinfo::MINIMUM_CPU_UPDATE_INTERVAL));
    sys.refresh_processes_specifics(ProcessesToUpdate::All, true, what);
    let all = sys
        .processes()
        .values()
        .map(|p| BusyProcess {
            name: p.name().to_string_lossy().into_owned(),
            pid: p.pid().as_u32(),
            cpu_percent: f64::from(p.cpu_usage()),
        })
        .collect();
    pick_busy(all, std::process::id())
}

/// The processes other than `me` at or above [`BUSY_PERCENT`], busiest first, at most
/// [`BUSY_MAX`].
fn pick_busy(all: Vec<BusyProcess>, me: u32) -> Vec<BusyProcess> {
    let mut v: Vec<BusyProcess> = all
        .into_iter()
        .filter(|p| p.pid != me && p.cpu_percent >= BUSY_PERCENT)
        .collect();
    v.sort_by(|a, b| b.cpu_percent.total_cmp(&a.cpu_percent));
    v.truncate(BUSY_MAX);
    v
}

/// `<proc>/sys/kernel/version`: the kernel build, as `uname -v` prints it.
pub fn kernel_build(proc_dir: &Path) -> Option<String> {
    read_trim(&proc_dir.join("sys/kernel/version"))
}

/// `t` as RFC 3339 UTC with whole seconds, e.g. `2026-05-01T12:34:56Z` (times before 1970
/// print as the epoch).
pub fn rfc3339(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// (year, month, day) of a day count since 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_live_machine_answers() {
        let f = OsFacts::live();
        assert!(f.memory_bytes.is_some_and(|b| b > 1 << 20), "{f:?}");
        assert!(f.memory_available_bytes <= f.memory_bytes);
        assert!(f.load_avg.is_some_and(|l| l.iter().all(|x| *x >= 0.0)));
        assert!(f.kernel_release.is_some());
        assert!(f.busy_processes.len() <= BUSY_MAX);
        assert!(f
            .busy_processes
            .iter()
            .all(|p| p.cpu_percent >= BUSY_PERCENT && p.pid != std::process::id()));
        assert!(f
            .busy_processes
            .windows(2)
            .all(|w| w[0].cpu_percent >= w[1].cpu_percent));
    }

    #[test]
    fn busy_means_other_processes_above_the_floor_busiest_first() {
        let p = |pid: u32, cpu: f64| BusyProcess {
            name: format!("p{pid}"),
            pid,
            cpu_percent: cpu,
        };
        let all = vec![
            p(1, 4.9),
            p(2, 30.0),
            p(3, 99.0),
            p(7, 100.0),
            p(4, 5.0),
            p(5, 60.0),
            p(6, 12.0),
            p(8, 7.0),
        ];
        let got: Vec<u32> = pick_busy(all, 7).iter().map(|b| b.pid).collect();
        assert_eq!(got, vec![3, 5, 2, 6, 8]);
        assert!(pick_busy(vec![p(1, 1.0)], 7).is_empty());
    }

    #[test]
    fn missing_files_are_none() {
        assert_eq!(kernel_build(Path::new("/nonexistent/ternbench")), None);
    }

    #[test]
    fn timestamps() {
        let at = |s: u64| rfc3339(UNIX_EPOCH + Duration::from_secs(s));
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(at(1_709_251_199), "2024-02-29T23:59:59Z");
        assert_eq!(at(1_735_689_600), "2025-01-01T00:00:00Z");
        assert_eq!(at(4_102_444_800), "2100-01-01T00:00:00Z");
        assert_eq!(
            rfc3339(UNIX_EPOCH - Duration::from_secs(5)),
            "1970-01-01T00:00:00Z"
        );
    }
}
