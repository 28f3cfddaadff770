// SPDX-License-Identifier: GPL-2.0

//! Per-NAPI statistics, shown by the module's stats file.
//!
//! [`Counter`] is the one list of them: its order is the column order of `/proc/net/kpoll`
//! and [`Counter::column`] the header name, so a new counter is one variant here plus the
//! place that bumps it.
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

/// One statistic of a NAPI instance, in report column order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Counter {
    /// Times the queue became held (its IRQ stays masked).
    Suspensions,
    /// NAPI polls run from `epoll_wait()`.
    AppPolls,
    /// Packets handled by NAPI polls run from `epoll_wait()`.
    AppPackets,
    /// Holds handed back because `epoll_wait()` returned without events.
    IdleResumes,
    /// Holds released by the watchdog because the holders stalled.
    WatchdogFires,
    /// Total nanoseconds the queue was held (reported in microseconds).
    HeldNs,
    /// Polls the watchdog scheduled while the holder was busy elsewhere.
    ServicePolls,
    /// Holds not taken because the queue's recent holds were not worth their cost
    /// (see [`super::admission`]).
    Declined,
    /// Watchdog fires that the adaptive deadline decided: before `watchdog_us` had passed
    /// (see [`super::rhythm`]). Also counted in [`Counter::WatchdogFires`].
    EarlyFires,
}

/// Number of counters.
pub const COUNTERS: usize = Counter::ALL.len();

impl Counter {
    /// Every counter, in report column order.
    pub const ALL: [Counter; 9] = [
        Counter::Suspensions,
        Counter::AppPolls,
        Counter::AppPackets,
        Counter::IdleResumes,
        Counter::WatchdogFires,
        Counter::HeldNs,
        Counter::ServicePolls,
        Counter::Declined,
        Counter::EarlyFires,
    ];

    /// The column name in `/proc/net/kpoll`.
    pub const fn column(self) -> &'static str {
        match self {
            Counter::Suspensions => "suspensions",
            Counter::AppPolls => "app_polls",
            Counter::AppPackets => "app_packets",
            Counter::IdleResumes => "idle_resumes",
            Counter::WatchdogFires => "watchdog_fires",
            Counter::HeldNs => "held_us",
            Counter::ServicePolls => "service_polls",
            Counter::Declined => "declined",
            Counter::EarlyFires => "early_fires",
        }
    }

    /// The value shown in the report for a raw value (`held_us` is kept in nanoseconds).
    pub const fn shown(self, raw: u64) -> u64 {
        match self {
            Counter::HeldNs => raw / 1000,
            _ => raw,
        }
    }
}

/// Live statistics of one NAPI instance.
#[derive(Default)]
pub struct NapiCounters {
    values: [AtomicU64; COUNTERS],
}

impl NapiCounters {
    /// Returns all-zero counters.
    pub const fn new() -> Self {
        Self {
            values: [const { AtomicU64::new(0) }; COUNTERS],
        }
    }

    /// Adds `n` to `counter`.
    pub fn add(&self, counter: Counter, n: u64) {
        self.values[counter as usize].fetch_add(n, Ordering::Relaxed);
    }

    /// Adds one to `counter`.
    pub fn inc(&self, counter: Counter) {
        self.add(counter, 1);
    }

    /// Returns the current values and resets them to zero, counter by counter (an entry that is
    /// reused for another NAPI instance hands its history to the table's retired totals).
    pub fn take(&self) -> NapiCountersSnapshot {
        NapiCountersSnapshot {
            values: core::array::from_fn(|i| self.values[i].swap(0, Ordering::Relaxed)),
        }
    }

    /// Adds every counter of `other` (the retired totals of reclaimed entries).
    pub fn add_all(&self, other: &NapiCountersSnapshot) {
        for counter in Counter::ALL {
            self.add(counter, other.get(counter));
        }
    }

    /// Returns the current values, for reporting.
    pub fn snapshot(&self) -> NapiCountersSnapshot {
        NapiCountersSnapshot {
            values: core::array::from_fn(|i| self.values[i].load(Ordering::Relaxed)),
        }
    }
}

/// Plain copy of [`NapiCounters`], for formatting and for summing a global line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NapiCountersSnapshot {
    values: [u64; COUNTERS],
}

