//! Hardware counters per token: instructions, cycles and cache misses from Linux perf events.
//!
//! Counters are opened on the calling process with `inherit` set, so threads spawned *after*
//! opening (the worker pool) are counted too; the kernel sums the children into each read. Only
//! user-space events are counted (`exclude_kernel`), which `perf_event_paranoid` ≤ 2 allows
//! without privileges. Where the kernel exposes no hardware PMU (most VMs, ours included: no
//! `/sys/bus/event_source/devices/cpu`) or forbids access, [`Counters::open`] says why, and every
//! result marks counters unavailable with that reason: never a zero.

use crate::records::counters::{CounterStatus, Reading, EVENTS};

/// Open perf event file descriptors for [`EVENTS`].
#[derive(Debug)]
pub struct Counters {
    #[cfg(target_os = "linux")]
    fds: [i32; 3],
}

#[cfg(target_os = "linux")]
mod sys {
    /// `PERF_TYPE_HARDWARE`.
    pub const TYPE_HARDWARE: u32 = 0;
    /// `PERF_COUNT_HW_CPU_CYCLES`, `_INSTRUCTIONS`, `_CACHE_MISSES`.
    pub const HW_CYCLES: u64 = 0;
    pub const HW_INSTRUCTIONS: u64 = 1;
    pub const HW_CACHE_MISSES: u64 = 3;
    /// `perf_event_attr` flag bits (the bitfield word at byte 40).
    pub const FLAG_INHERIT: u64 = 1 << 1;
    pub const FLAG_EXCLUDE_KERNEL: u64 = 1 << 5;
    pub const FLAG_EXCLUDE_HV: u64 = 1 << 6;
    /// Size of the attribute struct we pass (`PERF_ATTR_SIZE_VER5`, 112 bytes; zero-padded).
    pub const ATTR_SIZE: u32 = 112;
}

impl Counters {
    /// Opens the three counters on this process (inherited by threads spawned later).
    pub fn open() -> Result<Counters, String> {
        #[cfg(target_os = "linux")]
        {
            if !std::path::Path::new("/sys/bus/event_source/devices/cpu").exists() {
                return Err("the kernel exposes no hardware PMU (/sys/bus/event_source/devices/cpu is absent; usual in VMs without a virtual PMU)".into());
            }
            let mut fds = [-1i32; 3];
            for (i, cfg) in [sys::HW_INSTRUCTIONS, sys::HW_CYCLES, sys::HW_CACHE_MISSES]
                .into_iter()
                .enumerate()
            {
                match open_one(cfg) {
                    Ok(fd) => fds[i] = fd,
                    Err(e) => {
                        for &fd in &fds[..i] {
                            // SAFETY: fd was returned by perf_event_open and not closed yet.
                            unsafe { libc::close(fd) };
                        }
                        let paranoid =
                            std::fs::read_to_string("/proc/sys/kernel/perf_event_paranoid")
                                .map(|s| s.trim().to_string())
                                .unwrap_or_else(|_| "unknown".into());
                        return Err(format!(
                            "perf_event_open({}) failed: {e} (perf_event_paranoid = {paranoid}; values above 2 forbid unprivileged counting: `sudo sysctl kernel.perf_event_paranoid=2`)",
                            EVENTS[i]
                        ));
                    }
                }
            }
            Ok(Counters { fds })
        }
        #[cfg(not(target_os = "linux"))]
        {
            Err("hardware counters are read through Linux perf events; not on this OS".into())
        }
    }

    /// The current totals.
    pub fn read(&self) -> Reading {
        #[cfg(target_os = "linux")]
        {
            let r = |fd: i32| -> u64 {
                let mut v = 0u64;
                // SAFETY: `v` is 8 writable bytes; fd is an open perf event descriptor, whose
                // read returns one u64 (read_format 0).
                let n = unsafe { libc::read(fd, (&mut v as *mut u64).cast(), 8) };
                if n == 8 {
                    v
                } else {
                    0
                }
            };
            Reading {
                instructions: r(self.fds[0]),
                cycles: r(self.fds[1]),
                cache_misses: r(self.fds[2]),
            }
        }
        #[cfg(not(target_os = "linux"))]
        {
            Reading::default()
        }
    }
}

#[cfg(target_os = "linux")]
fn open_one(config: u64) -> Result<i32, std::io::Error> {
    // perf_event_attr as 14 u64 words (112 bytes): type/size, config, sample_period,
    // sample_type, read_format, flags, then zeros.
    let mut attr = [0u64; 14];
    attr[0] = u64::from(sys::TYPE_HARDWARE) | (u64::from(sys::ATTR_SIZE) << 32);
    attr[1] = config;
    attr[5] = sys::FLAG_INHERIT | sys::FLAG_EXCLUDE_KERNEL | sys::FLAG_EXCLUDE_HV;
    // SAFETY: attr is a valid, zero-padded perf_event_attr of ATTR_SIZE bytes that outlives
    // the call; pid 0 / cpu -1 / group -1 / flags 0 count this process on any CPU.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_perf_event_open,
            attr.as_ptr(),
            0 as libc::pid_t,
            -1 as libc::c_int,
            -1 as libc::c_int,
            0 as libc::c_ulong,
        )
    };
    if fd < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(fd as i32)
    }
}

impl Drop for Counters {
    fn drop(&mut self) {
        #[cfg(target_os = "linux")]
        for &fd in &self.fds {
            // SAFETY: each fd was opened by us and is closed exactly once, here.
            unsafe { libc::close(fd) };
        }
    }
}

/// Opens counters, or says why not.
pub fn open_status() -> (Option<Counters>, CounterStatus) {
    match Counters::open() {
        Ok(c) => (
            Some(c),
            CounterStatus::Available {
                events: EVENTS.iter().map(|s| s.to_string()).collect(),
            },
        ),
        Err(reason) => (None, CounterStatus::Unavailable { reason }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_counts_or_says_why() {
        match Counters::open() {
            Ok(c) => {
                let a = c.read();
                let mut x = 0u64;
                for i in 0..100_000u64 {
                    x = x.wrapping_add(std::hint::black_box(i));
                }
                std::hint::black_box(x);
                let d = c.read().since(&a);
                assert!(d.instructions > 100_000, "{d:?}");
            }
            Err(reason) => assert!(!reason.is_empty()),
        }
    }

    #[test]
    fn since_subtracts() {
        let a = Reading {
            instructions: 10,
            cycles: 20,
            cache_misses: 1,
        };
        let b = Reading {
            instructions: 15,
            cycles: 26,
            cache_misses: 4,
        };
        assert_eq!(
            b.since(&a),
            Reading {
                instructions: 5,
                cycles: 6,
                cache_misses: 3
            }
        );
    }
}
