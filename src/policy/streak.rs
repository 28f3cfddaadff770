// SPDX-License-Identifier: GPL-2.0

//! When a queue is worth holding: only while the application *keeps* finding work.
//!
//! An application that wakes from sleep with one event, answers it and goes back to sleep (one
//! request at a time, low load) gains nothing from a hold: the next `epoll_wait()` finds nothing
//! and would only pay for a poll and a hand-back on every request. A hold pays off when
//! `epoll_wait()` returns events again *without having slept* since the previous delivery: the
//! application came back and work was already waiting. [`WorkStreak`] tells the two apart.
//!
//! `delivered` runs when `epoll_wait()` returns events, `slept` when it is about to sleep (both
//! process context, possibly on several CPUs for several epoll instances on one NAPI; a lost
//! update only delays or advances one hold by one delivery).

use core::sync::atomic::{AtomicBool, Ordering};

/// Whether events were delivered since the last time `epoll_wait()` went to sleep.
#[derive(Default)]
pub struct WorkStreak {
    delivered_since_sleep: AtomicBool,
}

impl WorkStreak {
    /// A streak that has not started.
    pub const fn new() -> Self {
        Self {
            delivered_since_sleep: AtomicBool::new(false),
        }
    }

    /// `epoll_wait()` returns events. Returns true if this continues a streak (events were also
    /// delivered before, with no sleep in between): the queue should be held.
    pub fn delivered(&self) -> bool {
        self.delivered_since_sleep.swap(true, Ordering::Relaxed)
    }

    /// `epoll_wait()` found nothing and is about to sleep: the streak ends.
    pub fn slept(&self) {
        self.delivered_since_sleep.store(false, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_delivery_after_sleep_does_not_hold() {
        let streak = WorkStreak::new();
        assert!(
            !streak.delivered(),
            "woken from sleep: one request, no hold"
        );
        streak.slept();
        assert!(!streak.delivered());
    }

    #[test]
    fn back_to_back_deliveries_hold() {
        let streak = WorkStreak::new();
        assert!(!streak.delivered());
        assert!(streak.delivered(), "came back and work was waiting");
        assert!(streak.delivered());
        streak.slept();
        assert!(!streak.delivered(), "a sleep ends the streak");
        assert!(streak.delivered());
    }

    #[test]
    fn sleeping_twice_is_harmless() {
        let streak = WorkStreak::default();
        streak.slept();
        streak.slept();
        assert!(!streak.delivered());
    }
}
