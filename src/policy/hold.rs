// SPDX-License-Identifier: GPL-2.0

//! The per-NAPI hold state machine.
//!
//! A [`NapiHold`] records whether one NAPI instance is held (its IRQ kept masked so that
//! `epoll_wait()` polls it) and until when. It is a deadline, a "timer armed" flag and a
//! "closing" flag, all atomics, so that every transition can run concurrently on any CPU and in
//! any context without a lock:
//!
//! | Method                            | Called from                         | Context  |
//! |-----------------------------------|-------------------------------------|----------|
//! | [`NapiHold::events_delivered`]    | `epoll_wait()` returned events      | process  |
//! | [`NapiHold::need_timer`]          | right after `events_delivered`      | process  |
//! | [`NapiHold::would_sleep`]         | `epoll_wait()` is about to sleep    | process  |
//! | [`NapiHold::watchdog_fired`]      | the per-NAPI hrtimer callback       | hardirq¹ |
//! | [`NapiHold::shutdown`]            | module unload                       | process  |
//! | [`NapiHold::is_held`], [`NapiHold::deadline`] | anywhere (statistics, NAPI poll) | any |
//!
//! ¹ Softirq on `PREEMPT_RT`, where it can also be preempted; nothing below relies on it
//! running without interruption, only on each transition being atomic.
//!
//! Times are nanoseconds of one monotonic clock (the glue uses `ktime_get_ns()` and an absolute
//! `CLOCK_MONOTONIC` hrtimer). A deadline of 0 means "not held".
//!
//! Each method only decides; the glue carries out the returned action afterwards:
//!
//! - [`events_delivered`](NapiHold::events_delivered) returned `newly_held`: set
//!   `NAPI_STATE_KPOLL_HOLD` and count a suspension. Then, in this order, call
//!   [`need_timer`](NapiHold::need_timer) and, if it returns true, start the hrtimer at
//!   [`deadline`](NapiHold::deadline). Starting it is mandatory once `need_timer()` said so, even
//!   if the deadline has meanwhile gone back to 0 (the timer then fires at once and cleans up).
//!   `need_timer()` must run after the bit is set, see the invariant below. Calling it after
//!   every `events_delivered()` is correct; calling it only when `newly_held` is enough.
//! - [`would_sleep`](NapiHold::would_sleep) returned true: `test_and_clear_bit()` the hold bit
//!   and, if it was set, schedule the NAPI instance so that the driver's poll completes and
//!   re-enables the IRQ before the task sleeps. Count an idle resume. The timer is left alone:
//!   it fires at the old deadline, finds nothing held and stops.
//! - [`watchdog_fired`](NapiHold::watchdog_fired) returned [`Watchdog::RestartAt`]: move the
//!   timer's expiry to that time and return `HRTIMER_RESTART`. It returned
//!   [`Watchdog::Expired`]: return `HRTIMER_NORESTART`, always `test_and_clear_bit()` the hold
//!   bit and schedule the NAPI instance if it was set, and count a watchdog fire if `released`.
//! - [`shutdown`](NapiHold::shutdown): after `kpoll_unregister()` has waited for running hooks,
//!   cancel the hrtimer, then clear the hold bit and schedule the NAPI instance if it was set.
//!
//! # Why the deadline is not enough on its own
//!
//! The hold bit lives in `napi->state`, outside this structure, and is set and cleared by the
//! glue after the deadline changed, so the two can briefly disagree. Take two tasks sharing a
//! queue: A's `events_delivered()` makes the queue newly held, B's `would_sleep()` sets the
//! deadline back to 0 and clears the bit, and only then A sets the bit. Now the bit is set, the
//! deadline is 0, and nobody will poll the queue: its IRQ would stay masked forever.
//!
//! That is why the expiry action clears the bit unconditionally, and why this module keeps the
//! following invariant:
//!
//! > Whenever the hold bit may be set, `timer_armed` is true: an hrtimer is pending, or its
//! > callback is running and has yet to make its final re-check of the deadline.
//!
//! The bit is only set right before [`need_timer`](NapiHold::need_timer). If that call wins the
//! flag, the glue starts a timer. If it loses, the flag was already true, so a callback still has
//! to clear the flag and then load the deadline, and both happen after the bit was set. That
//! callback either sees a deadline and keeps a timer running (its own, or the one a concurrent
//! `need_timer()` claimed), or sees 0 and returns `Expired`, whose action clears the bit.
//!
//! This relies on a store-then-load pattern on two locations: the callback clears the flag and
//! then loads the deadline, while `events_delivered()` stores the deadline and then swaps the
//! flag. Only sequentially consistent ordering guarantees that one of the two sees the other's
//! store, so every access to the deadline and the flag is `SeqCst`.
//!
//! The opposite disagreement, a deadline with the bit clear, is harmless: the IRQ is enabled
//! and the queue works as without kpoll until the deadline passes. It happens for example when
//! an `Expired` action clears the bit of a hold that began while the callback ran.
//!
//! # Why a lazily re-armed timer
//!
//! `events_delivered()` only moves the deadline; it never touches the hrtimer, because
//! `hrtimer_start()` on every `epoll_wait()` return is expensive. The timer is started when the
//! queue becomes held and, when it fires, re-arms itself to the latest deadline
//! ([`Watchdog::RestartAt`]) until the deadline has really passed.

