//! The defects of issue 21, each on a fake tree shaped like the real layout it cites. Every test
//! here failed on the code before its fix (0a3ca64's `harness/src/energy/`), as noted on each.

use super::*;

/// CPUs `(cpu, package, core)` of `sockets` packages of `ccds` CCDs of `cores` cores, SMT on:
/// first threads are numbered 0.., siblings after them (Linux's numbering on EPYC), and each
/// CPU's `die_id` is its CCD, as the AMD 0x80000026 topology leaf (Linux >= 6.10) reports it.
fn zen4(t: &Tree, sockets: u32, ccds: u32, cores: u32) {
    let per_socket = ccds * cores;
    let threads = sockets * per_socket;
    let mut places = Vec::new();
    for cpu in 0..2 * threads {
        let first = cpu % threads;
        places.push((cpu, first / per_socket, first % per_socket));
    }
    t.cpus(&places);
    for cpu in 0..2 * threads {
        let first = cpu % threads;
        t.die(
            cpu,
            (first % per_socket) / cores + (first / per_socket) * ccds,
        );
    }
}

// Defect 1 — arch/x86/events/rapl.c (`rapl_pmu_is_pkg_scope`, the `power` PMU's cpumask): a
// 12-CCD Genoa on a kernel with the 0x80000026 topology and without "perf/x86/rapl: Fix the
// energy-pkg event for AMD CPUs" lists one CPU per CCD, `0,8,…,88`, all reading the one package
// counter. Before the fix: 12 package counters summed, 12 × the energy.
#[test]
fn genoa_12ccd_cpumask_reads_the_package_once() {
    let t = Tree::new();
    t.cpuinfo("AuthenticAMD", 25, 17, "AMD EPYC 9654 96-Core Processor");
    zen4(&t, 1, 12, 8);
    let mask: Vec<String> = (0..12).map(|c| (c * 8).to_string()).collect();
    t.power_pmu(&mask.join(","), &["energy-pkg"]);
    for c in 0..12 {
        t.perf_count("energy-pkg", c * 8, 1000 * PERF_PER_J);
    }
    let m = meter(open(&EnergyChoice::Perf, &t.fake_roots()));
    assert_eq!(m.counters().len(), 1, "{:?}", m.counters());
    assert!(m.counters()[0].location.ends_with("cpu 0"));
    let skipped: Vec<_> = m
        .found()
        .iter()
        .filter(|f| f.role == Role::Skipped)
        .collect();
    assert_eq!(skipped.len(), 11);
    assert!(
        skipped[0].why.contains("package-wide"),
        "{}",
        skipped[0].why
    );

    let span = m.start().unwrap();
    for c in 0..12 {
        t.perf_count("energy-pkg", c * 8, 1360 * PERF_PER_J); // +360 J on the one counter
    }
    let r = span.stop().unwrap();
    assert!(close(r.joules.package.unwrap(), 360.0), "{:?}", r.joules);
    assert_eq!(r.package_joules_per_socket, vec![360.0]);
}

// Defect 1, the other side: Intel counters are per die (Cascade Lake-AP), so a cpumask with
// one CPU per die keeps both.
#[test]
fn clx_ap_perf_cpumask_keeps_both_dies() {
    let t = Tree::new();
    t.cpuinfo(
        "GenuineIntel",
        6,
        0x55,
        "Intel(R) Xeon(R) Platinum 9282 CPU @ 2.60GHz",
    );
    t.cpus(&[(0, 0, 0), (1, 0, 1), (2, 0, 2), (3, 0, 3)]);
    for cpu in 0..4 {
        t.die(cpu, cpu / 2);
    }
    t.power_pmu("0,2", &["energy-pkg"]);
    t.perf_count("energy-pkg", 0, 10 * PERF_PER_J);
    t.perf_count("energy-pkg", 2, 20 * PERF_PER_J);
    let m = meter(open(&EnergyChoice::Perf, &t.fake_roots()));
    assert_eq!(m.counters().len(), 2);
    let span = m.start().unwrap();
    t.perf_count("energy-pkg", 0, 110 * PERF_PER_J);
    t.perf_count("energy-pkg", 2, 140 * PERF_PER_J);
    let r = span.stop().unwrap();
    assert!(close(r.joules.package.unwrap(), 220.0), "{:?}", r.joules);
    assert_eq!(r.package_joules_per_socket, vec![220.0]);
}

