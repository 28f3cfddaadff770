// SPDX-License-Identifier: GPL-2.0

//! The NAPI instances kpoll has held: one entry per NAPI ID with its hold state machine,
//! holder count, watchdog timer and counters.
//!
//! Entries are claimed on first use (process context, from `epoll_wait()`). They store the NAPI
//! *ID*, never a pointer, and look the NAPI up under RCU whenever they act on it, so a NAPI
//! removed by its driver is simply not found any more. Drivers make new NAPIs (new IDs) on
//! channel changes, ring resizes, XDP attach, ifdown/ifup and unbind/rebind, so when no entry is
//! free, one whose NAPI is gone, that nobody holds and whose timer is quiet is reclaimed for the
//! new ID (see `policy::claim`); its counters move to the table's retired totals, so the totals
//! in `/proc/net/kpoll` never go backwards. Only when all entries serve live NAPIs is a new one
//! left to its IRQ; that is counted (`untracked`) and logged once.
//!
//! Dropping the table stops every watchdog and gives every held queue back to its IRQ.

use crate::policy::{
    claim::Claim,
    counters::{NapiCounters, NapiCountersSnapshot},
    hold::{NapiHold, Watchdog},
};
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use kernel::{
    hrtimer::{HrTimer, HrTimerCallback, Restart},
    impl_has_hr_timer,
    init::pin_init_array_from_fn,
    net::napi::Napi,
    prelude::*,
    rcu,
    time::Ktime,
};

/// How many NAPI instances that still exist kpoll manages at once; further ones are left to
/// their IRQs (counted as `untracked`).
pub(crate) const MAX_NAPIS: usize = 64;

/// The current `CLOCK_MONOTONIC` time in nanoseconds.
pub(crate) fn now_ns() -> u64 {
    Ktime::ktime_get().to_ns() as u64
}

/// One NAPI instance's hold state.
#[pin_data]
pub(crate) struct NapiEntry {
    /// The NAPI ID served (0 while free) and how many epoll instances hold it.
    claim: Claim,
    pub(crate) hold: NapiHold,
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
            claim: Claim::new(),
            hold: NapiHold::new(),
            held_since: AtomicU64::new(0),
            counters: NapiCounters::new(),
            watchdog <- HrTimer::new(),
        })
    }

    /// The NAPI ID (0 if free).
    pub(crate) fn id(&self) -> u32 {
        self.claim.id()
    }

    /// Counts one more epoll instance holding this NAPI, if the entry still serves `id`.
    pub(crate) fn add_holder(&self, id: u32) -> bool {
        self.claim.add_holder(id)
    }

    /// An epoll instance that held this NAPI returned without events or was freed. When it was
    /// the last holder, the queue goes back to its IRQ now (`napi` is `None` if the NAPI is
    /// gone). Process context.
    pub(crate) fn remove_holder(&self, napi: Option<&Napi<'_>>) {
        if self.claim.remove_holder() != 0 {
            return;
        }
        if self.hold.would_sleep() {
            self.counters.inc_idle_resumes();
            self.account_held_time();
        }
        if let Some(napi) = napi {
            napi.release_irq();
        }
    }

    /// A holder's `epoll_wait()` returned events: hold the IRQ until the watchdog deadline and
    /// make sure the watchdog runs. Process context.
    pub(crate) fn hold_for(&self, napi: &Napi<'_>, watchdog_ns: u64) {
        let now = now_ns();
        if self.hold.events_delivered(now, watchdog_ns).newly_held {
            self.held_since.store(now, Ordering::Relaxed);
            self.counters.inc_suspensions();
        }
        // The bit is set before the timer is checked, so a pending or running watchdog will
        // always see it (see `policy::hold`). A NAPI being disabled or deleted refuses the bit;
        // the deadline then just runs out.
        if !napi.irq_held() {
            napi.hold_irq();
        }
        if self.hold.need_timer() {
            self.watchdog
                .start(Ktime::from_raw(self.hold.deadline() as i64));
        }
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

    /// Whether this entry may serve another NAPI: its NAPI is gone, nobody holds it and its
    /// timer is quiet. The holder count is checked again, atomically, by the reclaim itself.
    fn reclaimable(&self, rcu: &rcu::ReadGuard) -> bool {
        let id = self.id();
        id != 0
            && self.claim.holders() == 0
            && self.hold.is_quiet()
            && Napi::find(rcu, id).is_none()
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
                // no deadline, and this is the path that clears it. If the entry was reclaimed
                // since the timer disarmed, this releases the new NAPI once: harmless.
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
    /// Serialises claiming and reclaiming entries (a try-lock: a busy claimer just skips this
    /// round).
    claiming: AtomicBool,
    /// Counters of entries that were reclaimed for another NAPI instance.
    retired: NapiCounters,
    /// Entries reclaimed so far.
    reclaimed: AtomicU64,
    /// Times a NAPI could not be managed because every entry served a live NAPI.
    untracked: AtomicU64,
}

impl NapiTable {
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            entries <- pin_init_array_from_fn(|_| NapiEntry::new()),
            claiming: AtomicBool::new(false),
            retired: NapiCounters::new(),
            reclaimed: AtomicU64::new(0),
            untracked: AtomicU64::new(0),
        })
    }

    /// The entry for NAPI `id`, if there is one.
    pub(crate) fn find(&self, id: u32) -> Option<&NapiEntry> {
        self.entries.iter().find(|e| e.id() == id)
    }

    /// The entry for NAPI `id`, claiming a free one or reclaiming one whose NAPI is gone if
    /// needed. `None` if every entry serves a live NAPI (counted), or another CPU is claiming
    /// right now (the caller then simply does not hold this round). Process context.
    pub(crate) fn find_or_claim(&self, rcu: &rcu::ReadGuard, id: u32) -> Option<&NapiEntry> {
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
        let entry = self.find(id).or_else(|| self.claim(rcu, id));
        self.claiming.store(false, Ordering::Release);
        entry
    }

    fn claim(&self, rcu: &rcu::ReadGuard, id: u32) -> Option<&NapiEntry> {
        if let Some(free) = self.entries.iter().find(|e| e.claim.claim_free(id)) {
            return Some(free);
        }
        for entry in self.entries.iter() {
            let old = entry.id();
            if entry.reclaimable(rcu) && entry.claim.reclaim(old, id) {
                self.retired.add(&entry.counters.take());
                self.reclaimed.fetch_add(1, Ordering::Relaxed);
                return Some(entry);
            }
        }
        if self.untracked.fetch_add(1, Ordering::Relaxed) == 0 {
            pr_warn!(
                "all {} NAPI entries serve live NAPIs; NAPI {} stays IRQ-driven (counted as untracked)\n",
                MAX_NAPIS,
                id
            );
        }
        None
    }

    /// Entries in use.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &NapiEntry> {
        self.entries.iter().filter(|e| e.id() != 0)
    }

    /// The counters of reclaimed entries, to add to the totals.
    pub(crate) fn retired(&self) -> NapiCountersSnapshot {
        self.retired.snapshot()
    }

    /// Entries reclaimed for another NAPI so far.
    pub(crate) fn reclaimed(&self) -> u64 {
        self.reclaimed.load(Ordering::Relaxed)
    }

    /// NAPIs left to their IRQs because the table was full of live ones.
    pub(crate) fn untracked(&self) -> u64 {
        self.untracked.load(Ordering::Relaxed)
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
