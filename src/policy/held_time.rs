// SPDX-License-Identifier: GPL-2.0

//! How long each hold lasted, for the `held_us` counter.
//!
//! A hold's start is recorded by the holder that began it, just after it published the hold
//! (`NapiHold::events_delivered_for` said the queue is newly held), and taken by whoever ends
//! it: the last holder leaving, another thread of the same epoll returning without events, or
//! the watchdog. Those can be two CPUs, and the end can come first, between the publication and
//! the record. [`HoldStart::ended`] therefore takes the start with a swap to 0, and a hold whose
//! start is not recorded yet counts as nothing: it lasted only that race. (A plain read counted
//! it from the previous hold's start, or from boot for an entry's first hold.)
//!
//! The late record then stays until the next hold's start overwrites it, so only a second race
//! in a row — that next hold also ended before its start is recorded — counts time it should
//! not. The counter is statistics (relaxed, see `super::counters`); nothing decides on it.

use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// The start of the current hold of one NAPI instance (ns, the glue's clock), or 0 if none is
/// recorded. The clock never reads 0 once the system runs.
#[derive(Default)]
pub struct HoldStart {
    since: AtomicU64,
}

impl HoldStart {
    /// No hold recorded.
    pub const fn new() -> Self {
        Self {
            since: AtomicU64::new(0),
        }
    }

    /// The holder that began a hold records its start (process context).
    pub fn began(&self, now: u64) {
        self.since.store(now, Relaxed);
    }

    /// The hold ended at `now` (any context): how long it lasted, in ns.
    pub fn ended(&self, now: u64) -> u64 {
        match self.since.swap(0, Relaxed) {
            0 => 0,
            since => now.saturating_sub(since),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hold_lasts_from_its_start_to_its_end() {
        let start = HoldStart::new();
        start.began(1_000);
        assert_eq!(start.ended(1_700), 700);
        start.began(2_000);
        assert_eq!(start.ended(1_999), 0, "clocks of two CPUs");
    }

    /// Two threads of one epoll: T1 publishes a new hold; before T1 records its start, T2
    /// returns without events, which ends the hold. Then T1 records the start, late; the next
    /// hold records its own.
    #[test]
    fn a_hold_ended_before_its_start_was_recorded_counts_nothing() {
        let start = HoldStart::new();
        let uptime = 5_000_000_000;
        assert_eq!(start.ended(uptime), 0, "not the time since boot");
        start.began(uptime + 100);
        start.began(uptime + 9_000);
        assert_eq!(start.ended(uptime + 9_500), 500);
        start.began(uptime + 20_000);
        assert_eq!(start.ended(uptime + 20_000), 0);
        assert_eq!(start.ended(uptime + 30_000), 0, "each start counts once");
    }
}