use core::sync::atomic::{
    AtomicBool, AtomicU64,
    Ordering::{Relaxed, SeqCst},
};

/// How often the watchdog retries releasing a deadline that keeps moving under it.
///
/// A failed compare-and-swap means `epoll_wait()` changed the deadline at that very moment, so
/// the next try normally sees a future deadline or 0 and stops. The bound only keeps the hardirq
/// callback from spinning; when it runs out the callback simply fires again.
const RELEASE_TRIES: u32 = 8;

/// What [`NapiHold::events_delivered`] decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Delivered {
    /// The queue was IRQ-driven and is now held: the glue sets `NAPI_STATE_KPOLL_HOLD` and
    /// counts a suspension, then calls [`NapiHold::need_timer`].
    pub newly_held: bool,
}

/// The longest a held queue goes without a poll while its holder is busy elsewhere: packets of
/// other applications sharing the queue wait at most about this long (see [`NapiHold::polled`]).
pub const MAX_SERVICE_NS: u64 = 1_000_000;

/// The service interval for a watchdog of `watchdog_ns`: an eighth of it, at most
/// [`MAX_SERVICE_NS`].
pub fn service_interval(watchdog_ns: u64) -> u64 {
    (watchdog_ns / 8).clamp(1, MAX_SERVICE_NS)
}

/// What the hrtimer callback must do, as decided by [`NapiHold::watchdog_fired`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Watchdog {
    /// The queue is still held: restart the timer at this absolute time (`HRTIMER_RESTART`).
    RestartAt(u64),
    /// The queue is still held but was not polled for a service interval (its holder is busy
    /// outside `epoll_wait()`): schedule one NAPI poll now, keeping the hold, so that packets of
    /// whoever shares the queue are not left waiting, and restart the timer at this time.
    ServicePoll(u64),
    /// The timer stops (`HRTIMER_NORESTART`). The glue clears the hold bit, scheduling the NAPI
    /// instance if it was set, whatever `released` says.
    Expired {
        /// The application stalled past the deadline and this call released its hold: count a
        /// watchdog fire.
        released: bool,
    },
}

/// Hold state of one NAPI instance. See the [module documentation](self).
pub struct NapiHold {
    /// Monotonic time in ns until which the queue is held; 0 when IRQ-driven.
    deadline_ns: AtomicU64,
    /// An hrtimer is pending or its callback has not finished its re-check.
    timer_armed: AtomicBool,
    /// [`NapiHold::shutdown`] ran: never hold again.
    closing: AtomicBool,
    /// When the queue was last polled on the holder's behalf (ns): by `epoll_wait()`, by a
    /// service poll, or when the hold was (re)taken.
    last_poll_ns: AtomicU64,
    /// The service interval of the current hold (ns), from the watchdog it was taken with.
    service_ns: AtomicU64,
}

