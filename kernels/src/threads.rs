//! A persistent worker pool: threads are spawned once, then each call hands them a closure and
//! the caller takes part as participant 0. No thread is spawned per call.
//!
//! Two ways to hand out work:
//! - [`ThreadPool::run`] runs `f(i, n)` once on each of `n` participants and waits for all of
//!   them (the bandwidth and peak probes need every thread busy at once).
//! - [`ThreadPool::run_chunks`] splits a job into chunks that participants claim from an atomic
//!   counter. The caller never waits for a worker that has not started: if a worker is off its
//!   core (another process holds it, as on a shared 2-vCPU VM), the caller takes its chunks and
//!   returns as soon as every claimed chunk is done. A worker that wakes after the job closed
//!   skips it without touching the closure. With a static split, one descheduled worker stalled
//!   every matmul for a whole scheduler slice and 2-thread decode fell by an order of magnitude.
//!
//! ## Protocol
//! One atomic word holds `generation | participants | closed | active`. The caller writes the
//! job slot, then publishes a new generation (open, no one active). A worker joins by a CAS that
//! increments `active` only while the generation is the one it saw, the job is open and its
//! index is below the participant count; only then does it read the slot. The caller, when its
//! own share is done (and, for `run`, every worker has reported), sets `closed` and waits for
//! `active` to reach zero. So the slot and the closure it points to outlive every reader.
//!
//! Workers spin briefly after each job (decode issues hundreds of matmuls per token,
//! microseconds apart), then park on a condition variable so an idle pool costs no CPU.
//! Optional pinning puts participant `i` on `cores[i % cores.len()]` (Linux only; a no-op
//! elsewhere, reported by [`ThreadPool::pinned`]).

use std::cell::UnsafeCell;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

/// How long a worker spins on the state word before it parks.
const SPIN_ITERS: u32 = 1 << 15;
/// How long the caller spins on a wait before it starts yielding its core.
const WAIT_SPINS: u32 = 1 << 12;

const ACTIVE_MASK: u64 = 0xffff;
const CLOSED: u64 = 1 << 16;
const N_SHIFT: u32 = 17;
const N_MASK: u64 = 0x7fff;
const GEN_SHIFT: u32 = 32;

fn gen_of(s: u64) -> u64 {
    s >> GEN_SHIFT
}
fn n_of(s: u64) -> usize {
    ((s >> N_SHIFT) & N_MASK) as usize
}

type JobFn = dyn Fn(usize, usize) + Sync;

struct Slot {
    f: *const JobFn,
    n: usize,
}

struct Shared {
    /// `gen << 32 | n << 17 | closed << 16 | active`.
    state: AtomicU64,
    job: UnsafeCell<Slot>,
    /// Workers that finished the current job (for `run`, which waits for all).
    done: AtomicUsize,
    panicked: AtomicBool,
    shutdown: AtomicBool,
    sleepers: AtomicUsize,
    lock: Mutex<()>,
    cv: Condvar,
}

// SAFETY: `job` is written only by the thread holding `run_lock`, while the previous job is
// closed with no active worker, and before the Release/SeqCst store that opens the next job;
// a worker reads it only after a successful CAS (Acquire) into that open job, and the caller
// does not return (or rewrite it) before closing the job and seeing `active == 0`.
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

/// The most participants a pool can have (the state word's field width).
pub const MAX_THREADS: usize = N_MASK as usize;

