//! Tests of the energy sources on fake trees (powercap zones, perf PMU descriptions, MSR device
//! files written sparsely at their register offsets) and of the meter's wrap handling with fake
//! counters. Nothing here sleeps for more than a few milliseconds or needs real counters.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::meter::{
    measurement, sample_period, wrap_delta, Accum, Counter, Measurement, MAX_PLAUSIBLE_WATTS,
};
use super::*;

// ---------------------------------------------------------------------------------------------
// Fake trees

mod idle;
mod layouts;
mod selfcheck;

/// A temporary root holding a fake `/sys`, `/proc` and `/dev`.
struct Tree {
    dir: tempfile::TempDir,
}

impl Tree {
    fn new() -> Tree {
        Tree {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn roots(&self) -> Roots {
        Roots::under(self.dir.path())
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn write(&self, rel: &str, text: &str) {
        let p = self.path(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    }

    fn powercap(&self) -> PathBuf {
        self.path("sys/class/powercap")
    }

    /// A powercap control-type directory (no `energy_uj`), as the kernel makes.
    fn control_type(&self, id: &str) {
        self.write(&format!("sys/class/powercap/{id}/enabled"), "1\n");
    }

    /// A RAPL zone.
    fn zone(&self, id: &str, name: &str, energy_uj: u64, max_uj: u64) {
        let d = format!("sys/class/powercap/{id}");
        self.write(&format!("{d}/name"), &format!("{name}\n"));
        self.write(&format!("{d}/energy_uj"), &format!("{energy_uj}\n"));
        self.write(&format!("{d}/max_energy_range_uj"), &format!("{max_uj}\n"));
    }

    fn set_energy(&self, id: &str, energy_uj: u64) {
        self.write(
            &format!("sys/class/powercap/{id}/energy_uj"),
            &format!("{energy_uj}\n"),
        );
    }

    fn energy_path(&self, id: &str) -> String {
        self.powercap()
            .join(id)
            .join("energy_uj")
            .display()
            .to_string()
    }

    fn cpuinfo(&self, vendor: &str, family: u32, model: u32, name: &str) {
        self.write(
            "proc/cpuinfo",
            &format!(
                "processor\t: 0\nvendor_id\t: {vendor}\ncpu family\t: {family}\nmodel\t\t: \
                 {model}\nmodel name\t: {name}\n\n"
            ),
        );
    }

    /// CPUs with their (package, core) and an `online` list.
    fn cpus(&self, places: &[(u32, u32, u32)]) {
        let list: Vec<String> = places.iter().map(|p| p.0.to_string()).collect();
        self.write("sys/devices/system/cpu/online", &list.join(","));
        for &(cpu, pkg, core) in places {
            let t = format!("sys/devices/system/cpu/cpu{cpu}/topology");
            self.write(&format!("{t}/physical_package_id"), &format!("{pkg}\n"));
            self.write(&format!("{t}/core_id"), &format!("{core}\n"));
        }
    }

    /// Sets MSR values of `/dev/cpu/N/msr`. The fake device is a text file of `address value`
    /// lines read through [`MsrFs`] (adjacent MSRs such as AMD's 0xC0010299 and 0xC001029A
    /// are one byte apart as file offsets, so a sparse file cannot hold them).
    fn msr(&self, cpu: u32, regs: &[(u64, u64)]) {
        let rel = format!("dev/cpu/{cpu}/msr");
        let mut map: Vec<(u64, u64)> = fs::read_to_string(self.path(&rel))
            .map(|s| MsrFs::parse(&s))
            .unwrap_or_default();
        for &(addr, v) in regs {
            match map.iter_mut().find(|e| e.0 == addr) {
                Some(e) => e.1 = v,
                None => map.push((addr, v)),
            }
        }
        let text: String = map
            .iter()
            .map(|(a, v)| format!("{a:#x} {v:#x}\n"))
            .collect();
        self.write(&rel, &text);
    }

    /// Roots whose MSR reads go through [`MsrFs`].
    fn msr_roots(&self) -> Roots {
        self.roots().with_fs(Arc::new(MsrFs))
    }
}

/// Reads fake MSR devices: `read_u64_at(path, addr)` looks `addr` up in the text file at
/// `path`; an address not listed fails with EIO, as the real device does for a register the
/// CPU lacks. Everything else is the real file system.
#[derive(Debug)]
struct MsrFs;

impl MsrFs {
    fn parse(s: &str) -> Vec<(u64, u64)> {
        let hex = |t: &str| u64::from_str_radix(t.trim_start_matches("0x"), 16).unwrap();
        s.lines()
            .filter_map(|l| l.split_once(' '))
            .map(|(a, v)| (hex(a), hex(v)))
            .collect()
    }
}

impl Fs for MsrFs {
    fn read_to_string(&self, path: &Path) -> io::Result<String> {
        RealFs.read_to_string(path)
    }

    fn read_u64_at(&self, path: &Path, offset: u64) -> io::Result<u64> {
        let regs = MsrFs::parse(&fs::read_to_string(path)?);
        regs.iter()
            .find(|r| r.0 == offset)
            .map(|r| r.1)
            .ok_or_else(|| io::Error::from_raw_os_error(5))
    }

    fn list_dir(&self, path: &Path) -> io::Result<Vec<PathBuf>> {
        RealFs.list_dir(path)
    }

    fn exists(&self, path: &Path) -> bool {
        RealFs.exists(path)
    }
}

/// Answers `PermissionDenied` for every path ending in one of `denied`, like a root-only file
/// read by a normal user (which `chmod 000` cannot show when the tests run as root).
#[derive(Debug)]
struct DenyFs {
    denied: Vec<String>,
    inner: Arc<dyn Fs>,
}

impl DenyFs {
    fn check(&self, path: &Path) -> io::Result<()> {
        let s = path.display().to_string();
        if self.denied.iter().any(|d| s.ends_with(d.as_str())) {
            Err(io::Error::from(io::ErrorKind::PermissionDenied))
        } else {
            Ok(())
        }
    }
}

impl Fs for DenyFs {
    fn read_to_string(&self, path: &Path) -> io::Result<String> {
        self.check(path)?;
        self.inner.read_to_string(path)
    }

    fn read_u64_at(&self, path: &Path, offset: u64) -> io::Result<u64> {
        self.check(path)?;
        self.inner.read_u64_at(path, offset)
    }

    fn list_dir(&self, path: &Path) -> io::Result<Vec<PathBuf>> {
        RealFs.list_dir(path)
    }

    fn exists(&self, path: &Path) -> bool {
        RealFs.exists(path)
    }
}

/// Opens fake perf counters: event `E` on CPU `N` reads the number in `fakeperf/E/cpuN` under
/// the tree (on a real machine each is the kernel's 64-bit total of the counter that CPU's
/// unit reads). A missing file is EINVAL (the kernel's answer for an event it does not have);
/// a file `fakeperf/DENY` makes every open EACCES, as with `perf_event_paranoid` 2.
#[derive(Debug)]
struct FakePerf {
    root: PathBuf,
}

#[derive(Debug)]
struct FakePerfCounter(PathBuf);

impl perf_pmu::PerfCounter for FakePerfCounter {
    fn read(&mut self) -> io::Result<u64> {
        fs::read_to_string(&self.0)?
            .trim()
            .parse()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{e}")))
    }
}

impl PerfOpen for FakePerf {
    fn open(
        &self,
        _pmu_dir: &Path,
        event: &str,
        cpu: u32,
    ) -> io::Result<Box<dyn perf_pmu::PerfCounter>> {
        if self.root.join("fakeperf/DENY").exists() {
            return Err(io::Error::from_raw_os_error(13));
        }
        let p = self.root.join(format!("fakeperf/{event}/cpu{cpu}"));
        if !p.exists() {
            return Err(io::Error::from_raw_os_error(22));
        }
        Ok(Box::new(FakePerfCounter(p)))
    }
}

impl Tree {
    /// Sets fake perf counter `event` on `cpu` (in counts of the event's scale).
    fn perf_count(&self, event: &str, cpu: u32, count: u64) {
        self.write(&format!("fakeperf/{event}/cpu{cpu}"), &format!("{count}\n"));
    }

    /// Roots whose perf counters are [`FakePerf`] and whose MSRs go through [`MsrFs`].
    fn fake_roots(&self) -> Roots {
        self.roots()
            .with_fs(Arc::new(MsrFs))
            .with_perf(Arc::new(FakePerf {
                root: self.dir.path().to_path_buf(),
            }))
    }

    /// A `power` PMU description with `events` and `cpumask`, as `arch/x86/events/rapl.c`
    /// registers it.
    fn power_pmu(&self, cpumask: &str, events: &[&str]) {
        let d = "sys/bus/event_source/devices/power";
        self.write(&format!("{d}/type"), "14\n");
        self.write(&format!("{d}/format/event"), "config:0-7\n");
        self.write(&format!("{d}/cpumask"), &format!("{cpumask}\n"));
        for ev in events {
            let config = match *ev {
                "energy-cores" => 1,
                "energy-pkg" => 2,
                "energy-ram" => 3,
                "energy-gpu" => 4,
                _ => 5,
            };
            self.write(
                &format!("{d}/events/{ev}"),
                &format!("event=0x{config:02x}\n"),
            );
            self.write(
                &format!("{d}/events/{ev}.scale"),
                "2.3283064365386962890625e-10\n",
            );
            self.write(&format!("{d}/events/{ev}.unit"), "Joules\n");
        }
    }

    /// Sets a CPU's `die_id`.
    fn die(&self, cpu: u32, die: u32) {
        self.write(
            &format!("sys/devices/system/cpu/cpu{cpu}/topology/die_id"),
            &format!("{die}\n"),
        );
    }
}

/// Perf counts per joule (the `.scale` is 2^-32 J).
const PERF_PER_J: u64 = 1 << 32;

fn meter(status: EnergyStatus) -> Meter {
    match status {
        EnergyStatus::Available(m) => m,
        EnergyStatus::Unavailable(u) => panic!("unavailable: {} (fix: {:?})", u.reason, u.fix),
        EnergyStatus::Estimated(_) => panic!("estimated"),
    }
}

fn unavailable(status: EnergyStatus) -> Unavailable {
    match status {
        EnergyStatus::Unavailable(u) => u,
        EnergyStatus::Available(m) => panic!("available: {:?}", m.counters()),
        EnergyStatus::Estimated(_) => panic!("estimated"),
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

const INTEL_MAX_UJ: u64 = 262_143_328_850;
const AMD_MAX_UJ: u64 = 65_532_610_987;
const DRAM_MAX_UJ: u64 = 65_712_999_613;

// ---------------------------------------------------------------------------------------------
// powercap

fn intel_client() -> Tree {
    let t = Tree::new();
    t.control_type("intel-rapl");
    t.control_type("intel-rapl-mmio");
    t.zone("intel-rapl:0", "package-0", 1_000_000_000, INTEL_MAX_UJ);
    t.zone("intel-rapl:0:0", "core", 500_000_000, INTEL_MAX_UJ);
    t.zone("intel-rapl:0:1", "uncore", 7_000_000, INTEL_MAX_UJ);
    t.zone("intel-rapl:1", "psys", 3_000_000_000, INTEL_MAX_UJ);
    // The MMIO interface to the same package counter.
    t.zone(
        "intel-rapl-mmio:0",
        "package-0",
        1_000_000_000,
        INTEL_MAX_UJ,
    );
    t
}

#[test]
fn intel_client_with_psys_skips_the_mmio_duplicate() {
    let t = intel_client();
    let m = meter(open(&EnergyChoice::Auto, &t.roots()));
    assert_eq!(m.kind(), SourceKind::Powercap);
    assert_eq!(
        m.domains(),
        vec![Domain::Package, Domain::Core, Domain::Uncore, Domain::Psys]
    );
    assert_eq!(m.counters().len(), 4);
    assert!(m.counters().iter().all(|c| !c.location.contains("mmio")));
    assert_eq!(m.period(), Some(meter::MAX_SAMPLE_PERIOD));

    let span = m.start().unwrap();
    t.set_energy("intel-rapl:0", 1_010_000_000); // +10 J
    t.set_energy("intel-rapl:0:0", 506_000_000); // +6 J
    t.set_energy("intel-rapl:0:1", 7_500_000); // +0.5 J
    t.set_energy("intel-rapl:1", 3_015_000_000); // +15 J
    let r = span.stop().unwrap();
    assert_eq!(r.method, Method::Measured);
    assert!(close(r.joules.package.unwrap(), 10.0));
    assert!(close(r.joules.core.unwrap(), 6.0));
    assert!(close(r.joules.uncore.unwrap(), 0.5));
    assert!(close(r.joules.psys.unwrap(), 15.0));
    assert_eq!(r.joules.dram, None);
    // Σpackage only: core and uncore are inside it, psys contains it.
    assert!(close(r.cpu_total_joules.unwrap(), 10.0));
    assert!(!r.dram_measured);
    assert!(
        r.notes.iter().any(|n| n.contains("DRAM not measured")),
        "{:?}",
        r.notes
    );
    assert_eq!(r.wraps_seen, 0);
}

#[test]
fn mmio_zone_alone_is_used() {
    let t = Tree::new();
    t.zone("intel-rapl-mmio:0", "package-0", 5, INTEL_MAX_UJ);
    let m = meter(open(&EnergyChoice::Powercap, &t.roots()));
    assert_eq!(m.counters().len(), 1);
    assert!(m.counters()[0].location.contains("intel-rapl-mmio:0"));
}

#[test]
fn two_socket_server_sums_packages_and_dram() {
    let t = Tree::new();
    t.control_type("intel-rapl");
    t.zone("intel-rapl:0", "package-0", 100_000_000, INTEL_MAX_UJ);
    t.zone("intel-rapl:0:0", "dram", 200_000_000, DRAM_MAX_UJ);
    t.zone("intel-rapl:1", "package-1", 300_000_000, INTEL_MAX_UJ);
    t.zone("intel-rapl:1:0", "dram", 400_000_000, DRAM_MAX_UJ);
    let m = meter(open(&EnergyChoice::Auto, &t.roots()));
    assert_eq!(m.domains(), vec![Domain::Package, Domain::Dram]);
    let sockets: Vec<_> = m.counters().iter().map(|c| (c.domain, c.socket)).collect();
    assert_eq!(
        sockets,
        vec![
            (Domain::Package, 0),
            (Domain::Package, 1),
            (Domain::Dram, 0),
            (Domain::Dram, 1)
        ]
    );
    let span = m.start().unwrap();
    t.set_energy("intel-rapl:0", 150_000_000); // +50 J
    t.set_energy("intel-rapl:1", 370_000_000); // +70 J
    t.set_energy("intel-rapl:0:0", 205_000_000); // +5 J
    t.set_energy("intel-rapl:1:0", 407_000_000); // +7 J
    let r = span.stop().unwrap();
    assert!(close(r.joules.package.unwrap(), 120.0));
    assert_eq!(r.package_joules_per_socket.len(), 2);
    assert!(close(r.package_joules_per_socket[0], 50.0));
    assert!(close(r.package_joules_per_socket[1], 70.0));
    assert!(close(r.joules.dram.unwrap(), 12.0));
    assert!(close(r.cpu_total_joules.unwrap(), 132.0));
    assert!(r.dram_measured);
    assert!(!r.notes.iter().any(|n| n.contains("DRAM not measured")));
}

#[test]
fn package_and_core_zones() {
    let t = Tree::new();
    t.cpuinfo(
        "GenuineIntel",
        6,
        0x97,
        "12th Gen Intel(R) Core(TM) i9-12900K",
    );
    t.control_type("intel-rapl");
    t.zone("intel-rapl:0", "package-0", 1_000, AMD_MAX_UJ);
    t.zone("intel-rapl:0:0", "core", 500, AMD_MAX_UJ);
    let m = meter(open(&EnergyChoice::Auto, &t.roots()));
    assert_eq!(m.domains(), vec![Domain::Package, Domain::Core]);
    let span = m.start().unwrap();
    t.set_energy("intel-rapl:0", 2_001_000);
    t.set_energy("intel-rapl:0:0", 1_500_500);
    let r = span.stop().unwrap();
    assert!(close(r.joules.package.unwrap(), 2.0));
    assert!(close(r.joules.core.unwrap(), 1.5));
    assert!(
        close(r.cpu_total_joules.unwrap(), 2.0),
        "core is never added"
    );
}

#[test]
fn mirrored_die_zones_count_once_and_distinct_dies_sum() {
    let t = Tree::new();
    t.cpuinfo("AuthenticAMD", 25, 17, "AMD EPYC 9354 32-Core Processor");
    t.zone("intel-rapl:0", "package-0-die-0", 7_000_000_000, AMD_MAX_UJ);
    t.zone("intel-rapl:0:0", "core", 100, AMD_MAX_UJ);
    t.zone("intel-rapl:1", "package-0-die-1", 7_000_000_100, AMD_MAX_UJ);
    t.zone("intel-rapl:1:0", "core", 100, AMD_MAX_UJ);
    let m = meter(open(&EnergyChoice::Powercap, &t.roots()));
    // One package counter; AMD core zones are one core each and not reported as `core`.
    assert_eq!(m.counters().len(), 1, "{:?}", m.counters());
    assert!(m
        .counters()
        .iter()
        .all(|c| c.location.contains("intel-rapl:0")));

    let t = Tree::new();
    t.cpuinfo("GenuineIntel", 6, 0x55, "Intel(R) Xeon(R) Platinum 9282");
    t.zone(
        "intel-rapl:0",
        "package-0-die-0",
        7_000_000_000,
        INTEL_MAX_UJ,
    );
    t.zone(
        "intel-rapl:1",
        "package-0-die-1",
        9_000_000_000,
        INTEL_MAX_UJ,
    );
    let m = meter(open(&EnergyChoice::Powercap, &t.roots()));
    assert_eq!(m.counters().len(), 2);
    assert!(m.counters().iter().all(|c| c.socket == 0));
}

#[test]
fn powercap_counter_wrapping_once_between_reads() {
    let t = Tree::new();
    t.zone(
        "intel-rapl:0",
        "package-0",
        AMD_MAX_UJ - 1_000_000,
        AMD_MAX_UJ,
    );
    let m = meter(open(&EnergyChoice::Powercap, &t.roots()));
    let span = m.start().unwrap();
    t.set_energy("intel-rapl:0", 2_000_000); // 1 J to the wrap, then 2 J
    let r = span.stop().unwrap();
    assert!(close(r.joules.package.unwrap(), 3.0), "{:?}", r.joules);
    assert_eq!(r.wraps_seen, 1);
}

#[test]
fn domains_wrap_independently() {
    // Only DRAM wraps; the package's range must not be applied to it, nor the reverse.
    let t = Tree::new();
    t.zone("intel-rapl:0", "package-0", 1_000_000, INTEL_MAX_UJ);
    t.zone("intel-rapl:0:0", "dram", DRAM_MAX_UJ - 500_000, DRAM_MAX_UJ);
    let m = meter(open(&EnergyChoice::Powercap, &t.roots()));
    let span = m.start().unwrap();
    t.set_energy("intel-rapl:0", 41_000_000); // +40 J, no wrap
    t.set_energy("intel-rapl:0:0", 1_500_000); // 0.5 J to the wrap + 1.5 J
    m.sample_now().unwrap();
    t.set_energy("intel-rapl:0:0", 2_500_000); // +1 J
    t.set_energy("intel-rapl:0", 20_000); // package wraps now: 262143.32885 - 41 + 0.02 J
    let r = span.stop().unwrap();
    assert_eq!(r.wraps_seen, 2);
    assert!(close(r.joules.dram.unwrap(), 3.0), "{:?}", r.joules);
    let pkg = 40.0 + (INTEL_MAX_UJ - 41_000_000 + 20_000) as f64 * 1e-6;
    assert!(close(r.joules.package.unwrap(), pkg), "{:?}", r.joules);
}

#[test]
fn a_counter_that_does_not_move_is_not_a_zero_measurement() {
    let t = Tree::new();
    t.zone("intel-rapl:0", "package-0", 1_000_000, INTEL_MAX_UJ);
    t.zone("intel-rapl:1", "psys", 0, INTEL_MAX_UJ);
    let m = meter(open(&EnergyChoice::Powercap, &t.roots()));
    let span = m.start().unwrap();
    t.set_energy("intel-rapl:0", 2_000_000);
    let r = span.stop().unwrap();
    assert_eq!(r.joules.psys, None);
    assert_eq!(r.domains, vec![Domain::Package]);
    assert!(r.notes.iter().any(|n| n.starts_with("psys not measured")));
    let json = serde_json::to_value(&r).unwrap();
    assert!(json["joules"]["psys"].is_null());
    assert!(json["joules"]["dram"].is_null());
}

#[test]
fn powercap_permission_denied_names_the_file_and_the_fix() {
    let t = intel_client();
    let roots = t.roots().with_fs(Arc::new(DenyFs {
        denied: vec!["energy_uj".into()],
        inner: Arc::new(RealFs),
    }));
    let u = unavailable(open(&EnergyChoice::Powercap, &roots));
    assert_eq!(u.tried.len(), 1);
    assert_eq!(u.tried[0].problem, Problem::PermissionDenied);
    assert!(
        u.reason.contains(&t.energy_path("intel-rapl:0")),
        "{}",
        u.reason
    );
    let fix = u.fix.unwrap();
    assert!(fix.contains("scripts/rapl-permissions.sh"), "{fix}");
    assert!(fix.contains("5.10"), "{fix}");

    // Auto goes on to the other sources and still puts the likely fix first.
    let u = unavailable(open(&EnergyChoice::Auto, &roots));
    assert_eq!(u.tried.len(), 3);
    assert!(u
        .fix
        .unwrap()
        .starts_with("energy_uj is readable by root only"));
}

#[test]
#[cfg(target_os = "linux")]
fn mode_000_file_is_denied_for_non_root() {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        return; // root reads mode-000 files; the injected DenyFs test covers this path
    }
    use std::os::unix::fs::PermissionsExt;
    let t = intel_client();
    let p = t.powercap().join("intel-rapl:0/energy_uj");
    fs::set_permissions(&p, fs::Permissions::from_mode(0o000)).unwrap();
    let u = unavailable(open(&EnergyChoice::Powercap, &t.roots()));
    assert_eq!(u.tried[0].problem, Problem::PermissionDenied);
}

#[test]
fn missing_max_energy_range_is_refused() {
    let t = Tree::new();
    t.zone("intel-rapl:0", "package-0", 1, INTEL_MAX_UJ);
    fs::remove_file(t.powercap().join("intel-rapl:0/max_energy_range_uj")).unwrap();
    let u = unavailable(open(&EnergyChoice::Powercap, &t.roots()));
    assert!(u.reason.contains("max_energy_range_uj"), "{}", u.reason);
}

// ---------------------------------------------------------------------------------------------
// Empty VM, the real system, none

#[test]
fn empty_vm_is_unavailable_with_every_reason() {
    let t = Tree::new();
    t.cpuinfo("AuthenticAMD", 25, 1, "AMD EPYC");
    let mut info = fs::read_to_string(t.path("proc/cpuinfo")).unwrap();
    info.insert_str(info.len() - 1, "flags\t\t: fpu avx2 hypervisor\n");
    t.write("proc/cpuinfo", &info);
    t.cpus(&[(0, 0, 0), (1, 0, 1)]);
    fs::create_dir_all(t.path("dev/cpu/0")).unwrap(); // cpuid only, no msr
    let u = unavailable(open(&EnergyChoice::Auto, &t.roots()));
    assert_eq!(u.requested, "auto");
    let sources: Vec<_> = u.tried.iter().map(|a| a.source.as_str()).collect();
    assert_eq!(sources, ["powercap", "perf", "msr"]);
    assert!(
        u.tried.iter().all(|a| a.problem == Problem::Absent),
        "{:?}",
        u.tried
    );
    assert!(
        u.reason.contains("sys/class/powercap does not exist"),
        "{}",
        u.reason
    );
    assert!(u.reason.contains("no `power` PMU"), "{}", u.reason);
    assert!(
        u.reason.contains("dev/cpu/0/msr does not exist"),
        "{}",
        u.reason
    );
    let fix = u.fix.clone().unwrap();
    assert!(fix.contains("modprobe intel_rapl_msr"), "{fix}");
    assert!(fix.contains("modprobe msr"), "{fix}");
    assert!(fix.contains("--energy estimate"), "{fix}");
    // It goes into results as provenance.
    let p = EnergyStatus::Unavailable(u).provenance();
    assert_eq!(p.energy_source, "none");
    assert_eq!(p.method, None);
    let json = serde_json::to_string(&p).unwrap();
    assert!(json.contains("\"problem\":\"absent\""), "{json}");
}

#[test]
fn this_system_gives_a_meter_or_clear_reasons() {
    match open(&EnergyChoice::Auto, &Roots::system()) {
        EnergyStatus::Available(m) => assert!(!m.counters().is_empty()),
        EnergyStatus::Unavailable(u) => {
            assert_eq!(u.tried.len(), 3, "{u:?}");
            assert!(u.reason.contains("powercap:") && u.reason.contains("msr:"));
            assert!(u.fix.is_some(), "{u:?}");
        }
        EnergyStatus::Estimated(_) => panic!("auto never estimates"),
    }
}

#[test]
fn none_is_off_and_choices_parse() {
    let u = unavailable(open(&EnergyChoice::None, &Roots::system()));
    assert_eq!(u.tried[0].problem, Problem::Off);
    assert_eq!(u.fix, None);
    for s in ["auto", "powercap", "perf", "msr", "none", "estimate"] {
        assert_eq!(s.parse::<EnergyChoice>().unwrap().name(), s);
    }
    assert!("rapl".parse::<EnergyChoice>().is_err());
}

// ---------------------------------------------------------------------------------------------
// perf

fn perf_tree(t: &Tree) {
    let d = "sys/bus/event_source/devices/power";
    // A PMU type no kernel has, so opening fails the same way everywhere.
    t.write(&format!("{d}/type"), "4000000000\n");
    t.write(&format!("{d}/format/event"), "config:0-7\n");
    t.write(&format!("{d}/cpumask"), "0,18\n");
    let scale = "2.3283064365386962890625e-10\n";
    for ev in ["energy-pkg", "energy-ram", "energy-psys"] {
        t.write(&format!("{d}/events/{ev}"), "event=0x02\n");
        t.write(&format!("{d}/events/{ev}.scale"), scale);
        t.write(&format!("{d}/events/{ev}.unit"), "Joules\n");
    }
    t.write(&format!("{d}/events/energy-ram"), "event=0x03\n");
    // An event of another unit, and one without a scale: both skipped.
    t.write(&format!("{d}/events/energy-cores"), "event=0x01\n");
    t.write(&format!("{d}/events/energy-gpu"), "event=0x04\n");
    t.write(&format!("{d}/events/energy-gpu.unit"), "Watts\n");
    t.write(&format!("{d}/events/energy-gpu.scale"), scale);
}

#[test]
fn perf_description_parses_from_sysfs() {
    let t = Tree::new();
    perf_tree(&t);
    let roots = t.roots();
    let d = perf_pmu::describe(&*roots.fs, &roots.perf_power).unwrap();
    assert_eq!(d.cpumask, vec![0, 18]);
    let ev: Vec<_> = d
        .events
        .iter()
        .map(|e| (e.domain, e.name.as_str()))
        .collect();
    assert_eq!(
        ev,
        vec![
            (Domain::Package, "energy-pkg"),
            (Domain::Dram, "energy-ram"),
            (Domain::Psys, "energy-psys")
        ]
    );
    assert_eq!(d.events[0].joules_per_unit, 0.5f64.powi(32));
    // Two sockets: one CPU each, psys once.
    t.cpus(&[(0, 0, 0), (18, 1, 0)]);
    let (plan, skipped) = perf_pmu::plan(&roots, &d);
    let got: Vec<_> = plan.iter().map(|p| (p.event, p.cpu, p.socket)).collect();
    assert_eq!(
        got,
        vec![(0, 0, 0), (0, 18, 1), (1, 0, 0), (1, 18, 1), (2, 0, 0)]
    );
    assert!(skipped.iter().any(|f| f.why.contains("platform-wide")));
}

#[test]
fn perf_open_failure_is_reported_not_fatal() {
    // The real opener (perf-event2) on a fake tree: the PMU type is bogus, so it fails.
    let t = Tree::new();
    perf_tree(&t);
    t.write("proc/sys/kernel/perf_event_paranoid", "2\n");
    let u = unavailable(open(&EnergyChoice::Perf, &t.roots()));
    assert_eq!(u.tried.len(), 1);
    assert!(
        u.reason
            .contains("perf_event_open(power/energy-pkg/, cpu 0)"),
        "{}",
        u.reason
    );
    if u.tried[0].problem == Problem::PermissionDenied {
        assert!(u.fix.unwrap().contains("(it is 2)"));
    }
}

// ---------------------------------------------------------------------------------------------
// MSR

const AMD_UNIT_ESU16: u64 = 0x000A_1003; // ESU = 16
const INTEL_UNIT_ESU14: u64 = 0x000A_0E03; // ESU = 14

#[test]
fn amd_msr_package_and_per_core() {
    let t = Tree::new();
    t.cpuinfo("AuthenticAMD", 25, 1, "AMD EPYC 7543 32-Core Processor");
    // Two cores, each with an SMT sibling: cpus 0,2 on core 0 and 1,3 on core 1.
    t.cpus(&[(0, 0, 0), (1, 0, 1), (2, 0, 0), (3, 0, 1)]);
    let hi = 0xABCD_0000_0000_0000u64; // reserved upper bits: masked off
    t.msr(
        0,
        &[
            (msr::AMD_UNIT, AMD_UNIT_ESU16),
            (msr::AMD_PKG, hi | 1_000_000),
            (msr::AMD_CORE, 100_000),
        ],
    );
    t.msr(
        1,
        &[(msr::AMD_UNIT, AMD_UNIT_ESU16), (msr::AMD_CORE, 200_000)],
    );
    t.msr(2, &[(msr::AMD_UNIT, AMD_UNIT_ESU16)]);
    t.msr(3, &[(msr::AMD_UNIT, AMD_UNIT_ESU16)]);
    let m = meter(open(&EnergyChoice::Msr, &t.msr_roots()));
    assert_eq!(m.kind(), SourceKind::Msr);
    assert_eq!(m.domains(), vec![Domain::Package, Domain::Core]);
    let cores: Vec<_> = m
        .counters()
        .iter()
        .filter(|c| c.domain == Domain::Core)
        .map(|c| c.location.clone())
        .collect();
    assert_eq!(cores.len(), 2, "one per physical core: {cores:?}");
    assert!(cores[0].contains("dev/cpu/0/msr") && cores[1].contains("dev/cpu/1/msr"));
    let span = m.start().unwrap();
    t.msr(
        0,
        &[
            (msr::AMD_PKG, hi | (1_000_000 + 65_536)),
            (msr::AMD_CORE, 100_000 + 32_768),
        ],
    );
    t.msr(1, &[(msr::AMD_CORE, 200_000 + 32_768)]);
    let r = span.stop().unwrap();
    assert!(close(r.joules.package.unwrap(), 1.0), "{:?}", r.joules);
    assert!(close(r.joules.core.unwrap(), 1.0), "{:?}", r.joules);
    assert!(close(r.cpu_total_joules.unwrap(), 1.0));
}

#[test]
fn amd_msr_counter_wraps_at_32_bits() {
    let t = Tree::new();
    t.cpuinfo("AuthenticAMD", 25, 1, "AMD EPYC");
    t.cpus(&[(0, 0, 0)]);
    t.msr(
        0,
        &[(msr::AMD_UNIT, AMD_UNIT_ESU16), (msr::AMD_PKG, 0xFFFF_0000)],
    );
    let m = meter(open(&EnergyChoice::Msr, &t.msr_roots()));
    let span = m.start().unwrap();
    t.msr(0, &[(msr::AMD_PKG, 0x0001_0000)]); // 0x10000 to the wrap + 0x10000
    let r = span.stop().unwrap();
    assert_eq!(r.wraps_seen, 1);
    assert!(close(r.joules.package.unwrap(), 2.0), "{:?}", r.joules);
}

#[test]
fn intel_server_msr_dram_uses_the_fixed_unit() {
    let t = Tree::new();
    t.cpuinfo(
        "GenuineIntel",
        6,
        0x55,
        "Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz",
    );
    t.cpus(&[(0, 0, 0), (1, 1, 0)]);
    for cpu in 0..2 {
        t.msr(
            cpu,
            &[
                (msr::INTEL_UNIT, INTEL_UNIT_ESU14),
                (msr::INTEL_PKG, 1000),
                (msr::INTEL_DRAM, 1000),
            ],
        );
    }
    let m = meter(open(&EnergyChoice::Auto, &t.msr_roots()));
    assert_eq!(
        m.kind(),
        SourceKind::Msr,
        "powercap and perf are absent here"
    );
    assert_eq!(m.domains(), vec![Domain::Package, Domain::Dram]);
    let span = m.start().unwrap();
    for cpu in 0..2 {
        t.msr(
            cpu,
            &[
                (msr::INTEL_PKG, 1000 + 16_384),
                (msr::INTEL_DRAM, 1000 + 100_000),
            ],
        );
    }
    let r = span.stop().unwrap();
    assert!(close(r.joules.package.unwrap(), 2.0), "{:?}", r.joules);
    assert!(
        close(r.joules.dram.unwrap(), 2.0 * 100_000.0 * 15.3e-6),
        "{:?}",
        r.joules
    );
    assert!(r.dram_measured);
    assert_eq!(r.package_joules_per_socket.len(), 2);
}

#[test]
fn msr_permission_denied_and_unknown_vendor() {
    let t = Tree::new();
    t.cpuinfo("GenuineIntel", 6, 0x9A, "Intel(R) Core(TM) i7");
    t.cpus(&[(0, 0, 0)]);
    t.msr(
        0,
        &[(msr::INTEL_UNIT, INTEL_UNIT_ESU14), (msr::INTEL_PKG, 5)],
    );
    let roots = t.roots().with_fs(Arc::new(DenyFs {
        denied: vec!["/msr".into()],
        inner: Arc::new(MsrFs),
    }));
    let u = unavailable(open(&EnergyChoice::Msr, &roots));
    assert_eq!(u.tried[0].problem, Problem::PermissionDenied);
    assert!(u.reason.contains("dev/cpu/0/msr"), "{}", u.reason);
    assert!(u.fix.unwrap().contains("root"));

    t.cpuinfo("CentaurHauls", 6, 15, "VIA");
    let u = unavailable(open(&EnergyChoice::Msr, &t.msr_roots()));
    assert_eq!(u.tried[0].problem, Problem::Unsupported);
}

#[test]
fn msr_without_rapl_reads_zero_and_is_refused() {
    let t = Tree::new();
    t.cpuinfo("GenuineIntel", 6, 0x9A, "Intel(R) Core(TM) i7");
    t.cpus(&[(0, 0, 0)]);
    // The package register reads zero (as under some hypervisors); PP0 fails with EIO.
    t.msr(
        0,
        &[(msr::INTEL_UNIT, INTEL_UNIT_ESU14), (msr::INTEL_PKG, 0)],
    );
    let u = unavailable(open(&EnergyChoice::Msr, &t.msr_roots()));
    assert_eq!(u.tried[0].problem, Problem::Unreadable);
    assert!(u.reason.contains("reads zero"), "{}", u.reason);
}

// ---------------------------------------------------------------------------------------------
// Wrap arithmetic and the sampler

#[test]
fn wrap_delta_is_modular() {
    assert_eq!(wrap_delta(10, 25, 100), (15, false));
    assert_eq!(wrap_delta(90, 5, 100), (15, true));
    assert_eq!(wrap_delta(7, 7, 100), (0, false));
    assert_eq!(wrap_delta(u64::MAX, 1, 1u128 << 64), (2, true));
    let mut a = Accum::new(90);
    a.update(5, 100);
    a.update(50, 100);
    a.update(10, 100);
    assert_eq!((a.total(), a.wraps()), (15 + 45 + 60, 2));
}

fn counter(domain: Domain, range_joules: f64, unit: f64) -> Counter {
    Counter {
        domain,
        socket: 0,
        location: format!("fake {domain}"),
        range_units: (range_joules / unit).round() as u128,
        joules_per_unit: unit,
    }
}

#[test]
fn sample_period_is_a_quarter_of_the_fastest_wrap() {
    // Real ranges: every one wraps in over 40 s at 1000 W, so the 10 s cap applies.
    for range in [262_143.33, 65_532.61, 65_713.0] {
        assert_eq!(
            sample_period(&[counter(Domain::Package, range, 1e-6)]),
            meter::MAX_SAMPLE_PERIOD
        );
    }
    let small = counter(Domain::Dram, 400.0, 1e-6); // 0.4 s at 1000 W
    let big = counter(Domain::Package, 262_143.33, 1e-6);
    let p = sample_period(&[big, small]);
    assert!((p.as_secs_f64() - 0.1).abs() < 1e-9, "{p:?}");
    assert_eq!(
        sample_period(&[counter(Domain::Dram, 0.001, 1e-6)]),
        meter::MIN_SAMPLE_PERIOD
    );
    assert_eq!(sample_period(&[]), meter::MAX_SAMPLE_PERIOD);
}

#[test]
fn sampler_period_never_misses_a_wrap() {
    // A fake clock: the sampler reads at its period, late by up to 3.5 periods (a busy
    // machine), while each counter runs at the plausible maximum power. The running total must
    // equal the true energy exactly, across many wraps, for every range.
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut jitter = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        0.5 + 3.0 * (seed % 1000) as f64 / 1000.0 // 0.5 ..= 3.5 periods
    };
    for range_j in [262_143.33, 65_532.61, 65_713.0, 400.0, 37.0] {
        let c = counter(Domain::Package, range_j, 1e-6);
        let period = sample_period(std::slice::from_ref(&c)).as_secs_f64();
        let range = c.range_units;
        let watts = MAX_PLAUSIBLE_WATTS;
        let units_per_s = watts / c.joules_per_unit;
        let mut t = 0.0;
        let mut true_units: u128 = 123_456;
        let mut acc = Accum::new((true_units % range) as u64);
        let start = true_units;
        while true_units - start < 25 * range {
            let dt = period * jitter();
            t += dt;
            true_units += (units_per_s * dt) as u128;
            acc.update((true_units % range) as u64, range);
        }
        assert_eq!(
            acc.total(),
            true_units - start,
            "range {range_j} J, {t:.0} s"
        );
        assert!(acc.wraps() >= 25);
    }
}

#[test]
fn two_wraps_between_reads_are_lost_which_is_why_the_sampler_exists() {
    let mut a = Accum::new(10);
    a.update(20, 100); // really +210: two wraps unseen
    assert_eq!(a.total(), 10);
}

/// A source whose counters report `true energy mod range`; the test moves the true energy.
#[derive(Debug)]
struct FakeSource {
    counters: Vec<Counter>,
    energy: Arc<Mutex<Vec<u128>>>,
    reads: Arc<AtomicU64>,
}

impl EnergySource for FakeSource {
    fn kind(&self) -> SourceKind {
        SourceKind::Powercap
    }

    fn counters(&self) -> &[Counter] {
        &self.counters
    }

    fn read(&mut self, index: usize) -> crate::Result<u64> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        let e = self.energy.lock().unwrap()[index];
        Ok((e % self.counters[index].range_units) as u64)
    }
}

fn fake(counters: Vec<Counter>) -> (FakeSource, Arc<Mutex<Vec<u128>>>, Arc<AtomicU64>) {
    let energy = Arc::new(Mutex::new(vec![0u128; counters.len()]));
    let reads = Arc::new(AtomicU64::new(0));
    let src = FakeSource {
        counters,
        energy: Arc::clone(&energy),
        reads: Arc::clone(&reads),
    };
    (src, energy, reads)
}

#[test]
fn the_sampler_thread_catches_wraps_between_start_and_stop() {
    let c = counter(Domain::Package, 100.0, 1e-6);
    let range = c.range_units;
    let (src, energy, reads) = fake(vec![c]);
    let m = Meter::with_period(Box::new(src), Some(Duration::from_millis(1))).unwrap();
    let span = m.start().unwrap();
    // Ten steps of 0.75 range each: 7.5 ranges in all, seen only by the sampler thread.
    for _ in 0..10 {
        energy.lock().unwrap()[0] += range * 3 / 4;
        let seen = reads.load(Ordering::SeqCst);
        let deadline = Instant::now() + Duration::from_secs(10);
        while reads.load(Ordering::SeqCst) < seen + 2 {
            assert!(Instant::now() < deadline, "sampler thread never read");
            std::thread::sleep(Duration::from_micros(200));
        }
    }
    let r = span.stop().unwrap();
    assert!(close(r.joules.package.unwrap(), 750.0), "{:?}", r.joules);
    assert_eq!(r.wraps_seen, 7);
}

#[test]
fn a_failed_read_is_reported_by_the_window() {
    let t = Tree::new();
    t.zone("intel-rapl:0", "package-0", 1, INTEL_MAX_UJ);
    let m = meter(open(&EnergyChoice::Powercap, &t.roots()));
    let span = m.start().unwrap();
    fs::remove_file(t.powercap().join("intel-rapl:0/energy_uj")).unwrap();
    let e = span.stop().unwrap_err();
    assert!(format!("{e:#}").contains("intel-rapl:0/energy_uj"), "{e:#}");
}

// ---------------------------------------------------------------------------------------------
// Idle baseline, gross and net

fn measured(pkg: f64, dram: Option<f64>, seconds: f64) -> Measurement {
    let mut counters = vec![counter(Domain::Package, 1e6, 1e-6)];
    let mut deltas = vec![(pkg * 1e6) as u128];
    if let Some(d) = dram {
        counters.push(counter(Domain::Dram, 1e6, 1e-6));
        deltas.push((d * 1e6) as u128);
    }
    measurement(SourceKind::Powercap, &counters, &deltas, 0, seconds)
}

#[test]
fn net_is_gross_minus_idle_power_times_seconds() {
    let idle = IdlePower::from_measurement(&measured(200.0, Some(50.0), 10.0)).unwrap();
    assert!(close(idle.watts.package.unwrap(), 20.0));
    assert!(close(idle.watts.dram.unwrap(), 5.0));
    assert!(close(idle.cpu_total_watts.unwrap(), 25.0));
    let run = measured(900.0, Some(120.0), 20.0);
    let n = run.net_of(&idle).unwrap();
    assert!(close(n.gross_cpu_total_joules.unwrap(), 1020.0));
    assert!(close(n.net_joules.package.unwrap(), 900.0 - 400.0));
    assert!(close(n.net_joules.dram.unwrap(), 120.0 - 100.0));
    assert!(close(n.net_cpu_total_joules.unwrap(), 520.0));
    assert!(close(n.idle_cpu_total_watts.unwrap(), 25.0));
    let json = serde_json::to_value(&n).unwrap();
    assert_eq!(json["method"], "measured");
    assert!(json["net_joules"]["package"].is_number());

    // An idle baseline without DRAM leaves DRAM's net, and the net total, unknown.
    let idle_pkg = IdlePower::from_measurement(&measured(200.0, None, 10.0)).unwrap();
    let n = run.net_of(&idle_pkg).unwrap();
    assert_eq!(n.net_joules.dram, None);
    assert_eq!(n.net_cpu_total_joules, None);
    assert!(n
        .notes
        .iter()
        .any(|s| s.starts_with("dram: no idle baseline")));
}

#[test]
fn net_refuses_a_baseline_from_another_source() {
    let mut idle = IdlePower::from_measurement(&measured(1.0, None, 1.0)).unwrap();
    idle.energy_source = SourceKind::Msr;
    assert!(measured(5.0, None, 1.0).net_of(&idle).is_err());
}

#[test]
fn idle_baseline_on_a_fake_meter() {
    let (src, energy, _) = fake(vec![counter(Domain::Package, 1e6, 1e-6)]);
    energy.lock().unwrap()[0] = 5;
    let m = Meter::with_period(Box::new(src), None).unwrap();
    // A counter that never moves gives no idle figure, not 0 W.
    let idle = idle_baseline(&m, Duration::from_millis(2)).unwrap();
    assert_eq!(idle.watts.package, None);
    assert_eq!(idle.cpu_total_watts, None);
    assert!(idle.notes.iter().any(|n| n.contains("did not advance")));
}

#[test]
fn measurement_round_trips_through_json_with_units_in_names() {
    let m = measured(12.5, Some(2.5), 3.0);
    let s = serde_json::to_string(&m).unwrap();
    for key in [
        "\"seconds\"",
        "\"joules\"",
        "\"cpu_total_joules\"",
        "\"wraps_seen\"",
    ] {
        assert!(s.contains(key), "{s}");
    }
    assert!(s.contains("\"energy_source\":\"powercap\""));
    let back: Measurement = serde_json::from_str(&s).unwrap();
    assert_eq!(back, m);
}

// ---------------------------------------------------------------------------------------------
// Estimate

#[test]
fn estimate_without_tdp_is_refused() {
    let t = Tree::new();
    t.cpuinfo("AuthenticAMD", 25, 1, "AMD EPYC");
    let u = unavailable(open(
        &EnergyChoice::Estimate {
            tdp_watts: None,
            idle_watts: None,
        },
        &t.roots(),
    ));
    assert_eq!(u.tried[0].problem, Problem::Unsupported);
    assert!(
        u.reason.contains("no TDP known for `AMD EPYC`"),
        "{}",
        u.reason
    );
    assert!(u.fix.unwrap().contains("--tdp"));
    let u = unavailable(open(
        &EnergyChoice::Estimate {
            tdp_watts: Some(-3.0),
            idle_watts: None,
        },
        &t.roots(),
    ));
    assert!(u.reason.contains("not a positive"));
}

#[test]
fn estimate_is_labelled_and_scaled() {
    let t = Tree::new();
    t.cpuinfo("AuthenticAMD", 25, 1, "AMD EPYC 7763 64-Core Processor");
    t.cpus(&[(0, 0, 0), (1, 0, 1)]);
    let choice = EnergyChoice::Estimate {
        tdp_watts: None,
        idle_watts: None,
    };
    let model = match open(&choice, &t.roots()) {
        EnergyStatus::Estimated(m) => m,
        other => panic!("{other:?}"),
    };
    // Two vCPUs of a 128-thread, 280 W package.
    assert!(close(model.full_load_watts, 280.0 * 2.0 / 128.0));
    let e = model.estimate(10.0, Some(10.0)); // one of two CPUs busy
    assert!(close(e.utilisation, 0.5));
    // The idle term: 20% of full load by default, plus the rest scaled by utilisation.
    assert!(close(model.idle_watts, 4.375 * 0.2));
    assert!(close(
        e.estimated_joules,
        (0.875 + (4.375 - 0.875) * 0.5) * 10.0
    ));
    assert!(close(e.estimated_net_joules, (4.375 - 0.875) * 0.5 * 10.0));
    assert!(model.formula.contains("idle"), "{}", model.formula);
    // A given idle power is used as is; one above full load is refused.
    let m = estimate::model(Some(100.0), Some(30.0), &t.roots()).unwrap();
    assert!(close(m.estimate(1.0, Some(0.0)).estimated_joules, 30.0));
    assert!(estimate::model(Some(100.0), Some(300.0), &t.roots()).is_err());
    let json = serde_json::to_value(&e).unwrap();
    assert_eq!(json["method"], "estimated");
    assert_eq!(json["energy_source"], "estimate-tdp");
    assert!(
        json.get("joules").is_none(),
        "an estimate has no `joules` field"
    );
    let p = EnergyStatus::Estimated(model.clone()).provenance();
    assert_eq!(p.method, Some(Method::Estimated));
    assert_eq!(p.energy_source, "estimate-tdp");

    // --tdp wins over the table.
    let m = estimate::model(Some(30.0), None, &t.roots()).unwrap();
    assert_eq!(m.full_load_watts, 30.0);
    assert_eq!(m.tdp_from, estimate::TdpFrom::Flag);
    let span = m.start();
    let e = span.stop();
    assert!(e.estimated_joules >= 0.0 && e.utilisation <= 1.0);
}