impl NapiHold {
    /// Returns an IRQ-driven, unarmed hold.
    pub const fn new() -> Self {
        Self {
            deadline_ns: AtomicU64::new(0),
            timer_armed: AtomicBool::new(false),
            closing: AtomicBool::new(false),
            last_poll_ns: AtomicU64::new(0),
            service_ns: AtomicU64::new(MAX_SERVICE_NS),
        }
    }

    /// `epoll_wait()` returned events fed by this queue (process context).
    ///
    /// Holds the queue until `now + watchdog_ns`, replacing any earlier deadline. Returns
    /// `newly_held` if it was IRQ-driven before. After [`shutdown`](Self::shutdown) this does
    /// nothing.
    #[cfg_attr(
        MODULE,
        expect(
            dead_code,
            reason = "the module always passes the adaptive deadline: `events_delivered_for`"
        )
    )]
    pub fn events_delivered(&self, now: u64, watchdog_ns: u64) -> Delivered {
        self.events_delivered_for(now, watchdog_ns, service_interval(watchdog_ns))
    }

    /// [`events_delivered`](Self::events_delivered) with a hold of `hold_ns` (the adaptive
    /// deadline, see `super::rhythm`) and a service interval of `service_ns` (from the
    /// `watchdog_us` upper bound, so that a short deadline does not make the timer fire more
    /// often).
    pub fn events_delivered_for(&self, now: u64, hold_ns: u64, service_ns: u64) -> Delivered {
        if self.closing.load(SeqCst) {
            return Delivered { newly_held: false };
        }
        self.service_ns.store(service_ns.max(1), Relaxed);
        self.polled(now);
        // 0 means "not held", so a deadline can never be 0.
        self.hold_until(now.saturating_add(hold_ns).max(1))
    }

    /// The queue was polled at `now` on the holder's behalf (process context, from
    /// `epoll_wait()`; the watchdog notes its own service polls). Any context.
    ///
    /// While the holder keeps polling, the watchdog does nothing but follow the deadline. When
    /// it has not polled for a service interval — it is busy outside `epoll_wait()` for longer
    /// than that, or asleep elsewhere with the hold still taken — the watchdog polls the queue
    /// itself ([`Watchdog::ServicePoll`]), so another application's packets on a held queue
    /// wait about one service interval, not up to the whole watchdog. Relaxed: a stale value
    /// only moves one service poll by one interval.
    pub fn polled(&self, now: u64) {
        self.last_poll_ns.fetch_max(now, Relaxed);
    }

    /// When the timer the glue starts after [`need_timer`](Self::need_timer) must first fire:
    /// the deadline, or the first service poll if that falls due earlier (0, at once, if the
    /// hold has meanwhile gone).
    pub fn first_expiry(&self) -> u64 {
        self.next_fire(self.deadline())
    }

    /// When the timer must fire next for a hold until `deadline`: at the deadline, or earlier
    /// when a service poll falls due.
    fn next_fire(&self, deadline: u64) -> u64 {
        let due = self
            .last_poll_ns
            .load(Relaxed)
            .saturating_add(self.service_ns.load(Relaxed));
        deadline.min(due)
    }

    /// The timer fired at `now` before `deadline`: poll if a service poll is due, and say when
    /// to fire next.
    fn still_held(&self, now: u64, deadline: u64) -> Watchdog {
        let next = self.next_fire(deadline);
        if next > now {
            return Watchdog::RestartAt(next);
        }
        self.polled(now);
        Watchdog::ServicePoll(self.next_fire(deadline).max(now.saturating_add(1)))
    }

    /// Second half of [`events_delivered`](Self::events_delivered), after the first check of
    /// `closing`; separate so that tests can run [`shutdown`](Self::shutdown) in between.
    fn hold_until(&self, deadline: u64) -> Delivered {
        let previous = self.deadline_ns.swap(deadline, SeqCst);
        if self.closing.load(SeqCst) {
            // `shutdown()` ran since the first check and may have zeroed the deadline before the
            // swap above: put it back to 0 so that a closing hold never stays held. The glue
            // still must not call `shutdown()` while hooks can run; see the module docs.
            self.deadline_ns.store(0, SeqCst);
            return Delivered { newly_held: false };
        }
        Delivered {
            newly_held: previous == 0,
        }
    }

    /// Claims the job of starting the hrtimer (process context, after `events_delivered()`).
    ///
    /// Returns true if no timer was armed: the glue must then start it at
    /// [`deadline`](Self::deadline). Returns false while a timer is pending or its callback
    /// still has to re-check the deadline. The glue sets the hold bit before calling this.
    pub fn need_timer(&self) -> bool {
        !self.timer_armed.swap(true, SeqCst)
    }

    /// `epoll_wait()` found no events and is about to sleep (process context).
    ///
    /// Hands the queue back to its IRQ at once. Returns true if it was held: the glue clears the
    /// hold bit and schedules the NAPI instance so that the driver re-enables the IRQ.
    pub fn would_sleep(&self) -> bool {
        self.deadline_ns.swap(0, SeqCst) != 0
    }

    /// The per-NAPI hrtimer fired at `now` (hardirq context).
    ///
    /// Restarts the timer at the deadline if it lies in the future. Otherwise releases the hold
    /// (if any) and stops the timer, unless a new hold began meanwhile and needs the timer.
    pub fn watchdog_fired(&self, now: u64) -> Watchdog {
        if self.closing.load(SeqCst) {
            self.timer_armed.store(false, SeqCst);
            return Watchdog::Expired { released: false };
        }
        match self.release_if_expired(now, self.deadline_ns.load(SeqCst)) {
            Ok(released) => {
                self.disarm();
                self.recheck(released)
            }
            Err(deadline) => self.still_held(now, deadline),
        }
    }

    /// Releases a deadline that has passed, starting from the observed value `deadline`.
    ///
    /// Returns `Ok(released)` when nothing is held any more, and `Err(deadline)` when the queue
    /// is still held until `deadline`, so the timer has to stay armed.
    fn release_if_expired(&self, now: u64, mut deadline: u64) -> Result<bool, u64> {
        for _ in 0..RELEASE_TRIES {
            if deadline == 0 {
                return Ok(false);
            }
            if deadline > now {
                return Err(deadline);
            }
            match self
                .deadline_ns
                .compare_exchange(deadline, 0, SeqCst, SeqCst)
            {
                Ok(_) => return Ok(true),
                Err(current) => deadline = current,
            }
        }
        // The deadline kept changing, so `epoll_wait()` is active: fire again at the latest
        // deadline seen (at once if it has passed) rather than spin here.
        if deadline == 0 {
            Ok(false)
        } else {
            Err(deadline)
        }
    }

    /// Marks the timer as stopping; from here on `need_timer()` can claim it again.
    fn disarm(&self) {
        self.timer_armed.store(false, SeqCst);
    }

    /// Final re-check after [`disarm`](Self::disarm): keeps the timer for a hold that began
    /// while the callback ran, unless `need_timer()` already claimed it for a new timer.
    fn recheck(&self, released: bool) -> Watchdog {
        let deadline = self.deadline_ns.load(SeqCst);
        if deadline != 0 && !self.timer_armed.swap(true, SeqCst) {
            // A hold that began right after an expiry is reported as a restart, even if this
            // call released the old hold: the queue stays held without a gap, so nothing is
            // kicked and no watchdog fire is counted, and `events_delivered()` counted the new
            // hold as a suspension.
            return Watchdog::RestartAt(self.next_fire(deadline));
        }
        Watchdog::Expired { released }
    }

    /// The module is being unloaded (process context).
    ///
    /// Releases the hold for good: later [`events_delivered`](Self::events_delivered) calls do
    /// nothing and a running timer stops. Returns true if the queue was held.
    ///
    /// Call this only once no hook can run any more (after `kpoll_unregister()`): a concurrent
    /// `events_delivered()` past its first check could still report `newly_held`.
    pub fn shutdown(&self) -> bool {
        self.closing.store(true, SeqCst);
        self.deadline_ns.swap(0, SeqCst) != 0
    }

    /// Returns true if the queue is currently held.
    pub fn is_held(&self) -> bool {
        self.deadline() != 0
    }

    /// Returns the deadline in monotonic ns, or 0 if the queue is not held.
    pub fn deadline(&self) -> u64 {
        self.deadline_ns.load(SeqCst)
    }

    /// Returns true if the queue is not held and no timer is pending or still re-checking: the
    /// state a table entry must be in before it serves another NAPI instance.
    pub fn is_quiet(&self) -> bool {
        !self.is_held() && !self.timer_armed.load(SeqCst)
    }
}