impl ThreadPool {
    /// A pool of `size` participants (at least 1, at most [`MAX_THREADS`]).
    pub fn new(size: usize, pinning: Pinning) -> Self {
        let size = size.clamp(1, MAX_THREADS);
        let shared = Arc::new(Shared {
            // Generation 0, closed, nobody active: no job to join.
            state: AtomicU64::new(CLOSED),
            job: UnsafeCell::new(Slot {
                f: std::ptr::null::<fn(usize, usize)>() as *const JobFn,
                n: 0,
            }),
            done: AtomicUsize::new(0),
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
        self.dispatch(n, n - 1, &f);
    }

    /// Runs `f(c)` for every chunk `c in 0..chunks`, each exactly once, on up to `n`
    /// participants that claim chunks in order from a shared counter. Returns when every chunk
    /// is done; never waits for a worker that had not started (see the module doc). Panics if
    /// `n` exceeds [`Self::size`]; a panic in any chunk is re-raised here.
    pub fn run_chunks<F: Fn(usize) + Sync>(&self, n: usize, chunks: usize, f: F) {
        assert!(
            n >= 1 && n <= self.size,
            "ThreadPool::run_chunks: {n} threads, pool has {}",
            self.size
        );
        let n = n.min(chunks);
        if n <= 1 {
            (0..chunks).for_each(f);
            return;
        }
        let next = AtomicUsize::new(0);
        let body = |_: usize, _: usize| loop {
            let c = next.fetch_add(1, Ordering::Relaxed);
            if c >= chunks {
                break;
            }
            f(c);
        };
        self.dispatch(n, 0, &body);
    }

    /// Publishes `f` to `n` participants, runs the caller's share, waits until `required`
    /// workers have finished, closes the job and waits for every worker still in it.
    fn dispatch(&self, n: usize, required: usize, f: &(dyn Fn(usize, usize) + Sync + '_)) {
        let _guard = self.run_lock.lock().unwrap_or_else(|e| e.into_inner());
        let sh = &*self.shared;
        // SAFETY: we erase the closure's lifetime; it outlives every use because this function
        // does not return before the job is closed and no worker is active in it.
        let fptr: *const JobFn = unsafe {
            std::mem::transmute::<&(dyn Fn(usize, usize) + Sync + '_), &'static JobFn>(f)
        };
        let prev = sh.state.load(Ordering::Acquire);
        debug_assert!(prev & CLOSED != 0 && prev & ACTIVE_MASK == 0);
        // SAFETY: the previous job is closed and nobody is active in it: no worker reads the
        // slot until it joins the generation published below.
        unsafe { *sh.job.get() = Slot { f: fptr, n } };
        sh.done.store(0, Ordering::Relaxed);
        let gen = (gen_of(prev) + 1) & 0xffff_ffff;
        sh.state.store(
            (gen << GEN_SHIFT) | ((n as u64) << N_SHIFT),
            Ordering::SeqCst,
        );
        if sh.sleepers.load(Ordering::SeqCst) > 0 {
            let _l = sh.lock.lock().unwrap_or_else(|e| e.into_inner());
            sh.cv.notify_all();
        }
        let mine = catch_unwind(AssertUnwindSafe(|| f(0, n)));
        wait_until(|| sh.done.load(Ordering::Acquire) >= required);
        sh.state.fetch_or(CLOSED, Ordering::AcqRel);
        wait_until(|| sh.state.load(Ordering::Acquire) & ACTIVE_MASK == 0);
        if let Err(p) = mine {
            resume_unwind(p);
        }
        if sh.panicked.swap(false, Ordering::AcqRel) {
            panic!("a ternbench worker thread panicked");
        }
    }
}

/// Spins, then yields the core, until `ready()`.
fn wait_until(ready: impl Fn() -> bool) {
    let mut spins = 0u32;
    while !ready() {
        if spins < WAIT_SPINS {
            std::hint::spin_loop();
            spins += 1;
        } else {
            std::thread::yield_now();
        }
    }
}

fn worker_loop(sh: &Shared, idx: usize) {
    let mut seen = 0u64;
    let mut spins = 0u32;
    loop {
        if sh.shutdown.load(Ordering::Acquire) {
            return;
        }
        let s = sh.state.load(Ordering::Acquire);
        if gen_of(s) == seen {
            if spins < SPIN_ITERS {
                std::hint::spin_loop();
                spins += 1;
                continue;
            }
            let mut g = sh.lock.lock().unwrap_or_else(|e| e.into_inner());
            sh.sleepers.fetch_add(1, Ordering::SeqCst);
            while gen_of(sh.state.load(Ordering::SeqCst)) == seen
                && !sh.shutdown.load(Ordering::SeqCst)
            {
                g = sh.cv.wait(g).unwrap_or_else(|e| e.into_inner());
            }
            sh.sleepers.fetch_sub(1, Ordering::SeqCst);
            drop(g);
            spins = 0;
            continue;
        }
        if s & CLOSED != 0 || idx >= n_of(s) {
            // Closed before we got here, or not ours: skip it without reading the slot.
            seen = gen_of(s);
            continue;
        }
        if sh
            .state
            .compare_exchange_weak(s, s + 1, Ordering::AcqRel, Ordering::Relaxed)
            .is_err()
        {
            continue;
        }
        seen = gen_of(s);
        spins = 0;
        // SAFETY: we joined the open job of generation `seen`; its slot was written before that
        // generation was published and is not rewritten until we leave (`active` drops).
        let (f, n) = unsafe {
            let slot = &*sh.job.get();
            (slot.f, slot.n)
        };
        // SAFETY: the closure lives until the caller sees `active == 0` (see `dispatch`).
        let r = catch_unwind(AssertUnwindSafe(|| unsafe { (*f)(idx, n) }));
        if r.is_err() {
            sh.panicked.store(true, Ordering::Release);
        }
        sh.done.fetch_add(1, Ordering::Release);
        sh.state.fetch_sub(1, Ordering::Release);
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

/// A dynamic split of `0..len` among `threads` for [`ThreadPool::run_chunks`]: about
/// [`CHUNKS_PER_THREAD`] chunks each (so a late or slow participant's share is picked up by the
/// others), in whole `align`-item units, none under `min` items (each claim is an atomic
/// operation on a shared line). One thread gets one chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Chunks {
    /// Items per chunk (the last may hold fewer).
    pub size: usize,
    /// Number of chunks (0 for an empty range).
    pub count: usize,
    len: usize,
}

impl Chunks {
    /// The split of `0..len` (see the type's doc).
    pub fn new(len: usize, align: usize, threads: usize, min: usize) -> Chunks {
        let align = align.max(1);
        let size = if threads <= 1 || len == 0 {
            len.max(1)
        } else {
            len.div_ceil(threads * CHUNKS_PER_THREAD)
                .max(min)
                .div_ceil(align)
                * align
        };
        Chunks {
            size,
            count: len.div_ceil(size),
            len,
        }
    }

    /// Chunk `c`'s items (non-empty for `c < count`).
    pub fn range(&self, c: usize) -> std::ops::Range<usize> {
        c * self.size..((c + 1) * self.size).min(self.len)
    }
}

/// Chunks per thread in [`Chunks`].
pub const CHUNKS_PER_THREAD: usize = 4;
/// Smallest chunk of a matmul, in rows ([`Chunks::new`]'s `min` for [`crate::matmul`]).
pub const MIN_CHUNK_ROWS: usize = 32;

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
    fn every_chunk_runs_exactly_once() {
        let pool = ThreadPool::new(3, Pinning::None);
        for (n, chunks) in [(1, 5), (2, 1), (2, 7), (3, 1000), (3, 2), (2, 0)] {
            let hits: Vec<AtomicUsize> = (0..chunks).map(|_| AtomicUsize::new(0)).collect();
            pool.run_chunks(n, chunks, |c| {
                hits[c].fetch_add(1, Ordering::Relaxed);
            });
            assert!(
                hits.iter().all(|h| h.load(Ordering::Relaxed) == 1),
                "{n} {chunks}"
            );
        }
    }

    #[test]
    fn chunks_and_strict_jobs_interleave_under_contention() {
        // More runnable threads than cores: workers are often off their core when a job is
        // published, so some jobs close before they join, and must skip them safely.
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let hogs: Vec<_> = (0..cores)
            .map(|_| {
                let stop = std::sync::Arc::clone(&stop);
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::hint::spin_loop();
                    }
                })
            })
            .collect();
        let pool = ThreadPool::new(cores.max(2), Pinning::None);
        let n = pool.size();
        for k in 0..3000usize {
            let rows = 1 + k % 97;
            let sum = AtomicUsize::new(0);
            if k % 5 == 0 {
                pool.run(n, |i, m| {
                    let (a, b) = split_rows(rows, 1, m, i);
                    sum.fetch_add((a..b).sum::<usize>(), Ordering::Relaxed);
                });
            } else {
                let ch = Chunks::new(rows, 1, n, MIN_CHUNK_ROWS);
                pool.run_chunks(n, ch.count, |c| {
                    sum.fetch_add(ch.range(c).sum::<usize>(), Ordering::Relaxed);
                });
            }
            assert_eq!(
                sum.load(Ordering::Relaxed),
                rows * (rows - 1) / 2,
                "job {k}"
            );
        }
        stop.store(true, Ordering::Relaxed);
        for h in hogs {
            h.join().unwrap();
        }
    }

    #[test]
    fn chunk_panic_is_reraised() {
        let pool = ThreadPool::new(2, Pinning::None);
        let r = catch_unwind(AssertUnwindSafe(|| {
            pool.run_chunks(2, 64, |c| assert!(c != 40, "boom"))
        }));
        assert!(r.is_err());
        let count = AtomicUsize::new(0);
        pool.run_chunks(2, 64, |_| {
            count.fetch_add(1, Ordering::Relaxed);
        });
        assert_eq!(count.load(Ordering::Relaxed), 64);
    }

    #[test]
    fn chunking_covers_rows_in_aligned_chunks() {
        for (rows, align, threads) in [
            (1, 16, 2),
            (3, 16, 2),
            (640, 16, 2),
            (2560, 16, 2),
            (6912, 32, 3),
            (128256, 16, 2),
            (100, 1, 7),
            (5, 16, 1),
        ] {
            let ch = Chunks::new(rows, align, threads, MIN_CHUNK_ROWS);
            let (chunk, chunks) = (ch.size, ch.count);
            assert!(chunk > 0 && chunks > 0);
            assert_eq!(ch.range(0).start, 0);
            assert_eq!(ch.range(chunks - 1).end, rows);
            assert!(
                chunk % align == 0 || threads == 1,
                "{rows} {align} {threads}"
            );
            assert!((chunks - 1) * chunk < rows && chunks * chunk >= rows);
            if threads > 1 && rows >= threads * CHUNKS_PER_THREAD * MIN_CHUNK_ROWS {
                assert!(
                    chunks >= threads * CHUNKS_PER_THREAD / 2,
                    "{rows}: {chunks}"
                );
            }
        }
        assert_eq!(Chunks::new(0, 16, 2, MIN_CHUNK_ROWS).count, 0);
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