/// An Intel client as `intel_rapl_common.c` registers it (Alder Lake): package-0 with core,
/// uncore and dram children, psys at the top, and the MMIO interface to package-0
/// (`intel-rapl-mmio:0`, `processor_thermal_rapl.c`).
fn intel_client_with_dram() -> Tree {
    let t = Tree::new();
    t.cpuinfo(
        "GenuineIntel",
        6,
        0x97,
        "12th Gen Intel(R) Core(TM) i9-12900K",
    );
    t.control_type("intel-rapl");
    t.control_type("intel-rapl-mmio");
    t.zone("intel-rapl:0", "package-0", 1_000_000_000, INTEL_MAX_UJ);
    t.zone("intel-rapl:0:0", "core", 500_000_000, INTEL_MAX_UJ);
    t.zone("intel-rapl:0:1", "uncore", 7_000_000, INTEL_MAX_UJ);
    t.zone("intel-rapl:0:2", "dram", 9_000_000, INTEL_MAX_UJ);
    t.zone("intel-rapl:1", "psys", 3_000_000_000, INTEL_MAX_UJ);
    t.zone(
        "intel-rapl-mmio:0",
        "package-0",
        1_000_000_000,
        INTEL_MAX_UJ,
    );
    t
}

// Defect 2 — drivers/powercap/powercap_sys.c (`energy_uj_show`, mode 0400 since the
// CVE-2020-8694 fix) with a permission recipe that opened every zone but psys. Before the fix:
// the whole source was refused on psys.
#[test]
fn intel_client_psys_unreadable_is_skipped_with_its_reason() {
    let t = intel_client_with_dram();
    let roots = t.roots().with_fs(Arc::new(DenyFs {
        denied: vec!["intel-rapl:1/energy_uj".into()],
        inner: Arc::new(RealFs),
    }));
    let m = meter(open(&EnergyChoice::Powercap, &roots));
    assert_eq!(
        m.domains(),
        vec![Domain::Package, Domain::Core, Domain::Uncore, Domain::Dram]
    );
    let psys = m.found().iter().find(|f| f.name == "psys").unwrap();
    assert_eq!(psys.role, Role::Skipped);
    assert_eq!(psys.problem, Some(Problem::PermissionDenied));
    assert!(psys.fix.as_deref().unwrap().contains("4.19.156"));
    let mmio = m
        .found()
        .iter()
        .find(|f| f.location.contains("intel-rapl-mmio:0"))
        .unwrap();
    assert_eq!(mmio.role, Role::Skipped);
    assert!(mmio.why.contains("MMIO"), "{}", mmio.why);
    // Provenance carries the list into run.json.
    let p = EnergyStatus::Available(m).provenance();
    assert!(p
        .found
        .iter()
        .any(|f| f.name == "psys" && f.role == Role::Skipped));
    assert_eq!(p.dram_in_total, Some(true));

    let m = meter(open(&EnergyChoice::Powercap, &roots));
    let span = m.start().unwrap();
    t.set_energy("intel-rapl:0", 1_020_000_000); // +20 J
    t.set_energy("intel-rapl:0:2", 11_000_000); // +2 J
    t.set_energy("intel-rapl:0:0", 510_000_000);
    t.set_energy("intel-rapl:0:1", 7_100_000);
    let r = span.stop().unwrap();
    assert!(close(r.cpu_total_joules.unwrap(), 22.0), "{r:?}");
    assert!(r.dram_measured);
}

// Defect 2, the limit: a package zone that cannot be read still fails the source (a total
// without it would be partial), naming the file and the fix.
#[test]
fn unreadable_package_zone_still_fails_powercap() {
    let t = intel_client_with_dram();
    let roots = t.roots().with_fs(Arc::new(DenyFs {
        denied: vec!["intel-rapl:0/energy_uj".into()],
        inner: Arc::new(RealFs),
    }));
    let u = unavailable(open(&EnergyChoice::Powercap, &roots));
    assert_eq!(u.tried[0].problem, Problem::PermissionDenied);
    assert!(u.reason.contains("intel-rapl:0/energy_uj"), "{}", u.reason);
}