impl Default for NapiHold {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WATCHDOG: u64 = 2_000;

    fn armed(hold: &NapiHold) -> bool {
        hold.timer_armed.load(SeqCst)
    }

    /// Holds the queue at `now` as the glue does: deliver, then claim the timer.
    fn deliver(hold: &NapiHold, now: u64) -> (Delivered, bool) {
        let delivered = hold.events_delivered(now, WATCHDOG);
        (delivered, hold.need_timer())
    }

    #[test]
    fn starts_irq_driven() {
        let hold = NapiHold::new();
        assert!(!hold.is_held());
        assert_eq!(hold.deadline(), 0);
        assert!(!armed(&hold));
        assert!(!NapiHold::default().is_held());
    }

    #[test]
    fn events_delivered_twice_holds_once_and_extends() {
        let hold = NapiHold::new();
        assert_eq!(
            hold.events_delivered(100, WATCHDOG),
            Delivered { newly_held: true }
        );
        assert!(hold.is_held());
        assert_eq!(hold.deadline(), 2_100);
        assert_eq!(
            hold.events_delivered(500, WATCHDOG),
            Delivered { newly_held: false }
        );
        assert_eq!(hold.deadline(), 2_500);
    }

    #[test]
    fn deadline_saturates_and_is_never_zero() {
        let hold = NapiHold::new();
        assert!(hold.events_delivered(u64::MAX - 1, WATCHDOG).newly_held);
        assert_eq!(hold.deadline(), u64::MAX);
        assert!(hold.would_sleep());
        assert!(hold.events_delivered(0, 0).newly_held);
        assert_eq!(hold.deadline(), 1);
        assert!(hold.is_held());
    }

