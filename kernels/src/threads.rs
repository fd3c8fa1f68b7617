//! A persistent worker pool: threads are spawned once, then each call hands them a closure and
//! the caller takes part as worker 0. No thread is spawned per call.
//!
//! Workers spin briefly on a generation counter after each job (decode issues hundreds of
//! matmuls per token, microseconds apart), then park on a condition variable so an idle pool
//! costs no CPU. Optional pinning puts worker `i` on `cores[i % cores.len()]` (Linux only; a
//! no-op elsewhere, reported by [`ThreadPool::pinned`]).

use std::cell::UnsafeCell;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

/// How long a worker spins on the generation counter before it parks.
const SPIN_ITERS: u32 = 1 << 15;

type JobFn = dyn Fn(usize, usize) + Sync;

struct Slot {
    f: *const JobFn,
    n: usize,
}

struct Shared {
    gen: AtomicU64,
    job: UnsafeCell<Slot>,
    pending: AtomicUsize,
    panicked: AtomicBool,
    shutdown: AtomicBool,
    sleepers: AtomicUsize,
    lock: Mutex<()>,
    cv: Condvar,
}

// SAFETY: `job` is written only by the thread holding `run_lock`, before the generation bump
// (Release) that workers observe (Acquire) before reading it, and not again until every worker
// has signalled through `pending` (Release/Acquire) that it is done reading.
unsafe impl Sync for Shared {}
// SAFETY: as above; the raw pointer in Slot is only dereferenced under that protocol.
unsafe impl Send for Shared {}

/// A pool of `size` participants: the calling thread plus `size - 1` workers.
pub struct ThreadPool {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
    size: usize,
    pinned: bool,
    run_lock: Mutex<()>,
}

impl std::fmt::Debug for ThreadPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ThreadPool {{ size: {}, pinned: {} }}",
            self.size, self.pinned
        )
    }
}

/// Whether and where to pin threads.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Pinning {
    /// Let the OS schedule.
    #[default]
    None,
    /// Participant `i` runs on `cores[i % len]`; the thread creating the pool is participant 0.
    Cores(Vec<usize>),
}

impl ThreadPool {
    /// A pool of `size` participants (at least 1).
    pub fn new(size: usize, pinning: Pinning) -> Self {
        let size = size.max(1);
        let shared = Arc::new(Shared {
            gen: AtomicU64::new(0),
            job: UnsafeCell::new(Slot {
                f: std::ptr::null::<fn(usize, usize)>() as *const JobFn,
                n: 0,
            }),
            pending: AtomicUsize::new(0),
            panicked: AtomicBool::new(false),
            shutdown: AtomicBool::new(false),
            sleepers: AtomicUsize::new(0),
            lock: Mutex::new(()),
            cv: Condvar::new(),
        });
        let cores = match &pinning {
            Pinning::Cores(c) if !c.is_empty() => Some(c.clone()),
            _ => None,
        };
        let mut pinned = cores.is_some();
        if let Some(c) = &cores {
            pinned &= pin_current(c[0]);
        }
        let workers = (1..size)
            .map(|idx| {
                let sh = Arc::clone(&shared);
                let core = cores.as_ref().map(|c| c[idx % c.len()]);
                std::thread::Builder::new()
                    .name(format!("ternbench-worker-{idx}"))
                    .spawn(move || {
                        if let Some(core) = core {
                            pin_current(core);
                        }
                        worker_loop(&sh, idx)
                    })
                    .expect("spawn worker thread")
            })
            .collect();
        ThreadPool {
            shared,
            workers,
            size,
            pinned,
            run_lock: Mutex::new(()),
        }
    }

    /// Participants, the caller included.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Whether pinning was asked for and took effect.
    pub fn pinned(&self) -> bool {
        self.pinned
    }

