// SPDX-License-Identifier: GPL-2.0

//! The NAPI instances kpoll has held: one entry per NAPI ID with its hold state machine,
//! watchdog timer and counters.
//!
//! Entries are claimed on first use (process context, from `epoll_wait()`) and stay until the
//! module is unloaded; they store the NAPI *ID*, never a pointer, and look the NAPI up under RCU
//! whenever they act on it, so a NAPI removed by its driver is simply not found any more.
//! Dropping the table stops every watchdog and gives every held queue back to its IRQ.

use crate::policy::{
    counters::NapiCounters,
    hold::{NapiHold, Watchdog},
    streak::WorkStreak,
};
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use kernel::{
    hrtimer::{HrTimer, HrTimerCallback, Restart},
    impl_has_hr_timer,
    init::pin_init_array_from_fn,
    net::napi::Napi,
    prelude::*,
    rcu,
    time::Ktime,
};

/// How many distinct NAPI instances kpoll manages; further ones are left to IRQs.
pub(crate) const MAX_NAPIS: usize = 32;

/// The current `CLOCK_MONOTONIC` time in nanoseconds.
pub(crate) fn now_ns() -> u64 {
    Ktime::ktime_get().to_ns() as u64
}

/// One NAPI instance's hold state.
#[pin_data]
pub(crate) struct NapiEntry {
    /// The NAPI ID, or 0 while the entry is free.
    id: AtomicU32,
    pub(crate) hold: NapiHold,
    /// Whether the applications on this NAPI keep finding work (see `policy::streak`).
    streak: WorkStreak,
    /// When the current hold began (ns), for the time-held counter.
    held_since: AtomicU64,
    pub(crate) counters: NapiCounters,
    #[pin]
    watchdog: HrTimer<NapiEntry>,
}

impl_has_hr_timer!(NapiEntry, watchdog);

impl NapiEntry {
    fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            id: AtomicU32::new(0),
            hold: NapiHold::new(),
            streak: WorkStreak::new(),
            held_since: AtomicU64::new(0),
            counters: NapiCounters::new(),
            watchdog <- HrTimer::new(),
        })
    }

    /// The NAPI ID (0 if free).
    pub(crate) fn id(&self) -> u32 {
        self.id.load(Ordering::Relaxed)
    }

    /// `epoll_wait()` returned events for a socket on this NAPI: if the application keeps
    /// finding work, hold its IRQ and make sure the watchdog runs. Process context.
    pub(crate) fn events_delivered(&self, napi: &Napi<'_>, watchdog_ns: u64) {
        if !self.streak.delivered() {
            return;
        }
        let now = now_ns();
        if self.hold.events_delivered(now, watchdog_ns).newly_held {
            self.held_since.store(now, Ordering::Relaxed);
            self.counters.inc_suspensions();
        }
        // The bit is set before the timer is checked, so a pending or running watchdog will
        // always see it (see `policy::hold`).
        if !napi.irq_held() {
            napi.hold_irq();
        }
        if self.hold.need_timer() {
            self.watchdog
                .start(Ktime::from_raw(self.hold.deadline() as i64));
        }
    }

    /// `epoll_wait()` is going to sleep: give the queue back to its IRQ now. Process context.
    pub(crate) fn would_sleep(&self, napi: &Napi<'_>) {
        self.streak.slept();
        if self.hold.would_sleep() {
            self.counters.inc_idle_resumes();
            self.account_held_time();
        }
        napi.release_irq();
    }

    fn account_held_time(&self) {
        let since = self.held_since.load(Ordering::Relaxed);
        self.counters.add_held_ns(now_ns().saturating_sub(since));
    }

    /// Drops the hold bit of this entry's NAPI, if the NAPI still exists. Any context.
    fn release_napi(&self) {
        let rcu = rcu::ReadGuard::new();
        if let Some(napi) = Napi::find(&rcu, self.id()) {
            napi.release_irq();
        }
    }
}

impl HrTimerCallback for NapiEntry {
    /// The watchdog: hardirq context.
    fn fired(&self) -> Restart {
        match self.hold.watchdog_fired(now_ns()) {
            Watchdog::RestartAt(deadline) => Restart::At(Ktime::from_raw(deadline as i64)),
            Watchdog::Expired { released } => {
                if released {
                    self.counters.inc_watchdog_fires();
                    self.account_held_time();
                }
                // Also after a lost race between a hold and a release: the bit may be set with
                // no deadline, and this is the path that clears it.
                self.release_napi();
                Restart::No
            }
        }
    }
}

/// All entries.
#[pin_data(PinnedDrop)]
pub(crate) struct NapiTable {
    #[pin]
    entries: [NapiEntry; MAX_NAPIS],
    /// Serialises claiming a free entry (a try-lock: a busy claimer just skips this round).
    claiming: AtomicBool,
}

impl NapiTable {
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            entries <- pin_init_array_from_fn(|_| NapiEntry::new()),
            claiming: AtomicBool::new(false),
        })
    }

    /// The entry for NAPI `id`, if there is one.
    pub(crate) fn find(&self, id: u32) -> Option<&NapiEntry> {
        self.entries.iter().find(|e| e.id() == id)
    }

    /// The entry for NAPI `id`, claiming a free one if needed. `None` if the table is full or
    /// another CPU is claiming right now (the caller then simply does not hold this round).
    pub(crate) fn find_or_claim(&self, id: u32) -> Option<&NapiEntry> {
        if let Some(entry) = self.find(id) {
            return Some(entry);
        }
        if self
            .claiming
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            return None;
        }
        let entry = self.find(id).or_else(|| {
            let free = self.entries.iter().find(|e| e.id() == 0)?;
            free.id.store(id, Ordering::Release);
            Some(free)
        });
        self.claiming.store(false, Ordering::Release);
        entry
    }

    /// Entries in use.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &NapiEntry> {
        self.entries.iter().filter(|e| e.id() != 0)
    }
}

#[pinned_drop]
impl PinnedDrop for NapiTable {
    /// Module unload, after the hooks are unregistered: stop each watchdog, then give the queue
    /// back to its IRQ. Process context.
    fn drop(self: Pin<&mut Self>) {
        for entry in self.iter() {
            entry.hold.shutdown();
            entry.watchdog.cancel();
            entry.release_napi();
        }
    }
}