    #[test]
    fn need_timer_once_until_the_watchdog_expires() {
        let hold = NapiHold::new();
        assert_eq!(deliver(&hold, 0), (Delivered { newly_held: true }, true));
        assert_eq!(deliver(&hold, 10), (Delivered { newly_held: false }, false));
        assert!(!hold.need_timer());
        assert_eq!(
            hold.watchdog_fired(2_010),
            Watchdog::Expired { released: true }
        );
        assert!(!armed(&hold));
        assert_eq!(
            deliver(&hold, 3_000),
            (Delivered { newly_held: true }, true)
        );
    }

    #[test]
    fn watchdog_before_deadline_restarts() {
        let hold = NapiHold::new();
        deliver(&hold, 0);
        // The application polled just now, so no service poll is due before the deadline.
        hold.polled(1_999);
        assert_eq!(hold.watchdog_fired(1_999), Watchdog::RestartAt(2_000));
        assert!(hold.is_held());
        assert!(armed(&hold));
        assert!(!hold.need_timer());
    }

    #[test]
    fn watchdog_follows_an_extended_deadline() {
        let hold = NapiHold::new();
        deliver(&hold, 0);
        deliver(&hold, 1_500);
        // The timer was started at 2_000, but the deadline moved to 3_500.
        hold.polled(3_300);
        assert_eq!(hold.watchdog_fired(2_000), Watchdog::RestartAt(3_500));
        assert_eq!(
            hold.watchdog_fired(3_500),
            Watchdog::Expired { released: true }
        );
        assert!(!hold.is_held());
    }

