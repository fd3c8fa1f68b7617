//! The self-check (`ternbench energy`) on fake trees: sources that agree, one that does not,
//! and a machine with none.

use std::time::Duration;

use super::*;
use crate::selfcheck::{self, Load, Options};

/// An Intel client with all three sources over one package counter: powercap `intel-rapl:0`,
/// the perf `energy-pkg` event on CPU 0, and MSR_PKG_ENERGY_STATUS on CPU 0.
fn three_sources() -> Tree {
    let t = Tree::new();
    t.cpuinfo(
        "GenuineIntel",
        6,
        0x97,
        "12th Gen Intel(R) Core(TM) i9-12900K",
    );
    t.cpus(&[(0, 0, 0), (1, 0, 1)]);
    t.zone("intel-rapl:0", "package-0", 1_000_000_000, INTEL_MAX_UJ);
    t.power_pmu("0", &["energy-pkg"]);
    t.perf_count("energy-pkg", 0, 1000 * PERF_PER_J);
    t.msr(
        0,
        &[
            (msr::INTEL_UNIT, INTEL_UNIT_ESU14),
            (msr::INTEL_PKG, 100_000),
        ],
    );
    t.msr(1, &[(msr::INTEL_UNIT, INTEL_UNIT_ESU14)]);
    t
}

/// Advances the three views of the package counter by `joules` per window (`msr_factor` × that
/// on the MSR, to make it disagree), sleeping the window.
struct FakeLoad<'t> {
    t: &'t Tree,
    idle_joules: f64,
    busy_joules: f64,
    msr_factor: f64,
    total: f64,
}

impl FakeLoad<'_> {
    fn advance(&mut self, j: f64, d: Duration) {
        std::thread::sleep(d);
        self.total += j;
        let t = self.t;
        t.set_energy("intel-rapl:0", 1_000_000_000 + (self.total * 1e6) as u64);
        t.perf_count(
            "energy-pkg",
            0,
            1000 * PERF_PER_J + (self.total * PERF_PER_J as f64) as u64,
        );
        let counts = (self.total * self.msr_factor * 16_384.0) as u64;
        t.msr(0, &[(msr::INTEL_PKG, 100_000 + counts)]);
    }
}

impl Load for FakeLoad<'_> {
    fn idle(&mut self, d: Duration) {
        let j = self.idle_joules;
        self.advance(j, d);
    }

    fn busy(&mut self, d: Duration) {
        let j = self.busy_joules;
        self.advance(j, d);
    }
}

fn opts() -> Options {
    Options {
        window: Duration::from_millis(200),
        tolerance: 0.05,
    }
}

#[test]
fn selfcheck_sources_that_read_one_counter_agree() {
    let t = three_sources();
    let mut load = FakeLoad {
        t: &t,
        idle_joules: 2.0,
        busy_joules: 20.0,
        msr_factor: 1.0,
        total: 0.0,
    };
    let r = selfcheck::run(&t.fake_roots(), &opts(), &mut load);
    assert!(r.sources.iter().all(|s| s.available), "{:#?}", r.sources);
    assert_eq!(r.readings.len(), 6);
    let pkg: Vec<_> = r
        .agreements
        .iter()
        .filter(|a| a.domain == Domain::Package)
        .collect();
    assert_eq!(pkg.len(), 2, "{:?}", r.agreements);
    assert!(pkg.iter().all(|a| a.agree && a.watts.len() == 3), "{pkg:?}");
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    assert!(r.summary.contains("agree"), "{}", r.summary);
    let text = selfcheck::render(&r);
    assert!(text.contains("TOTAL"), "{text}");
    assert!(text.contains("busy package agree"), "{text}");
}

#[test]
fn selfcheck_flags_a_source_that_disagrees_with_the_figures() {
    let t = three_sources();
    let mut load = FakeLoad {
        t: &t,
        idle_joules: 2.0,
        busy_joules: 20.0,
        msr_factor: 2.0, // as if the MSR unit were wrong by 2x
        total: 0.0,
    };
    let r = selfcheck::run(&t.fake_roots(), &opts(), &mut load);
    let busy = r
        .agreements
        .iter()
        .find(|a| a.window == "busy" && a.domain == Domain::Package)
        .unwrap();
    assert!(!busy.agree, "{busy:?}");
    assert!(busy.spread > 0.5, "{busy:?}");
    let w = r.warnings.iter().find(|w| w.contains("DISAGREE")).unwrap();
    assert!(
        w.contains("msr") && w.contains("powercap") && w.contains(" W"),
        "{w}"
    );
    assert!(r.summary.contains("DISAGREE"), "{}", r.summary);
}

#[test]
fn selfcheck_on_a_machine_without_counters_says_why() {
    let t = Tree::new();
    t.cpuinfo("AuthenticAMD", 25, 1, "AMD EPYC 7B13");
    t.cpus(&[(0, 0, 0)]);
    let mut load = FakeLoad {
        t: &t,
        idle_joules: 0.0,
        busy_joules: 0.0,
        msr_factor: 1.0,
        total: 0.0,
    };
    let r = selfcheck::run(&t.roots(), &opts(), &mut load);
    assert!(r.sources.iter().all(|s| !s.available));
    assert!(r.readings.is_empty());
    let text = selfcheck::render(&r);
    for want in [
        "powercap: unavailable",
        "perf: unavailable",
        "msr: unavailable",
        "fix:",
    ] {
        assert!(text.contains(want), "{want}: {text}");
    }
    assert!(r.summary.contains("no energy source"), "{}", r.summary);
}
