//! Ctrl-C during `ternbench run` and `bench`: finish the repetition in flight and keep every
//! record (`run`: mark the run `interrupted` and say how to resume; `bench`: print the rows
//! measured so far), instead of dying mid-write.
//!
//! The first SIGINT sets a flag the runner checks between repetitions; a second one exits at
//! once (everything measured is already on disk, flushed per repetition).

use std::sync::atomic::{AtomicBool, Ordering};

static REQUESTED: AtomicBool = AtomicBool::new(false);

/// Whether Ctrl-C was pressed since [`install`].
pub fn requested() -> bool {
    REQUESTED.load(Ordering::Relaxed)
}

#[cfg(target_os = "linux")]
extern "C" fn on_sigint(_: libc::c_int) {
    if REQUESTED.swap(true, Ordering::Relaxed) {
        // Second Ctrl-C: leave now. _exit is async-signal-safe.
        // SAFETY: _exit takes no pointers and never returns.
        unsafe { libc::_exit(130) };
    }
}

/// Installs the SIGINT handler (Linux; elsewhere Ctrl-C keeps its default).
pub fn install() {
    #[cfg(target_os = "linux")]
    {
        let handler: extern "C" fn(libc::c_int) = on_sigint;
        // SAFETY: the handler only touches an atomic and calls the async-signal-safe _exit.
        unsafe { libc::signal(libc::SIGINT, handler as libc::sighandler_t) };
    }
}