    #[test]
    fn a_busy_holder_gets_service_polls_until_the_deadline() {
        // Watchdog 2_000: service interval 250.
        let hold = NapiHold::new();
        deliver(&hold, 0);
        assert_eq!(service_interval(WATCHDOG), 250);
        // The holder polled at 100; the timer fired early: wait for 350.
        hold.polled(100);
        assert_eq!(hold.watchdog_fired(200), Watchdog::RestartAt(350));
        // No poll since: poll now, then every 250 until the deadline.
        assert_eq!(hold.watchdog_fired(350), Watchdog::ServicePoll(600));
        assert_eq!(hold.watchdog_fired(600), Watchdog::ServicePoll(850));
        assert_eq!(hold.watchdog_fired(1_900), Watchdog::ServicePoll(2_000));
        assert!(hold.is_held(), "service polls keep the hold");
        assert_eq!(
            hold.watchdog_fired(2_000),
            Watchdog::Expired { released: true }
        );
    }

    #[test]
    fn the_first_expiry_is_the_first_service_poll() {
        let hold = NapiHold::new();
        deliver(&hold, 1_000);
        assert_eq!(hold.first_expiry(), 1_250);
        hold.would_sleep();
        assert_eq!(hold.first_expiry(), 0, "gone: fire at once and clean up");
    }

    #[test]
    fn the_service_interval_is_capped() {
        assert_eq!(service_interval(10_000_000), 1_000_000);
        assert_eq!(service_interval(1_000_000_000), MAX_SERVICE_NS);
        assert_eq!(service_interval(400_000), 50_000);
        assert_eq!(service_interval(0), 1);
    }

    #[test]
    fn watchdog_after_deadline_releases() {
        let hold = NapiHold::new();
        deliver(&hold, 0);
        assert_eq!(
            hold.watchdog_fired(5_000),
            Watchdog::Expired { released: true }
        );
        assert!(!hold.is_held());
        assert_eq!(hold.deadline(), 0);
        assert!(!armed(&hold));
        // A spurious second call finds nothing.
        assert_eq!(
            hold.watchdog_fired(6_000),
            Watchdog::Expired { released: false }
        );
    }

    #[test]
    fn would_sleep_hands_back_once() {
        let hold = NapiHold::new();
        assert!(!hold.would_sleep());
        deliver(&hold, 0);
        assert!(hold.would_sleep());
        assert!(!hold.is_held());
        assert!(!hold.would_sleep());
        // The timer still runs; it finds nothing held and stops.
        assert!(armed(&hold));
        assert_eq!(
            hold.watchdog_fired(2_000),
            Watchdog::Expired { released: false }
        );
        assert!(!armed(&hold));
    }

    #[test]
    fn would_sleep_then_hold_again_reuses_the_pending_timer() {
        let hold = NapiHold::new();
        deliver(&hold, 0);
        assert!(hold.would_sleep());
        // The old timer (due at 2_000) is still armed, so no new one is started.
        assert_eq!(deliver(&hold, 100), (Delivered { newly_held: true }, false));
        hold.polled(1_900);
        assert_eq!(hold.watchdog_fired(2_000), Watchdog::RestartAt(2_100));
        assert_eq!(
            hold.watchdog_fired(2_100),
            Watchdog::Expired { released: true }
        );
    }

    #[test]
    fn rehold_between_release_and_recheck_keeps_the_timer() {
        let hold = NapiHold::new();
        deliver(&hold, 0);
        // CPU 0, timer callback at 2_500: the deadline passed and is released.
        assert_eq!(hold.release_if_expired(2_500, hold.deadline()), Ok(true));
        assert!(!hold.is_held());
        // CPU 1, epoll_wait() returns events: newly held, but the flag is still set.
        assert_eq!(
            deliver(&hold, 2_600),
            (Delivered { newly_held: true }, false)
        );
        // CPU 0 finishes the callback: it must keep the timer for the new hold, firing when
        // the new hold's first service poll falls due (2_600 + 2_000 / 8).
        hold.disarm();
        assert_eq!(hold.recheck(true), Watchdog::RestartAt(2_850));
        assert!(armed(&hold));
        assert!(hold.is_held());
        assert!(!hold.need_timer());
    }

