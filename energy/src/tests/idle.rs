//! The idle baseline's protocol on a fake meter and a scripted `/proc/stat`.

use std::collections::VecDeque;
use std::time::Duration;

use super::*;
use crate::idle::{self, IdleCheck, IdlePlan};

/// Answers successive reads of paths ending in `/proc/stat` from a script, everything else
/// from the real file system.
#[derive(Debug)]
struct ScriptedStat(Mutex<VecDeque<String>>);

impl Fs for ScriptedStat {
    fn read_to_string(&self, path: &Path) -> io::Result<String> {
        if path.ends_with("proc/stat") {
            let mut q = self.0.lock().unwrap();
            return q
                .pop_front()
                .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound));
        }
        RealFs.read_to_string(path)
    }
    fn read_u64_at(&self, path: &Path, offset: u64) -> io::Result<u64> {
        RealFs.read_u64_at(path, offset)
    }
    fn list_dir(&self, path: &Path) -> io::Result<Vec<PathBuf>> {
        RealFs.list_dir(path)
    }
    fn exists(&self, path: &Path) -> bool {
        RealFs.exists(path)
    }
}

/// `/proc/stat` lines whose busy ticks go from `a` to `b` (USER_HZ 100 on Linux).
fn stats(pairs: &[(u64, u64)]) -> Arc<ScriptedStat> {
    let line = |busy: u64| format!("cpu  {busy} 0 0 100000 0 0 0 0 0 0\n");
    let q = pairs
        .iter()
        .flat_map(|&(a, b)| [line(a), line(b)])
        .collect();
    Arc::new(ScriptedStat(Mutex::new(q)))
}

fn moving_meter() -> (Meter, Arc<Mutex<Vec<u128>>>) {
    let (src, energy, _) = fake(vec![counter(Domain::Package, 1e6, 1e-6)]);
    let m = Meter::with_period(Box::new(src), None).unwrap();
    (m, energy)
}

fn plan(check: IdleCheck) -> IdlePlan {
    IdlePlan::new(Duration::from_millis(5), Duration::from_millis(100), check)
}

/// Moves the fake counter while the idle window sleeps.
fn tick(energy: &Arc<Mutex<Vec<u128>>>) -> std::thread::JoinHandle<()> {
    let e = Arc::clone(energy);
    std::thread::spawn(move || {
        for _ in 0..20 {
            std::thread::sleep(Duration::from_millis(10));
            e.lock().unwrap()[0] += 100_000; // 0.1 J
        }
    })
}

#[test]
fn idle_baseline_flags_other_load_from_proc_stat() {
    let t = Tree::new();
    let (m, energy) = moving_meter();
    let h = tick(&energy);
    // 100 ticks of other processes' CPU time in a 0.1 s window: about 10 CPUs busy.
    let roots = t.roots().with_fs(stats(&[(1000, 1100)]));
    let b = idle::measure(&m, &roots, &plan(IdleCheck::Flag)).unwrap();
    h.join().unwrap();
    assert_eq!(b.quiet, Some(false));
    assert!(b.other_load_cpus.unwrap() > 1.0, "{b:?}");
    assert!(
        b.power.notes.iter().any(|n| n.starts_with("NOT QUIET")),
        "{b:?}"
    );
    assert!(b.settle_seconds > 0.0);
}

#[test]
fn idle_baseline_refuses_a_busy_machine_after_its_attempts() {
    let t = Tree::new();
    let (m, energy) = moving_meter();
    let h = tick(&energy);
    let roots = t
        .roots()
        .with_fs(stats(&[(0, 100), (100, 200), (200, 300)]));
    let e = idle::measure(&m, &roots, &plan(IdleCheck::Refuse)).unwrap_err();
    h.join().unwrap();
    let s = e.to_string();
    assert!(
        s.contains("3 windows tried") && s.contains("idle_check"),
        "{s}"
    );
}

#[test]
fn idle_baseline_retries_then_keeps_a_quiet_window() {
    let t = Tree::new();
    let (m, energy) = moving_meter();
    let h = tick(&energy);
    let roots = t.roots().with_fs(stats(&[(0, 100), (100, 100)]));
    let b = idle::measure(&m, &roots, &plan(IdleCheck::Refuse)).unwrap();
    h.join().unwrap();
    assert_eq!((b.quiet, b.attempts), (Some(true), 2));
    assert!(b
        .power
        .notes
        .iter()
        .any(|n| n.starts_with("window 1 refused")));
}

#[test]
fn idle_drift_between_start_and_end_is_flagged() {
    let start = IdlePower::from_measurement(&measured(100.0, None, 10.0)).unwrap();
    let same = IdlePower::from_measurement(&measured(105.0, None, 10.0)).unwrap();
    let hot = IdlePower::from_measurement(&measured(130.0, None, 10.0)).unwrap();
    let d = idle::drift(&start, &same).unwrap();
    assert!(!d.flagged && d.note.is_none());
    let d = idle::drift(&start, &hot).unwrap();
    assert!(d.flagged);
    assert!((d.relative - 0.3).abs() < 1e-9);
    assert!(d.note.unwrap().contains("+30%"));
}
