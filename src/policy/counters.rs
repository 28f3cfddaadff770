// SPDX-License-Identifier: GPL-2.0

//! Per-NAPI statistics, shown by the module's stats file.
//!
//! Counters are bumped from every context: suspensions and application polls from
//! `epoll_wait()` (process context), idle resumes from `epoll_wait()` about to sleep (process
//! context) and watchdog fires from the hrtimer callback (hardirq context). They are plain
//! relaxed atomic adds: each value is exact, but a [`NapiCounters::snapshot`] taken while they
//! change is not a single instant across fields, which is fine for statistics.
//!
//! Additions wrap on overflow instead of panicking; at one event per nanosecond a `u64` lasts
//! for centuries.

use core::sync::atomic::{AtomicU64, Ordering};

/// Live statistics of one NAPI instance.
#[derive(Default)]
pub struct NapiCounters {
    suspensions: AtomicU64,
    app_polls: AtomicU64,
    app_packets: AtomicU64,
    idle_resumes: AtomicU64,
    watchdog_fires: AtomicU64,
    held_ns: AtomicU64,
    service_polls: AtomicU64,
}

impl NapiCounters {
    /// Returns all-zero counters.
    pub const fn new() -> Self {
        Self {
            suspensions: AtomicU64::new(0),
            app_polls: AtomicU64::new(0),
            app_packets: AtomicU64::new(0),
            idle_resumes: AtomicU64::new(0),
            watchdog_fires: AtomicU64::new(0),
            held_ns: AtomicU64::new(0),
            service_polls: AtomicU64::new(0),
        }
    }