    /// Runs `f(i, n)` for `i in 0..n` on `n` participants (the caller is `i = 0`) and returns
    /// when all are done. Panics if `n` exceeds [`Self::size`]; a panic in any participant is
    /// re-raised here after all have finished.
    pub fn run<F: Fn(usize, usize) + Sync>(&self, n: usize, f: F) {
        assert!(
            n >= 1 && n <= self.size,
            "ThreadPool::run: {n} threads, pool has {}",
            self.size
        );
        if n == 1 {
            f(0, 1);
            return;
        }
        let _guard = self.run_lock.lock().unwrap_or_else(|e| e.into_inner());
        let sh = &*self.shared;
        let fref: &(dyn Fn(usize, usize) + Sync + '_) = &f;
        // SAFETY: we erase the closure's lifetime; it outlives every use because this function
        // does not return before `pending` reaches zero, i.e. before every worker is done with it.
        let fptr: *const JobFn = unsafe {
            std::mem::transmute::<&(dyn Fn(usize, usize) + Sync + '_), &'static JobFn>(fref)
        };
        // SAFETY: no worker reads the slot now (the previous job's `pending` reached zero).
        unsafe { *sh.job.get() = Slot { f: fptr, n } };
        sh.pending.store(self.size - 1, Ordering::Relaxed);
        sh.gen.fetch_add(1, Ordering::SeqCst);
        if sh.sleepers.load(Ordering::SeqCst) > 0 {
            let _l = sh.lock.lock().unwrap_or_else(|e| e.into_inner());
            sh.cv.notify_all();
        }
        let mine = catch_unwind(AssertUnwindSafe(|| f(0, n)));
        let mut spins = 0u32;
        while sh.pending.load(Ordering::Acquire) != 0 {
            if spins < SPIN_ITERS {
                std::hint::spin_loop();
                spins += 1;
            } else {
                std::thread::yield_now();
            }
        }
        if let Err(p) = mine {
            resume_unwind(p);
        }
        if sh.panicked.swap(false, Ordering::AcqRel) {
            panic!("a ternbench worker thread panicked");
        }
    }
}

fn worker_loop(sh: &Shared, idx: usize) {
    let mut seen = 0u64;
    loop {
        let mut spins = 0u32;
        loop {
            if sh.gen.load(Ordering::Acquire) != seen || sh.shutdown.load(Ordering::Acquire) {
                break;
            }
            if spins < SPIN_ITERS {
                std::hint::spin_loop();
                spins += 1;
                continue;
            }
            let mut g = sh.lock.lock().unwrap_or_else(|e| e.into_inner());
            sh.sleepers.fetch_add(1, Ordering::SeqCst);
            while sh.gen.load(Ordering::SeqCst) == seen && !sh.shutdown.load(Ordering::SeqCst) {
                g = sh.cv.wait(g).unwrap_or_else(|e| e.into_inner());
            }
            sh.sleepers.fetch_sub(1, Ordering::SeqCst);
            drop(g);
            spins = 0;
        }
        if sh.shutdown.load(Ordering::Acquire) {
            return;
        }
        seen = sh.gen.load(Ordering::Acquire);
        // SAFETY: the slot was written before the generation bump we just observed, and will
        // not be rewritten until we decrement `pending` below.
        let (f, n) = unsafe {
            let s = &*sh.job.get();
            (s.f, s.n)
        };
        if idx < n {
            // SAFETY: the closure lives until `run` sees `pending == 0` (see `run`).
            let r = catch_unwind(AssertUnwindSafe(|| unsafe { (*f)(idx, n) }));
            if r.is_err() {
                sh.panicked.store(true, Ordering::Release);
            }
        }
        sh.pending.fetch_sub(1, Ordering::Release);
    }
}

impl Drop for ThreadPool {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, Ordering::SeqCst);
        {
            let _l = self.shared.lock.lock().unwrap_or_else(|e| e.into_inner());
            self.shared.cv.notify_all();
        }
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

#[cfg(target_os = "linux")]
fn pin_current(core: usize) -> bool {
    // SAFETY: cpu_set_t is plain data; CPU_SET writes within it for core < CPU_SETSIZE, and
    // sched_setaffinity(0, ...) only affects the calling thread.
    unsafe {
        if core >= libc::CPU_SETSIZE as usize {
            return false;
        }
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(core, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) == 0
    }
}

#[cfg(not(target_os = "linux"))]
fn pin_current(_core: usize) -> bool {
    false
}

/// Splits `0..rows` into `parts` contiguous ranges of whole `align`-row units, as even as
/// possible; returns part `i`.
pub fn split_rows(rows: usize, align: usize, parts: usize, i: usize) -> (usize, usize) {
    let units = rows.div_ceil(align.max(1));
    let (per, extra) = (units / parts, units % parts);
    let u0 = i * per + i.min(extra);
    let u1 = u0 + per + usize::from(i < extra);
    ((u0 * align).min(rows), (u1 * align).min(rows))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn every_participant_runs_once_per_call() {
        let pool = ThreadPool::new(3, Pinning::None);
        for n in [1, 2, 3, 2, 3] {
            let hits: Vec<AtomicUsize> = (0..3).map(|_| AtomicUsize::new(0)).collect();
            pool.run(n, |i, m| {
                assert_eq!(m, n);
                hits[i].fetch_add(1, Ordering::Relaxed);
            });
            for (i, h) in hits.iter().enumerate() {
                assert_eq!(h.load(Ordering::Relaxed), usize::from(i < n));
            }
        }
    }

    #[test]
    fn survives_a_parked_pool_and_many_calls() {
        let pool = ThreadPool::new(2, Pinning::None);
        let total = AtomicUsize::new(0);
        for k in 0..2000 {
            if k == 1000 {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            pool.run(2, |i, _| {
                total.fetch_add(i + 1, Ordering::Relaxed);
            });
        }
        assert_eq!(total.load(Ordering::Relaxed), 2000 * 3);
    }

    #[test]
    fn worker_panic_is_reraised() {
        let pool = ThreadPool::new(2, Pinning::None);
        let r = catch_unwind(AssertUnwindSafe(|| {
            pool.run(2, |i, _| assert!(i == 0, "boom"))
        }));
        assert!(r.is_err());
        pool.run(2, |_, _| {}); // still usable
    }

    #[test]
    fn split_covers_rows_in_aligned_units() {
        for (rows, align, parts) in [
            (1, 16, 2),
            (3, 16, 2),
            (640, 16, 3),
            (128256, 32, 2),
            (100, 1, 7),
        ] {
            let mut next = 0;
            for i in 0..parts {
                let (a, b) = split_rows(rows, align, parts, i);
                assert_eq!(a, next);
                assert!(a % align == 0 || a == rows);
                next = b;
            }
            assert_eq!(next, rows);
        }
    }
}