    #[test]
    fn rehold_between_disarm_and_recheck_starts_a_new_timer() {
        let hold = NapiHold::new();
        deliver(&hold, 0);
        // CPU 0, timer callback at 2_500: released and disarmed.
        assert_eq!(hold.release_if_expired(2_500, hold.deadline()), Ok(true));
        hold.disarm();
        // CPU 1 holds again and claims the timer: the glue starts a new one.
        assert_eq!(
            deliver(&hold, 2_600),
            (Delivered { newly_held: true }, true)
        );
        // CPU 0 must not restart the old timer as well.
        assert_eq!(hold.recheck(true), Watchdog::Expired { released: true });
        assert!(armed(&hold));
        assert_eq!(
            hold.watchdog_fired(4_600),
            Watchdog::Expired { released: true }
        );
        assert!(!armed(&hold));
    }

    #[test]
    fn hold_after_expiry_starts_a_new_timer() {
        let hold = NapiHold::new();
        deliver(&hold, 0);
        assert_eq!(
            hold.watchdog_fired(2_500),
            Watchdog::Expired { released: true }
        );
        assert_eq!(
            deliver(&hold, 2_600),
            (Delivered { newly_held: true }, true)
        );
    }

    #[test]
    fn release_loses_to_a_concurrent_extension() {
        let hold = NapiHold::new();
        deliver(&hold, 0);
        // The callback loaded 2_000, then epoll_wait() moved the deadline before its CAS.
        let observed = hold.deadline();
        deliver(&hold, 1_900);
        assert_eq!(hold.release_if_expired(2_000, observed), Err(3_900));
        assert!(hold.is_held());
    }

    #[test]
    fn release_loses_to_a_concurrent_would_sleep() {
        let hold = NapiHold::new();
        deliver(&hold, 0);
        let observed = hold.deadline();
        assert!(hold.would_sleep());
        assert_eq!(hold.release_if_expired(2_000, observed), Ok(false));
        hold.disarm();
        assert_eq!(hold.recheck(false), Watchdog::Expired { released: false });
    }

    #[test]
    fn bit_set_after_release_is_cleaned_up_by_the_timer() {
        // The race from the module docs: A holds, B hands back, then A sets the bit.
        let hold = NapiHold::new();
        let bit = AtomicBool::new(false);
        let a = hold.events_delivered(0, WATCHDOG);
        assert!(a.newly_held);
        // B: the hold is handed back; test_and_clear_bit() finds the bit still clear.
        assert!(hold.would_sleep());
        assert!(!bit.swap(false, SeqCst));
        // A: set_bit() lands late, then the timer is started.
        bit.store(true, SeqCst);
        assert!(hold.need_timer());
        assert!(bit.load(SeqCst) && !hold.is_held());
        // The timer fires at the old deadline; Expired makes the glue clear the bit.
        assert_eq!(
            hold.watchdog_fired(2_000),
            Watchdog::Expired { released: false }
        );
        assert!(bit.swap(false, SeqCst));
        assert!(!armed(&hold));
    }

    #[test]
    fn shutdown_releases_for_good() {
        let hold = NapiHold::new();
        assert!(!hold.shutdown());
        let hold = NapiHold::new();
        deliver(&hold, 0);
        assert!(hold.shutdown());
        assert!(!hold.is_held());
        assert!(!hold.shutdown());
        assert_eq!(
            hold.events_delivered(100, WATCHDOG),
            Delivered { newly_held: false }
        );
        assert!(!hold.is_held());
        assert!(!hold.would_sleep());
    }

    #[test]
    fn shutdown_between_closing_check_and_swap() {
        let hold = NapiHold::new();
        // events_delivered() passed its first check of `closing`, then shutdown() ran.
        assert!(!hold.shutdown());
        assert_eq!(hold.hold_until(2_000), Delivered { newly_held: false });
        assert!(!hold.is_held());
    }

    #[test]
    fn shutdown_then_watchdog_stops_the_timer() {
        let hold = NapiHold::new();
        deliver(&hold, 0);
        assert!(hold.shutdown());
        assert_eq!(
            hold.watchdog_fired(1_000),
            Watchdog::Expired { released: false }
        );
        assert!(!armed(&hold));
        assert!(!hold.is_held());
    }