// Defect 4 — drivers/powercap/intel_rapl_msr.c (`rapl_msr_priv_amd`: PP0 is
// MSR_AMD_CORE_ENERGY_STATUS, read on the package's lead CPU by `rapl_msr_read_raw`): on AMD
// the `core` zone is one core. Before the fix it was reported as `core`.
#[test]
fn amd_powercap_core_zone_is_one_core_and_not_reported_as_core() {
    let t = Tree::new();
    t.cpuinfo("AuthenticAMD", 25, 1, "AMD EPYC 7543 32-Core Processor");
    t.control_type("intel-rapl");
    t.zone("intel-rapl:0", "package-0", 1_000, AMD_MAX_UJ);
    t.zone("intel-rapl:0:0", "core", 500, AMD_MAX_UJ);
    let m = meter(open(&EnergyChoice::Powercap, &t.roots()));
    assert_eq!(m.domains(), vec![Domain::Package]);
    let core = m.found().iter().find(|f| f.name == "core").unwrap();
    assert_eq!(core.role, Role::Skipped);
    assert!(core.why.contains("one core"), "{}", core.why);
    assert!(m
        .caveats()
        .iter()
        .any(|c| c.contains("AMD does not document")));
}

// Defect 5 — drivers/powercap/intel_rapl_common.c (`rapl_msrs_are_pkg_scope`,
// `rapl_find_package_domain_cpuslocked`, and the `package-%d-die-%d` names of
// `rapl_add_package_cpuslocked`): a 2-socket, 8-CCD-per-socket Zen 4 on a kernel without
// "powercap/intel_rapl: Fix the energy-pkg event for AMD CPUs" registers one package zone per
// CCD, all mirrors of the socket's counter, read 1.12 J apart at 350 W. Before the fix all 16
// were summed: 8 × the energy.
#[test]
fn zen4_two_sockets_per_ccd_mirrors_count_once_per_socket() {
    let t = Tree::new();
    t.cpuinfo("AuthenticAMD", 25, 17, "AMD EPYC 9354 32-Core Processor");
    t.control_type("intel-rapl");
    let mut k = 0;
    for s in 0..2u64 {
        for die in 0..8u64 {
            let z = s * 8 + die;
            let base = 5_000_000_000 + s * 1_000_000_000 + k * 1_120_000;
            t.zone(
                &format!("intel-rapl:{z}"),
                &format!("package-{s}-die-{die}"),
                base,
                AMD_MAX_UJ,
            );
            t.zone(
                &format!("intel-rapl:{z}:0"),
                "core",
                100_000 + z,
                AMD_MAX_UJ,
            );
            k += 1;
        }
    }
    let m = meter(open(&EnergyChoice::Powercap, &t.roots()));
    let pk: Vec<_> = m
        .counters()
        .iter()
        .filter(|c| c.domain == Domain::Package)
        .map(|c| (c.socket, c.location.clone()))
        .collect();
    assert_eq!(pk.len(), 2, "{pk:?}");
    assert!(pk[0].1.contains("intel-rapl:0/") && pk[1].1.contains("intel-rapl:8/"));
    let mirrors = m
        .found()
        .iter()
        .filter(|f| f.why.starts_with("a mirror of"))
        .count();
    assert_eq!(mirrors, 14);

    let span = m.start().unwrap();
    k = 0;
    for s in 0..2u64 {
        for die in 0..8u64 {
            let z = s * 8 + die;
            let base = 5_000_000_000 + s * 1_000_000_000 + k * 1_120_000;
            // 350 J on socket 0, 300 J on socket 1, seen by every mirror.
            t.set_energy(
                &format!("intel-rapl:{z}"),
                base + (350 - 50 * s) * 1_000_000,
            );
            k += 1;
        }
    }
    let r = span.stop().unwrap();
    assert!(close(r.joules.package.unwrap(), 650.0), "{:?}", r.joules);
    assert_eq!(r.package_joules_per_socket, vec![350.0, 300.0]);
}

// Defect 5, the other side: Intel's per-die zones are distinct counters (Cascade Lake-AP),
// summed even when their totals happen to be close. Before the fix two dies reading within
// 1 J were merged into one.
#[test]
fn clx_ap_powercap_dies_are_distinct_counters() {
    let t = Tree::new();
    t.cpuinfo(
        "GenuineIntel",
        6,
        0x55,
        "Intel(R) Xeon(R) Platinum 9282 CPU @ 2.60GHz",
    );
    t.zone(
        "intel-rapl:0",
        "package-0-die-0",
        7_000_000_000,
        INTEL_MAX_UJ,
    );
    t.zone(
        "intel-rapl:1",
        "package-0-die-1",
        7_000_500_000,
        INTEL_MAX_UJ,
    );
    let m = meter(open(&EnergyChoice::Powercap, &t.roots()));
    assert_eq!(m.counters().len(), 2);
    let span = m.start().unwrap();
    t.set_energy("intel-rapl:0", 7_100_000_000);
    t.set_energy("intel-rapl:1", 7_120_500_000);
    let r = span.stop().unwrap();
    assert!(close(r.joules.package.unwrap(), 220.0), "{:?}", r.joules);
}