    /// Counts a queue becoming held (its IRQ stays masked).
    pub fn inc_suspensions(&self) {
        self.suspensions.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one NAPI poll run from `epoll_wait()`.
    pub fn inc_app_polls(&self) {
        self.app_polls.fetch_add(1, Ordering::Relaxed);
    }

    /// Adds `packets` handled by NAPI polls run from `epoll_wait()`.
    pub fn add_app_packets(&self, packets: u64) {
        self.app_packets.fetch_add(packets, Ordering::Relaxed);
    }

    /// Counts a hold handed back because `epoll_wait()` was about to sleep.
    pub fn inc_idle_resumes(&self) {
        self.idle_resumes.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a hold released by the watchdog because the application stalled.
    pub fn inc_watchdog_fires(&self) {
        self.watchdog_fires.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a poll the watchdog scheduled because the holder was busy elsewhere.
    pub fn inc_service_polls(&self) {
        self.service_polls.fetch_add(1, Ordering::Relaxed);
    }

    /// Adds `ns` nanoseconds to the total time the queue was held.
    pub fn add_held_ns(&self, ns: u64) {
        self.held_ns.fetch_add(ns, Ordering::Relaxed);
    }

    /// Returns the current values and resets them to zero, field by field (an entry that is
    /// reused for another NAPI instance hands its history to the table's retired totals).
    pub fn take(&self) -> NapiCountersSnapshot {
        NapiCountersSnapshot {
            suspensions: self.suspensions.swap(0, Ordering::Relaxed),
            app_polls: self.app_polls.swap(0, Ordering::Relaxed),
            app_packets: self.app_packets.swap(0, Ordering::Relaxed),
            idle_resumes: self.idle_resumes.swap(0, Ordering::Relaxed),
            watchdog_fires: self.watchdog_fires.swap(0, Ordering::Relaxed),
            held_ns: self.held_ns.swap(0, Ordering::Relaxed),
            service_polls: self.service_polls.swap(0, Ordering::Relaxed),
        }
    }

    /// Adds every field of `other` (the retired totals of reclaimed entries).
    pub fn add(&self, other: &NapiCountersSnapshot) {
        self.suspensions
            .fetch_add(other.suspensions, Ordering::Relaxed);
        self.app_polls.fetch_add(other.app_polls, Ordering::Relaxed);
        self.app_packets
            .fetch_add(other.app_packets, Ordering::Relaxed);
        self.idle_resumes
            .fetch_add(other.idle_resumes, Ordering::Relaxed);
        self.watchdog_fires
            .fetch_add(other.watchdog_fires, Ordering::Relaxed);
        self.held_ns.fetch_add(other.held_ns, Ordering::Relaxed);
        self.service_polls
            .fetch_add(other.service_polls, Ordering::Relaxed);
    }

    /// Returns the current values, for reporting.
    pub fn snapshot(&self) -> NapiCountersSnapshot {
        NapiCountersSnapshot {
            suspensions: self.suspensions.load(Ordering::Relaxed),
            app_polls: self.app_polls.load(Ordering::Relaxed),
            app_packets: self.app_packets.load(Ordering::Relaxed),
            idle_resumes: self.idle_resumes.load(Ordering::Relaxed),
            watchdog_fires: self.watchdog_fires.load(Ordering::Relaxed),
            held_ns: self.held_ns.load(Ordering::Relaxed),
            service_polls: self.service_polls.load(Ordering::Relaxed),
        }
    }
}

/// Plain copy of [`NapiCounters`], for formatting and for summing a global line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NapiCountersSnapshot {
    /// Times the queue became held.
    pub suspensions: u64,
    /// NAPI polls run from `epoll_wait()`.
    pub app_polls: u64,
    /// Packets handled by NAPI polls run from `epoll_wait()`.
    pub app_packets: u64,
    /// Holds handed back because `epoll_wait()` was about to sleep.
    pub idle_resumes: u64,
    /// Holds released by the watchdog.
    pub watchdog_fires: u64,
    /// Total nanoseconds the queue was held.
    pub held_ns: u64,
    /// Polls the watchdog scheduled while the holder was busy elsewhere.
    pub service_polls: u64,
}

impl NapiCountersSnapshot {
    /// Adds `other` field by field, wrapping on overflow.
    pub fn add(&mut self, other: &NapiCountersSnapshot) {
        self.suspensions = self.suspensions.wrapping_add(other.suspensions);
        self.app_polls = self.app_polls.wrapping_add(other.app_polls);
        self.app_packets = self.app_packets.wrapping_add(other.app_packets);
        self.idle_resumes = self.idle_resumes.wrapping_add(other.idle_resumes);
        self.watchdog_fires = self.watchdog_fires.wrapping_add(other.watchdog_fires);
        self.held_ns = self.held_ns.wrapping_add(other.held_ns);
        self.service_polls = self.service_polls.wrapping_add(other.service_polls);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_at_zero() {
        assert_eq!(
            NapiCounters::new().snapshot(),
            NapiCountersSnapshot::default()
        );
        assert_eq!(
            NapiCounters::default().snapshot(),
            NapiCountersSnapshot::default()
        );
    }

    #[test]
    fn each_method_bumps_its_own_field() {
        let counters = NapiCounters::new();
        counters.inc_suspensions();
        counters.inc_app_polls();
        counters.inc_app_polls();
        counters.add_app_packets(64);
        counters.add_app_packets(3);
        counters.inc_idle_resumes();
        counters.inc_watchdog_fires();
        counters.add_held_ns(1500);
        counters.inc_service_polls();
        counters.inc_service_polls();
        counters.inc_service_polls();
        assert_eq!(
            counters.snapshot(),
            NapiCountersSnapshot {
                suspensions: 1,
                app_polls: 2,
                app_packets: 67,
                idle_resumes: 1,
                watchdog_fires: 1,
                held_ns: 1500,
                service_polls: 3,
            }
        );
    }

    #[test]
    fn counters_are_monotone() {
        let counters = NapiCounters::new();
        let mut previous = counters.snapshot();
        for round in 0..100u64 {
            counters.inc_suspensions();
            counters.inc_app_polls();
            counters.add_app_packets(round);
            if round % 3 == 0 {
                counters.inc_idle_resumes();
            }
            if round % 7 == 0 {
                counters.inc_watchdog_fires();
            }
            counters.add_held_ns(round * 10);
            let now = counters.snapshot();
            assert!(now.suspensions > previous.suspensions);
            assert!(now.app_polls > previous.app_polls);
            assert!(now.app_packets >= previous.app_packets);
            assert!(now.idle_resumes >= previous.idle_resumes);
            assert!(now.watchdog_fires >= previous.watchdog_fires);
            assert!(now.held_ns >= previous.held_ns);
            previous = now;
        }
        assert_eq!(previous.app_packets, 4950);
        assert_eq!(previous.idle_resumes, 34);
        assert_eq!(previous.watchdog_fires, 15);
    }

    #[test]
    fn concurrent_adds_are_not_lost() {
        let counters = NapiCounters::new();
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    for _ in 0..10_000 {
                        counters.inc_app_polls();
                        counters.add_app_packets(2);
                    }
                });
            }
        });
        let snapshot = counters.snapshot();
        assert_eq!(snapshot.app_polls, 40_000);
        assert_eq!(snapshot.app_packets, 80_000);
    }

    #[test]
    fn take_moves_everything_into_retired_totals() {
        let live = NapiCounters::new();
        live.inc_suspensions();
        live.add_app_packets(5);
        live.add_held_ns(7);
        let retired = NapiCounters::new();
        retired.add(&live.take());
        assert_eq!(live.snapshot(), NapiCountersSnapshot::default());
        let moved = retired.snapshot();
        assert_eq!(
            (moved.suspensions, moved.app_packets, moved.held_ns),
            (1, 5, 7)
        );
    }

    #[test]
    fn snapshots_sum() {
        let first = NapiCounters::new();
        first.inc_suspensions();
        first.add_app_packets(10);
        first.add_held_ns(100);
        let second = NapiCounters::new();
        second.inc_suspensions();
        second.inc_watchdog_fires();
        second.add_held_ns(u64::MAX);

        let mut total = NapiCountersSnapshot::default();
        total.add(&first.snapshot());
        total.add(&second.snapshot());
        assert_eq!(total.suspensions, 2);
        assert_eq!(total.app_packets, 10);
        assert_eq!(total.watchdog_fires, 1);
        assert_eq!(total.app_polls, 0);
        // Wraps instead of panicking.
        assert_eq!(total.held_ns, 99);
    }
}
