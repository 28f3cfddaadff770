// SPDX-License-Identifier: GPL-2.0

//! The adaptive hold deadline: a small multiple of the application's own pace.
//!
//! A hold lasts until `epoll_wait()` returns without events, or until the watchdog finds that no
//! holder returned events for a while: the application stalled and its queue must go back to
//! its IRQ. How long "a while" should be depends on the application: on a fast machine a
//! memcached batch takes microseconds, under emulation it takes a millisecond. A fixed
//! `watchdog_us` is either too short somewhere (it fires in the middle of batches) or too long
//! elsewhere (a stalled holder keeps a shared queue masked for the whole period).
//!
//! So each NAPI instance keeps a running estimate of the time between returns with events
//! while it is held ([`Rhythm::delivered`], an exponentially weighted mean with weight
//! 1/[`WEIGHT`], each sample capped at `watchdog_us`), and a hold lasts
//! [`DEADLINE_MULTIPLE`] times that, at least [`MIN_DEADLINE_NS`] and at most `watchdog_us`,
//! which stays the one knob: the upper bound. Before the first estimate a hold lasts
//! `watchdog_us`. Only intervals inside one hold are samples: the gap before a hold began is
//! idle time, not pace.
//!
//! Relaxed atomics, updated by every holder's `epoll_wait()` on any CPU: concurrent updates may
//! lose a sample, which only slows the estimate.

use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// A hold lasts this many times the mean interval between returns with events.
pub const DEADLINE_MULTIPLE: u64 = 16;
/// The shortest adaptive deadline (the smallest `watchdog_us`).
pub const MIN_DEADLINE_NS: u64 = 50_000;
/// Each new interval moves the estimate by 1/WEIGHT of its difference.
pub const WEIGHT: u64 = 8;

/// Pace estimate of one NAPI instance. See the [module documentation](self).
#[derive(Default)]
pub struct Rhythm {
    /// When a holder last returned events (ns), 0 before the first.
    last_ns: AtomicU64,
    /// The mean interval (ns), 0 while unknown.
    mean_ns: AtomicU64,
    /// The deadline the latest hold was given (ns).
    current_ns: AtomicU64,
    /// The upper bound (`watchdog_us`, ns) that deadline was given under.
    bound_ns: AtomicU64,
}

impl Rhythm {
    /// No estimate yet.
    pub const fn new() -> Self {
        Self {
            last_ns: AtomicU64::new(0),
            mean_ns: AtomicU64::new(0),
            current_ns: AtomicU64::new(0),
            bound_ns: AtomicU64::new(0),
        }
    }

    /// A holder's `epoll_wait()` returned events at `now`; `continuing` is false when this
    /// return begins a hold. Returns the deadline (ns from now) for the hold, from the estimate
    /// and the upper bound `watchdog_ns`.
    pub fn delivered(&self, now: u64, continuing: bool, watchdog_ns: u64) -> u64 {
        let last = self.last_ns.swap(now, Relaxed);
        if continuing && last != 0 && now > last {
            let sample = (now - last).min(watchdog_ns);
            let mean = self.mean_ns.load(Relaxed);
            let next = if mean == 0 {
                sample
            } else if sample >= mean {
                mean + (sample - mean) / WEIGHT
            } else {
                mean - (mean - sample) / WEIGHT
            };
            self.mean_ns.store(next.max(1), Relaxed);
        }
        let deadline = self.deadline(watchdog_ns);
        self.current_ns.store(deadline, Relaxed);
        self.bound_ns.store(watchdog_ns, Relaxed);
        deadline
    }

    /// The deadline a hold gets now: `DEADLINE_MULTIPLE` times the mean interval, within
    /// `[MIN_DEADLINE_NS, watchdog_ns]`; `watchdog_ns` while there is no estimate.
    pub fn deadline(&self, watchdog_ns: u64) -> u64 {
        match self.mean_ns.load(Relaxed) {
            0 => watchdog_ns,
            mean => mean
                .saturating_mul(DEADLINE_MULTIPLE)
                .clamp(MIN_DEADLINE_NS.min(watchdog_ns), watchdog_ns),
        }
    }

    /// The deadline the latest hold was given (0 before any): a watchdog fire with a deadline
    /// below `watchdog_us` was decided by the estimate.
    #[cfg(test)]
    pub fn current(&self) -> u64 {
        self.current_ns.load(Relaxed)
    }

    /// The watchdog released a hold whose deadline the estimate decided (`decided_early`):
    /// the pace was slower than estimated. Gaps that outlast a hold are never sampled (the
    /// next return begins a new hold), so without this an estimate made in a fast burst could
    /// stay short for good; doubling it lets the deadline catch up within a few fires.
    pub fn fired_early(&self) {
        let mean = self.mean_ns.load(Relaxed);
        let bound = self.bound_ns.load(Relaxed);
        if mean != 0 {
            self.mean_ns
                .store(mean.saturating_mul(2).min(bound.max(1)), Relaxed);
        }
    }

