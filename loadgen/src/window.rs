//! The run's time line: when the warm-up ends, when sending ends and when the drain gives up.
//!
//! Opened at the start, with the warm-up ending `--warmup` seconds later; or, with
//! `--start-on-stdin`, by the caller: the warm-up then lasts until a line (or end of file)
//! arrives on standard input, and at least `--warmup` seconds. Either way the measured part,
//! `--duration` minus `--warmup` seconds long, starts where the warm-up ends. A harness that
//! reads a system's counters around the measured part can so take as long as it needs for its
//! first reading; with a fixed time line a slow reading could miss the whole run.

use std::sync::atomic::{AtomicU64, Ordering};

/// Times are CLOCK_MONOTONIC ns; `u64::MAX` means "not yet".
#[derive(Debug)]
pub struct Window {
    warmup_end_ns: AtomicU64,
    end_ns: AtomicU64,
    drain_end_ns: AtomicU64,
}

impl Window {
    /// A warm-up that lasts until open() is called.
    pub fn open_ended() -> Window {
        Window {
            warmup_end_ns: AtomicU64::new(u64::MAX),
            end_ns: AtomicU64::new(u64::MAX),
            drain_end_ns: AtomicU64::new(u64::MAX),
        }
    }

    /// Ends the warm-up at `at_ns`: the measured part lasts `measure_ns`, the drain at most
    /// `drain_ns` after it. Only the first call counts.
    pub fn open(&self, at_ns: u64, measure_ns: u64, drain_ns: u64) {
        // The warm-up's end is published before the run's end (release/acquire pairs with
        // end_ns()), so a worker that sees the end also sees which replies were measured.
        if self
            .warmup_end_ns
            .compare_exchange(u64::MAX, at_ns, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return;
        }
        let end = at_ns.saturating_add(measure_ns);
        self.drain_end_ns
            .store(end.saturating_add(drain_ns), Ordering::Release);
        self.end_ns.store(end, Ordering::Release);
    }

    pub fn warmup_end_ns(&self) -> u64 {
        self.warmup_end_ns.load(Ordering::Acquire)
    }

    pub fn end_ns(&self) -> u64 {
        self.end_ns.load(Ordering::Acquire)
    }

    pub fn drain_end_ns(&self) -> u64 {
        self.drain_end_ns.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_ended_window_never_ends_until_opened_and_opens_once() {
        let w = Window::open_ended();
        assert_eq!(
            (w.warmup_end_ns(), w.end_ns(), w.drain_end_ns()),
            (u64::MAX, u64::MAX, u64::MAX)
        );
        w.open(100, 50, 7);
        assert_eq!(
            (w.warmup_end_ns(), w.end_ns(), w.drain_end_ns()),
            (100, 150, 157)
        );
        w.open(1000, 50, 7);
        assert_eq!(
            (w.warmup_end_ns(), w.end_ns(), w.drain_end_ns()),
            (100, 150, 157)
        );
    }

    #[test]
    fn a_window_opened_at_once_ignores_a_later_open() {
        let w = Window::open_ended();
        w.open(10, 10, 10);
        w.open(100, 50, 7);
        assert_eq!(
            (w.warmup_end_ns(), w.end_ns(), w.drain_end_ns()),
            (10, 20, 30)
        );
    }
}
