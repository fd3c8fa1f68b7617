//! Hardware counters per token: instructions, cycles and cache misses from Linux perf events,
//! opened with the `perf-event2` crate.
//!
//! Counters are opened on the calling process with `inherit` set, so threads spawned *after*
//! opening (the worker pool) are counted too; the kernel sums the children into each read. Only
//! user-space events are counted (`exclude_kernel`), which `perf_event_paranoid` ≤ 2 allows
//! without privileges. Where the kernel exposes no hardware PMU (most VMs, ours included: no
//! `/sys/bus/event_source/devices/cpu`) or forbids access, [`Counters::open`] says why, and every
//! result marks counters unavailable with that reason: never a zero.

use crate::records::counters::{CounterStatus, Reading, EVENTS};

/// Open perf event counters for [`EVENTS`].
#[derive(Debug)]
pub struct Counters {
    #[cfg(target_os = "linux")]
    open: std::sync::Mutex<[perf_event::Counter; 3]>,
}

#[cfg(target_os = "linux")]
fn open_one(event: perf_event::events::Hardware) -> std::io::Result<perf_event::Counter> {
    perf_event::Builder::new(event)
        .observe_self()
        .any_cpu()
        .inherit(true)
        .exclude_kernel(true)
        .exclude_hv(true)
        .enabled(true)
        .build()
}

impl Counters {
    /// Opens the three counters on this process (inherited by threads spawned later).
    pub fn open() -> Result<Counters, String> {
        #[cfg(target_os = "linux")]
        {
            use perf_event::events::Hardware;
            if !std::path::Path::new("/sys/bus/event_source/devices/cpu").exists() {
                return Err("the kernel exposes no hardware PMU (/sys/bus/event_source/devices/cpu is absent; usual in VMs without a virtual PMU)".into());
            }
            let events = [
                Hardware::INSTRUCTIONS,
                Hardware::CPU_CYCLES,
                Hardware::CACHE_MISSES,
            ];
            let mut open = Vec::with_capacity(3);
            for (i, ev) in events.into_iter().enumerate() {
                match open_one(ev) {
                    Ok(c) => open.push(c),
                    Err(e) => {
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
            let open: [perf_event::Counter; 3] = open
                .try_into()
                .map_err(|_| "three counters expected".to_string())?;
            Ok(Counters {
                open: std::sync::Mutex::new(open),
            })
        }
        #[cfg(not(target_os = "linux"))]
        {
            Err("hardware counters are read through Linux perf events; not on this OS".into())
        }
    }

    /// The current totals (an event whose read fails reads 0, as a counter that never ran).
    pub fn read(&self) -> Reading {
        #[cfg(target_os = "linux")]
        {
            let mut open = match self.open.lock() {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
            let mut r = |i: usize| open[i].read().unwrap_or(0);
            Reading {
                instructions: r(0),
                cycles: r(1),
                cache_misses: r(2),
            }
        }
        #[cfg(not(target_os = "linux"))]
        {
            Reading::default()
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