    /// Whether the latest hold's deadline was shorter than its upper bound: a watchdog fire then
    /// was the estimate's decision (counted as `early_fires`).
    pub fn decided_early(&self) -> bool {
        self.current_ns.load(Relaxed) < self.bound_ns.load(Relaxed)
    }

    /// No estimate again (the entry serves another NAPI instance).
    pub fn reset(&self) {
        self.last_ns.store(0, Relaxed);
        self.mean_ns.store(0, Relaxed);
        self.current_ns.store(0, Relaxed);
        self.bound_ns.store(0, Relaxed);
    }

    /// The mean interval between returns with events while held (ns), 0 while unknown.
    #[cfg(test)]
    pub fn mean(&self) -> u64 {
        self.mean_ns.load(Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const US: u64 = 1000;
    const WD: u64 = 10_000 * US;

    #[test]
    fn without_an_estimate_a_hold_lasts_the_watchdog() {
        let r = Rhythm::new();
        assert_eq!(r.delivered(5 * US, false, WD), WD);
        assert_eq!(r.mean(), 0);
        assert_eq!(r.current(), WD);
        assert!(!r.decided_early());
    }

    #[test]
    fn a_steady_pace_gives_a_multiple_of_it() {
        let r = Rhythm::new();
        let mut now = 1_000 * US;
        r.delivered(now, false, WD);
        for _ in 0..50 {
            now += 100 * US;
            r.delivered(now, true, WD);
        }
        assert_eq!(r.mean(), 100 * US);
        assert_eq!(r.deadline(WD), DEADLINE_MULTIPLE * 100 * US);
        assert!(r.decided_early());
        assert_eq!(r.current(), DEADLINE_MULTIPLE * 100 * US);
    }

    #[test]
    fn the_gap_before_a_hold_is_not_a_sample() {
        let r = Rhythm::new();
        r.delivered(1_000 * US, true, WD);
        r.delivered(1_100 * US, true, WD);
        // Idle for a second, then a new hold.
        r.delivered(1_001_100 * US, false, WD);
        assert_eq!(r.mean(), 100 * US);
    }

    #[test]
    fn the_deadline_stays_within_its_bounds() {
        let fast = Rhythm::new();
        fast.delivered(1_000, true, WD);
        fast.delivered(1_100, true, WD);
        assert_eq!(fast.deadline(WD), MIN_DEADLINE_NS);
        // A watchdog below the floor is still the upper bound.
        assert_eq!(fast.deadline(20 * US), 20 * US);

        let slow = Rhythm::new();
        slow.delivered(1, true, WD);
        slow.delivered(1 + 5 * WD, true, WD);
        assert_eq!(slow.mean(), WD, "samples are capped at the watchdog");
        assert_eq!(slow.deadline(WD), WD);
    }

    #[test]
    fn one_stall_moves_the_estimate_by_an_eighth() {
        let r = Rhythm::new();
        let mut now = 1_000 * US;
        r.delivered(now, false, WD);
        for _ in 0..20 {
            now += 100 * US;
            r.delivered(now, true, WD);
        }
        now += 2_100 * US;
        r.delivered(now, true, WD);
        assert_eq!(r.mean(), 100 * US + 2_000 * US / WEIGHT);
    }

    #[test]
    fn early_fires_let_a_short_estimate_catch_up() {
        let r = Rhythm::new();
        // A fast burst: returns 3 µs apart.
        r.delivered(1_000 * US, false, WD);
        for i in 1..=20 {
            r.delivered(1_000 * US + 3 * US * i, true, WD);
        }
        assert_eq!(r.deadline(WD), MIN_DEADLINE_NS);
        // The application settles at one return every 200 µs: each hold is released early
        // and its gap is never sampled, but each early fire doubles the estimate.
        let mut fires = 0;
        while r.deadline(WD) < 200 * US {
            r.fired_early();
            fires += 1;
            assert!(fires < 10, "never caught up");
        }
        assert!(r.mean() <= WD);
    }

    #[test]
    fn concurrent_holders_keep_a_sane_estimate() {
        let r = Rhythm::new();
        let clock = AtomicU64::new(1);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..10_000 {
                        let now = clock.fetch_add(50 * US, Relaxed);
                        let d = r.delivered(now, true, WD);
                        assert!((MIN_DEADLINE_NS..=WD).contains(&d));
                    }
                });
            }
        });
        assert!(r.mean() <= WD);
    }
}