// Defect 8a — drivers/powercap/intel_rapl_common.c (`rapl_msrs_are_pkg_scope`: Intel package
// counters are per die) with intel_rapl_msr.c reading MSR_PKG_ENERGY_STATUS on each die's lead
// CPU: Cascade Lake-AP, one package of two dies. Before the fix one die was read: half.
#[test]
fn clx_ap_msr_reads_every_die() {
    let t = Tree::new();
    t.cpuinfo(
        "GenuineIntel",
        6,
        0x55,
        "Intel(R) Xeon(R) Platinum 9282 CPU @ 2.60GHz",
    );
    t.cpus(&[(0, 0, 0), (1, 0, 1), (2, 0, 2), (3, 0, 3)]);
    for cpu in 0..4u32 {
        t.die(cpu, cpu / 2);
        let die = u64::from(cpu / 2);
        t.msr(
            cpu,
            &[
                (msr::INTEL_UNIT, INTEL_UNIT_ESU14),
                (msr::INTEL_PKG, 1000 + die * 7),
                (msr::INTEL_DRAM, 500 + die),
            ],
        );
    }
    let m = meter(open(&EnergyChoice::Msr, &t.msr_roots()));
    let pk: Vec<_> = m
        .counters()
        .iter()
        .filter(|c| c.domain == Domain::Package)
        .map(|c| c.location.clone())
        .collect();
    assert_eq!(pk.len(), 2, "{pk:?}");
    assert!(pk[0].contains("cpu/0/msr") && pk[1].contains("cpu/2/msr"));
    let span = m.start().unwrap();
    for cpu in 0..4u32 {
        let die = u64::from(cpu / 2);
        t.msr(
            cpu,
            &[
                (msr::INTEL_PKG, 1000 + die * 7 + 16_384 * (1 + die)),
                (msr::INTEL_DRAM, 500 + die + 10_000),
            ],
        );
    }
    let r = span.stop().unwrap();
    assert!(close(r.joules.package.unwrap(), 3.0), "{:?}", r.joules);
    assert!(
        close(r.joules.dram.unwrap(), 2.0 * 10_000.0 * 15.3e-6),
        "{:?}",
        r.joules
    );
}

// Defect 8b — drivers/powercap/intel_rapl_common.c (`rapl_check_unit_atom`, used by
// `rapl_defaults_byt`/`_cht`/`_tng`/`_ann`): on Silvermont/Airmont the energy unit is 2^ESU µJ.
// A Bay Trail (model 0x37) unit register of 0x505 (ESU 5): 32 µJ per count. Before the fix
// 2^-5 J = 31.25 mJ per count: about 1000 × the energy.
#[test]
fn atom_silvermont_unit_is_two_to_the_esu_microjoules() {
    let t = Tree::new();
    t.cpuinfo(
        "GenuineIntel",
        6,
        0x37,
        "Intel(R) Atom(TM) CPU  Z3740  @ 1.33GHz",
    );
    t.cpus(&[(0, 0, 0)]);
    t.msr(0, &[(msr::INTEL_UNIT, 0x505), (msr::INTEL_PKG, 5000)]);
    let m = meter(open(&EnergyChoice::Msr, &t.msr_roots()));
    assert!(close(m.counters()[0].joules_per_unit, 32e-6));
    let span = m.start().unwrap();
    t.msr(0, &[(msr::INTEL_PKG, 6000)]);
    let r = span.stop().unwrap();
    assert!(
        close(r.joules.package.unwrap(), 1000.0 * 32e-6),
        "{:?}",
        r.joules
    );
}

// Defect 9 — a VM that passes the host's RAPL through (the `hypervisor` flag with counters
// readable) is flagged: the figures are the host socket's.
#[test]
fn vm_with_passed_through_rapl_is_flagged() {
    let t = Tree::new();
    t.write(
        "proc/cpuinfo",
        "processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 143\n\
         model name\t: Intel(R) Xeon(R) Platinum 8480+\nflags\t\t: fpu hypervisor\n\n",
    );
    t.zone("intel-rapl:0", "package-0", 1_000, INTEL_MAX_UJ);
    let m = meter(open(&EnergyChoice::Auto, &t.roots()));
    assert!(
        m.caveats().iter().any(|c| c.contains("host socket")),
        "{:?}",
        m.caveats()
    );
    let p = EnergyStatus::Available(m).provenance();
    assert!(p.caveats.iter().any(|c| c.contains("host socket")));
}