impl NapiCountersSnapshot {
    /// The raw value of `counter`.
    pub fn get(&self, counter: Counter) -> u64 {
        self.values[counter as usize]
    }

    /// The values as shown in the report, in column order.
    pub fn shown(&self) -> impl Iterator<Item = u64> + '_ {
        Counter::ALL.iter().map(|&c| c.shown(self.get(c)))
    }

    /// Adds `other` counter by counter, wrapping on overflow.
    pub fn add(&mut self, other: &NapiCountersSnapshot) {
        for (mine, theirs) in self.values.iter_mut().zip(other.values) {
            *mine = mine.wrapping_add(theirs);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_follow_the_enum_order() {
        for (i, counter) in Counter::ALL.iter().enumerate() {
            assert_eq!(*counter as usize, i);
        }
        let names: Vec<_> = Counter::ALL.iter().map(|c| c.column()).collect();
        assert_eq!(
            names.join(" "),
            "suspensions app_polls app_packets idle_resumes watchdog_fires held_us \
             service_polls declined early_fires"
        );
    }

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
    fn each_counter_is_its_own() {
        let counters = NapiCounters::new();
        for (i, counter) in Counter::ALL.iter().enumerate() {
            counters.add(*counter, 1000 * (i as u64 + 1));
        }
        counters.inc(Counter::Declined);
        let snap = counters.snapshot();
        for (i, counter) in Counter::ALL.iter().enumerate() {
            let extra = u64::from(*counter == Counter::Declined);
            assert_eq!(snap.get(*counter), 1000 * (i as u64 + 1) + extra);
        }
        let shown: Vec<u64> = snap.shown().collect();
        assert_eq!(shown[Counter::HeldNs as usize], 6);
        assert_eq!(shown[Counter::Declined as usize], 8001);
    }

    #[test]
    fn counters_are_monotone() {
        let counters = NapiCounters::new();
        let mut previous = counters.snapshot();
        for round in 0..100u64 {
            counters.inc(Counter::Suspensions);
            counters.add(Counter::AppPackets, round);
            if round % 7 == 0 {
                counters.inc(Counter::WatchdogFires);
            }
            let now = counters.snapshot();
            for counter in Counter::ALL {
                assert!(now.get(counter) >= previous.get(counter));
            }
            previous = now;
        }
        assert_eq!(previous.get(Counter::AppPackets), 4950);
        assert_eq!(previous.get(Counter::WatchdogFires), 15);
    }

    #[test]
    fn concurrent_adds_are_not_lost() {
        let counters = NapiCounters::new();
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    for _ in 0..10_000 {
                        counters.inc(Counter::AppPolls);
                        counters.add(Counter::AppPackets, 2);
                    }
                });
            }
        });
        let snapshot = counters.snapshot();
        assert_eq!(snapshot.get(Counter::AppPolls), 40_000);
        assert_eq!(snapshot.get(Counter::AppPackets), 80_000);
    }

    #[test]
    fn take_moves_everything_into_retired_totals() {
        let live = NapiCounters::new();
        live.inc(Counter::Suspensions);
        live.add(Counter::AppPackets, 5);
        live.add(Counter::EarlyFires, 7);
        let retired = NapiCounters::new();
        retired.add_all(&live.take());
        assert_eq!(live.snapshot(), NapiCountersSnapshot::default());
        let moved = retired.snapshot();
        assert_eq!(
            (
                moved.get(Counter::Suspensions),
                moved.get(Counter::AppPackets),
                moved.get(Counter::EarlyFires)
            ),
            (1, 5, 7)
        );
    }

    #[test]
    fn snapshots_sum_and_wrap() {
        let first = NapiCounters::new();
        first.inc(Counter::Suspensions);
        first.add(Counter::HeldNs, 100);
        let second = NapiCounters::new();
        second.inc(Counter::Suspensions);
        second.add(Counter::HeldNs, u64::MAX);
        let mut total = NapiCountersSnapshot::default();
        total.add(&first.snapshot());
        total.add(&second.snapshot());
        assert_eq!(total.get(Counter::Suspensions), 2);
        assert_eq!(total.get(Counter::AppPolls), 0);
        assert_eq!(total.get(Counter::HeldNs), 99);
    }
}