    /// Small deterministic PRNG so that the stress test needs no dependency.
    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    /// Four "CPUs" hold and hand back the queue at random while a fifth plays the hrtimer, with
    /// the glue's hold bit and pending timer modelled as well.
    ///
    /// Whenever the timer is idle and no `events_delivered()` + `need_timer()` pair is in
    /// flight, the timer thread audits the invariant: a held queue has an armed, pending timer.
    /// At the end, with no hooks running and the timer drained, nothing may be held, armed or
    /// masked.
    #[test]
    fn stress_random_interleavings() {
        use std::sync::atomic::AtomicU64 as Counter;
        use std::sync::Barrier;
        use std::thread;

        const WORKERS: usize = 4;
        const OPS: usize = 100_000;

        let hold = NapiHold::new();
        let clock = Counter::new(1);
        let bit = AtomicBool::new(false);
        let timer_pending = AtomicBool::new(false);
        let workers_done = AtomicBool::new(false);
        // Deliveries started and finished, so that an audit can tell it saw a quiet moment.
        let started = Counter::new(0);
        let finished = Counter::new(0);
        let start = Barrier::new(WORKERS + 1);

        let audit = || {
            // Nothing in flight when `finished` was read, and nothing started since.
            let quiet = finished.load(SeqCst);
            if started.load(SeqCst) != quiet {
                return false;
            }
            let deadline = hold.deadline();
            let armed = armed(&hold);
            let pending = timer_pending.load(SeqCst);
            if started.load(SeqCst) != quiet {
                return false;
            }
            assert_eq!(armed, pending, "timer flag and pending timer disagree");
            assert!(deadline == 0 || armed, "held at {deadline} without a timer");
            true
        };

        let fires = thread::scope(|scope| {
            // The hrtimer: runs the callback whenever a timer was started, until it expires.
            let timer = scope.spawn(|| {
                start.wait();
                let mut fires = 0u64;
                loop {
                    if timer_pending.swap(false, SeqCst) {
                        loop {
                            fires += 1;
                            match hold.watchdog_fired(clock.load(SeqCst)) {
                                // Let time pass until the restarted expiry.
                                Watchdog::RestartAt(at) | Watchdog::ServicePoll(at) => {
                                    _ = clock.fetch_max(at, SeqCst)
                                }
                                Watchdog::Expired { .. } => {
                                    bit.store(false, SeqCst);
                                    break;
                                }
                            }
                        }
                    } else if workers_done.load(SeqCst) {
                        if !timer_pending.load(SeqCst) {
                            break;
                        }
                    } else {
                        // The result only says whether the moment was quiet enough to check.
                        let _ = audit();
                    }
                }
                fires
            });

            let mut workers = Vec::new();
            for cpu in 0..WORKERS as u64 {
                let (hold, clock, bit) = (&hold, &clock, &bit);
                let (timer_pending, started, finished, start) =
                    (&timer_pending, &started, &finished, &start);
                workers.push(scope.spawn(move || {
                    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15 ^ (cpu + 1));
                    start.wait();
                    for _ in 0..OPS {
                        let roll = rng.next();
                        let now = clock.fetch_add(roll % 50, SeqCst);
                        if roll % 256 == 1 {
                            // Give the timer thread a chance to run and audit on few CPUs.
                            thread::yield_now();
                        }
                        if roll.is_multiple_of(8) {
                            if hold.would_sleep() {
                                bit.store(false, SeqCst);
                            }
                            continue;
                        }
                        started.fetch_add(1, SeqCst);
                        let delivered = hold.events_delivered(now, 1 + (roll >> 8) % 200);
                        if delivered.newly_held {
                            bit.store(true, SeqCst);
                        }
                        if hold.need_timer() {
                            // A timer is never started twice.
                            assert!(!timer_pending.swap(true, SeqCst));
                        }
                        finished.fetch_add(1, SeqCst);
                    }
                }));
            }
            for worker in workers {
                worker.join().unwrap();
            }
            workers_done.store(true, SeqCst);
            timer.join().unwrap()
        });

        assert!(fires > 0);
        // With everything drained the state is quiet, so this audit always runs.
        assert!(audit());
        assert!(!hold.is_held(), "held with no timer left");
        assert!(!armed(&hold), "armed with no timer left");
        assert!(!bit.load(SeqCst), "IRQ left masked");
    }
}
