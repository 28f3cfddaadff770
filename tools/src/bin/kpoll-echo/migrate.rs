//! `--migrate-ms`: a worker hops to the next online CPU every few milliseconds.

use crate::output::say;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Whether `MIGRATING` was printed.
static MIGRATED: AtomicBool = AtomicBool::new(false);

/// Moves the calling thread to the next online CPU every `every`.
pub(crate) struct Migrator {
    every: Duration,
    last: Instant,
    cpus: usize,
}

impl Migrator {
    pub(crate) fn new(every: Duration) -> Self {
        // SAFETY: plain sysconf(3).
        let online = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
        Self {
            every,
            last: Instant::now(),
            cpus: online.max(1) as usize,
        }
    }

    pub(crate) fn tick(&mut self) {
        if self.cpus < 2 || self.last.elapsed() < self.every {
            return;
        }
        self.last = Instant::now();
        // SAFETY: plain sched_getcpu(3).
        let cur = unsafe { libc::sched_getcpu() };
        let target = if cur < 0 {
            0
        } else {
            (cur as usize + 1) % self.cpus
        };
        // SAFETY: an all-zero cpu_set_t is the empty set; `target` is below CPU_SETSIZE (online
        // CPUs), and `set` is a valid cpu_set_t of the size passed. Pid 0 is this thread.
        let moved = unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(target, &mut set);
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) == 0
        };
        if moved && !MIGRATED.swap(true, Ordering::Relaxed) {
            say(&["MIGRATING"]);
        }
    }
}
