//! The few machine facts the measuring commands need: CPU model, last-level cache size, core
//! count. Read from `/proc` and `/sys` (Linux) by the parsers of [`crate::records::fingerprint`]; elsewhere,
//! documented defaults.

use std::path::Path;

/// Last-level cache size assumed when sysfs does not say (bytes).
pub const DEFAULT_LLC_BYTES: u64 = 32 << 20;

/// The CPU's model name (`/proc/cpuinfo` `model name`), or `"unknown CPU"`.
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| parse_cpu_model(&s))
        .unwrap_or_else(|| "unknown CPU".to_string())
}

fn parse_cpu_model(cpuinfo: &str) -> Option<String> {
    crate::records::fingerprint::cpu::parse_cpuinfo(cpuinfo).model_name
}

/// The last-level cache of cpu0 (bytes) and whether it was read (`false`: the default).
pub fn llc_bytes() -> (u64, bool) {
    match read_llc(Path::new("/sys/devices/system/cpu/cpu0/cache")) {
        Some(b) => (b, true),
        None => (DEFAULT_LLC_BYTES, false),
    }
}

/// The largest data or unified cache level under a sysfs `cache` directory.
fn read_llc(dir: &Path) -> Option<u64> {
    crate::records::fingerprint::sysfs::last_level(&crate::records::fingerprint::sysfs::caches(dir))
}

/// Logical CPUs this process may use.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Physical cores, if the system says (through `sysinfo`).
pub fn physical_cores() -> Option<usize> {
    crate::records::fingerprint::os::physical_cores()
}

/// Memory available to new allocations (Linux `MemAvailable`, through `sysinfo`), if known.
pub fn mem_available() -> Option<u64> {
    crate::records::fingerprint::os::memory_available()
}

/// The default thread counts: 1 and every core (deduplicated).
pub fn default_threads() -> Vec<usize> {
    let mut v = vec![1, cores()];
    v.dedup();
    v
}

/// Sorted, deduplicated thread counts from the command line, or the default.
pub fn thread_list(arg: Option<&[u32]>) -> Vec<usize> {
    let mut v: Vec<usize> = match arg {
        Some(a) => a.iter().map(|&t| t as usize).collect(),
        None => default_threads(),
    };
    v.sort_unstable();
    v.dedup();
    v
}

/// Seconds of CPU time the calling thread has run (Linux `CLOCK_THREAD_CPUTIME_ID`), or `None`
/// where that clock is not available.
pub fn thread_cpu_seconds() -> Option<f64> {
    #[cfg(target_os = "linux")]
    {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid, writable timespec; the call only writes it.
        let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
        (rc == 0).then_some(ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9)
    }
    #[cfg(not(target_os = "linux"))]
    {
        None
    }
}

/// The pool pinning for `--pin`: participant i on core i (cores as the OS numbers them).
pub fn pinning(pin: bool) -> ternbench_kernels::Pinning {
    if pin {
        ternbench_kernels::Pinning::Cores((0..cores()).collect())
    } else {
        ternbench_kernels::Pinning::None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_model_parses() {
        let s = "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7V13\n";
        assert_eq!(parse_cpu_model(s).as_deref(), Some("AMD EPYC 7V13"));
        assert_eq!(parse_cpu_model("processor : 0\n"), None);
    }

    #[test]
    fn llc_from_fake_sysfs() {
        let dir = std::env::temp_dir().join(format!("ternbench-llc-{}", std::process::id()));
        for (i, (level, ty, size)) in [
            (1, "Data", "32K"),
            (1, "Instruction", "32K"),
            (2, "Unified", "1024K"),
            (3, "Unified", "32768K"),
        ]
        .iter()
        .enumerate()
        {
            let d = dir.join(format!("index{i}"));
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join("level"), format!("{level}\n")).unwrap();
            std::fs::write(d.join("type"), format!("{ty}\n")).unwrap();
            std::fs::write(d.join("size"), format!("{size}\n")).unwrap();
        }
        assert_eq!(read_llc(&dir), Some(32 << 20));
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(read_llc(&dir), None);
    }

    #[test]
    fn thread_cpu_clock_advances_with_work() {
        let Some(a) = thread_cpu_seconds() else {
            return; // no such clock here
        };
        let mut x = 1u64;
        for i in 0..20_000_000u64 {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(i));
        }
        let b = thread_cpu_seconds().unwrap();
        assert!(b > a, "{a} -> {b}");
    }

    #[test]
    fn thread_lists_sorted_unique() {
        assert_eq!(thread_list(Some(&[2, 1, 2])), vec![1, 2]);
        assert!(thread_list(None).contains(&1));
    }
}
